"""Mask decoder D_m and depth decoder D_d: SegFormer's lightweight all-MLP decoder (§4.1, Xie et al. 2021).

Split in two halves so the modulation layer (eq. 3) can act between them: :meth:`MLPDecoder.embed` gives
the per-scale linear embeddings D^i, :meth:`MLPDecoder.fuse` upsamples them to 1/4, concatenates, fuses
(1×1 conv + BN + ReLU) and predicts one channel.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class MLPDecoder(nn.Module):
    """SegFormer all-MLP decoder: linear embedding per scale → upsample to 1/4 → concat → linear_fuse → 1 channel.

    As the official release's heads, without dropout before ``linear_pred``: TTT steps run in train mode, and a
    dropout there would add noise to every consistency loss the official code never sees.
    """

    def __init__(self, in_channels: list[int], dim: int = 64, out_channels: int = 1):
        super().__init__()
        # a per-pixel linear layer is a 1×1 convolution
        self.linear_c = nn.ModuleList(nn.Conv2d(c, dim, kernel_size=1) for c in in_channels)
        self.linear_fuse = nn.Sequential(
            nn.Conv2d(dim * len(in_channels), dim, kernel_size=1, bias=False),
            nn.BatchNorm2d(dim),
            nn.ReLU(inplace=True),
        )
        self.linear_pred = nn.Conv2d(dim, out_channels, kernel_size=1)

    def embed(self, feats: list[torch.Tensor]) -> list[torch.Tensor]:
        """Per-scale linear embeddings D^i (each at its own resolution, ``dim`` channels)."""
        if len(feats) != len(self.linear_c):
            raise ValueError(f"decoder expects {len(self.linear_c)} feature scales, got {len(feats)}")
        return [proj(f) for proj, f in zip(self.linear_c, feats)]

    def fuse(self, embeds: list[torch.Tensor]) -> torch.Tensor:
        """Upsample the embeddings to the finest scale (1/4), concatenate, fuse and predict logits."""
        size = embeds[0].shape[-2:]
        up = [e if e.shape[-2:] == size else F.interpolate(e, size=size, mode="bilinear", align_corners=False)
              for e in embeds]
        x = self.linear_fuse(torch.cat(up[::-1], dim=1))  # SegFormer order: coarsest first
        return self.linear_pred(x)

    def forward(self, feats: list[torch.Tensor]) -> torch.Tensor:
        return self.fuse(self.embed(feats))
