"""A corrupted copy of a DAVIS-layout root ("DAVIS-C"): frames corrupted, everything else copied byte for byte.

``dattt-nb corrupt SRC DST --kind noise --severity 3`` calls :func:`corrupt_root`. Masks, flow, depth and every
other file are copied unchanged (the corruption is photometric: the scene, its masks and its depth did not change);
``recompute_flow=True`` estimates the flow again from the corrupted frames, as a user's pipeline would. The copy is
built in a temporary folder beside DST and renamed into place, so an interrupted run leaves no half-written root.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import cv2
import numpy as np

from dattt_nb.data.corruptions import check_severity, corrupt_frames, get_corruption
from dattt_nb.data.layout import (DEPTH, FLOW, FLOW_RAW, FRAMES, JPEG_QUALITY, check_root, frame_files, kind_dir,
                                  list_videos, read_depth, read_frames, read_manifest, write_manifest)


def check_destination(src: str | Path, dst: str | Path) -> tuple[Path, Path]:
    """(src, dst) resolved; DST equal to, inside or containing SRC, or an existing non-empty folder, is an error."""
    from dattt_nb.guards import check_separate, has_content

    check_separate(src, dst, "source root", "destination")
    d = Path(dst).resolve()
    if d.exists() and (not d.is_dir() or has_content(d)):
        raise FileExistsError(f"destination {dst} already exists and is not empty; expected a new folder")
    return Path(src).resolve(), d


def _depth_of(root: Path, video: str, names: list[str], hw) -> np.ndarray | None:
    """The video's depth maps (fog is depth-dependent) when the root has one per frame, else None."""
    folder = kind_dir(root, DEPTH) / video
    files = [folder / f"{n}.png" for n in names]
    if not all(f.is_file() for f in files):
        return None
    depth = [read_depth(f) for f in files]
    return np.stack([cv2.resize(d, (hw[1], hw[0]), interpolation=cv2.INTER_NEAREST) if d.shape != hw else d
                     for d in depth])


def _write_frame(path: Path, frame: np.ndarray) -> None:
    params = [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY] if path.suffix.lower() in (".jpg", ".jpeg") else []
    if not cv2.imwrite(str(path), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR), params):
        raise OSError(f"could not write {path}")


def corrupt_root(src, dst, kind: str, severity: int, seed: int = 0, recompute_flow: bool = False,
                 flow_method: str = "dis", progress: bool = True) -> dict:
    """Write DST = SRC with every frame corrupted by ``kind`` at ``severity`` (same file names and formats); returns
    the record added to DST's ``dataset.json`` under ``corruption``."""
    from dattt_nb.utils import progress as bar

    record = get_corruption(kind)
    check_severity(severity)
    src = check_root(src)
    src, dst = check_destination(src, dst)
    videos = list_videos(src)
    frames_dir = kind_dir(src, FRAMES)
    skip = {frames_dir.resolve()}
    if recompute_flow:
        skip |= {kind_dir(src, FLOW).resolve(), kind_dir(src, FLOW_RAW).resolve()}
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dst.name}.", dir=dst.parent))
    try:
        for folder, dirs, files in os.walk(src, followlinks=True):  # everything but the frames: byte for byte
            here = Path(folder)
            if here.resolve() in skip or any(p in skip for p in here.resolve().parents):
                dirs[:] = []
                continue
            out = tmp / here.relative_to(src)
            out.mkdir(parents=True, exist_ok=True)
            for f in files:
                shutil.copyfile(here / f, out / f)
        for video in bar(videos, progress, desc=f"corrupt {kind} {severity}", unit="video"):
            paths = frame_files(src, video)
            frames, names = read_frames(src, video)
            depth = _depth_of(src, video, names, frames.shape[1:3]) if kind == "fog" else None
            bad = corrupt_frames(frames, kind, severity, seed=seed, video=video, depth=depth)
            for path, frame in zip(paths, bad):
                out = tmp / path.relative_to(src)
                out.parent.mkdir(parents=True, exist_ok=True)
                _write_frame(out, frame)
        info = dict(kind=kind, severity=int(severity), seed=int(seed), parameter=record.parameter(severity)
                    if severity else None, meaning=record.param, draw=record.draw, source=str(src),
                    flow="recomputed from the corrupted frames" if recompute_flow else "copied from the source "
                    "(estimated on the clean frames)")
        manifest = read_manifest(tmp)
        manifest["corruption"] = info
        write_manifest(tmp, manifest)
        if recompute_flow:
            from dattt_nb.data.prepare import compute_flow

            compute_flow(tmp, method=flow_method, force=True)
        os.replace(tmp, dst) if not dst.exists() else (dst.rmdir(), os.replace(tmp, dst))
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return info
