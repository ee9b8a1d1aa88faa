"""Encoders E_v and E_f: timm backbones with ``features_only`` giving four scales (§4.1, §5.2).

The paper's names map to timm models. ``mit_b1`` is timm's PVTv2-b1 (``pvt_v2_b1``): the same stage widths as
SegFormer's MiT-b1 (64/128/320/512, strides 4–32) in the PVTv2 implementation, not NVlabs' MiT code/weights.
"""
from __future__ import annotations

import warnings
from pathlib import Path

import torch
from torch import nn

# paper name -> (timm model name, extra create_model kwargs)
BACKBONES: dict[str, tuple[str, dict]] = {
    "mit_b0": ("pvt_v2_b0", {}),  # CPU profiles: MiT-b0 widths 32/64/160/256
    "mit_b1": ("pvt_v2_b1", {}),  # the paper's MiT-b1 (PVTv2 implementation)
    "swin_tiny": ("swin_tiny_patch4_window7_224", {}),  # the paper's Swin-T
    "resnet18": ("resnet18", {"out_indices": (1, 2, 3, 4)}),
    "resnet50": ("resnet50", {"out_indices": (1, 2, 3, 4)}),
}


def timm_name(backbone: str) -> str:
    """timm model name for a paper backbone name (``mit_b1`` → ``pvt_v2_b1``); timm names pass through."""
    if backbone in BACKBONES:
        return BACKBONES[backbone][0]
    raise ValueError(f"unknown backbone {backbone!r}; choose one of {sorted(BACKBONES)}")


def _create(backbone: str, pretrained: bool, pretrained_file: str | None, drop_path_rate: float,
            img_size: int | None) -> nn.Module:
    import timm

    name, kwargs = BACKBONES[backbone][0], dict(BACKBONES[backbone][1])
    if name.startswith("swin") and img_size is not None:
        kwargs["img_size"] = img_size  # Swin's patch grid and windows are built for a fixed input size
    kwargs.update(features_only=True, drop_path_rate=drop_path_rate)
    if not pretrained:
        return timm.create_model(name, pretrained=False, **kwargs)
    if pretrained_file is not None:
        if not Path(pretrained_file).is_file():
            raise FileNotFoundError(f"pretrained weights file {pretrained_file} does not exist "
                                    f"(expected a timm/PyTorch state dict for {name})")
        kwargs["pretrained_cfg_overlay"] = dict(file=str(pretrained_file))
    try:
        return timm.create_model(name, pretrained=True, **kwargs)
    except Exception as err:  # no network / no cached weights: train from scratch, but say so
        warnings.warn(f"could not load ImageNet weights for {backbone} ({name}): {type(err).__name__}: "
                      f"{str(err)[:200]} — using random initialisation instead. Put the weights in timm's "
                      f"cache or pass pretrained_file=<path>.", stacklevel=3)
        return timm.create_model(name, pretrained=False, **kwargs)


class Encoder(nn.Module):
    """A timm backbone returning its 4 feature maps (NCHW, strides 4/8/16/32); normalises [0, 1] inputs."""

    def __init__(self, backbone: str = "mit_b0", pretrained: bool = False, pretrained_file: str | None = None,
                 drop_path_rate: float = 0.1, img_size: int | None = None):
        super().__init__()
        timm_name(backbone)  # validates the name
        self.backbone_name = backbone
        self.body = _create(backbone, pretrained, pretrained_file, drop_path_rate, img_size)
        self.channels: list[int] = list(self.body.feature_info.channels())
        self.reductions: list[int] = list(self.body.feature_info.reduction())
        self.channels_last = str(getattr(self.body, "output_fmt", "NCHW")).endswith("NHWC")
        cfg = self.body.pretrained_cfg if hasattr(self.body, "pretrained_cfg") else {}
        mean, std = cfg.get("mean", (0.485, 0.456, 0.406)), cfg.get("std", (0.229, 0.224, 0.225))
        self.register_buffer("mean", torch.tensor(mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std).view(1, 3, 1, 1), persistent=False)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        if x.ndim != 4 or x.shape[1] != 3:
            raise ValueError(f"encoder input must be (B, 3, H, W) in [0, 1], got {tuple(x.shape)}")
        feats = self.body((x - self.mean) / self.std)
        if self.channels_last:  # Swin returns (B, H, W, C)
            feats = [f.permute(0, 3, 1, 2).contiguous() for f in feats]
        return list(feats)


def create_encoder(backbone: str = "mit_b0", **kwargs) -> Encoder:
    """E_v or E_f: the same backbone type, each with its own weights (§4.1)."""
    return Encoder(backbone, **kwargs)
