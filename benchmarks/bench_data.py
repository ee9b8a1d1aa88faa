"""Streamed training data: peak host memory and frames/s of the training DataLoader on a small and a 10x larger root.

    python benchmarks/bench_data.py                       # 4 vs 40 videos of 25 frames, 480x854 files, 512 px input
    python benchmarks/bench_data.py --size 256 --workers 4 --in-memory

Both roots are built in a temporary folder in the DAVIS layout: one synthetic 480x854 video (JPEG frames, PNG
masks, colour-coded flow and 16-bit depth) written once, and every other video a set of symlinks to it, so the
large root has 10x the frames at the same image size. Each root is measured in a fresh process (peak RSS is a
per-process high-water mark): ``TrainingFrames`` through ``training_loader`` for ``--batches`` batches after one
warm-up batch. Reported, sampled every batch with psutil: the peak RSS of the main process, the peak summed RSS and
PSS of the main process and its DataLoader workers (PSS counts their shared pages once), and the main process's
``getrusage`` high-water mark (imports included); frames/s in wall time (it drops when other processes share the
cores) and the CPU time of one item decoded in the main process (it does not).
``--in-memory`` also measures the preloaded path (``load_split`` + ``FrameBank``) on the small root.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

KINDS = ("JPEGImages", "Annotations", "Flow", "Depth")


def write_template(root: Path, frames: int, hw=(480, 854), seed: int = 0) -> str:
    """One smooth synthetic video (moving ellipse over a gradient) with masks, flow colours and depth."""
    from dattt_nb.data.layout import write_video

    rng = np.random.default_rng(seed)
    h, w = hw
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    base = np.stack([xx / w, yy / h, 0.5 + 0.0 * xx], -1)
    clip = dict(frames=[], masks=[], flow_rgb=[], depth=[])
    for t in range(frames):
        cy, cx = h / 2 + 40 * np.sin(t / 5), w / 3 + 8 * t
        inside = ((yy - cy) / (h / 5)) ** 2 + ((xx - cx) / (w / 8)) ** 2 < 1
        img = np.where(inside[..., None], [0.9, 0.3, 0.2], base) + rng.normal(0, 0.02, (h, w, 3))
        clip["frames"].append((np.clip(img, 0, 1) * 255).astype(np.uint8))
        clip["masks"].append(inside)
        clip["flow_rgb"].append((np.where(inside[..., None], [0.8, 0.6, 0.9], [1.0, 1.0, 1.0]) * 255).astype(np.uint8))
        clip["depth"].append(np.where(inside, 0.3, 0.4 + 0.5 * yy / h))
    write_video(root, "template", **{k: np.stack(v) for k, v in clip.items()})
    return "template"


def replicate(template_root: Path, root: Path, videos: int) -> Path:
    """A root of ``videos`` videos, each a symlink per kind to the template video."""
    for kind in KINDS:
        (root / kind).mkdir(parents=True)
        for i in range(videos):
            (root / kind / f"video{i:04d}").symlink_to(template_root / kind / "template", target_is_directory=True)
    return root


def _memory() -> tuple[float, float, float]:
    """(RSS of this process, summed RSS, summed PSS of it and its children, the DataLoader workers) in bytes; PSS
    counts pages shared between them once (RSS where PSS is unavailable)."""
    import psutil

    me = psutil.Process()
    rss_main, rss, pss = me.memory_info().rss, 0.0, 0.0
    for p in [me, *me.children(recursive=True)]:
        try:
            info = p.memory_full_info()
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        rss += info.rss
        pss += getattr(info, "pss", info.rss)
    return rss_main, rss, pss


def measure(root: str, size: int, batch: int, batches: int, workers: int, in_memory: bool) -> dict:
    """Iterate the training DataLoader over ``root`` (one process; called through a fresh subprocess)."""
    import torch

    from dattt_nb.data.stream import FrameBank, RandomBatches, TrainingFrames, training_loader

    torch.set_num_threads(1)
    start = time.perf_counter()
    if in_memory:
        from dattt_nb.data.layout import load_split

        dataset = FrameBank(load_split(root, size=size))
    else:
        dataset = TrainingFrames(root, size)
    prepare_s = time.perf_counter() - start
    cpu = time.process_time()
    for i in range(10):  # CPU cost of one item in this process (robust to other processes on the cores)
        dataset[i]
    item_ms = (time.process_time() - cpu) / 10 * 1000
    loader = iter(training_loader(dataset, RandomBatches(len(dataset), batch, seed=0), workers, "cpu"))
    next(loader)  # workers started, first batch decoded
    peak = np.array(_memory())
    start = time.perf_counter()
    for _ in range(batches):
        next(loader)
        peak = np.maximum(peak, _memory())
    seconds = time.perf_counter() - start
    del loader
    mib = 1024.0 ** 2
    return dict(frames=len(dataset), prepare_s=prepare_s, item_ms=item_ms, frames_per_s=batches * batch / seconds,
                peak_rss_main_mib=peak[0] / mib, peak_rss_tree_mib=peak[1] / mib, peak_pss_tree_mib=peak[2] / mib,
                maxrss_main_mib=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


def _run_child(args, root: Path, in_memory: bool = False) -> dict:
    cmd = [sys.executable, __file__, "--measure", str(root), "--size", str(args.size), "--batch", str(args.batch),
           "--batches", str(args.batches), "--workers", str(args.workers)] + (["--in-memory"] if in_memory else [])
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env={**os.environ, "TQDM_DISABLE": "1"})
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", type=int, default=512, help="network input side (px), the same for both roots")
    p.add_argument("--videos", type=int, default=4, help="videos of the small root")
    p.add_argument("--frames", type=int, default=25, help="frames per video")
    p.add_argument("--scale", type=int, default=10, help="the large root has this many times the videos")
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--batches", type=int, default=40, help="batches timed per root (after one warm-up batch)")
    p.add_argument("--workers", type=int, default=2, help="DataLoader workers (settings.num_workers)")
    p.add_argument("--in-memory", action="store_true", help="also measure the preloaded path on the small root")
    p.add_argument("--measure", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.measure:
        print(json.dumps(measure(args.measure, args.size, args.batch, args.batches, args.workers, args.in_memory)))
        return 0
    with tempfile.TemporaryDirectory(prefix="bench_data_") as tmp:
        tmp = Path(tmp)
        write_template(tmp / "template", args.frames)
        rows = []
        for label, n in (("small", args.videos), (f"{args.scale}x", args.videos * args.scale)):
            root = replicate(tmp / "template", tmp / label, n)
            rows.append((f"streamed, {label}", _run_child(args, root)))
        if args.in_memory:
            rows.append(("in memory, small", _run_child(args, tmp / "small", in_memory=True)))
    print(f"image size {args.size} px, batch {args.batch}, {args.batches} batches, {args.workers} workers, "
          f"source frames 480x854; memory in MiB, sampled every batch")
    head = ("data path", "frames", "index/load s", "item CPU ms", "frames/s", "RSS main", "RSS main+workers",
            "PSS main+workers", "maxrss main")
    print(f"{head[0]:<18}" + "".join(f"{h:>18}" for h in head[1:]))
    keys = dict(frames=0, prepare_s=2, item_ms=1, frames_per_s=1, peak_rss_main_mib=0, peak_rss_tree_mib=0,
                peak_pss_tree_mib=0, maxrss_main_mib=0)  # column → decimals
    for label, r in rows:
        print(f"{label:<18}" + "".join(f"{r[k]:>18.{digits}f}" for k, digits in keys.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
