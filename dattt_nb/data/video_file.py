"""Read a user's video — a folder of frames or a video file — and write frames back as MP4 or GIF.

A video becomes ``(T, H, W, 3)`` uint8 RGB frames plus frame names (file stems of a folder, ``00000``, ... for a
file), the input of :func:`dattt_nb.run.segment.segment_video`. Video files are decoded with imageio-ffmpeg when it
is installed, else with OpenCV's ``cv2.VideoCapture`` (its wheels bundle FFmpeg). Every file is written atomically.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterator, Sequence

import cv2
import numpy as np

from dattt_nb.data.layout import IMAGE_EXTS, check_sequence, image_files, read_rgb
from dattt_nb.utils import atomic_path

VIDEO_EXTS = (".mp4", ".avi", ".mov", ".mkv", ".m4v", ".webm", ".mpg", ".mpeg", ".gif")
DEFAULT_FPS = 10.0  # a folder of frames has no frame rate; DAVIS frames play well at 10-24 fps
BACKENDS = ("auto", "imageio", "opencv")


def is_video_file(path: str | Path) -> bool:
    """Whether ``path`` names a video file (by extension) rather than a folder of frames."""
    return Path(path).suffix.lower() in VIDEO_EXTS


def read_video(source: str | Path, max_frames: int | None = None, resize_long: int | None = None,
               backend: str = "auto", progress: bool = False,
               allow_gaps: bool = False) -> tuple[np.ndarray, list[str]]:
    """A folder of frames (jpg/png..., natural order) or a video file → ((T, H, W, 3) uint8 RGB, frame names).

    ``max_frames`` keeps the first frames only (0 or None = all); ``resize_long`` scales every frame so its long
    side has that many pixels (aspect kept). Numbered frames with a gap are an error unless ``allow_gaps``.
    Errors name the file and what was expected.
    """
    check_frame_options(max_frames, resize_long)
    source = Path(source)
    if not source.exists():
        raise FileNotFoundError(f"video {source} does not exist; expected a folder of frames "
                                f"({', '.join(IMAGE_EXTS)}) or a video file ({', '.join(VIDEO_EXTS)})")
    limit = max_frames if max_frames and max_frames > 0 else None
    if source.is_dir():
        frames, names = _read_folder(source, limit, progress, allow_gaps)
    elif is_video_file(source):
        frames = _read_file(source, limit, backend)
        names = [f"{t:05d}" for t in range(len(frames))]
    else:
        raise ValueError(f"{source} is neither a folder of frames nor a video file; expected a folder of "
                         f"{', '.join(IMAGE_EXTS)} images or a file ending in {', '.join(VIDEO_EXTS)}")
    if resize_long:
        frames = [resize_long_side(f, resize_long) for f in frames]
    return np.stack(frames), names


def check_frame_options(max_frames: int | None, resize_long: int | None) -> None:
    """``max_frames`` ≥ 0 (0 = all) and ``resize_long`` ≥ 1 pixel, else one clear error naming the option."""
    if max_frames is not None and int(max_frames) < 0:
        raise ValueError(f"--max-frames (max_frames) must be >= 0 (0 = all frames), got {max_frames}")
    if resize_long is not None and int(resize_long) < 1:
        raise ValueError(f"--resize-long (resize_long) must be a long side of >= 1 pixel, got {resize_long}")


def _read_folder(folder: Path, limit: int | None, progress: bool,
                 allow_gaps: bool = False) -> tuple[list[np.ndarray], list[str]]:
    """Frames of a folder in natural order; every frame must have the size of the first; no gap in the numbers."""
    from dattt_nb.utils import progress as progress_bar

    files = image_files(folder)
    if not files:
        if not any(folder.iterdir()):
            raise ValueError(f"folder {folder} is empty; expected video frames ({', '.join(IMAGE_EXTS)})")
        found = sorted(p.name for p in folder.iterdir())[:8]
        hint = ""
        if (folder / "JPEGImages").is_dir():
            hint = " It looks like a DAVIS-layout root: pass one video's folder, e.g. <root>/JPEGImages/480p/<video>."
        raise ValueError(f"folder {folder} holds no images; expected video frames ({', '.join(IMAGE_EXTS)}), "
                         f"found {found}.{hint}")
    check_sequence(files, allow_gaps)
    files = files[:limit] if limit else files
    frames = []
    for path in progress_bar(files, enabled=progress, desc=f"read {folder.name}", unit="frame", leave=False):
        frame = read_rgb(path)
        if frames and frame.shape != frames[0].shape:
            h, w = frames[0].shape[:2]
            raise ValueError(f"frame {path} is {frame.shape[1]}x{frame.shape[0]}, expected {w}x{h} like "
                             f"{files[0].name}: every frame of a video must have the same size")
        frames.append(frame)
    return frames, [p.stem for p in files]


def _read_file(path: Path, limit: int | None, backend: str) -> list[np.ndarray]:
    """Decode a video file with imageio-ffmpeg (when installed) or OpenCV."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown video backend {backend!r}; choose one of {BACKENDS}")
    if path.suffix.lower() == ".gif":
        reader = _pil_frames
    elif backend == "imageio" or (backend == "auto" and _has_imageio_ffmpeg()):
        reader = _imageio_frames
    else:
        reader = _opencv_frames
    frames = []
    try:
        for frame in reader(path):
            frames.append(frame)
            if limit and len(frames) >= limit:
                break
    except ValueError:
        raise
    except Exception as err:  # decoder errors come in many types (OSError, RuntimeError, cv2.error)
        first = (str(err).strip().splitlines() or [""])[0]
        raise ValueError(f"video file {path} is unreadable ({type(err).__name__}: {first}); expected a video "
                         f"that FFmpeg can decode ({', '.join(VIDEO_EXTS)})") from err
    if not frames:
        raise ValueError(f"video file {path} is unreadable or has no frames; expected a video that FFmpeg can "
                         f"decode ({', '.join(VIDEO_EXTS)})")
    return frames


def _has_imageio_ffmpeg() -> bool:
    try:
        import imageio_ffmpeg  # noqa: F401
    except ImportError:
        return False
    return True


def _imageio_frames(path: Path) -> Iterator[np.ndarray]:
    """Frames from ``imageio_ffmpeg.read_frames`` (RGB24)."""
    import imageio_ffmpeg

    gen = imageio_ffmpeg.read_frames(str(path), pix_fmt="rgb24")
    meta = next(gen)
    w, h = meta["size"]
    try:
        for buf in gen:
            yield np.frombuffer(buf, np.uint8).reshape(h, w, 3).copy()
    finally:
        gen.close()


def _opencv_frames(path: Path) -> Iterator[np.ndarray]:
    """Frames from ``cv2.VideoCapture`` (BGR → RGB)."""
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise ValueError(f"video file {path} is unreadable (OpenCV could not open it); expected a video that "
                         f"FFmpeg can decode ({', '.join(VIDEO_EXTS)})")
    try:
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            yield cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
    finally:
        cap.release()


def _pil_frames(path: Path) -> Iterator[np.ndarray]:
    """Frames of an animated GIF (PIL)."""
    from PIL import Image, ImageSequence

    with Image.open(path) as img:
        for frame in ImageSequence.Iterator(img):
            yield np.asarray(frame.convert("RGB"))


def video_fps(source: str | Path, default: float = DEFAULT_FPS) -> float:
    """Frame rate of a video file (``default`` for a folder of frames or when the file does not say)."""
    source = Path(source)
    if source.is_dir() or not is_video_file(source) or not source.is_file():
        return default
    cap = cv2.VideoCapture(str(source))
    try:
        fps = cap.get(cv2.CAP_PROP_FPS) if cap.isOpened() else 0.0
    finally:
        cap.release()
    return float(fps) if fps and np.isfinite(fps) and 0 < fps < 1000 else default


def long_side_size(hw: tuple[int, int], long_side: int) -> tuple[int, int]:
    """(H, W) scaled so that max(H, W) == ``long_side``, aspect kept (the size :func:`resize_long_side` makes)."""
    h, w = hw
    scale = long_side / max(h, w)
    return max(1, round(h * scale)), max(1, round(w * scale))


def resize_long_side(frame: np.ndarray, long_side: int) -> np.ndarray:
    """Scale an (H, W, ...) image so that max(H, W) == ``long_side`` (aspect kept; area filter when shrinking)."""
    h, w = frame.shape[:2]
    if long_side == max(h, w):
        return frame
    nh, nw = long_side_size((h, w), long_side)
    return cv2.resize(frame, (nw, nh), interpolation=cv2.INTER_AREA if long_side < max(h, w) else cv2.INTER_LINEAR)


# --- writers ------------------------------------------------------------------------------------

def _check_frames(frames) -> np.ndarray:
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8 or len(frames) == 0:
        raise ValueError(f"frames must be a non-empty (T, H, W, 3) uint8 RGB array, got {frames.shape} {frames.dtype}")
    return frames


def write_mp4(frames, path: str | Path, fps: float = DEFAULT_FPS) -> Path:
    """(T, H, W, 3) uint8 RGB → an MPEG-4 (``mp4v``) file via OpenCV, written atomically.

    The codec needs even sides: an odd height or width is padded by one replicated pixel row or column.
    """
    frames = _check_frames(frames)
    h, w = frames.shape[1:3]
    ph, pw = h % 2, w % 2
    path = Path(path)
    with atomic_path(path, suffix=".mp4") as tmp:
        writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*"mp4v"), float(fps), (w + pw, h + ph))
        if not writer.isOpened():
            raise OSError(f"OpenCV cannot write {path} (no mp4v encoder in this OpenCV build)")
        try:
            for frame in frames:
                if ph or pw:
                    frame = np.pad(frame, ((0, ph), (0, pw), (0, 0)), mode="edge")
                writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
        finally:
            writer.release()
        if tmp.stat().st_size == 0:
            raise OSError(f"OpenCV wrote an empty video for {path}")
    return path


def write_gif(frames, path: str | Path, fps: float = DEFAULT_FPS, max_side: int | None = None) -> Path:
    """(T, H, W, 3) uint8 RGB → an animated GIF (PIL, loops forever), written atomically.

    ``max_side`` shrinks frames whose long side is larger (GIFs of full-size video get large).
    """
    from PIL import Image

    frames = _check_frames(frames)
    if max_side and max(frames.shape[1:3]) > max_side:
        frames = np.stack([resize_long_side(f, max_side) for f in frames])
    # a fast octree palette per frame (PIL's default median cut is ~100x slower on photos)
    images = [Image.fromarray(f).quantize(256, method=Image.Quantize.FASTOCTREE) for f in frames]
    path = Path(path)
    with atomic_path(path, suffix=".gif") as tmp:
        images[0].save(tmp, format="GIF", save_all=True, append_images=images[1:],
                       duration=max(20, round(1000 / fps)), loop=0, optimize=False)
    return path


def write_frame_folder(frames, folder: str | Path, frame_names: Sequence[str] | None = None,
                       ext: str = ".jpg") -> list[Path]:
    """(T, H, W, 3) uint8 RGB → ``<folder>/<name><ext>`` (default names ``00000``, ...), each written atomically."""
    frames = _check_frames(frames)
    names = list(frame_names) if frame_names is not None else [f"{t:05d}" for t in range(len(frames))]
    if len(names) != len(frames):
        raise ValueError(f"got {len(names)} frame names for {len(frames)} frames")
    params = [cv2.IMWRITE_JPEG_QUALITY, 95] if ext.lower() in (".jpg", ".jpeg") else []
    paths = []
    for name, frame in zip(names, frames):
        path = Path(folder) / f"{name}{ext}"
        with atomic_path(path) as tmp:
            if not cv2.imwrite(str(tmp), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR), params):
                raise OSError(f"could not write {path}")
        paths.append(path)
    return paths
