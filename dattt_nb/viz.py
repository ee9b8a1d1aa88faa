"""Pictures: mask overlays, depth colour maps, colour-coded flow, one row per video, methods side by side."""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

# One colour convention across the series: ground truth green, a prediction (with TTT) red, No TTT blue.
COLORS = {"result": (1.0, 0.15, 0.15), "baseline": (0.2, 0.5, 1.0), "gt": (0.1, 0.9, 0.2)}
GT_COLOR, PRED_COLOR = COLORS["gt"], COLORS["result"]


def to_hwc(img) -> np.ndarray:
    """An image as (H, W, 3) float in [0, 1], from numpy or torch, (3, H, W) or (H, W, 3), uint8 or float."""
    arr = img.detach().cpu().numpy() if hasattr(img, "detach") else np.asarray(img)
    if arr.ndim == 3 and arr.shape[0] in (1, 3) and arr.shape[-1] not in (1, 3):
        arr = np.moveaxis(arr, 0, -1)
    if arr.ndim == 2:
        arr = arr[..., None]
    if arr.shape[-1] == 1:
        arr = np.repeat(arr, 3, axis=-1)
    arr = arr.astype(np.float32) / 255.0 if arr.dtype == np.uint8 else arr.astype(np.float32)
    return np.clip(arr, 0.0, 1.0)


def _np(x) -> np.ndarray:
    return x.detach().cpu().numpy() if hasattr(x, "detach") else np.asarray(x)


def overlay(frame, mask, color=COLORS["result"], alpha: float = 0.5) -> np.ndarray:
    """Frame with the mask tinted in ``color`` and its outline drawn opaque: (H, W, 3) float."""
    from skimage.segmentation import find_boundaries

    out = to_hwc(frame).copy()
    m = _np(mask).astype(bool)
    if m.shape != out.shape[:2]:
        raise ValueError(f"mask is {m.shape}, frame is {out.shape[:2]}")
    c = np.asarray(color, np.float32)
    out[m] = (1 - alpha) * out[m] + alpha * c
    out[find_boundaries(m, mode="inner")] = c
    return out


def depth_to_rgb(depth, cmap: str = "magma", vmin: float = 0.0, vmax: float = 1.0) -> np.ndarray:
    """Depth (H, W) → (H, W, 3) float via a matplotlib colour map (near = dark); invalid (≤ 0) pixels black."""
    import matplotlib

    d = _np(depth).astype(np.float32)
    rgb = matplotlib.colormaps[cmap](np.clip((d - vmin) / max(vmax - vmin, 1e-8), 0, 1))[..., :3]
    rgb[~(d > 0)] = 0.0
    return rgb.astype(np.float32)


def video_panels(video, t: int) -> dict[str, np.ndarray | None]:
    """Frame, mask, colour-coded flow and depth of frame ``t`` of a layout ``Video`` or a ``SyntheticVideo``."""
    from dattt_nb.data.flow import flow_to_rgb

    frame = to_hwc(video.frames[t])
    mask = None if video.masks is None else _np(video.masks[t]).astype(bool)
    flow = getattr(video, "flow", None)
    if flow is not None:
        f = _np(flow[t])
        flow = to_hwc(flow_to_rgb(f)) if f.shape[-1] == 2 else to_hwc(f)
    depth = getattr(video, "depth", None)
    depth = None if depth is None else _np(depth[t])
    annotated = getattr(video, "annotated", None)
    labelled = True if annotated is None else bool(_np(annotated)[t])
    return dict(frame=frame, mask=mask, flow=flow, depth=depth, annotated=labelled)


def show_video_row(video, t: int = 0, axes=None, title: str | None = None, color=COLORS["gt"]):
    """One row: frame | mask overlay | colour-coded flow | depth (titled panels); returns the figure."""
    import matplotlib.pyplot as plt

    if not 0 <= t < len(video):
        raise IndexError(f"frame {t} out of range for {video.name} ({len(video)} frames)")
    p = video_panels(video, t)
    if axes is None:
        fig, axes = plt.subplots(1, 4, figsize=(10, 2.8), squeeze=True)
    fig = axes[0].figure
    blank = np.zeros_like(p["frame"])
    mask_title = "mask" if p["annotated"] else "mask (not annotated)"
    panels = [
        (p["frame"], f"{title or video.name} · t={t}"),
        (overlay(p["frame"], p["mask"], color) if p["mask"] is not None else p["frame"],
         mask_title if p["mask"] is not None else "no masks"),
        (p["flow"] if p["flow"] is not None else blank, "flow t→t+1" if p["flow"] is not None else "no flow"),
        (depth_to_rgb(p["depth"]) if p["depth"] is not None else blank,
         "depth (dark = near)" if p["depth"] is not None else "no depth"),
    ]
    for ax, (img, label) in zip(axes, panels):
        ax.imshow(img, interpolation="nearest")
        ax.set_title(label, fontsize=9)
        ax.axis("off")
    return fig


def contact_sheet(videos: Sequence, t: int | Sequence[int] | None = None, titles: Sequence[str] | None = None,
                  height: float = 2.4):
    """One :func:`show_video_row` per video (middle frame by default); returns the figure."""
    import matplotlib.pyplot as plt

    videos = list(videos)
    if not videos:
        raise ValueError("contact_sheet needs at least one video")
    ts = [len(v) // 2 for v in videos] if t is None else [t] * len(videos) if np.isscalar(t) else list(t)
    fig, axes = plt.subplots(len(videos), 4, figsize=(10, height * len(videos)), squeeze=False)
    for i, (v, ti) in enumerate(zip(videos, ts)):
        show_video_row(v, min(ti, len(v) - 1), axes=axes[i], title=titles[i] if titles else None)
    fig.tight_layout()
    return fig


def hold_span(ax, values, span: float, axis: str = "y") -> tuple[float, float]:
    """Give an axis at least ``span`` between its ends, centred on ``values``, so that a change of a fraction of a
    point is drawn as small as it is (matplotlib otherwise stretches any difference to fill the panel).

    Returns the limits set; a wider range of ``values`` (plus a margin) is kept as it is.
    """
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return (ax.get_ylim() if axis == "y" else ax.get_xlim())
    low, high = float(v.min()), float(v.max())
    margin = 0.05 * (high - low)
    low, high = low - margin, high + margin
    if high - low < span:
        mid = (low + high) / 2
        low, high = mid - span / 2, mid + span / 2
    (ax.set_ylim if axis == "y" else ax.set_xlim)(low, high)
    return low, high


def shade_noise_band(ax, half_width: float, label: str | None = None, axis: str = "y"):
    """Shade ``±half_width`` around zero: changes inside it are within the noise (e.g. of a split of a few videos)."""
    span = ax.axhspan if axis == "y" else ax.axvspan
    return span(-half_width, half_width, color="0.85", alpha=0.6, zorder=0, lw=0,
                label=label or f"within noise (±{half_width:g})")


# --- masks of several methods over a video's frames ----------------------------------------------

def overlay_frames(frames: np.ndarray, masks: np.ndarray, color=COLORS["result"], alpha: float = 0.45) -> np.ndarray:
    """(T, H, W, 3) uint8 frames with each mask tinted and outlined (:func:`overlay`) → uint8."""
    return np.stack([(overlay(f, m, color, alpha) * 255).round().astype(np.uint8) for f, m in zip(frames, masks)])


def outline_masks(frames: np.ndarray, masks: np.ndarray, color=COLORS["gt"]) -> np.ndarray:
    """(T, H, W, 3) uint8 frames with each mask's outer outline drawn 2 px wide in ``color`` (a copy)."""
    import cv2
    from skimage.segmentation import find_boundaries

    out = frames.copy()
    rgb = (np.asarray(color) * 255).astype(np.uint8)
    for img, m in zip(out, masks):
        edge = find_boundaries(m, mode="outer")
        img[cv2.dilate(edge.astype(np.uint8), np.ones((2, 2), np.uint8)) > 0] = rgb
    return out


def label_image(img: np.ndarray, text: str) -> None:
    """Write ``text`` in the top-left corner of an RGB uint8 image, in place (white on a dark box)."""
    import cv2

    scale = max(0.35, img.shape[0] / 480)
    thick = max(1, round(scale * 1.5))
    (w, h), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thick)
    cv2.rectangle(img, (0, 0), (w + 8, h + base + 8), (0, 0, 0), -1)
    cv2.putText(img, text, (4, h + 4), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), thick, cv2.LINE_AA)


def side_by_side(frames: np.ndarray, masks_by_label: Mapping[str, np.ndarray], gt: np.ndarray | None = None,
                 max_side: int | None = None) -> np.ndarray:
    """One labelled overlay panel per entry of ``masks_by_label`` (e.g. No TTT | TTT-LTV), side by side.

    Returns (T, H, k·W, 3) uint8; the ground-truth outline is drawn in green on every panel when given;
    ``max_side`` shrinks each panel's long side first. Masks of another size are upsampled to the frames.
    """
    from dattt_nb.data.layout import upsample_masks
    from dattt_nb.data.video_file import resize_long_side

    if max_side and max(frames.shape[1:3]) > max_side:
        frames = np.stack([resize_long_side(f, max_side) for f in frames])
    hw = frames.shape[1:3]
    n = len(masks_by_label)
    colors = [COLORS["baseline"], COLORS["result"]] if n == 2 else [COLORS["result"]] * n  # No TTT blue, TTT red
    panels = []
    for (label, masks), color in zip(masks_by_label.items(), colors):
        panel = overlay_frames(frames, upsample_masks(masks, hw), color)
        if gt is not None:
            panel = outline_masks(panel, upsample_masks(gt, hw))
        for img in panel:
            label_image(img, label)
        panels.append(panel)
    return np.concatenate(panels, axis=2)


def compare_masks(frames: np.ndarray, masks_by_label: Mapping[str, np.ndarray], gt: np.ndarray | None = None,
                  indices: Sequence[int] | None = None, frame_names: Sequence[str] | None = None,
                  panel_height: float = 1.7):
    """A figure: one row per chosen frame, one overlay column per method (+ ground truth); returns the figure."""
    import matplotlib.pyplot as plt

    from dattt_nb.data.layout import upsample_masks

    T = len(frames)
    indices = list(indices) if indices is not None else sorted(set(np.linspace(0, T - 1, min(T, 4)).round().astype(int)))
    hw = frames.shape[1:3]
    colors = [COLORS["baseline"], COLORS["result"]] + [COLORS["result"]] * 8
    columns = [(label, upsample_masks(m, hw), c) for (label, m), c in zip(masks_by_label.items(), colors)]
    if gt is not None:
        columns.append(("ground truth", upsample_masks(gt, hw), COLORS["gt"]))
    aspect = hw[1] / hw[0]
    fig, axes = plt.subplots(len(indices), len(columns), squeeze=False,
                             figsize=(panel_height * aspect * len(columns), panel_height * len(indices)))
    for r, t in enumerate(indices):
        for c, (label, masks, color) in enumerate(columns):
            ax = axes[r, c]
            ax.imshow(overlay(frames[t], masks[t], color))
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(label, fontsize=10)
            if c == 0:
                ax.set_ylabel(f"frame {frame_names[t] if frame_names else t}", fontsize=9)
    fig.tight_layout()
    return fig


def plot_mask_grid(video, columns: dict, frames=None, color=COLORS["result"]):
    """Fig. 1 / Fig. 6 style: one row per frame; columns frame, ground truth, then each named (T, H, W) mask set
    as an overlay titled with its J; returns the figure."""
    import matplotlib.pyplot as plt

    from dattt_nb.metrics import jaccard

    frames = list(range(len(video))) if frames is None else list(frames)
    ncol = 2 + len(columns)
    fig, axes = plt.subplots(len(frames), ncol, figsize=(1.7 * ncol, 1.8 * len(frames)), squeeze=False)
    gt = video.masks.cpu().numpy().astype(bool)
    for r, t in enumerate(frames):
        img = to_hwc(video.frames[t])
        panels = [(img, f"{video.name} t={t}"), (overlay(img, gt[t], COLORS["gt"]), "ground truth")]
        for title, masks in columns.items():
            m = masks[t].cpu().numpy().astype(bool) if hasattr(masks, "cpu") else np.asarray(masks[t], bool)
            panels.append((overlay(img, m, color), f"{title}\nJ {jaccard(gt[t], m):.2f}"))
        for ax, (im, title) in zip(axes[r], panels):
            ax.imshow(im, interpolation="nearest")
            ax.set_title(title, fontsize=7)
            ax.axis("off")
    fig.tight_layout()
    return fig
