"""Run a TTT strategy over videos and score every prediction (Tables 3–4, Fig. 5); used by notebooks and the CLI.

Each video is decoded once on the host; a step moves only its frame to the device, a prediction its chunk of frames,
so device memory does not grow with the video's length. Each video starts from the trained state with the same
seeded random stream (episodic reset), so a video's result does not depend on the videos run before it.
"""
from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np
import torch

from dattt_nb.config import pick_device
from dattt_nb.data.stream import decoded
from dattt_nb.metrics import scores_torch
from dattt_nb.native_scores import is_real, rescore
from dattt_nb.ttt.engine import TTTEngine
from dattt_nb.ttt.objectives import OBJECTIVES, get_objective  # noqa: F401
from dattt_nb.ttt.strategies import (STRATEGY_LABELS, Prediction, get_strategy, n_predictions, resolve_strategy,
                                     strategy_name)
from dattt_nb.utils import progress as progress_bar
from dattt_nb.utils import warn


@dataclass
class VideoResult:
    """One video's TTT outcome; J/F are fractions, NaN on frames without ground truth."""

    name: str
    masks: torch.Tensor  # (T, H, W) bool on the CPU: the result (LTV: the last pass)
    J_frames: np.ndarray  # (T,)
    F_frames: np.ndarray  # (T,)
    J: float  # mean over annotated frames
    F: float
    pass_J: np.ndarray  # (passes, T): per-pass J (LTV: one row per epoch; others: one row)
    pass_F: np.ndarray
    final_J: float = math.nan  # LTV: every frame re-predicted after the last pass
    final_F: float = math.nan
    final_masks: torch.Tensor | None = None
    depth_std_frames: np.ndarray | None = None  # (T,) spatial std of the predicted depth (collapse watch)
    losses: list[float] = field(default_factory=list)  # TTT loss of every step, in order
    step_depth_std: list[float] = field(default_factory=list)  # spatial std of the views' depth, every step
    steps: int = 0
    skipped: int = 0  # steps without an update (zero loss, BN, non-finite)
    nonfinite: int = 0  # non-finite loss/gradient: skipped and restored
    fallback: int = 0  # frames whose adapted prediction was not finite: predicted with the trained weights
    seconds: float = 0.0

    @property
    def fps(self) -> float:
        """Video frames processed per second (all passes included)."""
        return len(self.J_frames) / self.seconds if self.seconds > 0 else math.nan

    def summary(self) -> dict:
        """Scalars and per-frame lists, JSON-ready (masks left out, NaN → None)."""
        d = {k: v for k, v in asdict(self).items() if k not in ("masks", "final_masks")}
        return _jsonable({**d, "fps": self.fps, "frames": len(self.J_frames)})


@dataclass
class TTTResult:
    """Results of one strategy × objective over a list of videos."""

    strategy: str
    objective: str
    epochs: int
    lr: float
    frame_gap: int
    videos: list[VideoResult]

    @property
    def label(self) -> str:
        """The paper's name: ``TTT-LTV``, ``TTT-N (TENT)``, ``TTT-MWI, gap 10``, ``No TTT``."""
        label = STRATEGY_LABELS[self.strategy]
        if self.strategy != "none" and self.objective != "depth":
            label += f" ({get_objective(self.objective).label})"
        if self.frame_gap > 1 and resolve_strategy(self.strategy).groupable:
            label += f", gap {self.frame_gap}"
        return label

    def to_dict(self) -> dict:
        return dict(strategy=self.strategy, objective=self.objective, epochs=self.epochs, lr=self.lr,
                    frame_gap=self.frame_gap, label=self.label, videos=[v.summary() for v in self.videos])

    def table(self):
        return results_table(self)


def results_table(result: TTTResult):
    """One row per video: J, F (and LTV's final re-prediction), steps, skips, time — a pandas DataFrame."""
    import pandas as pd

    rows = [dict(video=v.name, method=result.label, J=v.J, F=v.F, J_final=v.final_J, F_final=v.final_F,
                 frames=len(v.J_frames), steps=v.steps, skipped=v.skipped, nonfinite=v.nonfinite,
                 fallback=v.fallback, seconds=v.seconds, fps=v.fps) for v in result.videos]
    return pd.DataFrame(rows).set_index("video")


MAX_NONFINITE_SHARE = 0.1  # more TTT steps than this share skipped as non-finite: the run is not trusted


class NonFiniteError(ValueError):
    """TTT met NaN/inf it could not fall back from, or skipped too many steps as non-finite."""


def check_nonfinite(result: "TTTResult", max_share: float = MAX_NONFINITE_SHARE) -> None:
    """Raise when more than ``max_share`` of a video's TTT steps were skipped as non-finite (NaN/inf loss or
    gradient): its masks come from weights that barely adapted, or from the fallback to the trained ones."""
    bad = [v for v in result.videos if v.steps and v.nonfinite / v.steps > max_share]
    if bad:
        v = max(bad, key=lambda v: v.nonfinite / v.steps)
        others = f" and {len(bad) - 1} other video(s)" if len(bad) > 1 else ""
        raise NonFiniteError(
            f"{result.label} skipped {v.nonfinite} of {v.steps} steps ({v.nonfinite / v.steps:.0%}) as non-finite "
            f"(NaN/inf loss or gradient) on video {v.name!r}{others}, more than the {max_share:.0%} allowed: lower "
            f"ttt_lr (now {result.lr:g}), or pass --allow-nonfinite (allow_nonfinite=True) to keep the result")


class _Scores:
    """Collects a strategy's predictions of one video: masks of the latest pass, J/F of every pass, and which
    predictions were not finite (NaN masks, see :func:`dattt_nb.ttt.engine.predict`)."""

    def __init__(self, video, passes: int, dev):
        t, h, w = len(video), *video.frames.shape[-2:]
        self.gt = video.masks  # on the host, like the result masks; a frame's J/F is computed on ``dev``
        if video.masks is None:
            self.annotated = [False] * t
        elif video.annotated is None:
            self.annotated = [True] * t
        else:
            self.annotated = video.annotated.cpu().bool().tolist()
        self.masks = torch.zeros(t, h, w, dtype=torch.bool)
        self.final = None
        nan = torch.full((max(passes, 1), t), math.nan, device=dev)
        self.J, self.F = nan.clone(), nan.clone()
        self.final_J, self.final_F = torch.full((t,), math.nan, device=dev), torch.full((t,), math.nan, device=dev)
        self.depth_std = torch.full((t,), math.nan, device=dev)
        self.bad = torch.zeros(max(passes, 1), t, dtype=torch.bool, device=dev)  # non-finite, per pass
        self.final_bad = torch.zeros(t, dtype=torch.bool, device=dev)
        self.latest_bad = torch.zeros(t, dtype=torch.bool, device=dev)  # the stored mask came from a NaN

    def add(self, p) -> None:
        mask, bad = p.mask > 0.5, p.mask.isnan().any()
        if p.pass_ == "final":
            if self.final is None:
                self.final = torch.zeros_like(self.masks)
            self.final[p.t] = mask
            self.final_bad[p.t] = bad
            j, f = self.final_J, self.final_F
        else:
            self.masks[p.t] = mask
            self.bad[p.pass_, p.t] = bad
            self.latest_bad[p.t] = bad
            if p.depth is not None:
                self.depth_std[p.t] = p.depth.std()
            j, f = self.J[p.pass_], self.F[p.pass_]
        self._score(p.t, mask, j, f)

    def _score(self, t: int, mask, j, f) -> None:
        if self.annotated[t]:
            gt = self.gt[t:t + 1].to(mask.device)
            j[t], f[t] = (x[0] for x in scores_torch(gt, mask[None]))

    def fall_back(self, engine: TTTEngine, video) -> int:
        """Predict again, with the trained weights, every frame whose adapted prediction was not finite; returns
        their number (one device sync per video). The trained model's own NaN/inf is an error."""
        frames = (self.bad.any(0) | self.final_bad).nonzero().flatten().tolist()
        if not frames:
            return 0
        engine.reset()
        mask, depth = engine.predict(video, frames)
        names = ", ".join(video.frame_names[t] for t in frames[:10]) + (" …" if len(frames) > 10 else "")
        if mask.isnan().any():
            raise NonFiniteError(f"video {video.name!r}: the trained model's mask or depth is not finite (NaN/inf) "
                                 f"on frame(s) {names}; check those frames' pixels and flow and the weights")
        for i, t in enumerate(frames):
            m = mask[i] > 0.5
            for row in self.bad[:, t].nonzero().flatten().tolist():
                self._score(t, m, self.J[row], self.F[row])
            if self.latest_bad[t]:
                self.masks[t] = m
                if depth is not None:
                    self.depth_std[t] = depth[i].std()
            if self.final_bad[t]:
                self.final[t] = m
                self._score(t, m, self.final_J, self.final_F)
        warn(f"video {video.name!r}: the adapted weights gave a non-finite (NaN/inf) mask or depth on "
             f"{len(frames)} frame(s) ({names}); those frames were predicted with the trained weights")
        return len(frames)


def _jsonable(x):
    """Arrays → lists and NaN → None, recursively (strict JSON)."""
    if isinstance(x, np.ndarray):
        x = x.tolist()
    if isinstance(x, dict):
        return {k: _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


def _mean(x: np.ndarray) -> float:
    return float(np.nanmean(x)) if np.isfinite(x).any() else math.nan


def seeded_run(engine: TTTEngine, video, strategy: str, epochs: int, frame_gap: int = 1) -> Iterator[Prediction]:
    """A strategy's predictions on one video after the episodic reset, with the global random stream (stochastic
    depth) forked and seeded with the engine's seed: the same video always gives the same run."""
    run = get_strategy(strategy, frame_gap)
    dev = engine.device
    devices = [dev.index if dev.index is not None else torch.cuda.current_device()] if dev.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(engine.seed)
        engine.begin_video()
        yield from run(engine, video, epochs)


def check_inputs(video) -> None:
    """Frames and flow must be finite: NaN/inf in one frame's input is an error naming the frame (one sync)."""
    bad = ~(torch.isfinite(video.frames).flatten(1).all(1) & torch.isfinite(video.flow).flatten(1).all(1))
    frames = bad.nonzero().flatten().tolist()
    if frames:
        names = ", ".join(video.frame_names[t] for t in frames[:10]) + (" …" if len(frames) > 10 else "")
        raise NonFiniteError(f"video {video.name!r}: the frame or flow of frame(s) {names} holds NaN or inf; "
                             "recompute the flow of those frames")


def run_video(engine: TTTEngine, video, strategy: str = "loop", epochs: int = 1, frame_gap: int = 1,
              bar=None, on_prediction=None) -> VideoResult:
    """Episodic reset, then the strategy over one video (a decoded ``Video`` on the host, or ``VideoFrames`` decoded
    here once), scored as it goes; frames move to the engine's device per step or chunk.

    ``on_prediction(p)`` is called with every :class:`~dattt_nb.ttt.strategies.Prediction` (between TTT steps): a
    viewer keeps what it shows from it, and an exception it raises stops the run there."""
    video = decoded(video)
    if video.flow is None:
        raise ValueError(f"video {video.name!r} has no flow: load it with with_flow=True (the model needs E_f's input)")
    check_inputs(video)
    strategy = strategy_name(strategy)  # an alias (ltv) runs, and is counted, as its strategy (loop)
    passes = epochs if resolve_strategy(strategy).loops else 1
    scores = _Scores(video, passes, engine.device)
    start = time.perf_counter()
    for p in seeded_run(engine, video, strategy, epochs, frame_gap):
        scores.add(p)
        if on_prediction is not None:
            on_prediction(p)
        if bar is not None:
            bar.update(1)
    fallback = scores.fall_back(engine, video)  # eval-mode prediction: no random draws
    masks = scores.masks
    seconds = time.perf_counter() - start
    J, F = scores.J.cpu().numpy(), scores.F.cpu().numpy()
    final_J, final_F = scores.final_J.cpu().numpy(), scores.final_F.cpu().numpy()
    steps = engine.steps
    return VideoResult(
        name=video.name, masks=masks, J_frames=J[-1], F_frames=F[-1], J=_mean(J[-1]), F=_mean(F[-1]),
        pass_J=J, pass_F=F, final_J=_mean(final_J), final_F=_mean(final_F),
        final_masks=None if scores.final is None else scores.final.cpu(),
        depth_std_frames=scores.depth_std.cpu().numpy(), losses=[s.loss for s in steps],
        step_depth_std=[s.depth_std for s in steps], steps=len(steps), skipped=sum(s.skipped for s in steps),
        nonfinite=sum(s.nonfinite for s in steps), fallback=fallback, seconds=seconds)


def run_ttt(model, videos, settings, strategy: str | None = None, objective: str | None = None,
            epochs: int | None = None, lr: float | None = None, frame_gap: int | None = None,
            n_pairs: int | None = None, progress: bool = True, device=None) -> TTTResult:
    """Run a strategy (default ``settings.ttt_strategy``) with an objective over ``videos`` → per-video results.

    ``videos``: decoded ``Video`` s or ``VideoFrames`` (each decoded when its turn comes, so the host holds one video).
    The caller's model is left untouched; every video starts from its trained state (episodic reset).
    """
    strategy = strategy_name(strategy or settings.ttt_strategy)  # aliases too; a bad name fails here
    epochs = settings.ttt_epochs if epochs is None else epochs
    frame_gap = settings.ttt_frame_gap if frame_gap is None else frame_gap
    device = torch.device(device) if device is not None else pick_device(settings)
    engine = TTTEngine.from_settings(model, settings, objective=objective, lr=lr, n_pairs=n_pairs).to(device)
    total = sum(n_predictions(strategy, len(v), epochs) for v in videos)
    label = STRATEGY_LABELS[strategy]
    results = []
    with progress_bar(total=total, enabled=progress, desc=f"{label} ({engine.objective})", unit="frame") as bar:
        for video in videos:
            results.append(run_video(engine, video, strategy, epochs, frame_gap, bar))
            if is_real(getattr(video, "root", None)):  # real data: J/F at the frames' own size (§5.1), like eval
                rescore(results[-1], video.root)
            bar.set_postfix(video=video.name, J=f"{results[-1].J:.3f}")
    return TTTResult(strategy, engine.objective, epochs, engine.lr, frame_gap, results)


def write_results(result: TTTResult, stem, settings=None) -> tuple[Path, Path]:
    """``<stem>.csv`` (one row per video) and ``<stem>.json`` (per-frame J/F, per-pass J/F, losses, settings),
    each written atomically."""
    from dattt_nb.utils import atomic_path, atomic_write_json, git_commit, package_versions

    stem = Path(stem)
    csv, js = stem.with_suffix(".csv"), stem.with_suffix(".json")
    with atomic_path(csv) as tmp:
        result.table().to_csv(tmp)
    record = result.to_dict()
    if settings is not None:
        record.update(settings=settings.to_dict(), commit=git_commit(), versions=package_versions())
    atomic_write_json(js, record)
    return csv, js
