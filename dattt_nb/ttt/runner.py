"""Run a TTT strategy over videos and score every prediction (Tables 3–4, Fig. 5); used by notebooks and the CLI.

Each video is decoded once on the host; a step moves only its frame to the device, a prediction its chunk of frames,
so device memory does not grow with the video's length. Each video starts from the trained state with the same
seeded random stream (episodic reset), so a video's result does not depend on the videos run before it.
"""
from __future__ import annotations

import math
import time
from typing import Iterator

import numpy as np
import torch

from dattt_nb.config import pick_device
from dattt_nb.data.stream import decoded
from dattt_nb.metrics import scores_torch
from dattt_nb.native_scores import is_real, rescore
from dattt_nb.ttt.engine import TTTEngine
from dattt_nb.ttt.records import TTTResult, VideoResult
from dattt_nb.ttt.spec import TTTRun
from dattt_nb.ttt.strategies import Prediction, n_predictions
from dattt_nb.utils import progress as progress_bar
from dattt_nb.utils import warn


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


def _mean(x: np.ndarray) -> float:
    return float(np.nanmean(x)) if np.isfinite(x).any() else math.nan


def seeded_run(engine: TTTEngine, video, run: TTTRun) -> Iterator[Prediction]:
    """``run``'s strategy on one video after the episodic reset, with the global random stream (stochastic depth)
    forked and seeded with the engine's seed: the same video always gives the same predictions."""
    strategy = run.record.runner(run.frame_gap)
    dev = engine.device
    devices = [dev.index if dev.index is not None else torch.cuda.current_device()] if dev.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(engine.seed)
        engine.begin_video()
        yield from strategy(engine, video, run.epochs)


def check_inputs(video) -> None:
    """Frames and flow must be finite: NaN/inf in one frame's input is an error naming the frame (one sync)."""
    bad = ~(torch.isfinite(video.frames).flatten(1).all(1) & torch.isfinite(video.flow).flatten(1).all(1))
    frames = bad.nonzero().flatten().tolist()
    if frames:
        names = ", ".join(video.frame_names[t] for t in frames[:10]) + (" …" if len(frames) > 10 else "")
        raise NonFiniteError(f"video {video.name!r}: the frame or flow of frame(s) {names} holds NaN or inf; "
                             "recompute the flow of those frames")


def run_video(engine: TTTEngine, video, run: TTTRun, bar=None, on_prediction=None) -> VideoResult:
    """Episodic reset, then ``run``'s strategy (on the engine made for it, :meth:`TTTEngine.for_run`) over one video (a decoded ``Video`` on the host, or ``VideoFrames`` decoded
    here once), scored as it goes; frames move to the engine's device per step or chunk.

    ``on_prediction(p)`` is called with every :class:`~dattt_nb.ttt.strategies.Prediction` (between TTT steps): a
    viewer keeps what it shows from it, and an exception it raises stops the run there."""
    video = decoded(video)
    if video.flow is None:
        raise ValueError(f"video {video.name!r} has no flow: load it with with_flow=True (the model needs E_f's input)")
    check_inputs(video)
    scores = _Scores(video, run.passes, engine.device)
    start = time.perf_counter()
    for p in seeded_run(engine, video, run):
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


def run_ttt(model, videos, settings, run: TTTRun | str | None = None, progress: bool = True, device=None,
            **overrides) -> TTTResult:
    """A TTT run over ``videos`` → per-video results. ``run``: a :class:`~dattt_nb.ttt.spec.TTTRun`, or a strategy
    name (``None``: the profile's) completed from ``settings``; ``overrides`` (``epochs=``, ``lr=``, ...) change it.

    ``videos``: decoded ``Video`` s or ``VideoFrames`` (each decoded when its turn comes, so the host holds one video).
    The caller's model is left untouched; every video starts from its trained state (episodic reset).
    """
    run = TTTRun.resolve(settings, run, **overrides)  # aliases too; a bad name fails here
    device = torch.device(device) if device is not None else pick_device(settings)
    engine = TTTEngine.for_run(model, run).to(device)
    total = sum(n_predictions(run.strategy, len(v), run.epochs, run.frame_gap) for v in videos)
    results = []
    with progress_bar(total=total, enabled=progress, desc=run.label, unit="frame") as bar:
        for video in videos:
            results.append(run_video(engine, video, run, bar))
            if is_real(getattr(video, "root", None)):  # real data: J/F at the frames' own size (§5.1), like eval
                rescore(results[-1], video.root)
            bar.set_postfix(video=video.name, J=f"{results[-1].J:.3f}")
    return TTTResult(run, results)
