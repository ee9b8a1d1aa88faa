"""DAVIS region similarity J and boundary accuracy F (paper §5.1), as the official DAVIS evaluation defines them.

Re-implements ``db_eval_iou``, ``db_eval_boundary`` / ``f_measure`` / ``_seg2bmap`` (davis2017/metrics.py) and
``db_statistics`` (davis2017/utils.py) of github.com/davisvideochallenge/davis2017-evaluation, which the DATTT
release uses with ``bound_th=0.008``. The paper's eq. 6 describes F as a region F-measure; the published numbers
are this boundary F. Values are fractions in [0, 1] (the paper prints ×100).

NumPy functions take boolean ``(H, W)`` or ``(T, H, W)`` arrays; the ``*_torch`` twins take boolean ``(B, H, W)``
tensors and stay on the tensors' device (for use inside TTT loops). Both share the same formulas below.
"""
from __future__ import annotations

import functools
import math
import os
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable

import numpy as np

DEFAULT_BOUND_TH = 0.008  # boundary tolerance, fraction of the image diagonal (DAVIS default)


# --- shared formulas (NumPy arrays or torch tensors) ---------------------------------------------------------

def _ratio_or_one(num, den):
    """``num / den``, and 1 where ``den == 0`` (then ``num == 0`` too): the DAVIS empty-set convention."""
    empty = den == 0
    return (num + empty) / (den + empty)


def _harmonic_mean(precision, recall):
    """F = 2PR / (P + R), and 0 where P + R == 0 (as in ``f_measure``)."""
    total = precision + recall
    return 2 * precision * recall / (total + (total == 0))


def _boundary_map(seg, zeros_like: Callable):
    """Boundary pixels of ``seg`` (..., H, W), the rule of ``_seg2bmap`` for NumPy or torch.

    A pixel is on the boundary when it differs from its right, lower or lower-right neighbour; the last row only
    compares to the right, the last column only downwards, and the bottom-right pixel is never a boundary.
    """
    right, below, below_right = zeros_like(seg), zeros_like(seg), zeros_like(seg)
    right[..., :, :-1] = seg[..., :, 1:]
    below[..., :-1, :] = seg[..., 1:, :]
    below_right[..., :-1, :-1] = seg[..., 1:, 1:]
    bmap = (seg ^ right) | (seg ^ below) | (seg ^ below_right)
    bmap[..., -1, :] = seg[..., -1, :] ^ right[..., -1, :]
    bmap[..., :, -1] = seg[..., :, -1] ^ below[..., :, -1]
    bmap[..., -1, -1] = False
    return bmap


def _f_from_boundaries(fg_b, gt_b, fg_dil, gt_dil):
    """Boundary F from the two boundary maps and their dilations (``f_measure``).

    Precision = predicted boundary pixels within tolerance of the ground-truth boundary, recall the reverse.
    An empty boundary gives precision (or recall) 1, which reproduces the official branches: both empty → F = 1,
    exactly one empty → F = 0.
    """
    n_fg, n_gt = fg_b.sum(axis=(-2, -1)), gt_b.sum(axis=(-2, -1))
    precision = _ratio_or_one((fg_b & gt_dil).sum(axis=(-2, -1)), n_fg)
    recall = _ratio_or_one((gt_b & fg_dil).sum(axis=(-2, -1)), n_gt)
    return _harmonic_mean(precision, recall)


def bound_pixels(shape: tuple[int, int], bound_th: float = DEFAULT_BOUND_TH) -> int:
    """Tolerance radius in pixels: ``ceil(bound_th * diagonal)`` when ``bound_th < 1``, else ``bound_th`` itself."""
    if bound_th <= 0:
        raise ValueError(f"bound_th must be > 0 (a fraction of the diagonal < 1, or pixels >= 1), got {bound_th}")
    if bound_th >= 1:
        if bound_th != int(bound_th):
            raise ValueError(f"bound_th >= 1 is a radius in whole pixels, got {bound_th}")
        return int(bound_th)
    height, width = shape[-2:]
    return int(math.ceil(bound_th * math.hypot(height, width)))


def _disk(radius: int) -> np.ndarray:
    """The DAVIS structuring element: ``skimage.morphology.disk(radius)`` as uint8."""
    from skimage.morphology import disk

    return disk(radius).astype(np.uint8)


@functools.lru_cache(maxsize=8)
def _disk_rectangles(radius: int) -> tuple[np.ndarray, ...]:
    """Centred all-ones rectangles whose union is :func:`_disk` ``(radius)``: one per distinct row half-width.

    Dilating with each (OpenCV does rectangles separably) and OR-ing the results equals dilating with the disk,
    about twice as fast. Checked against the disk itself; the disk alone is returned if it were not such a union.
    """
    kernel = _disk(radius)
    size = kernel.shape[0]
    half = [(int(row.sum()) - 1) // 2 for row in kernel]  # -1 for an empty row
    rects, union = [], np.zeros_like(kernel)
    for w in sorted({h for h in half if h >= 0}):
        h = max(abs(dy - radius) for dy in range(size) if half[dy] >= w)
        rects.append(np.ones((2 * h + 1, 2 * w + 1), np.uint8))
        union[radius - h:radius + h + 1, radius - w:radius + w + 1] = 1
    return tuple(rects) if np.array_equal(union, kernel) else (kernel,)


def _dilate(bmap: np.ndarray, radius: int) -> np.ndarray:
    """Binary dilation of a bool (H, W) map with the DAVIS disk (``cv2.dilate``, as the official code; pixels
    outside the map count as 0)."""
    import cv2

    rects = _disk_rectangles(radius)
    out = cv2.dilate(bmap.view(np.uint8), rects[0])
    for rect in rects[1:]:
        out |= cv2.dilate(bmap.view(np.uint8), rect)
    return out.view(bool)


# --- NumPy API -----------------------------------------------------------------------------------------------

def _check_masks(gt, pred) -> tuple[np.ndarray, np.ndarray]:
    """Both boolean NumPy arrays of the same (H, W) or (T, H, W) shape, else a clear error."""
    for name, arr in (("gt", gt), ("pred", pred)):
        if not isinstance(arr, np.ndarray):
            hint = " (use jaccard_torch / boundary_f_torch for tensors)" if hasattr(arr, "detach") else ""
            raise TypeError(f"{name} must be a boolean numpy array, got {type(arr).__name__}{hint}")
        if arr.dtype != bool:
            raise TypeError(f"{name} must have dtype bool, got {arr.dtype} (convert with `{name} > 0`)")
        if arr.ndim not in (2, 3):
            raise ValueError(f"{name} must be (H, W) or (T, H, W), got shape {arr.shape}")
    if gt.shape != pred.shape:
        raise ValueError(f"gt and pred shapes differ: {gt.shape} vs {pred.shape}")
    return gt, pred


def _as_result(values: np.ndarray):
    """A Python float for a single frame, a float64 array for a stack."""
    return float(values) if values.ndim == 0 else values.astype(np.float64)


def jaccard(gt: np.ndarray, pred: np.ndarray):
    """Region similarity J = |gt ∩ pred| / |gt ∪ pred| (``db_eval_iou``); both masks empty → 1.

    (H, W) → float, (T, H, W) → (T,) array.
    """
    gt, pred = _check_masks(gt, pred)
    inter = np.count_nonzero(gt & pred, axis=(-2, -1))
    union = np.count_nonzero(gt | pred, axis=(-2, -1))
    return _as_result(np.asarray(_ratio_or_one(inter, union)))


def seg2bmap(seg: np.ndarray) -> np.ndarray:
    """One-pixel-wide boundary map of a mask (``_seg2bmap`` of the DAVIS code, without its resizing option).

    Boundaries sit half a pixel towards the origin from the true segment edge. Accepts (H, W) or (T, H, W).
    """
    seg = np.asarray(seg)
    if seg.ndim not in (2, 3):
        raise ValueError(f"seg must be (H, W) or (T, H, W), got shape {seg.shape}")
    return _boundary_map(seg.astype(bool), np.zeros_like)


def _crop_box(gt: np.ndarray, pred: np.ndarray) -> tuple[slice, slice] | None:
    """Rows and columns that can hold a boundary pixel of either mask; None when both masks are empty.

    Boundary pixels lie in the union of the two masks' bounding boxes grown by one pixel towards the origin (the
    half-pixel shift of ``_seg2bmap``). One more all-empty row and column at the far side (unless the image ends
    there, where the border rule applies) makes the crop's boundary map equal the full map's. Dilated maps are
    only read at boundary pixels, all inside the crop, and ``cv2.dilate`` treats outside pixels as 0, so counting
    inside the crop is exact.
    """
    import cv2

    left, top, w, h = cv2.boundingRect((gt | pred).view(np.uint8))
    if w == 0:
        return None
    height, width = gt.shape
    bottom, right = top + h, left + w
    return slice(max(top - 1, 0), min(bottom + 1, height)), slice(max(left - 1, 0), min(right + 1, width))


def _one_frame_scores(gt: np.ndarray, pred: np.ndarray, radius: int) -> tuple[float, float]:
    """J and boundary F of one (H, W) frame, computed inside :func:`_crop_box` only (same numbers as full frames)."""
    box = _crop_box(gt, pred)
    if box is None:
        return 1.0, 1.0  # both masks empty: J = 1 and both boundaries empty, F = 1 (DAVIS conventions)
    gt, pred = gt[box], pred[box]
    j = float(_ratio_or_one(np.count_nonzero(gt & pred), np.count_nonzero(gt | pred)))
    fg_b, gt_b = _boundary_map(pred, np.zeros_like), _boundary_map(gt, np.zeros_like)
    fg_dil, gt_dil = _dilate(fg_b, radius), _dilate(gt_b, radius)
    n_fg, n_gt = np.count_nonzero(fg_b), np.count_nonzero(gt_b)
    precision = _ratio_or_one(np.count_nonzero(fg_b & gt_dil), n_fg)
    recall = _ratio_or_one(np.count_nonzero(gt_b & fg_dil), n_gt)
    return j, float(_harmonic_mean(precision, recall))


def metric_threads(n_frames: int) -> int:
    """Worker threads for per-frame metrics: the CPUs this process may use, at most one per frame (cv2 and NumPy
    release the GIL while they work). ``DATTT_METRIC_THREADS`` overrides."""
    env = os.environ.get("DATTT_METRIC_THREADS", "").strip()
    if env:
        if not env.isdigit() or int(env) < 1:
            raise ValueError(f"DATTT_METRIC_THREADS must be an integer >= 1, got {env!r}")
        cpus = int(env)
    else:
        cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(cpus, n_frames))


def frame_scores(gt: np.ndarray, pred: np.ndarray, bound_th: float = DEFAULT_BOUND_TH,
                 threads: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Per-frame J and boundary F of two bool (T, H, W) stacks, frames shared among ``threads`` threads."""
    gt, pred = np.ascontiguousarray(gt), np.ascontiguousarray(pred)
    radius = bound_pixels(gt.shape, bound_th)
    threads = metric_threads(len(gt)) if threads is None else max(1, min(threads, len(gt)))

    def run(frames: range) -> list[tuple[float, float]]:
        return [_one_frame_scores(gt[t], pred[t], radius) for t in frames]

    chunks = [range(i, len(gt), threads) for i in range(threads)]
    if threads == 1:
        results = [run(chunks[0])]
    else:
        with ThreadPoolExecutor(threads) as pool:
            results = list(pool.map(run, chunks))
    scores = np.empty((len(gt), 2))
    for frames, values in zip(chunks, results):
        scores[list(frames)] = values
    return scores[:, 0], scores[:, 1]


def _one_measure_per_frame(gt: np.ndarray, pred: np.ndarray, bound_th: float, which: int):
    gt, pred = _check_masks(gt, pred)
    stack = gt.ndim == 3
    values = frame_scores(gt if stack else gt[None], pred if stack else pred[None], bound_th)[which]
    return values if stack else float(values[0])


def boundary_f(gt: np.ndarray, pred: np.ndarray, bound_th: float = DEFAULT_BOUND_TH):
    """Boundary accuracy F (``db_eval_boundary``): F-measure of boundary pixels matched within a disk tolerance.

    ``bound_th`` < 1 is a fraction of the image diagonal (0.008 in DAVIS), ≥ 1 a radius in pixels.
    (H, W) → float, (T, H, W) → (T,) array.
    """
    return _one_measure_per_frame(gt, pred, bound_th, 1)


def db_statistics(per_frame) -> dict[str, float]:
    """Mean, recall (fraction of frames > 0.5) and decay of per-frame J or F (``db_statistics``, DAVIS).

    Decay = mean of the first quarter minus mean of the last quarter; the four bins are the official ones
    (bounds ``round(linspace(1, T, 5)) - 1``, each bin including its right bound). NaNs are ignored.
    Unlike the official code the bin bounds are not cast to uint8, so videos longer than 255 frames work.
    """
    values = np.asarray(per_frame, dtype=np.float64).reshape(-1)
    if values.size == 0:
        raise ValueError("db_statistics needs at least one per-frame value")
    bounds = (np.round(np.linspace(1, values.size, 5) + 1e-10) - 1).astype(int)
    bins = [values[bounds[i]:bounds[i + 1] + 1] for i in range(4)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=RuntimeWarning)
        return dict(
            mean=float(np.nanmean(values)),
            recall=float(np.nanmean(np.where(np.isnan(values), np.nan, values > 0.5))),  # NaN frames: no vote
            decay=float(np.nanmean(bins[0]) - np.nanmean(bins[3])),
        )


def _to_numpy_bool(x, name: str) -> np.ndarray:
    """Tensor or array → NumPy bool array (for ``evaluate_video``, which accepts ``Video.masks`` directly)."""
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    x = np.asarray(x)
    if x.dtype != bool:
        raise TypeError(f"{name} must be boolean, got dtype {x.dtype} (convert with `{name} > 0`)")
    return x


def evaluate_video(gt, pred, annotated=None, bound_th: float = DEFAULT_BOUND_TH) -> dict[str, Any]:
    """J and F of one video (T, H, W), per frame and summarised with :func:`db_statistics` (paper §5.1).

    ``annotated`` (T,) bool selects the frames that have ground truth (FBMS is sparse); None = all frames.
    Returns ``J``, ``F``, ``JF`` (means), ``J_recall``, ``J_decay``, ``F_recall``, ``F_decay``, the per-frame
    arrays ``J_frames`` / ``F_frames`` over the evaluated frames and their indices ``frames``.
    Accepts NumPy arrays or torch tensors (e.g. ``Video.masks``).
    """
    gt, pred = _to_numpy_bool(gt, "gt"), _to_numpy_bool(pred, "pred")
    if gt.ndim != 3:
        raise ValueError(f"evaluate_video expects (T, H, W) masks, got gt shape {gt.shape}")
    if pred.shape != gt.shape:
        raise ValueError(f"gt and pred shapes differ: {gt.shape} vs {pred.shape}")
    frames = np.arange(gt.shape[0])
    if annotated is not None:
        annotated = _to_numpy_bool(annotated, "annotated").reshape(-1)
        if annotated.shape[0] != gt.shape[0]:
            raise ValueError(f"annotated has {annotated.shape[0]} entries for {gt.shape[0]} frames")
        frames = frames[annotated]
        if frames.size == 0:
            raise ValueError("annotated selects no frame: nothing to evaluate")
    j_frames, f_frames = frame_scores(gt[frames], pred[frames], bound_th)
    j_stats, f_stats = db_statistics(j_frames), db_statistics(f_frames)
    return dict(
        J=j_stats["mean"], F=f_stats["mean"], JF=(j_stats["mean"] + f_stats["mean"]) / 2,
        J_recall=j_stats["recall"], J_decay=j_stats["decay"],
        F_recall=f_stats["recall"], F_decay=f_stats["decay"],
        J_frames=j_frames, F_frames=f_frames, frames=frames,
    )


# --- torch API (batched, on device) --------------------------------------------------------------------------

def _check_tensors(gt, pred):
    import torch

    for name, t in (("gt", gt), ("pred", pred)):
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"{name} must be a torch.Tensor, got {type(t).__name__} (use jaccard / boundary_f "
                            f"for numpy arrays)")
        if t.dtype != torch.bool:
            raise TypeError(f"{name} must have dtype torch.bool, got {t.dtype} (convert with `{name} > 0`)")
        if t.ndim not in (2, 3):
            raise ValueError(f"{name} must be (B, H, W) or (H, W), got shape {tuple(t.shape)}")
    if gt.shape != pred.shape:
        raise ValueError(f"gt and pred shapes differ: {tuple(gt.shape)} vs {tuple(pred.shape)}")
    if gt.device != pred.device:
        raise ValueError(f"gt and pred are on different devices: {gt.device} vs {pred.device}")
    return gt, pred


def _batch_box(gt, pred) -> tuple[slice, slice]:
    """:func:`_crop_box` for a batch of tensors: the union over the batch (whole frames when all are empty)."""
    import torch

    height, width = gt.shape[-2:]
    any_ = (gt | pred).any(dim=0)
    rows, cols = torch.nonzero(any_.any(dim=1)).flatten(), torch.nonzero(any_.any(dim=0)).flatten()
    if rows.numel() == 0:
        return slice(None), slice(None)
    top, bottom, left, right = torch.stack([rows[0], rows[-1], cols[0], cols[-1]]).tolist()  # one sync
    return slice(max(top - 1, 0), min(bottom + 2, height)), slice(max(left - 1, 0), min(right + 2, width))


def scores_torch(gt, pred, bound_th: float = DEFAULT_BOUND_TH) -> tuple:
    """Batched J and boundary F of bool tensors (B, H, W) (or (H, W)) → two float32 tensors on their device.

    On the CPU the tensors are shared with :func:`frame_scores` (no copy: per-frame crops, frames in threads);
    on an accelerator the formulas run batched on the device, inside the batch's common crop.
    """
    import torch

    gt, pred = _check_tensors(gt, pred)
    squeeze = gt.ndim == 2
    if squeeze:
        gt, pred = gt[None], pred[None]
    radius = bound_pixels(tuple(gt.shape), bound_th)
    if gt.device.type == "cpu":
        j, f = (torch.from_numpy(v).float() for v in frame_scores(gt.numpy(), pred.numpy(), radius))
    else:
        j, f = _scores_tensor(gt, pred, radius)
    return (j[0], f[0]) if squeeze else (j, f)


def _scores_tensor(gt, pred, radius: int) -> tuple:
    """J and F of (B, H, W) bool tensors with tensor operations on their device, inside the batch's crop."""
    rows, cols = _batch_box(gt, pred)
    gt, pred = gt[:, rows, cols], pred[:, rows, cols]
    j = _ratio_or_one((gt & pred).sum(dim=(-2, -1)), (gt | pred).sum(dim=(-2, -1))).float()
    fg_b, gt_b = seg2bmap_torch(pred), seg2bmap_torch(gt)
    return j, _f_from_boundaries(fg_b, gt_b, _dilate_torch(fg_b, radius), _dilate_torch(gt_b, radius)).float()


def jaccard_torch(gt, pred):
    """Batched :func:`jaccard` on bool tensors (B, H, W) → (B,) float tensor on the same device."""
    gt, pred = _check_tensors(gt, pred)
    inter = (gt & pred).sum(dim=(-2, -1))
    union = (gt | pred).sum(dim=(-2, -1))
    return _ratio_or_one(inter, union).float()


def seg2bmap_torch(seg):
    """:func:`seg2bmap` on a bool tensor (..., H, W), computed with tensor shifts on its device."""
    import torch

    return _boundary_map(seg.bool(), torch.zeros_like)


def _dilate_torch(bmap, radius: int):
    """Binary dilation of (B, H, W) maps with the DAVIS disk, on the maps' device.

    The disk is a stack of centred horizontal runs: dilate each row with a 1-D max-pool of that run's width, shift
    it by the run's row offset and OR the results (exact, and far faster than a 2-D convolution).
    """
    import torch.nn.functional as F

    batch, height, width = bmap.shape
    rows = bmap.reshape(batch * height, 1, width).float()
    run_lengths = _disk(radius).sum(axis=1)  # odd widths 2w+1, row dy = -radius..radius
    pooled, out = {}, bmap.new_zeros(bmap.shape)
    for dy, length in zip(range(-radius, radius + 1), run_lengths.tolist()):
        if abs(dy) >= height:  # this row of the disk falls outside the map
            continue
        if length not in pooled:
            pooled[length] = F.max_pool1d(rows, length, stride=1, padding=length // 2).reshape(bmap.shape) > 0.5
        run = pooled[length]
        if dy >= 0:  # out[y] |= run[y + dy]
            out[:, :height - dy] |= run[:, dy:]
        else:
            out[:, -dy:] |= run[:, :height + dy]
    return out


def boundary_f_torch(gt, pred, bound_th: float = DEFAULT_BOUND_TH):
    """Batched :func:`boundary_f` on bool tensors (B, H, W) → (B,) float tensor, same numbers as NumPy."""
    return scores_torch(gt, pred, bound_th)[1]


# --- folders of PNG masks ------------------------------------------------------------------------------------

def _read_mask_png(path: str | Path) -> np.ndarray:
    """A mask PNG → (H, W) bool through the data layer's reader (any nonzero label = object)."""
    from .data.layout import read_mask

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"mask file not found: {path}")
    return read_mask(path)


def _png_video_dirs(root: Path) -> dict[str, Path]:
    """``{video: folder}`` for sub-folders of ``root`` that hold PNG files, in natural order."""
    from .data.layout import video_folders

    return {d.name: d for d in video_folders(root) if any(d.glob("*.png"))}


def _annotation_root(gt_root: Path) -> Path:
    """``<gt>/Annotations``, inside its resolution level when it has one (``480p`` preferred, e.g. ``1080p``)."""
    from .data.layout import MASKS, kind_dir

    if not (gt_root / MASKS).is_dir():
        raise FileNotFoundError(f"no Annotations folder in {gt_root}; expected <gt>/Annotations/<video>/*.png "
                                f"or <gt>/Annotations/480p/<video>/*.png")
    return kind_dir(gt_root, MASKS)


def _load_pair(gt_dir: Path, pred_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    """Ground-truth and predicted masks of one video, frame by frame (natural order: J-decay depends on it),
    with size and frame-name checks."""
    from .data.layout import image_files

    gt_files = image_files(gt_dir, (".png",))
    pred_files = {p.stem: p for p in image_files(pred_dir, (".png",))}
    missing = [f.stem for f in gt_files if f.stem not in pred_files]
    if missing:
        raise ValueError(f"{pred_dir} has {len(pred_files)} masks but {len(gt_files)} ground-truth frames in {gt_dir}; "
                         f"missing {len(missing)}: {', '.join(m + '.png' for m in missing[:5])}"
                         f"{' ...' if len(missing) > 5 else ''}")
    gts, preds = [], []
    for gt_file in gt_files:
        pred_file = pred_files[gt_file.stem]
        gt, pred = _read_mask_png(gt_file), _read_mask_png(pred_file)
        if gt.shape != pred.shape:
            raise ValueError(f"size mismatch: {gt_file} is {gt.shape[1]}x{gt.shape[0]} (WxH) but {pred_file} is "
                             f"{pred.shape[1]}x{pred.shape[0]}")
        gts.append(gt)
        preds.append(pred)
    if len({g.shape for g in gts}) > 1:
        raise ValueError(f"ground-truth masks in {gt_dir} have different sizes: {sorted({g.shape for g in gts})}")
    return np.stack(gts), np.stack(preds)


def evaluate_folder(gt_root: str | Path, pred_root: str | Path, bound_th: float = DEFAULT_BOUND_TH,
                    allow_missing: bool = False):
    """J and F of every video in ``<pred>/<video>/<frame>.png`` against a DAVIS-layout ground truth.

    Frames are matched by name; every ground-truth frame needs a prediction (extra predicted frames, e.g. on
    sparsely annotated FBMS, are ignored). Every ground-truth video needs predictions too, unless
    ``allow_missing``: the videos skipped are then in ``table.attrs["missing"]``. Returns a pandas DataFrame
    indexed by video with the columns of :func:`evaluate_video` (means, recall, decay) and the number of
    evaluated frames.
    """
    import pandas as pd
    from dattt_nb.utils import progress

    gt_root, pred_root = Path(gt_root), Path(pred_root)
    if not pred_root.is_dir():
        raise FileNotFoundError(f"prediction folder not found: {pred_root}")
    ann = _annotation_root(gt_root)
    gt_videos, pred_videos = _png_video_dirs(ann), _png_video_dirs(pred_root)
    if not pred_videos:
        raise FileNotFoundError(f"no <video>/<frame>.png masks under {pred_root}")
    unknown = sorted(set(pred_videos) - set(gt_videos))
    if unknown:
        raise ValueError(f"no ground truth in {ann} for predicted video(s) {unknown}; "
                         f"ground truth has {sorted(gt_videos)}")
    missing = [v for v in gt_videos if v not in pred_videos]
    if missing and not allow_missing:
        raise ValueError(f"{pred_root} has no predictions for {len(missing)} of the {len(gt_videos)} ground-truth "
                         f"video(s) in {ann}: {', '.join(missing[:10])}{' ...' if len(missing) > 10 else ''}; "
                         "predict them, or pass --allow-missing to score only the others")
    rows = {}
    for name in progress(list(pred_videos), desc="evaluate", unit="video"):
        gt, pred = _load_pair(gt_videos[name], pred_videos[name])
        res = evaluate_video(gt, pred, bound_th=bound_th)
        rows[name] = {k: v for k, v in res.items() if not isinstance(v, np.ndarray)}
        rows[name]["frames"] = len(res["frames"])
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "video"
    table.attrs["missing"] = missing
    return table
