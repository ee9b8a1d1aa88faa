"""Depth-aware modulation layer M (eq. 3, Fig. 3): depth features steer the mask decoder at every scale."""
from __future__ import annotations

import torch
from torch import nn

MODULATIONS = ("alpha", "beta", "alpha+beta")


class ScaleModulation(nn.Module):
    """One scale of eq. 3 on the linear embeddings [D_d^i, D_m^i], as the official release builds each variant.

    - ``alpha+beta``: shared = ReLU(conv1x1([D_d^i, D_m^i])); α = conv1x1(shared), β = conv1x1(shared);
      D_m^i ← α ⊙ D_m^i + β.
    - ``alpha``: α = conv1x1([D_d^i, D_m^i]); D_m^i ← α ⊙ D_m^i (no shared layer).
    - ``beta``: β = conv1x1([D_d^i, D_m^i]); D_m^i ← D_m^i + β (no shared layer).

    The α and β convolutions start at zero weight with bias 1 (α) and 0 (β), so the layer starts as the
    identity (α = 1, β = 0) and the depth head's influence on the mask grows only as training finds it useful
    (our initialisation; the official release uses PyTorch's default).
    """

    def __init__(self, dim: int, use_alpha: bool = True, use_beta: bool = True):
        super().__init__()
        both = use_alpha and use_beta
        self.shared = nn.Sequential(nn.Conv2d(2 * dim, dim, kernel_size=1), nn.ReLU(inplace=True)) if both else None
        width = dim if both else 2 * dim  # α / β read the shared layer, or the concatenation directly
        self.alpha = nn.Conv2d(width, dim, kernel_size=1) if use_alpha else None
        self.beta = nn.Conv2d(width, dim, kernel_size=1) if use_beta else None
        for conv, bias in ((self.alpha, 1.0), (self.beta, 0.0)):
            if conv is not None:
                nn.init.zeros_(conv.weight)
                nn.init.constant_(conv.bias, bias)

    def coefficients(self, depth_embed: torch.Tensor, mask_embed: torch.Tensor):
        """(α, β) maps of eq. 3; a variant without α (β) returns ``None`` for it (α ≡ 1, β ≡ 0)."""
        joint = torch.cat([depth_embed, mask_embed], dim=1)
        shared = self.shared(joint) if self.shared is not None else joint
        alpha = self.alpha(shared) if self.alpha is not None else None
        beta = self.beta(shared) if self.beta is not None else None
        return alpha, beta

    def forward(self, depth_embed: torch.Tensor, mask_embed: torch.Tensor) -> torch.Tensor:
        alpha, beta = self.coefficients(depth_embed, mask_embed)
        out = mask_embed if alpha is None else alpha * mask_embed
        return out if beta is None else out + beta


class DepthModulation(nn.Module):
    """M: one :class:`ScaleModulation` per decoder scale, on the linear embeddings (before ``linear_fuse``)."""

    def __init__(self, dim: int, n_scales: int = 4, variant: str = "alpha+beta"):
        super().__init__()
        if variant not in MODULATIONS:
            raise ValueError(f"unknown modulation variant {variant!r}; choose one of {MODULATIONS}")
        self.variant = variant
        use_alpha, use_beta = "alpha" in variant, "beta" in variant
        self.scales = nn.ModuleList(ScaleModulation(dim, use_alpha, use_beta) for _ in range(n_scales))

    def forward(self, depth_embeds: list[torch.Tensor], mask_embeds: list[torch.Tensor]) -> list[torch.Tensor]:
        return [m(d, x) for m, d, x in zip(self.scales, depth_embeds, mask_embeds)]

    def coefficients(self, depth_embeds: list[torch.Tensor], mask_embeds: list[torch.Tensor]):
        """Per scale (α, β) maps, for looking at what the layer does (notebook 03)."""
        return [m.coefficients(d, x) for m, d, x in zip(self.scales, depth_embeds, mask_embeds)]
