"""Optical flow behind one interface: OpenCV DIS (default), Farneback, torchvision RAFT (§5.2 uses RAFT).

The flow encoder E_f consumes *colour-coded* flow (:func:`flow_to_rgb`, as two-stream ZSVOS models do), and it
consumes *estimated* flow on every split, real or synthetic, so training and testing see the same kind of input.
"""
from __future__ import annotations

import math
import os
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F

FLOW_METHODS = ("dis", "farneback", "raft_small", "raft_large", "gt")
RAFT_WEIGHTS_ENV = "DATTT_RAFT_WEIGHTS"  # optional path to a local RAFT state dict


# the smallest frame side the OpenCV methods handle (measured with opencv 5.1: DIS crashes or returns NaN below
# 16 px, 8x8 raises; Farneback works at 8 px)
MIN_FLOW_SIDE = {"dis": 16, "farneback": 8}


def check_flow_size(h: int, w: int, method: str) -> None:
    """Frames of ``h`` x ``w`` must be large enough for ``method`` (:data:`MIN_FLOW_SIDE`), else a clear error."""
    if method in MIN_FLOW_SIDE and min(h, w) < MIN_FLOW_SIDE[method]:
        raise ValueError(f"frames of {w}x{h} px are too small for {method} flow, which needs both sides >= "
                         f"{MIN_FLOW_SIDE[method]} px; use larger frames (e.g. --resize-long) or another "
                         "flow_method")


def estimate_flow(frames: np.ndarray, method: str = "dis", device=None, weights="default",
                  allow_download: bool = False, batch_size: int = 4) -> np.ndarray:
    """Forward flow t→t+1 of (T, H, W, 3) uint8 frames → (T, H, W, 2) float32 pixels; last frame repeats t-1→t.

    ``method``: ``dis`` | ``farneback`` (OpenCV, CPU, no weights) | ``raft_small`` | ``raft_large`` (torchvision;
    ``weights``: "default" = the torch-hub cache or ``$DATTT_RAFT_WEIGHTS``, a local file, or None = random init).
    """
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"frames must be (T, H, W, 3) uint8, got {frames.shape} {frames.dtype}")
    if method == "gt":
        raise ValueError("flow method 'gt' (true flow) exists only for the synthetic benchmark; "
                         "dattt_nb.data.prepare.compute_flow reads it from FlowGT/")
    t, h, w = frames.shape[:3]
    if t < 2:
        return np.zeros((t, h, w, 2), np.float32)
    check_flow_size(h, w, method)
    if method in ("dis", "farneback"):
        pairs = _opencv_flow(frames, method)
    elif method in ("raft_small", "raft_large"):
        pairs = _raft_flow(frames, method, device, weights, allow_download, batch_size)
    else:
        raise ValueError(f"unknown flow method {method!r}; choose one of {FLOW_METHODS}")
    return np.concatenate([pairs, pairs[-1:]]).astype(np.float32)


def _opencv_flow(frames: np.ndarray, method: str) -> np.ndarray:
    """DIS (Kroeger et al. 2016, preset MEDIUM) or Farneback flow between consecutive grayscale frames."""
    gray = [cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in frames]
    if method == "dis":
        dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
        calc = lambda a, b: dis.calc(a, b, None)  # noqa: E731
    else:
        calc = lambda a, b: cv2.calcOpticalFlowFarneback(a, b, None, 0.5, 3, 15, 3, 5, 1.2, 0)  # noqa: E731
    return np.stack([calc(a, b) for a, b in zip(gray[:-1], gray[1:])])


# --- RAFT (torchvision) -------------------------------------------------------------------------

def raft_weights_path(method: str = "raft_large") -> Path:
    """Where torch hub caches torchvision's RAFT checkpoint for ``method`` (it may not exist)."""
    enum = _raft_enum(method)
    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(enum.DEFAULT.url)


def _raft_enum(method: str):
    from torchvision.models.optical_flow import Raft_Large_Weights, Raft_Small_Weights

    return {"raft_small": Raft_Small_Weights, "raft_large": Raft_Large_Weights}[method]


def load_raft(method: str = "raft_large", weights="default", allow_download: bool = False) -> torch.nn.Module:
    """torchvision RAFT with weights from a local file or the torch-hub cache; never downloads unless allowed."""
    from torchvision.models import optical_flow

    build = getattr(optical_flow, method)
    if weights is None:
        return build(weights=None).eval()
    if weights == "default":
        local = os.environ.get(RAFT_WEIGHTS_ENV)
        weights = Path(local) if local else raft_weights_path(method)
        if not weights.is_file():
            if allow_download:
                return build(weights=_raft_enum(method).DEFAULT, progress=True).eval()
            url = _raft_enum(method).DEFAULT.url
            raise FileNotFoundError(
                f"{method} weights not found at {weights}: download {url} and put it there (or point "
                f"${RAFT_WEIGHTS_ENV} at it), or pass --allow-download (allow_download=True), or use --flow dis "
                "(no weights)")
    path = Path(weights)
    if not path.is_file():
        raise FileNotFoundError(f"{method} weights file {path} does not exist")
    model = build(weights=None)
    model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    return model.eval()


@torch.no_grad()
def _raft_flow(frames, method, device, weights, allow_download, batch_size) -> np.ndarray:
    """RAFT needs sides divisible by 8 (and ≥ 128 px to have a 4-level correlation pyramid): upsample, pad, crop."""
    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    model = load_raft(method, weights, allow_download).to(device)
    t, h, w = frames.shape[:3]
    scale = max(1, math.ceil(128 / min(h, w)))
    sh, sw = h * scale, w * scale
    ph, pw = (-sh) % 8, (-sw) % 8
    x = torch.from_numpy(frames).permute(0, 3, 1, 2).float().div(255.0).mul(2).sub(1)  # RAFT expects [-1, 1]
    out = []
    for i in range(0, t - 1, batch_size):
        j = min(i + batch_size, t - 1)
        pair = [x[i:j], x[i + 1:j + 1]]
        pair = [F.interpolate(p, size=(sh, sw), mode="bilinear", align_corners=False) if scale > 1 else p
                for p in pair]
        pair = [F.pad(p, (0, pw, 0, ph), mode="replicate").to(device) for p in pair]
        flow = model(*pair)[-1][:, :, :sh, :sw]
        if scale > 1:
            flow = F.interpolate(flow, size=(h, w), mode="bilinear", align_corners=False) / scale
        out.append(flow.permute(0, 2, 3, 1).float().cpu())
    return torch.cat(out).numpy()


# --- colour coding and error --------------------------------------------------------------------

def flow_to_rgb(flow) -> np.ndarray:
    """Flow (T, H, W, 2) or (H, W, 2) → uint8 RGB with ``torchvision.utils.flow_to_image``, normalised per frame."""
    from torchvision.utils import flow_to_image

    arr = torch.as_tensor(np.asarray(flow, dtype=np.float32))
    single = arr.ndim == 3
    if single:
        arr = arr[None]
    if arr.ndim != 4 or arr.shape[-1] != 2:
        raise ValueError(f"flow must be (T, H, W, 2) or (H, W, 2), got {tuple(np.shape(flow))}")
    rgb = torch.stack([flow_to_image(f.permute(2, 0, 1).contiguous()) for f in arr]).permute(0, 2, 3, 1).numpy()
    return rgb[0] if single else rgb


def endpoint_error(pred, true, valid=None) -> float:
    """Mean end-point error ‖pred − true‖₂ in pixels over ``valid`` pixels (all by default)."""
    pred, true = np.asarray(pred, np.float32), np.asarray(true, np.float32)
    if pred.shape != true.shape:
        raise ValueError(f"flow shapes differ: {pred.shape} vs {true.shape}")
    err = np.linalg.norm(pred - true, axis=-1)
    return float(err[valid].mean() if valid is not None else err.mean())
