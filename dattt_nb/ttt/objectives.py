"""Test-time objectives: each is one function ``loss(model, batch) -> Tensor`` (eq. 4 and the Table 4 baselines).

``params_for(objective, model)`` says which parameters each one adapts; the engine freezes the rest.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from dattt_nb.losses import silog_loss
from dattt_nb.ttt.views import make_views

NORM_LAYERS = (nn.modules.batchnorm._NormBase, nn.LayerNorm, nn.GroupNorm)


@dataclass
class TTTBatch:
    """What an objective sees for one step: the frame (1, 3, H, W), its flow, and lazily made view pairs."""

    frame: Tensor
    flow: Tensor
    n_pairs: int = 8
    scale: tuple = (1.05, 1.5)
    generator: torch.Generator | None = None
    stats: dict = field(default_factory=dict)  # detached tensors an objective leaves for logging

    @functools.cached_property
    def views(self) -> tuple[Tensor, Tensor]:
        """(view1, view2), each (n_pairs, 3, H, W): shared geometry, independent photometry (official)."""
        return make_views(self.frame, self.n_pairs, self.scale, self.generator)


def spatial_std(depth: Tensor) -> Tensor:
    """Mean over the batch of each depth map's spatial standard deviation: 0 means a flat (collapsed) map."""
    return depth.flatten(1).std(dim=1).mean()


def depth_consistency(model: nn.Module, batch: TTTBatch) -> Tensor:
    """DATTT, eq. 4: SILog(sigmoid(D_d(E_v(v²))), sigmoid(D_d(E_v(v¹)))), gradients through both views.

    Each view batch is its own forward pass, so in train mode D_d's BatchNorm normalises each with its own
    statistics, and stochastic depth / dropout draw independently for the two views."""
    view1, view2 = batch.views
    depth1 = torch.sigmoid(model.depth(view1))
    depth2 = torch.sigmoid(model.depth(view2))
    batch.stats["depth_std"] = spatial_std(depth1.detach())
    return silog_loss(depth2, depth1)


def binary_entropy(logits: Tensor) -> Tensor:
    """Mean entropy of per-pixel Bernoulli predictions given as logits (numerically stable)."""
    p = torch.sigmoid(logits)
    return -(p * F.logsigmoid(logits) + (1 - p) * F.logsigmoid(-logits)).mean()


def tent_entropy(model: nn.Module, batch: TTTBatch) -> Tensor:
    """TENT (Wang et al. 2021; Table 4): entropy of the mask prediction of the test frame."""
    mask_logits, depth_logits = model(batch.frame, batch.flow)
    if depth_logits is not None:
        batch.stats["depth_std"] = spatial_std(torch.sigmoid(depth_logits.detach()))
    return binary_entropy(mask_logits)


def bn_statistics(model: nn.Module, batch: TTTBatch) -> Tensor:
    """BN adaptation (Table 4): a train-mode forward re-estimates normalisation statistics; the loss is 0, so no
    step (NaN when the prediction is not finite, so the engine's guard puts the statistics back)."""
    with torch.no_grad():
        mask_logits, depth_logits = model(batch.frame, batch.flow)
    if depth_logits is not None:
        batch.stats["depth_std"] = spatial_std(torch.sigmoid(depth_logits))
    return mask_logits.mean() * 0


def aux_head(model: nn.Module, task: str) -> nn.Module:
    """The auxiliary self-supervised head on E_v that TTT-Rot / TTT-MAE need (``model.aux_head``, ``.task``)."""
    head = getattr(model, "aux_head", None)
    if head is None or getattr(head, "task", None) != task:
        found = "no aux_head" if head is None else f"an aux_head for {getattr(head, 'task', None)!r}"
        raise ValueError(f"objective {task!r} needs a model trained with an auxiliary {task} head on E_v "
                         f"(model.aux_head with aux_head.task == {task!r}); this model has {found}")
    return head


def rotate_batch(images: Tensor) -> tuple[Tensor, Tensor]:
    """Rotate image k of a square batch by (k mod 4) × 90°; returns (rotated, labels) for TTT-Rot."""
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


def mae_loss(model: nn.Module, images: Tensor, generator=None, ratio: float = 0.75) -> Tensor:
    """TTT-MAE (Gandelsman et al. 2022): the aux head reconstructs masked patches from E_v; MSE on masked pixels."""
    head = aux_head(model, "mae")
    mask = patch_mask(len(images), tuple(images.shape[-2:]), max(1, images.shape[-1] // 8), ratio, generator)
    mask = mask.to(images.device, images.dtype)
    recon = head(model.image_features(images * (1 - mask)))
    return ((recon - images) ** 2 * mask).sum() / (mask.sum() * images.shape[1]).clamp_min(1)


def rotation(model: nn.Module, batch: TTTBatch) -> Tensor:
    """TTT-Rot objective on the first batch of views."""
    return rotation_loss(model, batch.views[0])


def mae(model: nn.Module, batch: TTTBatch) -> Tensor:
    """TTT-MAE objective on the first batch of views."""
    return mae_loss(model, batch.views[0], batch.generator)


OBJECTIVES = {"depth": depth_consistency, "tent": tent_entropy, "bn": bn_statistics,
              "rotation": rotation, "mae": mae}
OBJECTIVE_LABELS = {"depth": "DATTT", "tent": "TENT", "bn": "BN", "rotation": "TTT-Rot", "mae": "TTT-MAE"}


def check_objective(objective: str) -> str:
    if objective not in OBJECTIVES:
        raise ValueError(f"unknown TTT objective {objective!r}; choose one of {sorted(OBJECTIVES)}")
    return objective


def norm_affine_params(model: nn.Module) -> list[nn.Parameter]:
    """Affine weights and biases of every normalisation layer (BatchNorm, LayerNorm, GroupNorm): TENT's choice."""
    return [p for m in model.modules() if isinstance(m, NORM_LAYERS) for p in m.parameters(recurse=False)]


def params_for(objective: str, model: nn.Module) -> list[nn.Parameter]:
    """Parameters that adapt: E_v for depth/rotation/MAE (official: names with encoder_image), norm affines for
    TENT, none for BN (statistics only)."""
    check_objective(objective)
    if objective == "tent":
        return norm_affine_params(model)
    if objective == "bn":
        return []
    if objective == "depth" and getattr(model, "depth_decoder", None) is None:
        raise ValueError("objective 'depth' needs a depth decoder D_d: build the model with a modulation other "
                         "than 'none' (Table 1), or pick objective 'tent' / 'bn'")
    return list(model.image_encoder.parameters())
