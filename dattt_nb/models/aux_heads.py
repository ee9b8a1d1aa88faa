"""Auxiliary self-supervised heads on E_v for the Table 4 baselines TTT-Rot and TTT-MAE, and their losses.

A head is trained jointly with the mask in stage 1 (loss = BCE + λ_aux · aux loss) and its loss alone adapts E_v
at test time. Every head has ``task`` ("rotation" or "mae") and ``forward(image_features) -> Tensor``.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .decoders import MLPDecoder

AUX_TASKS = ("rotation", "mae")


class RotationHead(nn.Module):
    """TTT-Rot (Sun et al. 2020; Table 4): which of 4 rotations (0/90/180/270°) an image had, from E_v's deepest
    features — global average pool → MLP → 4 logits."""

    task = "rotation"

    def __init__(self, channels: list[int], hidden: int = 64):
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(channels[-1], hidden), nn.ReLU(inplace=True), nn.Linear(hidden, 4))

    def forward(self, image_features: list[Tensor]) -> Tensor:
        """(B, 4) rotation logits."""
        return self.mlp(image_features[-1].mean(dim=(-2, -1)))


class MAEHead(nn.Module):
    """TTT-MAE (Gandelsman et al. 2022; Table 4): a light decoder that reconstructs the image from E_v's features of
    a copy with ``mask_ratio`` of its ``patch``-pixel squares hidden (SegFormer-MLP → 3 channels → upsample)."""

    task = "mae"

    def __init__(self, channels: list[int], dim: int = 64, stride: int = 4, mask_ratio: float = 0.75,
                 patch: int | None = None):
        super().__init__()
        if not 0.0 < mask_ratio < 1.0:
            raise ValueError(f"mask_ratio must be in (0, 1), got {mask_ratio}")
        self.mask_ratio, self.patch, self.stride = mask_ratio, patch, stride
        self.decoder = MLPDecoder(channels, dim, out_channels=3)

    def forward(self, image_features: list[Tensor]) -> Tensor:
        """(B, 3, H, W) reconstruction in [0, 1] at the input resolution (``stride`` × the finest feature map)."""
        recon = self.decoder(image_features)
        return torch.sigmoid(F.interpolate(recon, scale_factor=self.stride, mode="bilinear", align_corners=False))

    def patch_size(self, image_size: int) -> int:
        """Side of a masked square: ``patch``, else 1/8 of the image side (an 8 × 8 grid, like MAE's 14 × 14)."""
        return self.patch or max(1, image_size // 8)


def build_aux_head(task: str | None, channels: list[int], dim: int = 64, stride: int = 4) -> nn.Module | None:
    """The head for ``task`` ("rotation", "mae") on an encoder with these feature ``channels``; None for None."""
    if task is None:
        return None
    if task == "rotation":
        return RotationHead(channels, hidden=dim)
    if task == "mae":
        return MAEHead(channels, dim=dim, stride=stride)
    raise ValueError(f"unknown auxiliary task {task!r}; choose one of {AUX_TASKS} (or None)")


# --- the losses (stage 1 and test time) ----------------------------------------------------------

def aux_head(model: nn.Module, task: str) -> nn.Module:
    """The auxiliary self-supervised head on E_v that TTT-Rot / TTT-MAE need (``model.aux_head``, ``.task``)."""
    head = getattr(model, "aux_head", None)
    if head is None or getattr(head, "task", None) != task:
        found = "no aux_head" if head is None else f"an aux_head for {getattr(head, 'task', None)!r}"
        raise ValueError(f"objective {task!r} needs a model trained with an auxiliary {task} head on E_v "
                         f"(model.aux_head with aux_head.task == {task!r}); this model has {found}. Train one with "
                         f"load_or_train(settings, variant='rot' or 'mae')")
    return head


def rotate_batch(images: Tensor) -> tuple[Tensor, Tensor]:
    """Rotate image k of a square batch by (k mod 4) × 90°; returns (rotated, labels) for TTT-Rot."""
    if images.shape[-1] != images.shape[-2]:
        raise ValueError(f"rotation prediction needs square images, got {tuple(images.shape[-2:])}")
    labels = torch.arange(len(images), device=images.device) % 4
    rotated = images.clone()
    for k in range(1, 4):
        rotated[labels == k] = torch.rot90(images[labels == k], k, dims=(-2, -1))
    return rotated, labels


def rotation_loss(model: nn.Module, images: Tensor) -> Tensor:
    """TTT-Rot (Sun et al. 2020): cross-entropy of the aux head predicting each image's rotation from E_v."""
    rotated, labels = rotate_batch(images)
    return F.cross_entropy(aux_head(model, "rotation")(model.image_features(rotated)), labels)


def patch_mask(n: int, size: tuple[int, int], patch: int, ratio: float = 0.75, generator=None) -> Tensor:
    """(n, 1, H, W) float mask, 1 on a random ``ratio`` of the ``patch``-sized squares (MAE's random masking)."""
    gh, gw = -(-size[0] // patch), -(-size[1] // patch)
    keep = torch.rand(n, gh * gw, generator=generator).argsort(dim=1) < round(ratio * gh * gw)
    grid = keep.float().view(n, 1, gh, gw)
    return grid.repeat_interleave(patch, 2).repeat_interleave(patch, 3)[..., :size[0], :size[1]]


def masked_mse(recon: Tensor, images: Tensor, mask: Tensor) -> Tensor:
    """Mean squared error over the masked pixels only (MAE's loss); ``mask`` (B, 1, H, W) is 1 where hidden."""
    return ((recon - images) ** 2 * mask).sum() / (mask.sum() * images.shape[1]).clamp_min(1)


def mae_loss(model: nn.Module, images: Tensor, generator=None, ratio: float | None = None) -> Tensor:
    """TTT-MAE (Gandelsman et al. 2022): hide random patches (filled with the encoder's mean colour, i.e. 0 after
    normalisation), encode the masked image with E_v, reconstruct with the aux head; MSE on the hidden pixels."""
    head = aux_head(model, "mae")
    ratio = getattr(head, "mask_ratio", 0.75) if ratio is None else ratio
    side = images.shape[-1]
    patch = head.patch_size(side) if hasattr(head, "patch_size") else max(1, side // 8)
    mask = patch_mask(len(images), tuple(images.shape[-2:]), patch, ratio, generator).to(images.device, images.dtype)
    fill = getattr(model.image_encoder, "mean", None)
    fill = images.new_tensor(0.5) if fill is None else fill.to(images.dtype)
    recon = head(model.image_features(images * (1 - mask) + fill * mask))
    return masked_mse(recon, images, mask)


def aux_loss(model: nn.Module, images: Tensor, generator=None) -> Tensor:
    """The loss of ``model.aux_head``'s task on a batch of images (stage 1: added to eq. 2 with weight λ_aux)."""
    task = getattr(getattr(model, "aux_head", None), "task", None)
    if task == "rotation":
        return rotation_loss(model, images)
    if task == "mae":
        return mae_loss(model, images, generator)
    raise ValueError(f"model has no auxiliary head (aux_head.task is {task!r}); build it with aux='rotation' or 'mae'")
