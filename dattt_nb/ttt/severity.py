"""The shift-severity study (notebook 10; the paper's §5.4 on Table 4): TTT methods on clean test clips corrupted
at severity 0–5, with seeds, through the per-video run cache.

A :class:`Condition` is one corruption (:mod:`dattt_nb.data.corruptions`) at one severity with its flow either
estimated again from the corrupted frames (what a user's pipeline does) or kept from the clean frames (how much the
flow stream carries). :func:`condition_videos` builds its videos in memory; :func:`run_study` runs every
:class:`Method` (No TTT, BN, TENT, TTT-N, TTT-MWI, TTT-LTV) on them, each TTT method once per seed of its random
views, through :func:`~dattt_nb.ttt.cache.cached_ttt`, so a rerun only computes what is new; it returns one row per
(condition, method, seed, video). :mod:`dattt_nb.ttt.severity_report` turns the rows into intervals and figures.
"""
from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from dattt_nb.data.corruptions import (CONTENT_SHIFTS, CORRUPTIONS, check_severity, content_video, corrupt_frames,
                                      jpeg_roundtrip)
from dattt_nb.ttt.cache import cached_ttt
from dattt_nb.ttt.strategies import step_epochs


@dataclass(frozen=True)
class Method:
    """One column of the study: a strategy with an objective; ``epochs`` None = the profile's. ``seeded``: it draws
    random views (or crops), so it runs once per seed; No TTT is deterministic."""

    label: str
    strategy: str
    objective: str = "depth"
    epochs: int | None = None
    seeded: bool = True
    depth_aware: bool = False


METHODS: dict[str, Method] = {m.label: m for m in (
    Method("No TTT", "none", "depth", 0, seeded=False),
    Method("BN", "naive", "bn", 1),  # Table 4's BN: statistics of each frame's test batch, one step (Schneider 2020)
    Method("TENT", "loop", "tent"),  # Table 4's TENT: entropy, normalisation affines, the LTV schedule
    Method("TTT-N", "naive", depth_aware=True),
    Method("TTT-MWI", "momentum", depth_aware=True),
    Method("TTT-LTV", "loop", depth_aware=True),
)}


@dataclass(frozen=True)
class Condition:
    """A corruption ``kind`` at ``severity`` (0 = clean); ``flow`` "estimated" (from the frames the model sees) or
    "clean" (estimated on the clean frames: only the image stream is corrupted)."""

    kind: str
    severity: int
    flow: str = "estimated"

    @property
    def family(self) -> str:
        return "content" if self.kind in CONTENT_SHIFTS else "photometric"

    @property
    def split(self) -> str:
        """The name its runs are cached under (severity 0 is the same clean clips for every kind: one entry)."""
        return f"sev_{self.kind if self.severity else 'clean'}_{self.severity}_{self.flow}flow"


def conditions(kinds, severities, clean_flow_severities=()) -> list[Condition]:
    """Every (kind, severity) with estimated flow, and a clean-flow twin of the photometric ones at
    ``clean_flow_severities``; severity 0 is the same clean clips for every kind (cached once, shared)."""
    out = []
    for kind in kinds:
        if kind not in CORRUPTIONS and kind not in CONTENT_SHIFTS:
            raise ValueError(f"unknown shift {kind!r}; choose from {sorted(CORRUPTIONS) + sorted(CONTENT_SHIFTS)}")
        for s in severities:
            out.append(Condition(kind, check_severity(s)))
            if kind in CORRUPTIONS and s > 0 and s in clean_flow_severities:
                out.append(Condition(kind, s, "clean"))
    return out


@dataclass(frozen=True)
class Grid:
    """What the study runs: shift kinds, severities, where the clean-flow twin runs, how many clean clips, the seeds
    of the TTT views, and the stopping-rule runs (TTT-LTV with ``stop_epochs`` passes at ``stop_severity``)."""

    kinds: tuple
    severities: tuple
    clean_flow_severities: tuple
    n_videos: int  # 0: every clean test clip
    seeds: tuple = (0, 1, 2)
    stop_epochs: int = 4
    stop_severity: int = 5

    def conditions(self) -> list[Condition]:
        return conditions(self.kinds, self.severities, self.clean_flow_severities)

    def stop_conditions(self) -> list[Condition]:
        return [Condition(k, self.stop_severity) for k in self.kinds]


STUDY_KINDS = ("noise", "blur", "low_light", "color_cast", "distractors", "motion")  # 4 photometric + 2 content
# At tiny one clip costs ~16 s of TTT per seed and condition on one core (BN 1, TENT 4, TTT-N 4.6, MWI 3.3, LTV 3.3 s),
# ~50 s with three seeds. "tiny" (23 conditions: clean, 6 kinds at severities 1, 3, 5, clean-flow twins at 5; 8 clips x
# 3 seeds + stopping runs; 49 min on 2 cores, measured 2026-12-06) is made once by
# benchmarks/severity_study.py (or shipped in a course bundle) and then only read by notebook 10; without it the
# notebook runs "quick", which fits its 5 minutes; "full" is every kind at every severity on every clip (~10 hours).
GRIDS: dict[str, Grid] = {
    "ci": Grid(("noise", "distractors"), (0, 5), (5,), 2, stop_epochs=2),
    "quick": Grid(("noise", "color_cast", "distractors"), (0, 5), (), 2, stop_epochs=3),
    "tiny": Grid(STUDY_KINDS, (0, 1, 3, 5), (5,), 0),  # every clean clip: an interval over fewer than 4 cannot tell
    "full": Grid(tuple(CORRUPTIONS) + ("distractors", "motion", "long"), (0, 1, 2, 3, 4, 5), (1, 2, 3, 4, 5), 0,
                 stop_severity=3),
}


def get_grid(name: str) -> Grid:
    if name not in GRIDS:
        raise ValueError(f"unknown severity grid {name!r}; choose one of {sorted(GRIDS)}")
    return GRIDS[name]


# --- the videos of a condition ------------------------------------------------------------------------------------

@dataclass
class Clip:
    """A clean source clip: its uint8 frames at their own size, its decoded video (masks at the network's size) and
    its depth at the frames' size (fog), when the root has one."""

    name: str
    frames: np.ndarray
    video: object  # dattt_nb.data.layout.Video (masks, frame names, root)
    depth: np.ndarray | None = None
    index: int | None = None  # synthetic clip index (content shifts re-render it)


def source_clips(settings, root: str | Path | None = None, n_videos: int = 0, max_frames: int = 0) -> list[Clip]:
    """The clean clips: the synthetic ``davis`` test split (built if missing) or any DAVIS-layout ``root`` (real
    frames); ``n_videos`` / ``max_frames`` > 0 keep the first few."""
    from dattt_nb.data.corrupted import _depth_of
    from dattt_nb.data.layout import list_videos, load_video, read_frames

    synthetic = root is None
    if synthetic:
        from dattt_nb.data.prepare import ensure_benchmark

        root = ensure_benchmark(settings, splits=["davis"], verbose=False)["davis"]
    names = list_videos(root)[:n_videos or None]
    clips = []
    for i, name in enumerate(names):
        frames, _ = read_frames(root, name)
        video = load_video(root, name, size=settings.image_size, with_flow=False, with_depth=False)
        if max_frames and len(frames) > max_frames:
            frames = frames[:max_frames]
            video = dataclasses.replace(video, frames=video.frames[:max_frames], frame_names=video.frame_names[
                :max_frames], masks=None if video.masks is None else video.masks[:max_frames],
                annotated=None if video.annotated is None else video.annotated[:max_frames])
        depth = _depth_of(Path(root), name, video.frame_names, frames.shape[1:3])
        clips.append(Clip(name, frames, video, depth, i if synthetic else None))
    return clips


def _flow_tensor(frames: np.ndarray, settings) -> torch.Tensor:
    from dattt_nb.data.clip import FLOW_LONG_SIDE, flow_of_frames
    from dattt_nb.data.layout import image_tensor

    method = settings.flow_method if settings.flow_method in ("dis", "farneback", "raft_small", "raft_large") else "dis"
    return image_tensor(flow_of_frames(frames, method, max(FLOW_LONG_SIDE, settings.image_size)), settings.image_size)


def condition_videos(clips: list[Clip], condition: Condition, settings, seed: int = 0) -> list:
    """The clips under ``condition`` as decoded videos (frames at the network's size, colour-coded flow estimated on
    the corrupted frames or on the clean ones, masks unchanged); content shifts re-render the synthetic clips."""
    from dattt_nb.data.layout import JPEG_QUALITY, Video, image_tensor

    out = []
    for clip in clips:
        if condition.family == "content":
            if clip.index is None:
                raise ValueError(f"content shift {condition.kind!r} re-renders synthetic clips; it cannot shift the "
                                 f"real video {clip.name!r} (use a photometric kind)")
            clip_v = content_video(condition.kind, condition.severity, clip.index, settings)
            ok = [jpeg_roundtrip(f, JPEG_QUALITY) for f in clip_v.frames]  # stored like the benchmark's frames
            frames = np.stack(ok)
            out.append(Video(name=clip.name, frames=image_tensor(frames, settings.image_size),
                             masks=torch.from_numpy(clip_v.masks), flow=_flow_tensor(frames, settings), depth=None,
                             frame_names=[f"{t:05d}" for t in range(len(frames))]))
            continue
        bad = corrupt_frames(clip.frames, condition.kind, condition.severity, seed=seed, video=clip.name,
                             depth=clip.depth)
        flow_from = bad if condition.flow == "estimated" else clip.frames
        out.append(dataclasses.replace(clip.video, frames=image_tensor(bad, settings.image_size),
                                       flow=_flow_tensor(flow_from, settings)))
    return out


# --- running ------------------------------------------------------------------------------------------------------

def _loss_change(result, v) -> tuple[float, float, list[float]]:
    """(mean loss of the first epoch, of the last epoch, mean loss per epoch) of one video's TTT steps."""
    if not v.losses:
        return np.nan, np.nan, []
    ep = np.asarray(step_epochs(result.strategy, len(v.J_frames), result.epochs, result.frame_gap))
    losses = np.asarray(v.losses, float)
    per = [float(np.nanmean(losses[ep == e])) for e in sorted(set(ep.tolist()))]
    return per[0], per[-1], per


def run_study(model, settings, clips: list[Clip], conds: list[Condition], methods=None, seeds=(0, 1, 2),
              corruption_seed: int = 0, progress: bool = True) -> pd.DataFrame:
    """One row per (condition, method, seed, video): J, F, the self-supervised loss of the first and last epoch and
    the J and mean loss of every LTV pass. Every run goes through the per-video cache."""
    from dattt_nb.utils import progress as bar

    methods = [METHODS[m] if isinstance(m, str) else m for m in (methods or METHODS)]
    rows = []
    jobs = [(c, m, s) for c in conds for m in methods for s in (seeds if m.seeded else seeds[:1])]
    videos_of: dict[Condition, list] = {}
    with bar(total=len(jobs), enabled=progress, desc="severity study", unit="run") as pbar:
        for cond, method, seed in jobs:
            if cond not in videos_of:
                videos_of = {cond: condition_videos(clips, cond, settings, corruption_seed)}  # one condition held
            run_settings = dataclasses.replace(settings, seed=int(seed))
            start = time.perf_counter()
            result = cached_ttt(model, videos_of[cond], run_settings, cond.split, method.strategy,
                                objective=method.objective, epochs=method.epochs, progress=False)
            for v in result.videos:
                first, last, per_epoch = _loss_change(result, v)
                rows.append(dict(kind=cond.kind, family=cond.family, severity=cond.severity, flow=cond.flow,
                                 method=method.label, seed=int(seed), video=v.name, J=v.J, F=v.F,
                                 loss_first=first, loss_last=last, epoch_loss=per_epoch,
                                 epoch_J=[float(x) for x in np.nanmean(v.pass_J, axis=1)],
                                 seconds=v.seconds))
            pbar.update(1)
            pbar.set_postfix(cond=cond.split, method=method.label, s=f"{time.perf_counter() - start:.1f}")
    return pd.DataFrame(rows)


def stopping_runs(model, settings, clips: list[Clip], conds: list[Condition], epochs: int, seeds=(0,),
                  progress: bool = True) -> pd.DataFrame:
    """TTT-LTV with ``epochs`` passes on ``conds``: per video and pass, J and the mean self-supervised loss (what the
    label-free stopping rule of :func:`dattt_nb.ttt.severity_report.stopping_rule` reads)."""
    method = dataclasses.replace(METHODS["TTT-LTV"], label=f"TTT-LTV {epochs} passes", epochs=int(epochs))
    return run_study(model, settings, clips, conds, [method], seeds, progress=progress)


# --- which grid a notebook run shows ------------------------------------------------------------------------------

def _marker(settings, grid: str) -> Path:
    from dattt_nb.results import results_dir

    return results_dir(settings) / f"severity_grid_{grid}.json"


def mark_grid_done(settings, grid: str, model) -> None:
    """Record that every run of ``grid`` for this model is in the cache (the notebook then shows that grid)."""
    from dattt_nb.ttt.cache import code_fingerprint, model_fingerprint
    from dattt_nb.utils import atomic_write_json

    atomic_write_json(_marker(settings, grid), dict(grid=grid, model=model_fingerprint(model), code=code_fingerprint(),
                                                     **dataclasses.asdict(get_grid(grid))))


def default_grid(settings, model) -> str:
    """The profile's grid when its runs are cached for this model and code (``benchmarks/severity_study.py`` or a
    course bundle made them), else the grid that fits the notebook's time: ci → "ci", tiny → "tiny" or "quick",
    other profiles → "full"."""
    import json

    from dattt_nb.ttt.cache import code_fingerprint, model_fingerprint

    wanted = {"ci": "ci", "tiny": "tiny"}.get(settings.profile, "full")
    if wanted != "tiny":
        return wanted
    marker = _marker(settings, wanted)
    if marker.is_file():
        m = json.loads(marker.read_text())
        if m.get("model") == model_fingerprint(model) and m.get("code") == code_fingerprint():
            return wanted
    return "quick"
