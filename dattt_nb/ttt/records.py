"""TTT results as records, and their only (de)serialisation: per video (:class:`VideoResult`) and per run
(:class:`TTTResult`, one :class:`~dattt_nb.ttt.spec.TTTRun` over a list of videos).

Three stores use the functions here and nothing else: a run's report (``<stem>.csv`` + ``<stem>.json``,
:func:`write_results`), the per-split cache (:func:`save_split` / :func:`load_split_results`: the JSON record plus
an ``.npz`` of masks and data fingerprints) and the explorer's per-video cache (:func:`save_video_result` /
:func:`load_video_result`: every field in one ``.npz``). J and F are fractions; a frame without ground truth is NaN in
memory and ``null`` in JSON.
"""
from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from dattt_nb.ttt.spec import TTTRun


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
    """Results of one TTT run (strategy × objective × step settings) over a list of videos."""

    run: TTTRun
    videos: list[VideoResult]

    strategy = property(lambda self: self.run.strategy)
    objective = property(lambda self: self.run.objective)
    epochs = property(lambda self: self.run.epochs)
    lr = property(lambda self: self.run.lr)
    frame_gap = property(lambda self: self.run.frame_gap)

    @property
    def label(self) -> str:
        """The paper's name: ``TTT-LTV``, ``TTT-N (TENT)``, ``TTT-MWI, gap 10``, ``No TTT``."""
        return self.run.label

    def to_dict(self) -> dict:
        return dict(run=self.run.to_dict(), label=self.label, videos=[v.summary() for v in self.videos])

    def table(self):
        return results_table(self)


def results_table(result: TTTResult):
    """One row per video: J, F (and LTV's final re-prediction), steps, skips, time — a pandas DataFrame."""
    import pandas as pd

    rows = [dict(video=v.name, method=result.label, J=v.J, F=v.F, J_final=v.final_J, F_final=v.final_F,
                 frames=len(v.J_frames), steps=v.steps, skipped=v.skipped, nonfinite=v.nonfinite,
                 fallback=v.fallback, seconds=v.seconds, fps=v.fps) for v in result.videos]
    return pd.DataFrame(rows).set_index("video")


# --- JSON values ----------------------------------------------------------------------------------

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


def _array(x) -> np.ndarray:
    return np.array([math.nan if v is None else v for v in np.ravel(x)] if x is not None else [],
                    dtype=float).reshape(np.shape(x) if x is not None else (0,))


def _nan(x) -> float:
    return math.nan if x is None else float(x)


def video_from_summary(d: dict, masks: torch.Tensor, final_masks: torch.Tensor | None = None) -> VideoResult:
    """The :class:`VideoResult` that :meth:`VideoResult.summary` wrote (``null`` → NaN), with its masks."""
    return VideoResult(
        name=d["name"], masks=masks, J_frames=_array(d["J_frames"]), F_frames=_array(d["F_frames"]),
        J=_nan(d["J"]), F=_nan(d["F"]), pass_J=_array(d["pass_J"]), pass_F=_array(d["pass_F"]),
        final_J=_nan(d.get("final_J")), final_F=_nan(d.get("final_F")), final_masks=final_masks,
        depth_std_frames=_array(d.get("depth_std_frames")), losses=[_nan(v) for v in d.get("losses", [])],
        step_depth_std=[_nan(v) for v in d.get("step_depth_std", [])], steps=int(d["steps"]),
        skipped=int(d["skipped"]), nonfinite=int(d["nonfinite"]), fallback=int(d.get("fallback", 0)),
        seconds=float(d["seconds"]))


# --- a run's report -------------------------------------------------------------------------------

def write_results(result: TTTResult, stem, settings=None) -> tuple[Path, Path]:
    """``<stem>.csv`` (one row per video) and ``<stem>.json`` (the run, per-frame J/F, per-pass J/F, losses,
    settings), each written atomically."""
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


def _write_npz(path: Path, arrays: dict) -> None:
    from dattt_nb.utils import atomic_path

    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.savez_compressed(fh, **arrays)


def _read_npz(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as f:
        return {k: f[k] for k in f.files}


# --- the per-split cache --------------------------------------------------------------------------

def save_split(folder: Path, split: str, result: TTTResult, fingerprints: dict[str, str], settings) -> None:
    """``<split>.{csv,json}`` (:func:`write_results`) and ``<split>.npz`` (masks, LTV's final masks and each
    video's data fingerprint) in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    write_results(result, folder / split, settings)
    arrays = {}
    for v in result.videos:
        arrays[f"masks/{v.name}"] = v.masks.cpu().numpy().astype(bool)
        if v.final_masks is not None:
            arrays[f"final/{v.name}"] = v.final_masks.cpu().numpy().astype(bool)
        arrays[f"fp/{v.name}"] = np.array(fingerprints[v.name])
    _write_npz(folder / f"{split}.npz", arrays)


def load_split_results(folder: Path, split: str) -> tuple[TTTRun | None, dict[str, VideoResult], dict[str, str]]:
    """(run, {video: result}, {video: data fingerprint}) that :func:`save_split` wrote; empty when absent."""
    js, npz = folder / f"{split}.json", folder / f"{split}.npz"
    if not (js.is_file() and npz.is_file()):
        return None, {}, {}
    record = json.loads(js.read_text())
    arrays = _read_npz(npz)
    fps = {k.split("/", 1)[1]: str(v) for k, v in arrays.items() if k.startswith("fp/")}
    videos = {}
    for d in record["videos"]:
        name = d["name"]
        if f"masks/{name}" in arrays:
            final = arrays.get(f"final/{name}")
            videos[name] = video_from_summary(d, torch.from_numpy(arrays[f"masks/{name}"]),
                                              None if final is None else torch.from_numpy(final))
    return TTTRun.from_dict(record["run"]), videos, fps


# --- the explorer's per-video cache ----------------------------------------------------------------

def save_video_result(path: Path, result: VideoResult, depth: np.ndarray | None = None) -> None:
    """Every field of ``result`` and the predicted depth of each frame (float16) in one ``.npz``."""
    arrays = {}
    for f in dataclasses.fields(VideoResult):
        value = getattr(result, f.name)
        if value is not None:
            arrays[f"result/{f.name}"] = value.cpu().numpy() if torch.is_tensor(value) else np.asarray(value)
    if depth is not None:
        arrays["depth"] = depth.astype(np.float16)
    _write_npz(path, arrays)


def load_video_result(path: Path) -> tuple[VideoResult, np.ndarray | None] | None:
    """(result, depth) that :func:`save_video_result` wrote, or ``None`` when the file is absent."""
    if not path.is_file():
        return None
    arrays = _read_npz(path)
    kw = {}
    for fld in dataclasses.fields(VideoResult):
        value = arrays.get(f"result/{fld.name}")
        if value is None:
            continue
        if fld.name in ("masks", "final_masks"):
            value = torch.from_numpy(value)
        elif fld.name in ("losses", "step_depth_std"):
            value = value.astype(float).tolist()
        elif value.ndim == 0:
            value = value.item()
        kw[fld.name] = value
    depth = arrays["depth"].astype(np.float32) if "depth" in arrays else None
    return VideoResult(**kw), depth
