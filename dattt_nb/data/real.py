"""Real ZSVOS datasets (paper §5.1) converted into the one DAVIS layout, and opt-in download helpers.

Training: YouTube-VOS (all objects merged into one foreground, as ZSVOS training does). Testing: DAVIS-16
(every frame annotated), FBMS-59 (sparse: evaluate annotated frames only), Long-Videos, MCL, SegTrackV2 (objects
merged). The official DATTT/HFAN processed release (flat ``frame/ flow/ mask/ depth/`` folders with
``<video>_<frame>`` names) converts too. Converters link (or copy) frames and write binary masks; nothing here
touches the network unless a user calls :func:`download`.
"""
from __future__ import annotations

import hashlib
import os
import re
import shutil
import urllib.request
import zipfile
from pathlib import Path
from typing import Callable, Iterable

import cv2
import numpy as np

from dattt_nb.data.layout import (DEPTH, FLOW, FRAMES, JPEG_QUALITY, MASKS, image_files, kind_dir, natural_key,
                                  read_manifest, read_mask, read_rgb, video_folders, write_manifest, write_mask)
from dattt_nb.utils import atomic_path, sha256_file

# --- registry -----------------------------------------------------------------------------------

DATASETS: dict[str, dict] = {
    "davis16": dict(
        url="https://graphics.ethz.ch/Downloads/Data/Davis/DAVIS-data.zip", sha256=None, size=None,
        page="https://davischallenge.org/davis2016/code.html",
        notes="DAVIS-2016: 50 videos (30 train / 20 val), every frame annotated, 480p. No checksum is published; "
              "download() prints the sha256 it measured. Use the 20 val videos for testing."),
    "youtube-vos": dict(
        url=None, sha256=None, size=None, page="https://youtube-vos.org/dataset/",
        notes="YouTube-VOS 2018/2019 train (3,471 videos in 2018): hosted on CodaLab / Google Drive behind a "
              "registration; download train.zip (or train_all_frames.zip) by hand. The HFAN processed copy: "
              "https://drive.google.com/file/d/1aoeobaHLRYa-SMrG2R-Xlp7mcyD0mrNb/view"),
    "fbms": dict(
        url=None, sha256=None, size=None,
        page="https://lmb.informatik.uni-freiburg.de/resources/datasets/moseg.en.html",
        notes="FBMS-59 (Freiburg-Berkeley Motion Segmentation): 29 training + 30 test videos, ground truth for a "
              "subset of frames; download Trainingset/Testset from the page."),
    "segtrackv2": dict(
        url="https://web.engr.oregonstate.edu/~lif/SegTrack2/SegTrackv2.zip", sha256=None, size=None,
        page="https://web.engr.oregonstate.edu/~lif/SegTrack2/dataset.html",
        notes="SegTrackV2: 14 videos, some with several objects (merged into one foreground). URL as linked "
              "from the dataset page; no checksum is published."),
    "long-videos": dict(
        url=None, sha256=None, size=None, page="https://www.kaggle.com/datasets/gvclsu/long-videos",
        notes="Long-Videos (Liang et al., NeurIPS 2020): 3 videos of >1,500 frames, 20 annotated frames each; "
              "Kaggle needs an account (kaggle datasets download gvclsu/long-videos)."),
    "mcl": dict(
        url=None, sha256=None, size=None, page="http://mcl.korea.ac.kr/database/saliency/",
        notes="MCL (Kim et al. 2015): 9 low-resolution videos with ground truth for a subset of frames; "
              "request/download from the page."),
    "dattt-release": dict(
        url=None, sha256=None, size=None,
        page="https://drive.google.com/file/d/12pMEL_fA9VOudrb_uAFFc1gVM-O52z6R/view",
        notes="The official DATTT processed data (HFAN flat layout frame/ flow/ mask/ depth/, MonoDepth2 depth "
              "maps); Google Drive needs a browser. Convert with convert_flat_release."),
}

DAVIS16_VAL = ["blackswan", "bmx-trees", "breakdance", "camel", "car-roundabout", "car-shadow", "cows",
               "dance-twirl", "dog", "drift-chicane", "drift-straight", "goat", "horsejump-high", "kite-surf",
               "libby", "motocross-jump", "paragliding-launch", "parkour", "scooter-black", "soapbox"]

# FBMS ground truth is grey levels (or colours on white in some .ppm files); community preprocessing
# thresholds grey at 0.1, with two videos needing other values.
FBMS_THRESHOLDS = {"marple7": 0.05, "marple2": 0.4}

_urlopen = urllib.request.urlopen  # tests replace it; nothing else opens URLs


def download(name: str, dest: str | Path, url: str | None = None, sha256: str | None = None,
             extract: bool = False) -> Path:
    """Stream a registered dataset archive to ``dest`` (a folder) with a progress bar; verify its sha256.

    Written atomically: an interrupted or corrupt download leaves nothing behind. Runs only when called.
    """
    from tqdm.auto import tqdm

    if name not in DATASETS:
        raise KeyError(f"unknown dataset {name!r}; registered: {sorted(DATASETS)}")
    entry = DATASETS[name]
    url = url or entry["url"]
    sha256 = sha256 or entry.get("sha256")
    if not url:
        raise ValueError(f"{name} has no direct download URL: get it from {entry['page']} ({entry['notes']}), "
                         f"then convert it with dattt_nb.data.prepare.prepare_real({name!r}, src, dst)")
    dest = Path(dest)
    target = dest / os.path.basename(urllib.request.url2pathname(url.split("?")[0]))
    if target.is_file() and sha256 and sha256_file(target) == sha256:
        return _maybe_extract(target, dest, extract)
    digest = hashlib.sha256()
    with _urlopen(url) as response, atomic_path(target) as tmp:
        total = int(response.headers.get("Content-Length") or 0) or None
        with open(tmp, "wb") as fh, tqdm(total=total, unit="B", unit_scale=True, desc=f"download {name}") as bar:
            while chunk := response.read(1 << 20):
                fh.write(chunk)
                digest.update(chunk)
                bar.update(len(chunk))
        got = digest.hexdigest()
        if sha256 and got != sha256:
            raise ValueError(f"checksum mismatch for {url}: sha256 {got}, expected {sha256}; nothing was kept")
    if not sha256:
        print(f"{target.name}: sha256 {got} (no published checksum to compare with)")
    return _maybe_extract(target, dest, extract)


def _maybe_extract(archive: Path, dest: Path, extract: bool) -> Path:
    """Unzip ``archive`` into ``dest`` (refusing members that would land outside it); returns the path used."""
    if not extract:
        return archive
    if not zipfile.is_zipfile(archive):
        raise ValueError(f"{archive} is not a zip archive; extract it by hand")
    with zipfile.ZipFile(archive) as zf:
        for member in zf.namelist():
            if not (dest / member).resolve().is_relative_to(dest.resolve()):
                raise ValueError(f"{archive}: member {member!r} would be written outside {dest}")
        zf.extractall(dest)
    return dest


# --- converter building blocks ------------------------------------------------------------------

def _place_frame(src: Path, dst: Path, link: bool) -> None:
    """Put one frame at ``dst`` (.jpg): symlink or copy a JPEG, re-encode anything else; atomically."""
    with atomic_path(dst) as tmp:
        if src.suffix.lower() in (".jpg", ".jpeg"):
            tmp.unlink()
            if link:
                os.symlink(src.resolve(), tmp)
            else:
                shutil.copyfile(src, tmp)
        else:
            bgr = cv2.cvtColor(read_rgb(src), cv2.COLOR_RGB2BGR)
            if not cv2.imwrite(str(tmp), bgr, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY]):
                raise OSError(f"could not write {dst}")


def _link_file(src: Path, dst: Path, link: bool) -> None:
    """Symlink or copy any file atomically (flow / depth / masks kept as they are)."""
    with atomic_path(dst) as tmp:
        tmp.unlink()
        os.symlink(src.resolve(), tmp) if link else shutil.copyfile(src, tmp)


def _number(stem: str, video: str = "") -> int | None:
    """The last integer in a file stem once the video name is removed (``cars1_01_gt`` → 1)."""
    nums = re.findall(r"\d+", stem.replace(video, "") if video else stem)
    return int(nums[-1]) if nums else None


def match_masks(frames: list[Path], masks: list[Path], video: str = "") -> dict[int, Path]:
    """Frame index → mask file: by identical stem, else by frame number, else by order when counts agree."""
    stems = {p.stem: i for i, p in enumerate(frames)}
    if all(m.stem in stems for m in masks):
        return {stems[m.stem]: m for m in masks}
    numbers = {_number(p.stem, video): i for i, p in enumerate(frames)}
    if len(numbers) == len(frames) and None not in numbers:
        got = {m: numbers.get(_number(m.stem, video)) for m in masks}
        if all(i is not None for i in got.values()) and len(set(got.values())) == len(masks):
            return {i: m for m, i in got.items()}
    if len(masks) == len(frames):
        return dict(enumerate(masks))
    bad = next(m for m in masks if m.stem not in stems)
    raise ValueError(f"cannot match mask {bad} to a frame of video {video!r} by name, number or order "
                     f"({len(masks)} masks, {len(frames)} frames in {frames[0].parent})")


def _convert_video(dst: Path, video: str, frames: list[Path], mask_sets: list[list[Path]], link: bool,
                   rename: bool, binarize: Callable[[Path], np.ndarray] = read_mask) -> tuple[int, int]:
    """Write one video: frames linked/copied, masks of every object set merged (logical OR) into one."""
    if not frames:
        raise ValueError(f"video {video!r} has no frames")
    names = [f"{i:05d}" for i in range(len(frames))] if rename else [p.stem for p in frames]
    for src, n in zip(frames, names):
        _place_frame(src, dst / FRAMES / video / f"{n}.jpg", link)
    merged: dict[int, np.ndarray] = {}
    for masks in mask_sets:
        for i, path in match_masks(frames, masks, video).items():
            m = binarize(path)
            merged[i] = m if i not in merged else merged[i] | m
    for i, m in merged.items():
        write_mask(dst / MASKS / video / f"{names[i]}.png", m)
    return len(frames), len(merged)


def _write_real_manifest(dst: Path, name: str, src: Path, counts: dict[str, tuple[int, int]], **extra) -> Path:
    if not counts:
        raise ValueError(f"no videos found in {src} for {name}")
    empty = [v for v, c in counts.items() if c[0] == 0]
    if empty:
        raise ValueError(f"video {empty[0]!r} in {src} has no frames ({len(empty)} empty video folder(s)); remove "
                         "them from the source or pass --videos without them")
    sparse = any(n_masks < n_frames for n_frames, n_masks in counts.values())
    manifest = read_manifest(dst)
    manifest.update(name=name, kind="real", source=str(src), sparse_annotations=sparse, videos=sorted(counts),
                    frames={v: c[0] for v, c in counts.items()}, annotated={v: c[1] for v, c in counts.items()},
                    complete=True, **extra)
    write_manifest(dst, manifest)
    return dst


def _mask_sets(folder: Path) -> list[list[Path]]:
    """Mask files of one video: the folder's images, or one list per object sub-folder (SegTrackV2: 1/, 2/)."""
    if not folder.is_dir():
        return []
    direct = image_files(folder)
    subsets = [image_files(d) for d in video_folders(folder)]
    return [direct] * bool(direct) + [s for s in subsets if s]


def _require(path: Path, what: str) -> Path:
    if not path.is_dir():
        raise FileNotFoundError(f"{path} not found: expected {what}")
    return path


def _pick(videos: list[str], only: Iterable[str] | None) -> list[str]:
    if only is None:
        return videos
    only = list(only)
    missing = sorted(set(only) - set(videos))
    if missing:
        raise FileNotFoundError(f"videos {missing} not in the source (it has {videos[:10]}...)")
    return only


# --- converters ---------------------------------------------------------------------------------

def _split_videos(src: Path, split: str) -> list[str] | None:
    """DAVIS ImageSets: ``480p/<split>.txt`` (per-frame lines) or ``2016/<split>.txt`` (video names)."""
    for rel in (f"ImageSets/480p/{split}.txt", f"ImageSets/2016/{split}.txt"):
        path = src / rel
        if path.is_file():
            names = []
            for line in path.read_text().split("\n"):
                if line.strip():
                    first = line.split()[0].strip("/")
                    names.append(first.split("/")[-2] if "/" in first else first)
            return list(dict.fromkeys(names))
    return None


def convert_davis16(src, dst, split: str = "val", videos=None, link: bool = True) -> Path:
    """DAVIS-16 (``JPEGImages/480p``, ``Annotations/480p``) → the layout, linking frames and masks (§5.1)."""
    src, dst = Path(src), Path(dst)
    frames_root = _require(kind_dir(src, FRAMES), "a DAVIS root with JPEGImages/480p/<video>/")
    available = [d.name for d in video_folders(frames_root)]
    listed = _split_videos(src, split) or (DAVIS16_VAL if split == "val" else None)
    names = [v for v in (listed or available) if v in available] if videos is None else _pick(available, videos)
    if not names:
        raise FileNotFoundError(f"no DAVIS-16 {split} videos in {frames_root} (it has {available[:10]})")
    from tqdm.auto import tqdm

    counts = {}
    for v in tqdm(names, desc="DAVIS-16", leave=False):
        frames = image_files(frames_root / v)
        for f in frames:
            _place_frame(f, dst / FRAMES / v / f"{f.stem}.jpg", link)
        masks = image_files(kind_dir(src, MASKS) / v)
        for m in masks:
            _link_file(m, dst / MASKS / v / f"{m.stem}{m.suffix}", link)
        counts[v] = (len(frames), len(masks))
    return _write_real_manifest(dst, f"davis16-{split}" if split != "val" else "davis16", src, counts)


def convert_youtube_vos(src, dst, videos=None, link: bool = True) -> Path:
    """YouTube-VOS train (``JPEGImages/``, palette ``Annotations/``): every object merged into one foreground.

    ``train`` has every 5th frame, all annotated; ``train_all_frames`` has all frames and the same sparse masks.
    """
    src, dst = Path(src), Path(dst)
    frames_root = _require(src / FRAMES, "a YouTube-VOS train folder with JPEGImages/ and Annotations/")
    names = _pick([d.name for d in video_folders(frames_root)], videos)
    from tqdm.auto import tqdm

    counts = {v: _convert_video(dst, v, image_files(frames_root / v), _mask_sets(src / MASKS / v), link,
                                rename=False) for v in tqdm(names, desc="YouTube-VOS", leave=False)}
    return _write_real_manifest(dst, "youtube-vos", src, counts, allow_gaps=True)  # numbered with steps that vary


def _fbms_mask(video: str) -> Callable[[Path], np.ndarray]:
    threshold = FBMS_THRESHOLDS.get(video, 0.1) * 255

    def binarize(path: Path) -> np.ndarray:
        img = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if img is None:
            raise ValueError(f"FBMS ground truth {path} is unreadable")
        gray = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY).astype(np.float32)
        if path.suffix.lower() == ".ppm":  # colour labels on a white background
            gray[gray >= 0.99 * 255] = 0
        return gray > threshold

    return binarize


def convert_fbms(src, dst, split: str = "test", videos=None, link: bool = True) -> Path:
    """FBMS-59 (``Testset/<video>/*.jpg`` + ``GroundTruth/``) → the layout with sparse annotations."""
    src, dst = Path(src), Path(dst)
    sub = {"test": "Testset", "train": "Trainingset"}.get(split, split)
    root = src / sub if (src / sub).is_dir() else src
    dirs = {d.name: d for d in video_folders(root) if image_files(d, (".jpg", ".jpeg", ".png", ".bmp"))}
    if not dirs:
        raise FileNotFoundError(f"no FBMS videos in {root}: expected {src}/{sub}/<video>/<video>_<n>.jpg "
                                "with <video>/GroundTruth/")
    from tqdm.auto import tqdm

    counts = {}
    for v in tqdm(_pick(sorted(dirs, key=natural_key), videos), desc="FBMS", leave=False):
        d = dirs[v]
        gt = [p for p in image_files(d / "GroundTruth") if "PROB" not in p.name]
        counts[v] = _convert_video(dst, v, image_files(d, (".jpg", ".jpeg", ".png", ".bmp")), [gt] * bool(gt),
                                   link, rename=True, binarize=_fbms_mask(v))
    return _write_real_manifest(dst, "fbms", src, counts)


def _davis_like(src: Path, dst: Path, name: str, videos, link: bool, rename: bool,
                mask_dirs=("Annotations", "GroundTruth", "GT")) -> Path:
    """``JPEGImages/<video>/`` + one of ``mask_dirs``/<video>/ (object sub-folders merged)."""
    frames_root = kind_dir(src, FRAMES)
    if frames_root.is_dir():
        mask_root = next((kind_dir(src, m) for m in mask_dirs if (src / m).is_dir()), src / mask_dirs[0])
        pairs = {d.name: (d, mask_root / d.name) for d in video_folders(frames_root)}
    else:  # one folder per video, ground truth in a sub-folder
        pairs = {}
        for d in video_folders(_require(src, f"{name}: a folder of videos")):
            gt = next((d / m for m in mask_dirs if (d / m).is_dir()), d / mask_dirs[0])
            pairs[d.name] = (d, gt)
    if not pairs:
        raise FileNotFoundError(f"no {name} videos in {src}: expected JPEGImages/<video>/ and "
                                f"{'|'.join(mask_dirs)}/<video>/")
    from tqdm.auto import tqdm

    counts = {}
    for v in tqdm(_pick(sorted(pairs, key=natural_key), videos), desc=name, leave=False):
        frames_dir, masks_dir = pairs[v]
        counts[v] = _convert_video(dst, v, image_files(frames_dir), _mask_sets(masks_dir), link, rename)
    return _write_real_manifest(dst, name, src, counts)


def convert_segtrackv2(src, dst, videos=None, link: bool = True) -> Path:
    """SegTrackV2 (``JPEGImages/``, ``GroundTruth/<video>/[1/, 2/, ...]``): all objects merged into one mask."""
    return _davis_like(Path(src), Path(dst), "segtrackv2", videos, link, rename=True)


def convert_long_videos(src, dst, videos=None, link: bool = True) -> Path:
    """Long-Videos (``JPEGImages/``, sparse palette ``Annotations/``): objects merged, sparse annotations."""
    return _davis_like(Path(src), Path(dst), "long-videos", videos, link, rename=False)


def convert_mcl(src, dst, videos=None, link: bool = True) -> Path:
    """MCL (``JPEGImages/`` + ``Annotations|GroundTruth/``, or ``<video>/`` with a ``GT/`` sub-folder)."""
    return _davis_like(Path(src), Path(dst), "mcl", videos, link, rename=False)


_FLAT = {"frame": FRAMES, "mask": MASKS, "flow": FLOW, "depth": DEPTH}


def split_flat_name(stem: str) -> tuple[str, str]:
    """``<video>_<frame>`` → (video, frame), splitting at the last underscore (``bmx-trees_00042``)."""
    if "_" not in stem:
        raise ValueError(f"file name {stem!r} is not <video>_<frame>")
    video, frame = stem.rsplit("_", 1)
    return video, frame


def convert_flat_release(src, dst, split: str | None = None, link: bool = True, name: str | None = None) -> Path:
    """The official DATTT/HFAN release (``frame/ flow/ mask/ depth/[<split>/]<video>_<frame>.*``) → the layout.

    Flow (colour-coded RAFT) and depth (MonoDepth2, 8-bit) are kept as provided: use flow method and depth
    source ``precomputed`` to consume them.
    """
    src, dst = Path(src), Path(dst)
    if not (src / "frame").is_dir():
        raise FileNotFoundError(f"{src} has no frame/ folder: expected the flat release layout "
                                "frame/ flow/ mask/ depth/ with <video>_<frame> file names")

    def folder(kind: str) -> Path | None:
        base = src / kind
        if not base.is_dir():
            return None
        subs = video_folders(base)
        if split is not None:
            return _require(base / split, f"split folder {split!r} in {base}")
        if subs and not image_files(base):
            if len(subs) > 1:
                raise ValueError(f"{base} has splits {[d.name for d in subs]}: pass split=...")
            return subs[0]
        return base

    counts: dict[str, list[int]] = {}
    present = []
    for kind, target in _FLAT.items():
        base = folder(kind)
        if base is None:
            continue
        present.append(kind)
        for f in image_files(base):
            video, frame = split_flat_name(f.stem)
            if kind == "frame":
                _place_frame(f, dst / FRAMES / video / f"{frame}.jpg", link)
                counts.setdefault(video, [0, 0])[0] += 1
            else:
                _link_file(f, dst / target / video / f"{frame}{f.suffix.lower()}", link)
                if kind == "mask":
                    counts.setdefault(video, [0, 0])[1] += 1
    counts = {v: tuple(c) for v, c in counts.items()}
    label = name or (f"{src.name}-{split}" if split else src.name)
    derived = {}
    if "flow" in present:
        derived["flow"] = {v: "precomputed" for v in counts}
    return _write_real_manifest(dst, label, src, counts, release_folders=present,
                                **({"derived": derived} if derived else {}))


CONVERTERS: dict[str, Callable[..., Path]] = {
    "davis16": convert_davis16,
    "youtube-vos": convert_youtube_vos,
    "fbms": convert_fbms,
    "segtrackv2": convert_segtrackv2,
    "long-videos": convert_long_videos,
    "mcl": convert_mcl,
    "flat-release": convert_flat_release,
}
