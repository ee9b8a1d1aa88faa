"""The two-stream DATTT network (§4.1, Fig. 2a): E_v + E_f summed per scale → D_m; E_v → D_d; M links them."""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .aux_heads import AUX_TASKS, build_aux_head
from .backbones import create_encoder
from .decoders import MLPDecoder
from .modulation import MODULATIONS, DepthModulation

ARCHITECTURES = ("none", "head", "alpha", "beta", "alpha+beta")  # Table 1: DATTTNet's ``modulation`` argument


@dataclass(frozen=True)
class Variant:
    """A trainable model: its Table 1 architecture (``modulation``), an optional auxiliary head on E_v (``aux``,
    Table 4's TTT-Rot / TTT-MAE baselines) and what it is, in words."""

    modulation: str
    aux: str | None
    doc: str

    @property
    def has_depth_decoder(self) -> bool:
        """Whether the model has D_d (every Table 1 architecture but the two-stream baseline)."""
        return self.modulation in ARCHITECTURES[1:]

    @property
    def modulates(self) -> bool:
        """Whether depth steers the mask decoder through M (eq. 3)."""
        return self.modulation in MODULATIONS


VARIANTS: dict[str, Variant] = {
    "none": Variant("none", None, "two-stream baseline: no depth decoder"),
    "head": Variant("head", None, "+ depth decoder D_d trained with SILog, no modulation"),
    "alpha": Variant("alpha", None, "+ depth decoder + modulation with α only (D_m ← α ⊙ D_m)"),
    "beta": Variant("beta", None, "+ depth decoder + modulation with β only (D_m ← D_m + β)"),
    "alpha+beta": Variant("alpha+beta", None, "+ depth decoder + full modulation (eq. 3)"),
    "rot": Variant("none", "rotation", "two-stream baseline + rotation-prediction head on E_v (TTT-Rot, Sun et al. "
                                       "2020)"),
    "mae": Variant("none", "mae", "two-stream baseline + masked-reconstruction head on E_v (TTT-MAE, Gandelsman "
                                  "et al. 2022)"),
}
VARIANT_DOCS = {name: v.doc for name, v in VARIANTS.items()}


def get_variant(name: str) -> Variant:
    """The registered model variant ``name`` (Table 1 names and rot / mae), else a clear error."""
    if name not in VARIANTS:
        raise ValueError(f"unknown model variant {name!r}; choose one of {tuple(VARIANTS)}")
    return VARIANTS[name]


class DATTTNet(nn.Module):
    """Image encoder E_v, flow encoder E_f, mask decoder D_m, depth decoder D_d and modulation M (Fig. 2a, Fig. 3).

    ``forward(image, flow)`` returns (mask_logits, depth_logits) at the input resolution; depth = sigmoid(logits).
    """

    def __init__(self, backbone: str = "mit_b0", decoder_dim: int = 64, modulation: str = "alpha+beta",
                 pretrained: bool = False, pretrained_file: str | None = None, drop_path_rate: float = 0.1,
                 image_size: int | None = None, aux: str | None = None, input_norm: str = "half",
                 encoder_arch: dict | None = None):
        super().__init__()
        if modulation not in ARCHITECTURES:
            raise ValueError(f"unknown model variant {modulation!r}; choose one of {ARCHITECTURES}")
        if aux is not None and aux not in AUX_TASKS:
            raise ValueError(f"unknown auxiliary task {aux!r}; choose one of {AUX_TASKS} (or None)")
        self.variant = modulation
        self.config = dict(backbone=backbone, decoder_dim=decoder_dim, modulation=modulation,
                           drop_path_rate=drop_path_rate, image_size=image_size, aux=aux, input_norm=input_norm,
                           encoder_arch=encoder_arch)
        enc = dict(pretrained=pretrained, pretrained_file=pretrained_file, drop_path_rate=drop_path_rate,
                   img_size=image_size, input_norm=input_norm, arch=encoder_arch)
        self.image_encoder = create_encoder(backbone, **enc)  # E_v
        self.flow_encoder = create_encoder(backbone, **enc)  # E_f (own weights, colour-coded flow input)
        self.init_weights = self.image_encoder.weights_source  # random | file:… | hf-cache:… | hub:…
        channels = self.image_encoder.channels
        self.mask_decoder = MLPDecoder(channels, decoder_dim)  # D_m
        self.depth_decoder = MLPDecoder(channels, decoder_dim) if modulation != "none" else None  # D_d
        self.modulation = (DepthModulation(decoder_dim, len(channels), modulation)
                           if modulation in MODULATIONS else None)  # M
        # TTT-Rot / TTT-MAE baselines (Table 4): a self-supervised head on E_v, not used by forward()
        self.aux_head = build_aux_head(aux, channels, decoder_dim, self.image_encoder.reductions[0])

    @property
    def feature_channels(self) -> list[int]:
        return list(self.image_encoder.channels)

    def image_features(self, image: torch.Tensor) -> list[torch.Tensor]:
        """E_v's four feature maps (strides 4, 8, 16, 32)."""
        return self.image_encoder(image)

    def depth(self, image: torch.Tensor) -> torch.Tensor:
        """Depth logits (B, 1, H, W) from E_v and D_d only — the path test-time training adapts (eq. 4)."""
        if self.depth_decoder is None:
            raise ValueError("this model has no depth decoder (variant 'none'); build it with modulation='head' "
                             "or a modulation variant to predict depth")
        return _upsample(self.depth_decoder(self.image_features(image)), image.shape[-2:])

    def forward(self, image: torch.Tensor, flow: torch.Tensor, size=None):
        """(mask_logits, depth_logits or None), both (B, 1, H, W) at the input resolution (eq. 2–3), or at
        ``size`` (e.g. the decoders' own 1/4 resolution, where the official forward stops)."""
        size = image.shape[-2:] if size is None else size
        mask_embeds, depth_embeds = self._embeddings(image, flow)
        depth_logits = None
        if depth_embeds is not None:
            depth_logits = _upsample(self.depth_decoder.fuse(depth_embeds), size)
            if self.modulation is not None:
                mask_embeds = self.modulation(depth_embeds, mask_embeds)
        mask_logits = _upsample(self.mask_decoder.fuse(mask_embeds), size)
        return mask_logits, depth_logits

    def modulation_maps(self, image: torch.Tensor, flow: torch.Tensor) -> list[tuple]:
        """Per scale (α, β) of eq. 3 for these inputs (``None`` for a term the variant lacks)."""
        if self.modulation is None:
            raise ValueError(f"variant {self.variant!r} has no modulation layer")
        mask_embeds, depth_embeds = self._embeddings(image, flow)
        return self.modulation.coefficients(depth_embeds, mask_embeds)

    def _embeddings(self, image, flow):
        if image.shape[0] != flow.shape[0] or image.shape[-2:] != flow.shape[-2:]:
            raise ValueError(f"image {tuple(image.shape)} and flow {tuple(flow.shape)} must have the same "
                             "batch size and spatial size")
        image_feats = self.image_features(image)
        fused = [v + f for v, f in zip(image_feats, self.flow_encoder(flow))]  # summed per scale (§4.1)
        mask_embeds = self.mask_decoder.embed(fused)
        depth_embeds = self.depth_decoder.embed(image_feats) if self.depth_decoder is not None else None
        return mask_embeds, depth_embeds

    def param_groups(self) -> dict[str, list[nn.Parameter]]:
        """Parameters by part name: image_encoder, flow_encoder, mask_decoder, depth_decoder, modulation."""
        parts = ("image_encoder", "flow_encoder", "mask_decoder", "depth_decoder", "modulation")
        groups = {name: list(getattr(self, name).parameters()) if getattr(self, name) is not None else []
                  for name in parts}
        if self.aux_head is not None:  # only models with an auxiliary head have this group
            groups["aux_head"] = list(self.aux_head.parameters())
        return groups


def _upsample(logits: torch.Tensor, size) -> torch.Tensor:
    if tuple(logits.shape[-2:]) == tuple(size):
        return logits
    return F.interpolate(logits, size=tuple(size), mode="bilinear", align_corners=False)


MODEL_KEYS = ("backbone", "decoder_dim", "modulation", "pretrained", "drop_path_rate", "image_size", "input_norm")


def build_model(settings=None, **overrides) -> DATTTNet:
    """A :class:`DATTTNet` from :class:`~dattt_nb.config.Settings` (backbone, decoder_dim, modulation, ...).

    ``overrides`` win: any of ``backbone, decoder_dim, modulation, pretrained, pretrained_file,
    drop_path_rate, image_size`` and ``aux`` ("rotation" | "mae" | None: the Table 4 auxiliary head on E_v).
    ``variant`` is accepted as an alias of ``modulation``, and ``variant="rot"`` / ``"mae"`` mean the two-stream
    baseline with that auxiliary head.
    """
    if "variant" in overrides:
        variant = get_variant(overrides.pop("variant"))
        overrides.update(modulation=variant.modulation, aux=variant.aux)
    kwargs = {}
    if settings is not None:
        kwargs = {k: getattr(settings, k) for k in MODEL_KEYS}
        if settings.extra.get("pretrained_file"):
            kwargs["pretrained_file"] = settings.extra["pretrained_file"]
        if settings.extra.get("encoder_arch"):  # a non-standard encoder shape (an imported checkpoint's)
            kwargs["encoder_arch"] = dict(settings.extra["encoder_arch"])
    unknown = set(overrides) - set(MODEL_KEYS) - {"pretrained_file", "aux", "encoder_arch"}
    if unknown:
        raise TypeError(f"unknown model option(s) {sorted(unknown)}; valid: {sorted(MODEL_KEYS)} + pretrained_file, "
                        "aux, encoder_arch")
    kwargs.update(overrides)
    return DATTTNet(**kwargs)


def input_size(model, settings) -> int:
    """The square side the model was built for (its config), else ``settings.image_size``."""
    config = getattr(model, "config", None)
    size = config.get("image_size") if isinstance(config, dict) else None
    return int(size or settings.image_size)
