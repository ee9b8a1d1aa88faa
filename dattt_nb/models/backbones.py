"""Encoders E_v and E_f: timm backbones with ``features_only`` giving four scales (§4.1, §5.2).

The paper's names map to timm models. ``mit_b1`` is timm's PVTv2-b1 (``pvt_v2_b1``): the same stage widths as
SegFormer's MiT-b1 (64/128/320/512, strides 4–32) in the PVTv2 implementation, not NVlabs' MiT code/weights.
"""
from __future__ import annotations

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


PRETRAINED_HELP = ("set extra={'pretrained_file': '/path/to/weights.safetensors'} (SETTINGS or "
                   "-p extra '{pretrained_file: PATH}'), or put the weights in the Hugging Face cache "
                   "($HF_HOME/hub) once with network access, or use pretrained=false")


def hub_reachable(host: str = "huggingface.co", timeout: float = 3.0) -> bool:
    """Whether the Hugging Face hub answers within ``timeout`` s (False at once when ``HF_HUB_OFFLINE`` is set)."""
    import os
    import socket

    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on"):
        return False
    try:
        socket.create_connection((host, 443), timeout=timeout).close()
        return True
    except OSError:
        return False


def cached_weights(name: str) -> str | None:
    """The Hugging Face cache file of timm model ``name``'s pretrained weights, or None (never touches the network)."""
    import timm
    from huggingface_hub import try_to_load_from_cache

    repo = timm.models.get_pretrained_cfg(name).hf_hub_id if timm.models.get_pretrained_cfg(name) else None
    for filename in ("model.safetensors", "pytorch_model.bin", "open_clip_pytorch_model.bin"):
        hit = try_to_load_from_cache(repo, filename) if repo else None
        if isinstance(hit, str):
            return hit
    return None


def _create(backbone: str, pretrained: bool, pretrained_file: str | None, drop_path_rate: float,
            img_size: int | None) -> tuple[nn.Module, str]:
    """(timm feature extractor, where its initial weights came from). ``pretrained=True`` that cannot be
    satisfied (no ``pretrained_file``, no cached weights, hub unreachable) is an error, never random weights."""
    import timm

    name, kwargs = BACKBONES[backbone][0], dict(BACKBONES[backbone][1])
    if name.startswith("swin") and img_size is not None:
        kwargs["img_size"] = img_size  # Swin's patch grid and windows are built for a fixed input size
    kwargs.update(features_only=True, drop_path_rate=drop_path_rate)
    if not pretrained:
        return timm.create_model(name, pretrained=False, **kwargs), "random"
    if pretrained_file:
        if not Path(pretrained_file).is_file():
            raise FileNotFoundError(f"pretrained_file {pretrained_file} does not exist (expected a timm/PyTorch "
                                    f"state dict for {name}); {PRETRAINED_HELP}")
        kwargs["pretrained_cfg_overlay"] = dict(file=str(pretrained_file))
        source = f"file:{pretrained_file}"
    elif (hit := cached_weights(name)) is not None:
        kwargs["pretrained_cfg_overlay"] = dict(file=hit)
        source = f"hf-cache:{hit}"
    elif hub_reachable():
        source = f"hub:{timm.models.get_pretrained_cfg(name).hf_hub_id}"
    else:
        raise FileNotFoundError(f"pretrained=True but no ImageNet weights for {backbone} ({name}): no pretrained_file, "
                                f"nothing in the Hugging Face cache and the hub is unreachable (HF_HUB_OFFLINE or no "
                                f"network); {PRETRAINED_HELP}")
    try:
        return timm.create_model(name, pretrained=True, **kwargs), source
    except Exception as err:
        raise RuntimeError(f"could not load ImageNet weights for {backbone} ({name}) from {source}: "
                           f"{type(err).__name__}: {str(err)[:200]}; {PRETRAINED_HELP}") from err


class Encoder(nn.Module):
    """A timm backbone returning its 4 feature maps (NCHW, strides 4/8/16/32); normalises [0, 1] inputs."""

    def __init__(self, backbone: str = "mit_b0", pretrained: bool = False, pretrained_file: str | None = None,
                 drop_path_rate: float = 0.1, img_size: int | None = None):
        super().__init__()
        timm_name(backbone)  # validates the name
        self.backbone_name = backbone
        self.body, self.weights_source = _create(backbone, pretrained, pretrained_file, drop_path_rate, img_size)
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
