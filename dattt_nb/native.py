"""Scores at the original frame size (§5.1, the DAVIS protocol): network-size masks are upsampled to each video's
own resolution before J and F, so numbers on real data compare with the paper's and with ``dattt-nb eval``.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from dattt_nb.data.layout import frame_files, read_manifest, read_masks, read_rgb


def native_truth(root, name: str, frame_names) -> tuple[np.ndarray | None, np.ndarray | None]:
    """((T, H, W) bool ground truth at the frames' own size, (T,) annotated) of one video of a layout root."""
    hw = read_rgb(frame_files(root, name)[0]).shape[:2]
    sparse = bool(read_manifest(root).get("sparse_annotations", False))
    return read_masks(root, name, list(frame_names), hw, sparse=sparse)


def rescore(result, root) -> None:
    """Replace every video's J/F in a :class:`~dattt_nb.ttt.runner.TTTResult` (mean and per frame, and LTV's final
    re-prediction) by the scores of its masks upsampled to the frame size, in place; per-pass J/F keep the
    network-size values. Needs the masks (call before dropping them)."""
    from dattt_nb.metrics import evaluate_video
    from dattt_nb.segment import upsample_masks

    for res in result.videos:
        frames = frame_files(root, res.name)
        gt, annotated = native_truth(root, res.name, [p.stem for p in frames])
        if gt is None:
            continue
        keep = None if annotated.all() else annotated
        scores = evaluate_video(gt, upsample_masks(res.masks, gt.shape[1:]), annotated=keep)
        res.J_frames, res.F_frames = _per_frame(scores, annotated)
        res.J, res.F = float(scores["J"]), float(scores["F"])
        if res.final_masks is not None:
            final = evaluate_video(gt, upsample_masks(res.final_masks, gt.shape[1:]), annotated=keep)
            res.final_J, res.final_F = float(final["J"]), float(final["F"])


def _per_frame(scores: dict, annotated: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-frame J and F over every frame (NaN where there is no ground truth)."""
    j, f = np.full(len(annotated), math.nan), np.full(len(annotated), math.nan)
    j[annotated], f[annotated] = np.asarray(scores["J_frames"]), np.asarray(scores["F_frames"])
    return j, f


def write_native_masks(result, root, out) -> Path:
    """``<out>/<video>/<frame>.png`` (0/255) at each frame's own size: the layout ``dattt-nb eval --pred`` reads."""
    from dattt_nb.segment import upsample_masks, write_masks_png

    out = Path(out)
    for res in result.videos:
        frames = frame_files(root, res.name)
        hw = read_rgb(frames[0]).shape[:2]
        write_masks_png(upsample_masks(res.masks, hw), out / res.name, [p.stem for p in frames])
    return out
