"""One test-time training step, episodic reset and prediction (§4.2, Fig. 2b–c), in the shape of TENT's ``tent.py``.

``configure_model`` freezes all but the adapted parameters; ``snapshot`` / ``restore`` keep the trained state in
memory; ``adapt_step`` is forward → loss → backward → Adam step with the official zero-loss skip and a
non-finite guard; ``predict`` runs the adapted network in eval mode. :class:`TTTEngine` bundles them for the
strategies. Like the official release, the whole network is in ``train()`` mode during a step (stochastic depth
active, BatchNorm on batch statistics) and in ``eval()`` mode to predict.
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from dattt_nb.ttt.objectives import TTTBatch, get_objective, params_for
from dattt_nb.utils import autocast, check_finite


@dataclass
class StepInfo:
    """What one adaptation step did: its loss, whether it was skipped (and why), the depth maps' spatial std."""

    loss: float
    skipped: bool = False
    nonfinite: bool = False  # loss or gradients were NaN/inf: weights and statistics were restored
    depth_std: float = math.nan  # collapse watch: spatial std of the predicted depth of the views


def configure_model(model: nn.Module, objective: str) -> list[nn.Parameter]:
    """Only the objective's parameters require gradients (official: E_v for depth); returns them. The objective's
    ``prepare`` runs once (BN: statistics become cumulative averages over the test video)."""
    params = params_for(objective, model)
    model.requires_grad_(False)
    for p in params:
        p.requires_grad_(True)
    prepare = get_objective(objective).prepare
    if prepare is not None:
        prepare(model)
    return params


def snapshot(model: nn.Module) -> dict[str, Tensor]:
    """An in-memory copy of the whole state (parameters and buffers such as BatchNorm statistics)."""
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


@torch.no_grad()
def restore(model: nn.Module, snap: dict[str, Tensor]) -> None:
    """Copy ``snap`` back into the model's own tensors (episodic reset; optimisers keep valid references)."""
    model.load_state_dict(snap, strict=True)


def adapt_step(model: nn.Module, optimizer: torch.optim.Optimizer | None, objective: str, frame: Tensor,
               flow: Tensor, n_pairs: int = 8, scale=(1.05, 1.5), generator=None,
               reference: nn.Module | None = None) -> StepInfo:
    """One TTT update on a frame: views → loss → backward → step (eq. 4).

    Skipped when the loss is exactly 0 (official) or when the loss or a gradient is not finite; then the
    statistics updated by this step's forward are put back, so the model is left exactly as before.
    """
    buffers = [b.detach().clone() for b in model.buffers()]  # last good statistics (small)
    batch = TTTBatch(frame, flow, n_pairs, scale, generator, reference)
    model.train()
    with autocast(frame.device):  # the training's mixed precision on CUDA; backward outside, as torch advises
        loss = get_objective(objective).loss(model, batch)
    grad_norm = loss.new_zeros(())
    if optimizer is not None and loss.requires_grad:
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        grads = [p.grad for group in optimizer.param_groups for p in group["params"] if p.grad is not None]
        if grads:
            grad_norm = torch.stack(torch._foreach_norm(grads)).norm()
    std = batch.stats.get("depth_std", loss.new_tensor(math.nan))
    loss_v, grad_v, std_v = torch.stack([loss.detach().float(), grad_norm.float(), std.float()]).tolist()  # one sync
    if not (math.isfinite(loss_v) and math.isfinite(grad_v)):
        with torch.no_grad():
            for b, good in zip(model.buffers(), buffers):
                b.copy_(good)
        return StepInfo(loss_v, skipped=True, nonfinite=True, depth_std=std_v)
    if loss_v == 0 or optimizer is None or not loss.requires_grad:
        return StepInfo(loss_v, skipped=True, depth_std=std_v)
    optimizer.step()
    return StepInfo(loss_v, depth_std=std_v)


def make_adam(params: list[nn.Parameter], lr: float) -> torch.optim.Adam:
    """Adam (the official TTT optimiser), with torch's fused kernel where available (~5x faster on CPU)."""
    try:
        return torch.optim.Adam(params, lr=lr, fused=True)
    except (RuntimeError, TypeError):
        return torch.optim.Adam(params, lr=lr)


@torch.no_grad()
def predict(model: nn.Module, frames: Tensor, flows: Tensor) -> tuple[Tensor, Tensor | None]:
    """Mask probability (B, H, W) and depth (B, H, W) (None without D_d) in eval mode, without gradients.

    A frame whose mask or depth logits are not finite gets a NaN mask (never a silent empty one): callers test
    ``mask.isnan()`` on the device, without a synchronisation here.
    """
    model.eval()
    with autocast(frames.device):
        mask_logits, depth_logits = model(frames, flows)
    finite = torch.isfinite(mask_logits).flatten(1).all(1)
    if depth_logits is not None:
        finite &= torch.isfinite(depth_logits).flatten(1).all(1)
    depth = None if depth_logits is None else torch.sigmoid(depth_logits[:, 0].float())
    mask = torch.where(finite[:, None, None], torch.sigmoid(mask_logits[:, 0].float()), torch.nan)
    return mask, depth


@dataclass
class TTTEngine:
    """A private copy of the trained model, its trained state, the objective and the step settings.

    The caller's model is never modified (not its weights, modes or ``requires_grad`` flags): the engine
    adapts a deep copy and resets it from an in-memory snapshot (episodic reset, never from disk).
    """

    model: nn.Module = field(repr=False)
    objective: str = "depth"
    lr: float = 1e-5
    n_pairs: int = 8
    scale: tuple = (1.05, 1.5)
    seed: int = 0
    steps: list[StepInfo] = field(default_factory=list, repr=False)  # this video's steps, in order

    def __post_init__(self):
        record = get_objective(self.objective)
        self.model = copy.deepcopy(self.model)
        self.params = configure_model(self.model, self.objective)
        self.trained = snapshot(self.model)
        check_finite(self.trained, "the trained model")
        self.reference = None  # the frozen trained model, kept only for objectives that anchor to it
        if record.needs_reference:
            self.reference = copy.deepcopy(self.model).eval().requires_grad_(False)
        self.generator = torch.Generator().manual_seed(self.seed)

    @classmethod
    def for_run(cls, model: nn.Module, run) -> "TTTEngine":
        """The engine of a :class:`~dattt_nb.ttt.spec.TTTRun`: its objective, lr, view pairs, zoom range and seed."""
        return cls(model, objective=run.objective, lr=run.lr, n_pairs=run.n_pairs, scale=run.scale, seed=run.seed)

    @classmethod
    def from_settings(cls, model: nn.Module, settings, **overrides) -> "TTTEngine":
        """The engine of the profile's TTT run (:meth:`dattt_nb.ttt.spec.TTTRun.from_settings`, ``overrides`` win
        unless None)."""
        from dattt_nb.ttt.spec import TTTRun  # the spec reads the strategies, which import this module

        return cls.for_run(model, TTTRun.from_settings(settings, **overrides))

    @property
    def device(self) -> torch.device:
        return next(iter(self.trained.values())).device

    def to(self, device) -> "TTTEngine":
        self.model.to(device)
        if self.reference is not None:
            self.reference.to(device)
        self.trained = {k: v.to(device) for k, v in self.trained.items()}
        return self

    def begin_video(self) -> None:
        """Episodic reset: trained weights and statistics, a fresh random stream, an empty step log."""
        self.reset()
        self.generator.manual_seed(self.seed)
        self.steps = []

    def reset(self) -> None:
        """Back to the trained state (TTT-N does this for every frame)."""
        restore(self.model, self.trained)

    def optimizer(self) -> torch.optim.Optimizer | None:
        """A fresh Adam over the adapted parameters (None when the objective adapts none, e.g. BN)."""
        return make_adam(self.params, self.lr) if self.params else None

    def step(self, optimizer, video, t: int) -> StepInfo:
        """One adaptation step on frame ``t`` of ``video``: only that frame and its flow move to the device."""
        dev = dict(device=self.device, non_blocking=True)
        info = adapt_step(self.model, optimizer, self.objective, video.frames[t:t + 1].to(**dev),
                          video.flow[t:t + 1].to(**dev), self.n_pairs, self.scale, self.generator, self.reference)
        self.steps.append(info)
        return info

    def predict(self, video, frames: list[int]) -> tuple[Tensor, Tensor | None]:
        """Mask probabilities and depth of the listed frames with the current weights (only they move to the device)."""
        index = torch.as_tensor(frames, device=video.frames.device)
        dev = dict(device=self.device, non_blocking=True)
        return predict(self.model, video.frames[index].to(**dev), video.flow[index].to(**dev))
