"""Depth pseudo-labels d of eq. 2 behind one interface: true depth (synthetic), precomputed maps, or a
Hugging Face depth estimator (ZoeDepth / DPT / Depth Anything; the paper's Table 2 compares estimators).

Every source returns depth in (0, 1] per video, larger = farther, 0 = invalid — the target of the depth
decoder's sigmoid output (the official code trains ``sigmoid(D_d(E_v(v)))`` against the stored map).
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F

DEPTH_SOURCES = ("gt", "precomputed", "transformers")
EPS = 1e-3


def normalize_depth(d, invert: bool = False, eps: float = EPS) -> np.ndarray:
    """One video's depth (T, H, W) → (eps, 1] by its maximum; 0 where invalid (non-finite or ≤ 0).

    ``invert=True`` treats ``d`` as disparity-like (relative inverse depth of DPT / Depth Anything / MiDaS,
    MonoDepth2's disparity): depth = 1 / disparity, with disparity floored at ``eps`` of its maximum.
    """
    d = np.asarray(d, dtype=np.float32)
    finite = np.isfinite(d)
    if invert:
        disp = np.clip(np.where(finite, d, 0.0), 0.0, None)
        top = float(disp.max()) if disp.size else 0.0
        if top <= 0:
            return np.where(finite, 1.0, 0.0).astype(np.float32)  # no parallax cue: everything equally far
        depth = eps / np.maximum(disp / top, eps)  # nearest → eps, disparity ≤ eps·max → 1
        return np.where(finite, depth, 0.0).astype(np.float32)
    valid = finite & (d > 0)
    if not valid.any():
        return np.zeros_like(d)
    depth = np.clip(d / float(d[valid].max()), eps, 1.0)
    return np.where(valid, depth, 0.0).astype(np.float32)


def depth_labels(source: str, video_frames: np.ndarray, gt=None, root=None, name=None, model=None,
                 invert: bool | None = None, device=None) -> np.ndarray:
    """Depth pseudo-labels (T, H, W) float32 in (0, 1] for one video's (T, H, W, 3) uint8 frames.

    ``gt``: the synthetic true depth; ``precomputed``: ``<root>/Depth/<name>/*.png`` (8/16-bit, e.g. the official
    release's MonoDepth2 maps; ``invert=True`` if they are disparity); ``transformers``: ``model`` is a model id,
    a loaded ``AutoModelForDepthEstimation`` or a :class:`TransformersDepth`.
    """
    frames = np.asarray(video_frames)
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"video_frames must be (T, H, W, 3), got {frames.shape}")
    t, h, w = frames.shape[:3]
    if source == "gt":
        if gt is None:
            raise ValueError("depth source 'gt' needs the true depth (gt=...), which only the synthetic benchmark has; "
                             "for real videos use 'precomputed' or 'transformers'")
        gt = np.asarray(gt, dtype=np.float32)
        if gt.shape != (t, h, w):
            raise ValueError(f"true depth has shape {gt.shape}, expected {(t, h, w)} like the frames")
        return np.where(np.isfinite(gt) & (gt > 0), np.clip(gt, EPS, 1.0), 0.0).astype(np.float32)
    if source == "precomputed":
        if root is None or name is None:
            raise ValueError("depth source 'precomputed' needs root= and name= (reads <root>/Depth/<name>/*.png)")
        raw = read_precomputed(root, name, (t, h, w))
        finite = raw[np.isfinite(raw)]
        if finite.size == 0 or float(finite.max()) == float(finite.min()):
            value = "no finite value" if finite.size == 0 else f"the single value {float(finite.max()):g}"
            raise ValueError(f"precomputed depth of video {name!r} ({Path(root) / 'Depth' / name}) holds {value} "
                             "in every pixel: it carries no depth; expected maps that vary (16-bit PNG, "
                             "round(depth*65535), 0 = invalid)")
        return normalize_depth(raw, invert=bool(invert))
    if source == "transformers":
        estimator = model if isinstance(model, TransformersDepth) else TransformersDepth(model, device=device)
        return estimator.labels(frames, invert=invert)
    raise ValueError(f"unknown depth source {source!r}; choose one of {DEPTH_SOURCES}")


def read_precomputed(root, name: str, shape: tuple[int, int, int]) -> np.ndarray:
    """``<root>/Depth/<name>/*.png`` (one per frame, any size) resized to the frames' (T, H, W); raw values."""
    from dattt_nb.data.layout import DEPTH, frame_files, image_files, kind_dir, read_depth

    folder = kind_dir(root, DEPTH) / name
    stems = [p.stem for p in frame_files(root, name)]
    files = {p.stem: p for p in image_files(folder)}
    missing = [s for s in stems if s not in files]
    if missing:
        raise FileNotFoundError(f"precomputed depth for video {name!r}: {folder} has {len(files)} map(s), expected "
                                f"{len(stems)} (one per frame, named like the frames); missing e.g. {missing[0]}.png")
    t, h, w = shape
    if len(stems) != t:
        raise ValueError(f"video {name!r} has {len(stems)} frames on disk but {t} were given")
    maps = [read_depth(files[s]) for s in stems]
    return np.stack([m if m.shape == (h, w) else cv2.resize(m, (w, h), interpolation=cv2.INTER_LINEAR)
                     for m in maps])


def _transformers():
    try:
        import transformers
    except ImportError as err:
        raise ImportError("depth source 'transformers' needs the transformers package: pip install "
                          "'dattt-nb[depth]' (or pip install transformers), or use --depth precomputed:DIR") from err
    return transformers


class TransformersDepth:
    """A Hugging Face depth estimator run frame by frame (ZoeDepth / DPT / Depth Anything; paper Table 2)."""

    def __init__(self, model="Intel/dpt-hybrid-midas", processor=None, device=None, batch_size: int = 4,
                 allow_download: bool = False):
        tf = _transformers()
        if model is None:
            model = "Intel/dpt-hybrid-midas"
        if isinstance(model, (str, Path)):
            local = not allow_download  # never reach the hub unless allowed: no retries offline
            try:
                processor = processor or tf.AutoImageProcessor.from_pretrained(str(model), local_files_only=local)
                model = tf.AutoModelForDepthEstimation.from_pretrained(str(model), local_files_only=local)
            except OSError as err:
                raise FileNotFoundError(
                    f"depth model {str(model)!r} is not in the Hugging Face cache or a local folder: pass "
                    "--allow-download (allow_download=True) to fetch it once, or give a local folder as "
                    "transformers:/path/to/model, or use --depth precomputed:DIR") from err
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.model = model.eval().to(self.device)
        self.processor = processor
        self.batch_size = batch_size
        # DPT / Depth Anything / MiDaS predict relative inverse depth; ZoeDepth predicts metric depth.
        self.inverse = getattr(model.config, "model_type", "") != "zoedepth"

    def _pixels(self, batch: np.ndarray) -> torch.Tensor:
        if self.processor is not None:
            return self.processor(images=list(batch), return_tensors="pt")["pixel_values"]
        size = int(getattr(self.model.config, "image_size", 384) or 384)
        x = torch.from_numpy(batch).permute(0, 3, 1, 2).float().div(255.0)
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
        return (x - 0.5) / 0.5

    @torch.no_grad()
    def __call__(self, frames: np.ndarray) -> np.ndarray:
        """Raw model output (T, H, W) float32 at the frames' size."""
        frames = np.asarray(frames)
        t, h, w = frames.shape[:3]
        out = []
        for i in range(0, t, self.batch_size):
            batch = frames[i:i + self.batch_size]
            outputs = self.model(pixel_values=self._pixels(batch).to(self.device))
            post = getattr(self.processor, "post_process_depth_estimation", None)
            if post is not None:
                pred = torch.stack([r["predicted_depth"] for r in post(outputs, target_sizes=[(h, w)] * len(batch))])
            else:
                pred = F.interpolate(outputs.predicted_depth[:, None], size=(h, w), mode="bicubic",
                                     align_corners=False)[:, 0]
            out.append(pred.float().cpu())
        return torch.cat(out).numpy()

    def labels(self, frames: np.ndarray, invert: bool | None = None) -> np.ndarray:
        """Depth pseudo-labels in (0, 1] for one video (inverse-depth models are inverted)."""
        return normalize_depth(self(frames), invert=self.inverse if invert is None else invert)
