"""Training augmentation (§5.2): random flip, resize + crop and photometric distortion, batched with kornia.

Frame, flow, mask and depth share one geometric draw (kornia applies the same sampled parameters to every
data key; masks and depth are resampled by nearest neighbour so no invalid/mixed depth appears). The
photometric distortion touches the frame only. Flipping the colour-coded flow image mirrors it spatially but
keeps the colours of the un-negated horizontal motion: an approximation the official code makes too.
"""
from __future__ import annotations

import torch
from torch import nn


class TrainAugment(nn.Module):
    """Batched flip + RandomResizedCrop (shared geometry) + ColorJitter (frame only), on the batch's device."""

    def __init__(self, size: int, scale: tuple[float, float] = (0.4, 1.0), ratio: tuple[float, float] = (0.75, 1.33),
                 brightness: float = 0.125, contrast: float = 0.5, saturation: float = 0.5, hue: float = 0.05,
                 p_color: float = 0.8):
        super().__init__()
        import kornia.augmentation as K

        self.geometry = K.AugmentationSequential(
            K.RandomHorizontalFlip(p=0.5),
            K.RandomResizedCrop((size, size), scale=scale, ratio=ratio),
            data_keys=["input", "mask"],
        )
        # mmseg PhotoMetricDistortion in spirit: brightness ±32/255, contrast/saturation 0.5–1.5, hue ±18°
        self.photometric = K.ColorJitter(brightness, contrast, saturation, hue, p=p_color)

    @torch.no_grad()
    def forward(self, frames, flow, masks, depth):
        """(B,3,H,W) frames/flow in [0, 1], (B,H,W) masks (bool/float) and depth → augmented, same shapes."""
        b, _, h, w = frames.shape
        images = torch.cat([frames, flow], dim=1)
        targets = torch.stack([masks.float(), depth.float()], dim=1)
        images, targets = self.geometry(images, targets)
        frames = self.photometric(images[:, :3]).clamp(0, 1)
        return frames, images[:, 3:].clamp(0, 1), targets[:, 0] > 0.5, targets[:, 1]
