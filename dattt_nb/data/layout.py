"""The one on-disk layout of every dataset (DAVIS style) and the in-memory :class:`Video`.

::

    <root>/JPEGImages/<video>/<frame>.jpg    RGB frames
    <root>/Annotations/<video>/<frame>.png   masks, 0 = background, any nonzero = primary object
    <root>/Flow/<video>/<frame>.png          colour-coded forward flow t→t+1: the flow stream's input (§4.1)
    <root>/FlowRaw/<video>/<frame>.npy       raw forward flow (H, W, 2) in pixels, float16
    <root>/Depth/<video>/<frame>.png         16-bit depth pseudo-label, round(depth·65535), 0 = invalid
    <root>/FlowGT/, DepthGT/                 true flow / depth (synthetic data only)
    <root>/dataset.json                      manifest: name, kind, generator params, flow method, depth source

Readers accept DAVIS's resolution level (``JPEGImages/480p/<video>``), grayscale / RGBA / palette images and
sparse annotations (FBMS, YouTube-VOS every 5th frame); every file is written atomically.
"""
from __future__ import annotations

import json
import math
import os
import re
import warnings
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Iterable, Sequence

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from dattt_nb.utils import DatttWarning, atomic_path, atomic_write_json, warn

FRAMES, MASKS, FLOW, FLOW_RAW, DEPTH = "JPEGImages", "Annotations", "Flow", "FlowRaw", "Depth"
FLOW_GT, DEPTH_GT = "FlowGT", "DepthGT"
MANIFEST = "dataset.json"
IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".bmp", ".ppm", ".pgm", ".tif", ".tiff")
JPEG_QUALITY = 95
DEPTH_SCALE = 65535.0
_RESOLUTION = re.compile(r"\d+p|Full-Resolution")
_EXPECTED = ("expected the DAVIS layout <root>/JPEGImages/<video>/<frame>.jpg (+ Annotations/, Flow/, Depth/; "
             "DAVIS's JPEGImages/480p/<video> is accepted)")


@dataclass
class Video:
    """One decoded video: frames, masks, colour-coded flow and depth as tensors (the model's inputs, §4.1)."""

    name: str
    frames: torch.Tensor  # (T, 3, H, W) float32 in [0, 1]
    masks: torch.Tensor | None  # (T, H, W) bool; None when unannotated
    flow: torch.Tensor | None  # (T, 3, H, W) float32 in [0, 1]: colour-coded flow = the flow encoder's input
    depth: torch.Tensor | None  # (T, H, W) float32 depth pseudo-label in (0, 1], 0 = invalid
    frame_names: list[str]
    annotated: torch.Tensor | None = None  # (T,) bool: frames with ground truth (FBMS: sparse); None = all
    root: str | None = None  # the dataset root it was read from (real data is scored at the frames' own size)

    def __len__(self) -> int:
        return int(self.frames.shape[0])

    def to(self, device) -> "Video":
        move = lambda x: None if x is None else x.to(device)  # noqa: E731
        return replace(self, frames=move(self.frames), masks=move(self.masks), flow=move(self.flow),
                       depth=move(self.depth), annotated=move(self.annotated))


# --- paths --------------------------------------------------------------------------------------

def natural_key(name: str) -> list:
    """Sort key that orders ``frame2`` before ``frame10``: the one frame order of every reader and of ``eval``."""
    return [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", name)]


def kind_dir(root: str | Path, kind: str) -> Path:
    """``<root>/<kind>``, descending into DAVIS's resolution level (``480p`` preferred) when present."""
    base = Path(root) / kind
    if not base.is_dir():
        return base
    with os.scandir(base) as entries:
        levels = sorted(e.name for e in entries if _RESOLUTION.fullmatch(e.name) and e.is_dir())
    if levels:
        return base / ("480p" if "480p" in levels else levels[0])
    return base


def check_root(root: str | Path) -> Path:
    """Raise a clear error unless ``root`` is a dataset root in the DAVIS layout."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"dataset root {root} does not exist; {_EXPECTED}")
    if not (root / FRAMES).is_dir():
        found = sorted(p.name for p in root.iterdir())[:10]
        hint = ""
        if (root / "frame").is_dir():
            hint = (" It looks like the flat DATTT/HFAN release: convert it with "
                    "dattt_nb.data.real.convert_flat_release.")
        raise FileNotFoundError(f"{root} has no JPEGImages/ folder; {_EXPECTED}. Found: {found}.{hint}")
    return root


def video_folders(folder: str | Path) -> list[Path]:
    """The sub-folders of ``folder`` (one per video), hidden ones skipped, in natural order of their names."""
    return sorted((d for d in Path(folder).iterdir() if d.is_dir() and not d.name.startswith(".")),
                  key=lambda d: natural_key(d.name))


def list_videos(root: str | Path) -> list[str]:
    """Names of the videos of a dataset root (folders of ``JPEGImages``), in natural order."""
    return [d.name for d in video_folders(kind_dir(check_root(root), FRAMES))]


def image_files(folder: Path, exts: Sequence[str] = IMAGE_EXTS) -> list[Path]:
    """Image files of a folder in natural order (hidden and temporary files skipped); two files of one frame
    name (``00003.jpg`` and ``00003.png``) are an error."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    files = sorted((p for p in folder.iterdir() if p.suffix.lower() in exts and not p.name.startswith(".")),
                   key=lambda p: (natural_key(p.stem), p.suffix.lower()))
    stems = [p.stem for p in files]
    if len(set(stems)) < len(stems):
        twins = [p.name for p in files if stems.count(p.stem) > 1]
        raise ValueError(f"{folder} has several files for one frame name: {', '.join(twins[:10])}"
                         f"{' …' if len(twins) > 10 else ''}; keep one file per frame")
    return files


_NUMBERED = re.compile(r"(.*?)(\d+)")


def missing_frames(names: Sequence[str]) -> list[str]:
    """Names missing from a numbered sequence (``00000, 00001, 00003`` → ``['00002']``); the step is the sequence's
    own (YouTube-VOS numbers every 5th frame). [] when the names are not one numbered sequence."""
    parts = [_NUMBERED.fullmatch(n) for n in names]
    if len(names) < 3 or not all(parts) or len({m.group(1) for m in parts}) > 1:
        return []
    numbers = [int(m.group(2)) for m in parts]
    step = math.gcd(*(b - a for a, b in zip(numbers, numbers[1:])))
    if step <= 0:
        return []
    width = min(len(m.group(2)) for m in parts)
    prefix = parts[0].group(1)
    have = set(numbers)
    return [f"{prefix}{k:0{width}d}" for k in range(numbers[0], numbers[-1], step) if k not in have]


def check_sequence(files: Sequence[Path], allow_gaps: bool = False) -> None:
    """A gap in numbered frames is an error listing the missing names (flow would span it); ``allow_gaps``: a
    warning instead."""
    missing = missing_frames([p.stem for p in files])
    if not missing:
        return
    shown = ", ".join(missing[:10]) + (f" … ({len(missing)} in all)" if len(missing) > 10 else "")
    where = files[0].parent
    if not allow_gaps:
        raise ValueError(f"{where}: frame(s) {shown} missing from the numbered sequence {files[0].stem} … "
                         f"{files[-1].stem}; restore them, or treat the frames as consecutive with --allow-gaps "
                         f"(allow_gaps=True; for a dataset, \"allow_gaps\": true in its {MANIFEST})")
    warn(f"{where}: frame(s) {shown} missing from the numbered sequence; its neighbours are treated as consecutive")


def frame_files(root: str | Path, name: str, allow_gaps: bool = False) -> list[Path]:
    """The frame files of one video; clear errors for a missing or empty video, duplicate names and gaps."""
    folder = kind_dir(check_root(root), FRAMES) / name
    if not folder.is_dir():
        raise FileNotFoundError(f"no video {name!r} in {root}: expected the folder {folder}; "
                                f"videos there: {list_videos(root)[:10]}")
    files = image_files(folder)
    if not files:
        raise ValueError(f"video {name!r} is empty: {folder} holds no frames ({', '.join(IMAGE_EXTS)})")
    check_sequence(files, allow_gaps)
    return files


# --- readers ------------------------------------------------------------------------------------

def read_rgb(path: str | Path) -> np.ndarray:
    """An image as (H, W, 3) uint8 RGB; grayscale, RGBA, palette and 16-bit images are converted. A truncated
    image is an error (decoded from memory, OpenCV refuses it; ``cv2.imread`` would fill a JPEG's rest with grey)."""
    try:
        data = Path(path).read_bytes()
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        raise ValueError(f"frame {path} does not exist; expected an RGB/grayscale image") from None
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR) if data else None
    if img is None:
        if data[:2] == b"\xff\xd8" and not data.rstrip(b"\x00\r\n ").endswith(b"\xff\xd9"):
            raise ValueError(f"frame {path} is truncated (its JPEG data ends before the image does); "
                             "expected a complete image")
        raise ValueError(f"frame {path} is unreadable (truncated or not an image); expected an RGB/grayscale image")
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def read_mask(path: str | Path) -> np.ndarray:
    """A mask as (H, W) bool: any nonzero value is foreground; palette PNGs are read by index."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            mode = img.mode
            arr = np.asarray(img)
    except (OSError, UnidentifiedImageError) as err:
        raise ValueError(f"mask {path} is unreadable ({err}); expected a PNG with 0 = background") from err
    if arr.ndim == 2:
        return arr != 0
    if mode in ("LA", "PA"):
        return arr[..., 0] != 0
    fg = (arr[..., :3] != 0).any(axis=-1)
    if mode == "RGBA":
        alpha = arr[..., 3]
        if not fg.any() and alpha.min() != alpha.max():  # the object drawn only in the alpha channel
            return alpha != 0
        fg &= alpha != 0
    return fg


def read_depth(path: str | Path) -> np.ndarray:
    """A depth PNG as (H, W) float32: 16-bit → value/65535, 8-bit → value/255 (0 = invalid)."""
    img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if img is None:
        raise ValueError(f"depth map {path} is missing or unreadable; expected an 8- or 16-bit grayscale PNG")
    if img.ndim == 3:
        if not (img[..., :3] == img[..., :1]).all():
            raise ValueError(f"depth map {path} is a colour image; expected a single-channel 8- or 16-bit PNG "
                             "(a colour-mapped depth visualisation cannot be read back as depth)")
        img = img[..., 0]
    scale = DEPTH_SCALE if img.dtype == np.uint16 else 255.0 if img.dtype == np.uint8 else 1.0
    return img.astype(np.float32) / scale


def read_frames(root: str | Path, name: str, allow_gaps: bool = False) -> tuple[np.ndarray, list[str]]:
    """All frames of a video as (T, H, W, 3) uint8 and their names (file stems)."""
    files = frame_files(root, name, allow_gaps)
    frames = [read_rgb(p) for p in files]
    h, w = frames[0].shape[:2]
    for p, f in zip(files, frames):
        if f.shape[:2] != (h, w):
            raise ValueError(f"frame {p} is {f.shape[1]}x{f.shape[0]}, expected {w}x{h} like {files[0].name}")
    return np.stack(frames), [p.stem for p in files]


def _files_per_frame(folder: Path, names: list[str], exts: Sequence[str], what: str, sparse: bool) -> dict[str, Path]:
    """Map frame name → file in ``folder``; error on files without a frame or (unless sparse) missing ones."""
    files = {p.stem: p for p in image_files(folder, exts)}
    extra = sorted(set(files) - set(names), key=natural_key)
    if extra:
        raise ValueError(f"{what} {files[extra[0]]} has no matching frame (frames: {names[0]} … {names[-1]}); "
                         f"{len(extra)} {what} file(s) without a frame in {folder}")
    missing = [n for n in names if n not in files]
    if missing and not sparse:
        raise ValueError(f"{folder} has {len(files)} {what} file(s), expected {len(names)} (one per frame); "
                         f"missing e.g. {missing[0]}. Sparse annotations (FBMS) need "
                         f"'\"sparse_annotations\": true' in dataset.json or load_video(..., sparse=True)")
    return files


def _check_size(path: Path, arr: np.ndarray, hw: tuple[int, int], what: str) -> np.ndarray:
    if arr.shape[:2] != hw:
        raise ValueError(f"{what} {path} is {arr.shape[1]}x{arr.shape[0]}, expected {hw[1]}x{hw[0]} "
                         "(the size of the video's frames)")
    return arr


def read_masks(root, name, frame_names, hw, sparse=False) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Masks (T, H, W) bool (zeros where unannotated) and the (T,) annotated vector; (None, None) if no masks."""
    folder = kind_dir(root, MASKS) / name
    if not image_files(folder):
        return None, None
    files = _files_per_frame(folder, frame_names, IMAGE_EXTS, "mask", sparse)
    masks = np.zeros((len(frame_names), *hw), dtype=bool)
    annotated = np.zeros(len(frame_names), dtype=bool)
    for t, n in enumerate(frame_names):
        if n in files:
            masks[t] = _check_size(files[n], read_mask(files[n]), hw, "mask")
            annotated[t] = True
    return masks, annotated


def read_flow_rgb(root, name, frame_names, hw) -> np.ndarray:
    """Colour-coded flow (T, H, W, 3) uint8, one PNG per frame."""
    folder = kind_dir(root, FLOW) / name
    if not image_files(folder):
        raise FileNotFoundError(f"no flow for video {name!r}: {folder} is missing or empty; compute it with "
                                f"dattt_nb.data.prepare.compute_flow({str(root)!r}, 'dis') or pass with_flow=False")
    files = _files_per_frame(folder, frame_names, IMAGE_EXTS, "flow", sparse=False)
    return np.stack([_check_size(files[n], read_rgb(files[n]), hw, "flow") for n in frame_names])


def read_depths(root, name, frame_names, hw, kind: str = DEPTH) -> np.ndarray:
    """Depth maps (T, H, W) float32 in [0, 1] from ``<root>/<kind>/<video>/*.png``."""
    folder = kind_dir(root, kind) / name
    if not image_files(folder):
        raise FileNotFoundError(f"no depth for video {name!r}: {folder} is missing or empty; compute it with "
                                f"dattt_nb.data.prepare.compute_depth({str(root)!r}, source) or pass with_depth=False")
    files = _files_per_frame(folder, frame_names, IMAGE_EXTS, "depth", sparse=False)
    return np.stack([_check_size(files[n], read_depth(files[n]), hw, "depth") for n in frame_names])


def read_raw_flow(root, name, kind: str = FLOW_RAW) -> np.ndarray | None:
    """Raw flow (T, H, W, 2) float32 from ``<root>/<kind>/<video>/*.npy`` (FlowRaw or FlowGT); None if absent."""
    folder = kind_dir(root, kind) / name
    if not folder.is_dir():
        return None
    files = sorted((p for p in folder.glob("*.npy") if not p.name.startswith(".")), key=lambda p: natural_key(p.stem))
    if not files:
        return None
    return np.stack([np.load(p).astype(np.float32) for p in files])


def read_manifest(root: str | Path) -> dict:
    """``<root>/dataset.json`` as a dict ({} when absent)."""
    path = Path(root) / MANIFEST
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"manifest {path} is not valid JSON ({err}); delete it to rebuild the dataset") from err


def write_manifest(root: str | Path, manifest: dict) -> None:
    """Write ``<root>/dataset.json`` atomically, only when its content changes (keeps mtimes stable)."""
    if read_manifest(root) != json.loads(json.dumps(manifest, default=str)):
        atomic_write_json(Path(root) / MANIFEST, manifest)


# --- ground truth of a user's video ------------------------------------------------------------

def find_annotations(source: str | Path) -> Path | None:
    """For a frame folder in the DAVIS layout (``<root>/JPEGImages[/480p]/<video>``) its ``Annotations`` folder."""
    source = Path(source)
    if not source.is_dir():
        return None
    for up in (source.parent, source.parent.parent):
        if up.name == FRAMES:
            root = up.parent
            ann = kind_dir(root, MASKS) / source.name
            return ann if image_files(ann) else None
    return None


def annotation_dir(gt: str | Path, video: str) -> Path:
    """The folder of one video's masks: ``gt`` itself when it holds PNGs, else ``<gt>/Annotations[/480p]/<video>``
    or ``<gt>/<video>``."""
    gt = Path(gt)
    if not gt.is_dir():
        raise FileNotFoundError(f"ground-truth folder {gt} does not exist; expected a folder of <frame>.png masks "
                                f"or a DAVIS root with Annotations/<video>/")
    candidates = [gt, kind_dir(gt, MASKS) / video, gt / video]
    for folder in candidates:
        if image_files(folder, (".png",)):
            return folder
    raise FileNotFoundError(f"no masks for video {video!r} under {gt}: looked for PNG files in "
                            f"{', '.join(str(c) for c in candidates)}")


def read_annotations(gt: str | Path, video: str, frame_names: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Ground truth matched to frames by name → ((T, H, W) bool, (T,) annotated); frames without a PNG are
    unannotated (sparse ground truth, e.g. FBMS). Checked as ``eval`` checks predictions: every mask up to the
    last frame names a frame (later ones belong to frames cut off, e.g. by ``max_frames``); all have one size."""
    folder = annotation_dir(gt, video)
    files = {p.stem: p for p in image_files(folder, (".png",))}
    present = [n for n in frame_names if n in files]
    if not present:
        raise ValueError(f"no mask in {folder} matches a frame name ({frame_names[0]} … {frame_names[-1]}); "
                         f"masks there are named e.g. {sorted(files)[:3]}: name them like the frames")
    known = set(frame_names)
    last = natural_key(frame_names[-1])
    orphans = [n for n in sorted(files, key=natural_key) if n not in known and natural_key(n) < last]
    if orphans:
        shown = ", ".join(files[n].name for n in orphans[:5]) + (" …" if len(orphans) > 5 else "")
        raise ValueError(f"{folder} has {len(orphans)} mask(s) that match no frame of {video!r}: {shown} (frames: "
                         f"{frame_names[0]} … {frame_names[-1]}, {len(frame_names)} in all); name masks like frames")
    first = read_mask(files[present[0]])
    masks = np.zeros((len(frame_names), *first.shape), bool)
    annotated = np.zeros(len(frame_names), bool)
    for t, n in enumerate(frame_names):
        if n in files:
            m = first if n == present[0] else read_mask(files[n])
            if m.shape != first.shape:
                raise ValueError(f"mask {files[n]} is {m.shape[1]}x{m.shape[0]}, expected {first.shape[1]}x"
                                 f"{first.shape[0]} like {files[present[0]].name}")
            masks[t], annotated[t] = m, True
    return masks, annotated


# --- tensors ------------------------------------------------------------------------------------

def _size_hw(size) -> tuple[int, int] | None:
    if size is None:
        return None
    return (int(size), int(size)) if isinstance(size, (int, np.integer)) else (int(size[0]), int(size[1]))


def _resize(x: torch.Tensor, hw, mode: str, chunk: int = 32) -> torch.Tensor:
    """Resize (T, C, H, W) in chunks (bounded memory): bilinear with antialias, or nearest."""
    if hw is None or tuple(x.shape[-2:]) == tuple(hw):
        return x
    kw = dict(mode="bilinear", align_corners=False, antialias=True) if mode == "bilinear" else dict(mode="nearest")
    return torch.cat([F.interpolate(x[i:i + chunk], size=hw, **kw) for i in range(0, len(x), chunk)])


def image_tensor(arr: np.ndarray, hw=None) -> torch.Tensor:
    """(T, H, W, 3) uint8 → (T, 3, h, w) float32 in [0, 1] (bilinear, antialiased), converted chunk by chunk."""
    out = []
    for i in range(0, len(arr), 32):
        x = torch.from_numpy(np.ascontiguousarray(arr[i:i + 32])).permute(0, 3, 1, 2).float().div_(255.0)
        out.append(_resize(x, _size_hw(hw), "bilinear").clamp_(0, 1))
    return torch.cat(out)


def upsample_masks(masks, hw: tuple[int, int], chunk: int = 16) -> np.ndarray:
    """(T, h, w) bool masks → (T, H, W) bool: bilinear on the 0/1 map, threshold 0.5 (smooth, not blocky, edges)."""
    masks = torch.as_tensor(masks)
    if tuple(masks.shape[-2:]) == tuple(hw):
        return masks.cpu().numpy().astype(bool)
    out = [F.interpolate(masks[i:i + chunk, None].float(), size=tuple(hw), mode="bilinear",
                         align_corners=False)[:, 0] > 0.5 for i in range(0, len(masks), chunk)]
    return torch.cat(out).cpu().numpy()


def load_video(root: str | Path, name: str, size=None, with_flow: bool = True, with_depth: bool = True,
               sparse: bool | None = None, allow_gaps: bool | None = None) -> Video:
    """Decode one video once into tensors; ``size`` (int = square, or (H, W)) resizes to the model's input.

    Frames and colour-coded flow are resized bilinearly (antialiased), masks and depth by nearest neighbour.
    ``sparse`` allows masks for a subset of frames (default: ``dataset.json``'s ``sparse_annotations``);
    ``allow_gaps`` numbered frames with gaps, with a warning (default: silently when ``dataset.json`` declares
    ``allow_gaps``, as for YouTube-VOS, whose numbering skips).
    """
    root = check_root(root)
    manifest = read_manifest(root) if sparse is None or allow_gaps is None else {}
    if sparse is None:
        sparse = bool(manifest.get("sparse_annotations", False))
    declared = allow_gaps is None and bool(manifest.get("allow_gaps", False))  # the dataset's numbering skips
    with warnings.catch_warnings():
        if declared:
            warnings.simplefilter("ignore", DatttWarning)
        frames_np, names = read_frames(root, name, bool(allow_gaps) or declared)
    hw = frames_np.shape[1:3]
    out_hw = _size_hw(size)
    frames = image_tensor(frames_np, out_hw)
    masks_np, annotated_np = read_masks(root, name, names, hw, sparse=sparse)
    masks = annotated = None
    if masks_np is not None:
        masks = _resize(torch.from_numpy(masks_np)[:, None].float(), out_hw, "nearest")[:, 0] > 0.5
        annotated = None if annotated_np.all() else torch.from_numpy(annotated_np)
    flow = image_tensor(read_flow_rgb(root, name, names, hw), out_hw) if with_flow else None
    depth = None
    if with_depth:
        depth = _resize(torch.from_numpy(read_depths(root, name, names, hw))[:, None], out_hw, "nearest")[:, 0]
    return Video(name=name, frames=frames, masks=masks, flow=flow, depth=depth, frame_names=names,
                 annotated=annotated, root=str(root))


def load_split(root: str | Path, size=None, videos: Iterable[str] | None = None, **kw) -> list[Video]:
    """Every video of a dataset root (or the named ``videos``), decoded with :func:`load_video`."""
    from dattt_nb.utils import progress

    names = list(videos) if videos is not None else list_videos(root)
    if not names:
        raise ValueError(f"dataset root {root} has no videos; {_EXPECTED}")
    return [load_video(root, n, size=size, **kw) for n in progress(names, desc=f"load {Path(root).name}", leave=False)]


# --- writers ------------------------------------------------------------------------------------

def frame_names_for(n: int) -> list[str]:
    """Default frame names ``00000``, ``00001``, ... (DAVIS style)."""
    return [f"{t:05d}" for t in range(n)]


def _names(n: int, frame_names: Sequence[str] | None) -> list[str]:
    names = list(frame_names) if frame_names is not None else frame_names_for(n)
    if len(names) != n:
        raise ValueError(f"got {len(names)} frame names for {n} frames")
    return names


def _write_image(path: Path, img: np.ndarray, params: Sequence[int] = ()) -> None:
    with atomic_path(path) as tmp:
        if not cv2.imwrite(str(tmp), img, list(params)):
            raise OSError(f"could not write {path}")


def write_frames(root, name, frames: np.ndarray, frame_names=None) -> list[str]:
    """Frames (T, H, W, 3) uint8 RGB → ``JPEGImages/<video>/<frame>.jpg`` (quality 95)."""
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"frames must be (T, H, W, 3) uint8, got {frames.shape} {frames.dtype}")
    if len(frames) == 0:
        raise ValueError(f"video {name!r} has no frames to write")
    names = _names(len(frames), frame_names)
    folder = Path(root) / FRAMES / name
    for n, f in zip(names, frames):
        _write_image(folder / f"{n}.jpg", cv2.cvtColor(f, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    return names


def write_mask(path: str | Path, mask: np.ndarray) -> Path:
    """One mask (H, W) → a 0/255 PNG, atomically: the package's one mask writer."""
    _write_image(Path(path), (np.asarray(mask) > 0).astype(np.uint8) * 255)
    return Path(path)


def write_mask_pngs(folder: str | Path, masks: np.ndarray, frame_names=None, annotated=None,
                    progress: bool = False) -> Path:
    """Masks (T, H, W) → ``<folder>/<frame>.png`` (0/255); only the ``annotated`` frames when given."""
    from dattt_nb.utils import progress as bar

    masks = np.asarray(masks)
    names = _names(len(masks), frame_names)
    keep = np.ones(len(masks), bool) if annotated is None else np.asarray(annotated, bool)
    for n, m, k in bar(list(zip(names, masks, keep)), progress, desc="write masks", unit="frame", leave=False):
        if k:
            write_mask(Path(folder) / f"{n}.png", m)
    return Path(folder)


def write_masks(root, name, masks: np.ndarray, frame_names=None, annotated=None) -> None:
    """Masks (T, H, W) bool → ``Annotations/<video>/<frame>.png`` (0/255); only ``annotated`` frames if given."""
    write_mask_pngs(Path(root) / MASKS / name, masks, frame_names, annotated)


def write_flow(root, name, flow_rgb=None, flow_raw=None, frame_names=None, raw_kind: str = FLOW_RAW) -> None:
    """Colour-coded flow (T, H, W, 3) uint8 → ``Flow/``; raw flow (T, H, W, 2) → ``<raw_kind>/`` as float16."""
    if flow_rgb is not None:
        flow_rgb = np.asarray(flow_rgb)
        for n, f in zip(_names(len(flow_rgb), frame_names), flow_rgb):
            _write_image(Path(root) / FLOW / name / f"{n}.png", cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
    if flow_raw is not None:
        flow_raw = np.asarray(flow_raw)
        if flow_raw.ndim != 4 or flow_raw.shape[-1] != 2:
            raise ValueError(f"raw flow must be (T, H, W, 2), got {flow_raw.shape}")
        for n, f in zip(_names(len(flow_raw), frame_names), flow_raw):
            with atomic_path(Path(root) / raw_kind / name / f"{n}.npy") as tmp:
                np.save(tmp, f.astype(np.float16))


def depth_to_uint16(depth: np.ndarray) -> np.ndarray:
    """Depth in [0, 1] → uint16 ``round(depth·65535)`` (values outside are clipped; NaN → 0 = invalid)."""
    d = np.nan_to_num(np.asarray(depth, dtype=np.float64), nan=0.0, posinf=1.0, neginf=0.0)
    return np.rint(np.clip(d, 0.0, 1.0) * DEPTH_SCALE).astype(np.uint16)


def write_depth(root, name, depth: np.ndarray, frame_names=None, kind: str = DEPTH) -> None:
    """Depth (T, H, W) in (0, 1] → ``<kind>/<video>/<frame>.png`` as 16-bit PNG."""
    depth = np.asarray(depth)
    for n, d in zip(_names(len(depth), frame_names), depth):
        _write_image(Path(root) / kind / name / f"{n}.png", depth_to_uint16(d))


def write_video(root, name, frames, masks=None, flow_rgb=None, flow_raw=None, depth=None, frame_names=None,
                annotated=None, flow_gt=None, depth_gt=None) -> list[str]:
    """Write one video in the layout, each file atomically; returns the frame names used."""
    frames = np.asarray(frames)
    names = write_frames(root, name, frames, frame_names)
    hw = frames.shape[1:3]
    for what, arr in (("masks", masks), ("flow_rgb", flow_rgb), ("flow_raw", flow_raw), ("depth", depth),
                      ("flow_gt", flow_gt), ("depth_gt", depth_gt)):
        if arr is not None and (len(arr) != len(frames) or tuple(np.shape(arr)[1:3]) != tuple(hw)):
            raise ValueError(f"{what} of video {name!r} has shape {np.shape(arr)}, expected {len(frames)} "
                             f"frames of {hw[0]}x{hw[1]} like the frames")
    if masks is not None:
        write_masks(root, name, masks, names, annotated)
    write_flow(root, name, flow_rgb, flow_raw, names)
    if flow_gt is not None:
        write_flow(root, name, None, flow_gt, names, raw_kind=FLOW_GT)
    if depth is not None:
        write_depth(root, name, depth, names)
    if depth_gt is not None:
        write_depth(root, name, depth_gt, names, kind=DEPTH_GT)
    return names
