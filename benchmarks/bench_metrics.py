"""DAVIS J and boundary F: ``dattt_nb.metrics`` (NumPy and torch) against the official formulas, frame by frame.

    DATTT_DAVIS_MINI=<davis root> python benchmarks/bench_metrics.py [--root ROOT] [--repeats 3] [--threads N]

The reference below is a plain per-frame implementation of the formulas of the official DAVIS evaluation
(``db_eval_iou`` on the whole video, ``f_measure`` / ``_seg2bmap`` frame by frame on full frames, the tolerance
disk of ``skimage.morphology.disk`` applied with ``cv2.dilate``). Predictions are the ground truth masks shifted,
eroded, dilated or emptied, so J and F take many values. The script checks that every per-frame value is equal
(float64 exactly; torch's float32 equal to the reference rounded to float32) and prints the best-of-``repeats`` wall
and CPU time of each implementation and the speed-ups.
"""
from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import cv2
import numpy as np


# --- reference: the official formulas, per frame, full frames ----------------------------------------------

def reference_seg2bmap(seg: np.ndarray) -> np.ndarray:
    """Boundary map of ``_seg2bmap`` (no resizing): a pixel differing from its E, S or SE neighbour."""
    seg = seg.astype(bool)
    e, s, se = np.zeros_like(seg), np.zeros_like(seg), np.zeros_like(seg)
    e[:, :-1] = seg[:, 1:]
    s[:-1, :] = seg[1:, :]
    se[:-1, :-1] = seg[1:, 1:]
    b = seg ^ e | seg ^ s | seg ^ se
    b[-1, :] = seg[-1, :] ^ e[-1, :]
    b[:, -1] = seg[:, -1] ^ s[:, -1]
    b[-1, -1] = 0
    return b


def reference_f(foreground: np.ndarray, gt: np.ndarray, bound_th: float = 0.008) -> float:
    """``f_measure`` of one frame: boundaries, cv2.dilate with a disk, matched counts, the four branches."""
    from skimage.morphology import disk

    void = np.zeros_like(foreground, dtype=bool)
    bound_pix = bound_th if bound_th >= 1 else np.ceil(bound_th * np.linalg.norm(foreground.shape))
    fg_boundary = reference_seg2bmap(foreground * np.logical_not(void))
    gt_boundary = reference_seg2bmap(gt * np.logical_not(void))
    kernel = disk(bound_pix).astype(np.uint8)
    fg_dil = cv2.dilate(fg_boundary.astype(np.uint8), kernel)
    gt_dil = cv2.dilate(gt_boundary.astype(np.uint8), kernel)
    gt_match, fg_match = gt_boundary * fg_dil, fg_boundary * gt_dil
    n_fg, n_gt = np.sum(fg_boundary), np.sum(gt_boundary)
    if n_fg == 0 and n_gt > 0:
        precision, recall = 1, 0
    elif n_fg > 0 and n_gt == 0:
        precision, recall = 0, 1
    elif n_fg == 0 and n_gt == 0:
        precision, recall = 1, 1
    else:
        precision, recall = np.sum(fg_match) / float(n_fg), np.sum(gt_match) / float(n_gt)
    return 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)


def reference_j(gt: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """``db_eval_iou`` of a (T, H, W) video: intersection over union per frame, 1 where the union is empty."""
    inters = np.sum(gt & pred, axis=(-2, -1))
    union = np.sum(gt | pred, axis=(-2, -1))
    with np.errstate(invalid="ignore", divide="ignore"):
        j = inters / union
    j[np.isclose(union, 0)] = 1
    return j


def reference_scores(gt: np.ndarray, pred: np.ndarray, bound_th: float = 0.008) -> tuple[np.ndarray, np.ndarray]:
    """Per-frame J and F of one video, the way the official evaluation loops (J per video, F per frame)."""
    return reference_j(gt, pred), np.array([reference_f(p, g, bound_th) for g, p in zip(gt, pred)])


# --- predictions that differ from the ground truth ---------------------------------------------------------

def perturb(gt: np.ndarray, seed: int = 0) -> np.ndarray:
    """Per frame one of: shift by a few pixels, erode, dilate, shift + erode, or (rarely) an empty mask."""
    rng = np.random.default_rng(seed)
    out = np.empty_like(gt)
    for t, mask in enumerate(gt.astype(np.uint8)):
        kind = rng.integers(5) if rng.random() > 0.05 else 5
        dy, dx = rng.integers(-12, 13, size=2)
        size = int(rng.integers(3, 15)) | 1
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size))
        if kind in (0, 3):
            mask = np.roll(mask, (dy, dx), axis=(0, 1))
        if kind in (1, 3):
            mask = cv2.erode(mask, kernel)
        if kind == 2:
            mask = cv2.dilate(mask, kernel)
        if kind == 4:
            mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, kernel)
        out[t] = mask > 0 if kind != 5 else False
    return out


def load_videos(root: Path) -> dict[str, np.ndarray]:
    """``{video: (T, H, W) bool}`` from ``<root>/Annotations[/480p]/<video>/*.png``."""
    from dattt_nb.data.layout import read_mask

    ann = root / "Annotations"
    ann = ann / "480p" if (ann / "480p").is_dir() else ann
    videos = {d.name: np.stack([read_mask(f) for f in sorted(d.glob("*.png"))])
              for d in sorted(ann.iterdir()) if d.is_dir()}
    if not videos:
        raise FileNotFoundError(f"no <video>/*.png masks under {ann}")
    return videos


def best_time(fn, repeats: int) -> tuple[float, float, object]:
    """Best wall time and best CPU time of this process (all threads) over ``repeats`` calls, and the result.

    CPU time is robust to other processes sharing the cores; wall time shows what threads gain on free cores."""
    walls, cpus, result = [], [], None
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        result = fn()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return min(walls), min(cpus), result


def check_equal(reference, results, name: str) -> None:
    """Per-frame values equal to the reference's (torch gives float32: equal to the reference rounded to it)."""
    for (j_ref, f_ref), (j, f) in zip(reference, results):
        for ours, ref, metric in ((j, j_ref, "J"), (f, f_ref, "F")):
            ours = np.asarray(ours)
            if not np.array_equal(ours, ref.astype(ours.dtype)):
                bad = np.flatnonzero(ours != ref.astype(ours.dtype))
                raise AssertionError(f"{metric} of {name} differs from the reference at frames {bad[:10].tolist()}: "
                                     f"{ours[bad[:3]]} vs {ref[bad[:3]]}")


def main(argv=None) -> None:
    import torch

    from dattt_nb.metrics import frame_scores, metric_threads, scores_torch

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=os.environ.get("DATTT_DAVIS_MINI"),
                        help="DAVIS root with Annotations/ (default: $DATTT_DAVIS_MINI)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="threads for ours (default: usable CPUs)")
    args = parser.parse_args(argv)
    if args.root is None:
        parser.error("give --root or set DATTT_DAVIS_MINI to a DAVIS folder")
    videos = load_videos(Path(args.root))
    pairs = [(gt, perturb(gt, seed)) for seed, gt in enumerate(videos.values())]
    n_frames = sum(len(gt) for gt, _ in pairs)
    threads = args.threads or metric_threads(n_frames)
    tensors = [(torch.from_numpy(g), torch.from_numpy(p)) for g, p in pairs]

    runs = {
        "reference (official formulas, per frame)": lambda: [reference_scores(g, p) for g, p in pairs],
        "dattt_nb.metrics, NumPy, 1 thread": lambda: [frame_scores(g, p, threads=1) for g, p in pairs],
        f"dattt_nb.metrics, NumPy, {threads} threads": lambda: [frame_scores(g, p, threads=threads) for g, p in pairs],
        "dattt_nb.metrics, torch (CPU tensors)": lambda: [tuple(x.numpy() for x in scores_torch(g, p))
                                                          for g, p in tensors],
    }
    print(f"{len(pairs)} videos ({', '.join(videos)}), {n_frames} frames of {pairs[0][0].shape[2]}x"
          f"{pairs[0][0].shape[1]}, J and F, best of {args.repeats}")
    timings, cpu_times, results = {}, {}, {}
    for name, fn in runs.items():
        timings[name], cpu_times[name], results[name] = best_time(fn, args.repeats)
    ref_name = next(iter(runs))
    reference = results[ref_name]
    for name, res in results.items():
        check_equal(reference, res, name)
    mean_j = np.mean(np.concatenate([j for j, _ in reference]))
    mean_f = np.mean(np.concatenate([f for _, f in reference]))
    print(f"values equal for all {n_frames} frames (mean J {mean_j:.4f}, mean F {mean_f:.4f})")
    print(f"  {'':<45} {'wall':>9} {'speed-up':>9} {'CPU':>9} {'speed-up':>9}")
    for name, seconds in timings.items():
        cpu = cpu_times[name]
        print(f"  {name:<45} {seconds:7.3f} s {timings[ref_name] / seconds:8.1f}x {cpu:7.3f} s "
              f"{cpu_times[ref_name] / cpu:8.1f}x")
    if torch.cuda.is_available():
        cuda = [(g.cuda(), p.cuda()) for g, p in tensors]
        for g, p in cuda:  # warm-up
            scores_torch(g, p)
        torch.cuda.synchronize()
        seconds, _, res = best_time(lambda: [tuple(x.cpu().numpy() for x in scores_torch(g, p)) for g, p in cuda],
                                 args.repeats)
        check_equal(reference, res, "torch (CUDA)")
        print(f"  {'dattt_nb.metrics, torch (CUDA tensors)':<45} {seconds:7.3f} s   "
              f"{timings[ref_name] / seconds:5.1f}x")


if __name__ == "__main__":
    main()
