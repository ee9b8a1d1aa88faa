"""Encoders E_v and E_f: timm backbones with ``features_only`` giving four scales (§4.1, §5.2).

The paper's names map to timm models. ``mit_b0`` / ``mit_b1`` are SegFormer's Mix Transformer (the paper's [52],
the official release's ``models/mit.py``): timm's PVTv2 module with MLP ratio 4 in every stage (timm's own
``pvt_v2_b*`` use 8, 8, 4, 4 and stay available under their names). MiT-b1 has 13,151,424 parameters per encoder
and the official release's weights map onto it name by name (:mod:`dattt_nb.models.convert`). ``swin_tiny`` is
Swin-T. Inputs are normalised as the weights expect: ``(x - 0.5) / 0.5`` for the official release (``half``) or
ImageNet's mean and std (``imagenet``).
"""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

# paper name -> (timm model name, extra create_model kwargs)
MIT = {"mlp_ratios": (4, 4, 4, 4)}  # SegFormer's MiT: PVTv2 blocks with MLP ratio 4 everywhere
BACKBONES: dict[str, tuple[str, dict]] = {
    "mit_b0": ("pvt_v2_b0", MIT),  # CPU profiles: MiT-b0, widths 32/64/160/256
    "mit_b1": ("pvt_v2_b1", MIT),  # the paper's MiT-b1, widths 64/128/320/512
    # the paper's Swin-T; windows shift at every size, as the official (detection-style) Swin does
    "swin_tiny": ("swin_tiny_patch4_window7_224", {"always_partition": True}),
    "pvt_v2_b0": ("pvt_v2_b0", {}),  # PVTv2 (MLP ratios 8, 8, 4, 4), with timm's ImageNet weights
    "pvt_v2_b1": ("pvt_v2_b1", {}),
    "resnet18": ("resnet18", {"out_indices": (1, 2, 3, 4)}),
    "resnet50": ("resnet50", {"out_indices": (1, 2, 3, 4)}),
}


INPUT_NORMS = {"half": ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5)),  # the official release's data_norm
               "imagenet": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))}
# where a paper backbone's ImageNet weights are found when no pretrained_file is given (Hugging Face repositories)
HUB_WEIGHTS = {"mit_b0": "nvidia/mit-b0", "mit_b1": "nvidia/mit-b1"}


def family(backbone: str) -> str:
    """``mit`` | ``swin`` | ``other``: which weight formats :mod:`~dattt_nb.models.convert` reads for it."""
    return "mit" if backbone.startswith("mit_") else "swin" if backbone.startswith("swin") else "other"


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


def _hub_file(backbone: str, name: str) -> tuple[str | None, bool]:
    """(a cached weights file for ``backbone``, whether it is a MiT file from the transformers hub); never networks."""
    from huggingface_hub import try_to_load_from_cache

    if backbone in HUB_WEIGHTS:
        for filename in ("model.safetensors", "pytorch_model.bin"):
            hit = try_to_load_from_cache(HUB_WEIGHTS[backbone], filename)
            if isinstance(hit, str):
                return hit, True
        return None, True
    return cached_weights(name), False


def _create(backbone: str, pretrained: bool, pretrained_file: str | None, drop_path_rate: float,
            img_size: int | None, arch: dict | None = None) -> tuple[nn.Module, str]:
    """(timm feature extractor, where its initial weights came from). ``pretrained=True`` that cannot be
    satisfied (no ``pretrained_file``, no cached weights, hub unreachable) is an error, never random weights.
    ``arch`` overrides the architecture (e.g. a tiny MiT's ``embed_dims``, used by the converter's tests)."""
    import timm

    name, kwargs = BACKBONES[backbone][0], {**BACKBONES[backbone][1], **(arch or {})}
    if name.startswith("swin") and img_size is not None:
        kwargs["img_size"] = img_size  # Swin's patch grid and windows are built for a fixed input size
    kwargs.update(features_only=True, drop_path_rate=drop_path_rate)
    if not pretrained:
        return timm.create_model(name, pretrained=False, **kwargs), "random"
    converted = family(backbone) in ("mit", "swin")  # read by our converter: SegFormer / transformers / Swin files
    if pretrained_file:
        if not Path(pretrained_file).is_file():
            raise FileNotFoundError(f"pretrained_file {pretrained_file} does not exist (expected ImageNet weights for "
                                    f"{backbone}); {PRETRAINED_HELP}")
        path, source = str(pretrained_file), f"file:{pretrained_file}"
    else:
        path, from_hf = _hub_file(backbone, name)
        if path is None and hub_reachable():
            if from_hf:
                from huggingface_hub import hf_hub_download

                path = hf_hub_download(HUB_WEIGHTS[backbone], "pytorch_model.bin")
            elif not converted:
                return timm.create_model(name, pretrained=True, **kwargs), f"hub:{_hub_id(name)}"
            else:
                path = _download_timm(name)
        if path is None:
            raise FileNotFoundError(f"pretrained=True but no ImageNet weights for {backbone} ({name}): no "
                                    f"pretrained_file, nothing in the Hugging Face cache and the hub is unreachable "
                                    f"(HF_HUB_OFFLINE or no network); {PRETRAINED_HELP}")
        source = f"hf-cache:{path}"
    if not converted:
        kwargs["pretrained_cfg_overlay"] = dict(file=path)
        try:
            return timm.create_model(name, pretrained=True, **kwargs), source
        except Exception as err:
            raise RuntimeError(f"could not load ImageNet weights for {backbone} ({name}) from {source}: "
                               f"{type(err).__name__}: {str(err)[:200]}; {PRETRAINED_HELP}") from err
    from .convert import load_backbone_weights

    body = timm.create_model(name, pretrained=False, **kwargs)
    digest = load_backbone_weights(body, family(backbone), path)
    return body, f"{source} sha256:{digest}"


def _hub_id(name: str) -> str:
    import timm

    cfg = timm.models.get_pretrained_cfg(name)
    return cfg.hf_hub_id if cfg else name


def _download_timm(name: str) -> str:
    """Fetch timm's own weights file for ``name`` (Swin-T) into the Hugging Face cache; returns its path."""
    from huggingface_hub import hf_hub_download

    return hf_hub_download(_hub_id(name), "model.safetensors")


class Encoder(nn.Module):
    """A timm backbone returning its 4 feature maps (NCHW, strides 4/8/16/32); normalises [0, 1] inputs with
    ``input_norm`` (``half``: (x − 0.5) / 0.5 as the official release; ``imagenet``: ImageNet mean/std)."""

    def __init__(self, backbone: str = "mit_b0", pretrained: bool = False, pretrained_file: str | None = None,
                 drop_path_rate: float = 0.1, img_size: int | None = None, input_norm: str = "half",
                 arch: dict | None = None):
        super().__init__()
        timm_name(backbone)  # validates the name
        if input_norm not in INPUT_NORMS:
            raise ValueError(f"unknown input_norm {input_norm!r}; choose one of {sorted(INPUT_NORMS)}")
        self.backbone_name = backbone
        self.body, self.weights_source = _create(backbone, pretrained, pretrained_file, drop_path_rate, img_size, arch)
        self.channels: list[int] = list(self.body.feature_info.channels())
        self.reductions: list[int] = list(self.body.feature_info.reduction())
        self.channels_last = str(getattr(self.body, "output_fmt", "NCHW")).endswith("NHWC")
        mean, std = INPUT_NORMS[input_norm]
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
