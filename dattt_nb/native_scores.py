"""Scores at the original frame size (§5.1, the DAVIS protocol): network-size masks are upsampled to each video's
own resolution before J and F, so numbers on real data compare with the paper's and with ``dattt-nb eval``.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from dattt_nb.data.layout import (frame_files, read_manifest, read_masks, read_rgb, upsample_masks,
                                  write_mask_pngs)


def native_truth(root, name: str, frame_names) -> tuple[np.ndarray | None, np.ndarray | None]:
    """((T, H, W) bool ground truth at the frames' own size, (T,) annotated) of one video of a layout root."""
    hw = read_rgb(frame_files(root, name)[0]).shape[:2]
    sparse = bool(read_manifest(root).get("sparse_annotations", False))
    return read_masks(root, name, list(frame_names), hw, sparse=sparse)


def is_real(root) -> bool:
    """Whether a layout root holds a converted real dataset (its manifest's ``kind``)."""
    return root is not None and read_manifest(root).get("kind") == "real"


def native_scores(root, name: str, masks) -> dict | None:
    """J, F (means and per frame, NaN where unannotated) of network-size ``masks`` (T, h, w) of video ``name``,
    upsampled to the frames' size and scored against the full-size ground truth; None without ground truth."""
    from dattt_nb.metrics import evaluate_video

    gt, annotated = native_truth(root, name, [p.stem for p in frame_files(root, name)])
    if gt is None:
        return None
    scores = evaluate_video(gt, upsample_masks(masks, gt.shape[1:]), annotated=None if annotated.all() else annotated)
    j, f = _every_frame_j_f(scores, annotated)
    return dict(J=float(scores["J"]), F=float(scores["F"]), J_frames=j, F_frames=f, frames=int(annotated.sum()))


def rescore(res, root) -> None:
    """Replace one :class:`~dattt_nb.ttt.records.VideoResult`'s J/F (mean and per frame, and LTV's final
    re-prediction) by the scores at the frames' own size, in place; per-pass J/F keep the network-size values."""
    scores = native_scores(root, res.name, res.masks)
    if scores is None:
        return
    res.J, res.F, res.J_frames, res.F_frames = scores["J"], scores["F"], scores["J_frames"], scores["F_frames"]
    if res.final_masks is not None:
        final = native_scores(root, res.name, res.final_masks)
        res.final_J, res.final_F = final["J"], final["F"]


def _every_frame_j_f(scores: dict, annotated: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-frame J and F over every frame (NaN where there is no ground truth)."""
    j, f = np.full(len(annotated), math.nan), np.full(len(annotated), math.nan)
    j[annotated], f[annotated] = np.asarray(scores["J_frames"]), np.asarray(scores["F_frames"])
    return j, f


def write_native_masks(result, root, out) -> Path:
    """``<out>/<video>/<frame>.png`` (0/255) at each frame's own size: the layout ``dattt-nb eval --pred`` reads."""
    out = Path(out)
    for res in result.videos:
        frames = frame_files(root, res.name)
        hw = read_rgb(frames[0]).shape[:2]
        write_mask_pngs(out / res.name, upsample_masks(res.masks, hw), [p.stem for p in frames])
    return out
