"""What the TTT explorer shows (§4.2, Fig. 4): one video adapted with chosen settings, cached, and the view of a frame.

:func:`explore` runs No TTT and a strategy × objective on one video through
:func:`~dattt_nb.ttt.runner.run_video` — the notebooks' code path — keeping each frame's predicted depth, and caches
both beside the notebooks' runs (the same key as :func:`dattt_nb.ttt.cache.cache_dir`), so a second look is
instant. :func:`frame_view` and :func:`curves_figure` are pure functions of an :class:`Exploration` and a frame: the
widget in :mod:`dattt_nb.course.widgets` only draws what they return, so the logic is tested without a browser.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from dattt_nb.ttt.records import VideoResult, load_video_result, save_video_result
from dattt_nb.ttt.runner import run_video
from dattt_nb.ttt.spec import TTTRun
from dattt_nb.ttt.strategies import n_predictions

FOLDER_SPLIT = "folder"  # the cache's split name for a user's video folder


class Stopped(Exception):
    """Raised between TTT steps when the user asked the run to stop; nothing is cached."""


@dataclass
class Run:
    """One video under one method: its scores and steps, and the predicted depth of every frame (T, H, W)."""

    result: VideoResult
    depth: np.ndarray | None
    cached: bool = False


@dataclass
class Exploration:
    """A video, its No TTT run (``before``) and its run with the explorer's settings (``after``)."""

    video: object
    split: str
    state: TTTRun  # the run the explorer's knobs chose (its ``after``)
    before: Run
    after: Run

    def __len__(self) -> int:
        return len(self.video)


# --- running and caching --------------------------------------------------------------------------

def _cache_file(model, settings, split: str, video, run: TTTRun, device) -> Path:
    from dattt_nb.ttt.cache import cache_dir, video_fingerprint

    return cache_dir(model, settings, run, device) / "explore" / f"{split}__{video.name}_{video_fingerprint(video)}.npz"


def _load(path: Path) -> Run | None:
    hit = load_video_result(path)
    return None if hit is None else Run(*hit, cached=True)


def run_one(model, video, settings, state: TTTRun, split: str, stop: Callable[[], bool] | None = None,
            bar=None, refresh: bool = False, device=None) -> Run:
    """One method on one video (cached): the notebooks' :func:`run_video`, keeping each frame's predicted depth.

    ``stop()`` is asked after every prediction (between TTT steps); when it says True the run ends with
    :class:`Stopped` and nothing is written. ``bar.update(1)`` is called once per prediction.
    """
    from dattt_nb.config import pick_device
    from dattt_nb.ttt.engine import TTTEngine

    state = TTTRun.resolve(settings, state)  # a strategy name is completed from the profile
    state.check()
    device = torch.device(device) if device is not None else pick_device(settings)
    path = _cache_file(model, settings, split, video, state, device)
    if not refresh and (hit := _load(path)) is not None:
        if bar is not None:
            bar.update(n_predictions(state.strategy, len(video), state.epochs, state.frame_gap))
        return hit
    engine = TTTEngine.for_run(model, state).to(device)
    depth = torch.zeros(len(video), *video.frames.shape[-2:])
    has_depth = []

    def keep(p):
        if p.depth is not None and p.pass_ != "final":
            depth[p.t] = p.depth.float().cpu()
            has_depth.append(p.t)
        if stop is not None and stop():
            raise Stopped(f"stopped by the user during {state.label} on {video.name}")

    result = run_video(engine, video.to(device), state, bar, keep)
    run = Run(result, depth.numpy() if has_depth else None)
    save_video_result(path, run.result, run.depth)
    return run


def explore(model, video, settings, state: TTTRun, split: str = FOLDER_SPLIT,
            stop: Callable[[], bool] | None = None, bar=None, refresh: bool = False, device=None) -> Exploration:
    """No TTT and ``state``'s method on ``video`` (each cached under the notebooks' run folder) → :class:`Exploration`."""
    before = run_one(model, video, settings, TTTRun.from_settings(settings, strategy="none", objective="depth"),
                     split, stop, bar, refresh, device)
    after = run_one(model, video, settings, state, split, stop, bar, refresh, device)
    return Exploration(video, split, state, before, after)


def total_predictions(video, state: TTTRun) -> int:
    """Predictions :func:`explore` makes (for a progress bar): No TTT, then the method."""
    return len(video) + n_predictions(state.strategy, len(video), state.epochs, state.frame_gap)


def load_folder(source, settings, model=None, max_frames: int | None = None):
    """A user's folder of frames (or a video file) as a network-size :class:`~dattt_nb.data.layout.Video` with
    colour-coded flow, and its ground truth when a DAVIS ``Annotations`` folder sits beside it."""
    from dattt_nb.config import pick_device
    from dattt_nb.data.layout import find_annotations, read_annotations
    from dattt_nb.data.video_file import read_video
    from dattt_nb.data.clip import FLOW_LONG_SIDE, flow_of_frames, to_video
    from dattt_nb.models.dattt import input_size

    source = Path(source).expanduser()
    if not source.exists():
        raise FileNotFoundError(f"video {source} does not exist; expected a folder of frames or a video file")
    name = source.stem if source.is_file() else source.name
    frames, names = read_video(source, max_frames=max_frames)
    gt = annotated = None
    if (gt_root := find_annotations(source)) is not None:
        gt, annotated = read_annotations(gt_root, name, names)
    size = input_size(model, settings) if model is not None else settings.image_size
    flow = flow_of_frames(frames, settings.flow_method, max(FLOW_LONG_SIDE, size), device=pick_device(settings))
    return to_video(name, frames, flow, names, size, gt, annotated)


# --- what the view shows --------------------------------------------------------------------------

def frame_view(ex: Exploration, t: int) -> dict:
    """Frame ``t``: the six panels (frame | ground truth | mask before | mask after | depth before | depth after) as
    (H, W, 3) float images with their titles, and the frame's J before and after (NaN without ground truth)."""
    from dattt_nb.viz import COLORS, depth_to_rgb, overlay, to_hwc

    if not 0 <= t < len(ex):
        raise IndexError(f"frame {t} out of range for {ex.video.name} ({len(ex)} frames)")
    frame = to_hwc(ex.video.frames[t])
    blank = np.zeros_like(frame)
    gt = None if ex.video.masks is None else ex.video.masks[t].cpu().numpy().astype(bool)
    annotated = gt is not None and (ex.video.annotated is None or bool(ex.video.annotated[t]))
    j0, j1 = float(ex.before.result.J_frames[t]), float(ex.after.result.J_frames[t])
    j = (lambda v: f" · J {v:.2f}" if math.isfinite(v) else "")  # noqa: E731

    def depth(run):
        return blank if run.depth is None else depth_to_rgb(run.depth[t])

    panels = {
        f"frame {t}": frame,
        "ground truth" if annotated else "no ground truth": overlay(frame, gt, COLORS["gt"]) if annotated else frame,
        f"No TTT{j(j0)}": overlay(frame, ex.before.result.masks[t].numpy(), COLORS["baseline"]),
        f"{ex.state.label}{j(j1)}": overlay(frame, ex.after.result.masks[t].numpy(), COLORS["result"]),
        "depth, No TTT" if ex.before.depth is not None else "no depth head": depth(ex.before),
        f"depth, {ex.state.label}" if ex.after.depth is not None else "no depth head": depth(ex.after),
    }
    return dict(t=t, panels=panels, J_before=j0, J_after=j1)


def exploration_summary(ex: Exploration) -> dict:
    """Mean J / F before and after, steps, skipped and non-finite steps, frames predicted with the trained weights
    after a non-finite prediction (their depth is not shown), seconds, whether both came from the cache."""
    b, a = ex.before.result, ex.after.result
    return dict(video=ex.video.name, split=ex.split, method=ex.state.label, frames=len(ex), J_before=b.J, J_after=a.J,
                dJ=a.J - b.J, F_before=b.F, F_after=a.F, steps=a.steps, skipped=a.skipped, nonfinite=a.nonfinite,
                fallback=a.fallback, seconds=a.seconds, cached=ex.before.cached and ex.after.cached)


def panels_figure(view: dict, width: float = 12.0):
    """The six panels of :func:`frame_view` in one row (a matplotlib Figure not tied to pyplot)."""
    from matplotlib.figure import Figure

    panels = view["panels"]
    fig = Figure(figsize=(width, width / len(panels) * 1.15))
    axes = fig.subplots(1, len(panels))
    for ax, (title, img) in zip(axes, panels.items()):
        ax.imshow(img, interpolation="nearest")
        ax.set_title(title, fontsize=8)
        ax.axis("off")
    fig.tight_layout()
    return fig


def curves_figure(ex: Exploration, t: int | None = None, width: float = 12.0):
    """Per-frame J before / after (frame ``t`` marked), the TTT loss over the steps and the views' depth std over the
    steps (the collapse monitor: 0 means a flat depth map) — a matplotlib Figure not tied to pyplot."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    b, a = ex.before.result, ex.after.result
    fig = Figure(figsize=(width, 2.6))
    ax_j, ax_loss, ax_std = fig.subplots(1, 3)
    frames = np.arange(len(ex))
    ax_j.plot(frames, b.J_frames, "o-", color="#90a4ae", ms=3, label=f"No TTT (J {b.J:.3f})")
    ax_j.plot(frames, a.J_frames, "o-", color="#ef6c00", ms=3, label=f"{ex.state.label} (J {a.J:.3f})")
    if t is not None:
        ax_j.axvline(t, color="k", lw=0.8, ls=":")
    ax_j.set(xlabel="frame", ylabel="J (IoU)", ylim=(0, 1), title="per-frame J")
    ax_j.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax_j.legend(fontsize=7)
    steps = np.arange(len(a.losses))
    for ax, values, title in ((ax_loss, a.losses, "TTT loss per step"),
                              (ax_std, a.step_depth_std, "depth std of the views (collapse watch)")):
        if len(values):
            ax.plot(steps, values, "-", color="#ef6c00", lw=1)
        else:
            ax.text(0.5, 0.5, "no TTT steps", ha="center", va="center", transform=ax.transAxes)
        ax.set(xlabel="step", title=title)
    ax_std.set_ylim(bottom=0)
    for ax in (ax_j, ax_loss, ax_std):
        ax.title.set_fontsize(9)
    fig.tight_layout()
    return fig


def png(fig, dpi: int = 80) -> bytes:
    """A matplotlib Figure as PNG bytes (what the widget's image shows)."""
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()
