"""Test-time objectives: each is one function ``loss(model, batch) -> Tensor`` (eq. 4 and the Table 4 baselines).

An :class:`Objective` record pairs the loss with the parameters it adapts, its label and what it needs; the
``OBJECTIVES`` registry holds one record per method, so adding one (TENT, MAE, ...) is one entry.
"""
from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass, field
from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from dattt_nb.losses import silog_loss
from dattt_nb.models.aux_heads import mae_loss, rotation_loss
from dattt_nb.ttt.views import apply_geometry, make_views, sample_geometry

NORM_LAYERS = (nn.modules.batchnorm._NormBase, nn.LayerNorm, nn.GroupNorm)
BN_PRIOR = 1  # BN adaptation: the training statistics weigh as much as this many test batches (Schneider et al. 2020)
ANCHOR_WEIGHT = 1.0  # extension: weight of the pull toward the frozen model's depth (docs/ttt-details.md: w = 1)


@dataclass
class TTTBatch:
    """What an objective sees for one step: the frame (1, 3, H, W), its flow, and lazily made view pairs."""

    frame: Tensor
    flow: Tensor
    n_pairs: int = 8
    scale: tuple = (1.05, 1.5)
    generator: torch.Generator | None = None
    reference: nn.Module | None = None  # the frozen trained model (eval mode), for objectives that anchor to it
    stats: dict = field(default_factory=dict)  # detached tensors an objective leaves for logging

    @functools.cached_property
    def views(self) -> tuple[Tensor, Tensor]:
        """(view1, view2), each (n_pairs, 3, H, W): shared geometry, independent photometry (official)."""
        return make_views(self.frame, self.n_pairs, self.scale, self.generator)

    @functools.cached_property
    def geometric_views(self) -> tuple[Tensor, Tensor]:
        """(frames, flows), each (n_pairs, 3, H, W): flip / zoom / crop of the frame and its flow with the same
        geometry per view and no colour change — the test batch of TENT and BN (a single frame is too small a batch
        for BatchNorm, and photometric jitter would distort the very statistics BN re-estimates)."""
        theta = sample_geometry(self.n_pairs, self.scale, self.generator)
        return apply_geometry(self.frame, theta), apply_geometry(self.flow, theta)


def spatial_std(depth: Tensor) -> Tensor:
    """Mean over the batch of each depth map's spatial standard deviation: 0 means a flat (collapsed) map."""
    return depth.flatten(1).std(dim=1).mean()


def view_depths(model: nn.Module, batch: TTTBatch) -> tuple[Tensor, Tensor]:
    """sigmoid(D_d(E_v(v¹))), sigmoid(D_d(E_v(v²))): one forward pass per view batch, so in train mode D_d's
    BatchNorm normalises each with its own statistics and stochastic depth draws independently for the two."""
    depth1, depth2 = (torch.sigmoid(model.depth(view)) for view in batch.views)
    batch.stats["depth_std"] = spatial_std(depth1.detach())
    return depth1, depth2


def depth_consistency(model: nn.Module, batch: TTTBatch) -> Tensor:
    """DATTT, eq. 4: SILog(sigmoid(D_d(E_v(v²))), sigmoid(D_d(E_v(v¹)))), gradients through both views."""
    depth1, depth2 = view_depths(model, batch)
    return silog_loss(depth2, depth1)


def depth_anchored(model: nn.Module, batch: TTTBatch, weight: float = ANCHOR_WEIGHT) -> Tensor:
    """Extension, not the paper: eq. 4 plus ``weight`` × SILog of each view's depth to the frozen trained model's
    depth of the same view (eval mode, no gradient). A constant map is consistent but far from the anchor, so the
    trivial solution of eq. 4 stops paying (docs/ttt-details.md, the early tiny-scale study)."""
    if batch.reference is None:
        raise ValueError("objective 'depth_anchored' needs the frozen model: run it through TTTEngine")
    depth1, depth2 = view_depths(model, batch)
    with torch.no_grad():
        ref1, ref2 = (torch.sigmoid(batch.reference.depth(view)) for view in batch.views)
    anchor = 0.5 * (silog_loss(depth1, ref1) + silog_loss(depth2, ref2))
    return silog_loss(depth2, depth1) + weight * anchor


def binary_entropy(logits: Tensor) -> Tensor:
    """Mean entropy of per-pixel Bernoulli predictions given as logits (numerically stable)."""
    p = torch.sigmoid(logits)
    return -(p * F.logsigmoid(logits) + (1 - p) * F.logsigmoid(-logits)).mean()


def tent_entropy(model: nn.Module, batch: TTTBatch) -> Tensor:
    """TENT (Wang et al. 2021; Table 4): entropy of the mask prediction on the test batch (the frame's geometric
    views); only the normalisation layers' affine parameters adapt (:func:`params_for`)."""
    mask_logits, depth_logits = model(*batch.geometric_views)
    if depth_logits is not None:
        batch.stats["depth_std"] = spatial_std(torch.sigmoid(depth_logits.detach()))
    return binary_entropy(mask_logits)


def bn_layers(model: nn.Module) -> list[nn.Module]:
    """Every BatchNorm layer (MiT / PVT and Swin encoders have none: they normalise with LayerNorm)."""
    return [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]


def prepare_bn(model: nn.Module, prior: int = BN_PRIOR) -> None:
    """Make BN's running statistics a cumulative average (``momentum=None``) in which the trained statistics count
    as ``prior`` batches; the engine snapshots this state, so every episodic reset starts the average again."""
    for m in bn_layers(model):
        m.momentum = None
        if m.num_batches_tracked is not None:
            m.num_batches_tracked.fill_(prior)


def bn_statistics(model: nn.Module, batch: TTTBatch) -> Tensor:
    """BN adaptation (Schneider et al. 2020; Table 4): a forward of the test batch with only the BatchNorm layers in
    train mode folds its statistics into their running averages (:func:`prepare_bn`); no weight changes. The loss is
    0, so no step (NaN when the prediction is not finite, so the engine's guard puts the statistics back)."""
    model.eval()
    for m in bn_layers(model):
        m.train()
    with torch.no_grad():
        mask_logits, depth_logits = model(*batch.geometric_views)
    if depth_logits is not None:
        batch.stats["depth_std"] = spatial_std(torch.sigmoid(depth_logits))
    return mask_logits.mean() * 0


def rotation(model: nn.Module, batch: TTTBatch) -> Tensor:
    """TTT-Rot objective on the first batch of views."""
    return rotation_loss(model, batch.views[0])


def mae(model: nn.Module, batch: TTTBatch) -> Tensor:
    """TTT-MAE objective on the first batch of views."""
    return mae_loss(model, batch.views[0], batch.generator)


def norm_affine_params(model: nn.Module) -> list[nn.Parameter]:
    """Affine weights and biases of every normalisation layer (BatchNorm, LayerNorm, GroupNorm): TENT's choice."""
    return [p for m in model.modules() if isinstance(m, NORM_LAYERS) for p in m.parameters(recurse=False)]


def image_encoder_params(model: nn.Module) -> list[nn.Parameter]:
    """E_v's parameters (official: the names with ``encoder_image``): DATTT, TTT-Rot, TTT-MAE."""
    return list(model.image_encoder.parameters())


def no_params(model: nn.Module) -> list[nn.Parameter]:
    """Nothing adapts by gradient (BN: statistics only)."""
    return []


@dataclass(frozen=True)
class Objective:
    """One TTT method: its ``loss(model, batch)``, the ``params(model)`` it adapts, the label people read, whether it
    compares against the frozen trained model (``needs_reference``) or needs the depth decoder D_d, and an optional
    ``prepare(model)`` run once when the engine configures the model."""

    loss: Callable[[nn.Module, TTTBatch], Tensor]
    params: Callable[[nn.Module], list[nn.Parameter]]
    label: str
    needs_reference: bool = False
    needs_depth: bool = False
    prepare: Callable[[nn.Module], None] | None = None
    adapts: str = "image encoder E_v"  # what changes, in words (tables)


OBJECTIVES: dict[str, Objective] = {
    "depth": Objective(depth_consistency, image_encoder_params, "DATTT", needs_depth=True),
    "tent": Objective(tent_entropy, norm_affine_params, "TENT", adapts="normalisation γ, β"),
    "bn": Objective(bn_statistics, no_params, "BN", prepare=prepare_bn, adapts="BatchNorm statistics only"),
    "rotation": Objective(rotation, image_encoder_params, "TTT-Rot"),
    "mae": Objective(mae, image_encoder_params, "TTT-MAE"),
    "depth_anchored": Objective(depth_anchored, image_encoder_params, "DATTT + anchor (extension)",
                                needs_reference=True, needs_depth=True),
}


def get_objective(name: str) -> Objective:
    """The registered objective ``name``, else a clear error listing the choices. ``"bn:<prior>"`` is BN adaptation
    with the training statistics weighing as ``prior`` test batches (chosen on the validation split, notebook 07)."""
    if name.startswith("bn:"):
        try:
            prior = int(name[3:])
        except ValueError:
            prior = -1
        if prior < 0:
            raise ValueError(f"TTT objective {name!r}: expected bn:<prior> with an integer prior >= 0, e.g. bn:16")
        return dataclasses.replace(OBJECTIVES["bn"], prepare=functools.partial(prepare_bn, prior=prior))
    if name not in OBJECTIVES:
        raise ValueError(f"unknown TTT objective {name!r}; choose one of {sorted(OBJECTIVES)}")
    return OBJECTIVES[name]


def params_for(objective: str, model: nn.Module) -> list[nn.Parameter]:
    """Parameters ``objective`` adapts on ``model`` (E_v for depth / rotation / MAE, norm affines for TENT, none
    for BN); a depth objective on a model without D_d is refused."""
    record = get_objective(objective)
    if record.needs_depth and getattr(model, "depth_decoder", None) is None:
        raise ValueError(f"objective {objective!r} needs a depth decoder D_d: build the model with a modulation other "
                         "than 'none' (Table 1), or pick objective 'tent' / 'bn'")
    return record.params(model)
