"""A user's clip as the network sees it: colour-coded flow estimated at a moderate size, and frames, flow (and
ground truth, for scoring) resized into a :class:`~dattt_nb.data.layout.Video` at the square input size (§4.1)."""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from dattt_nb.data.layout import Video, image_tensor
from dattt_nb.data.video_file import resize_long_side

FLOW_LONG_SIDE = 256  # flow is estimated on frames whose long side is this (at least the input size)


def flow_of_frames(frames: np.ndarray, method: str = "dis", long_side: int | None = FLOW_LONG_SIDE,
                 device=None, frame_names: Sequence[str] | None = None) -> np.ndarray:
    """Colour-coded forward flow (T, h, w, 3) uint8, estimated on frames scaled to ``long_side`` (aspect kept).

    A moderate size keeps DIS fast and its flow smooth; the colour image is later resized to the input, as the
    layout's readers do for a dataset's Flow PNGs. Method ``gt`` (synthetic only) falls back to ``dis``. Flow
    that is not finite (NaN/inf) is an error naming the frame.
    """
    from dattt_nb.data.flow import MIN_FLOW_SIDE, estimate_flow, flow_to_rgb

    method = "dis" if method == "gt" else method
    short, long = min(frames.shape[1:3]), max(frames.shape[1:3])
    if long_side and method in MIN_FLOW_SIDE and short * long_side < MIN_FLOW_SIDE[method] * long:
        long_side = -(-MIN_FLOW_SIDE[method] * long // short)  # never downscale below the method's minimum side
    if long_side and long_side < long:
        frames = np.stack([resize_long_side(f, long_side) for f in frames])
    flow = estimate_flow(frames, method, device=device)
    bad = np.flatnonzero(~np.isfinite(flow).reshape(len(flow), -1).all(axis=1))
    if len(bad):
        names = frame_names or [f"{t:05d}" for t in range(len(flow))]
        raise ValueError(f"the {method} flow of frame(s) {', '.join(names[t] for t in bad[:10])} is not finite "
                         f"(NaN/inf); check those frames or choose another flow_method")
    return flow_to_rgb(flow)


def to_video(name: str, frames: np.ndarray, flow_rgb: np.ndarray, frame_names: Sequence[str], size: int,
             gt: np.ndarray | None = None, annotated: np.ndarray | None = None) -> Video:
    """Frames, colour-coded flow (and ground truth, for scoring only) as a :class:`Video` at the square input size."""
    masks = None
    if gt is not None:
        masks = F.interpolate(torch.from_numpy(gt)[:, None].float(), size=(size, size), mode="nearest")[:, 0] > 0.5
    ann = None if annotated is None or np.all(annotated) else torch.from_numpy(np.asarray(annotated, bool))
    return Video(name=name, frames=image_tensor(frames, size), masks=masks,
                 flow=image_tensor(flow_rgb, size), depth=None, frame_names=list(frame_names), annotated=ann)
