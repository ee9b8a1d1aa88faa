"""Segment a user's video end to end: frames → optical flow → the two-stream model → TTT (§4.2) → masks.

:func:`segment_video` reads a folder of frames or a video file, estimates flow (``settings.flow_method``) and
colour-codes it (the flow encoder's input, §4.1), resizes frames and flow to the network's square input, runs a
TTT strategy of Fig. 4 (or none) through :func:`dattt_nb.ttt.runner.run_ttt`, upsamples the masks to the frame
size and writes one 0/255 PNG per frame, an overlay GIF and MP4, and ``segment.json`` (J/F with ground truth).
"""
from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from dattt_nb.config import Settings, pick_device
from dattt_nb.data.layout import MASKS, FRAMES, Video, image_files, kind_dir, read_mask
from dattt_nb.data.video_file import DEFAULT_FPS, read_video, resize_long_side, video_fps, write_gif, write_mp4
from dattt_nb.train.checkpoint import trained_on
from dattt_nb.utils import atomic_path, atomic_write_json, progress_disabled

# command-line names of the TTT strategies (Fig. 4) → the runner's names
TTT_STRATEGIES = {"none": "none", "n": "naive", "mwi": "momentum", "ltv": "loop"}
FLOW_LONG_SIDE = 256  # flow is estimated on frames whose long side is this (at least the input size)
COLORS = {"result": (1.0, 0.15, 0.15), "baseline": (0.2, 0.5, 1.0), "gt": (0.1, 0.9, 0.2)}


@dataclass
class SegmentResult:
    """What :func:`segment_video` produced: masks at the frame size, inputs, scores, timings and files."""

    name: str
    source: str
    frame_names: list[str]
    frames: np.ndarray  # (T, H, W, 3) uint8 RGB, as read
    flow_rgb: np.ndarray  # (T, h, w, 3) uint8 colour-coded flow t→t+1 at the flow size
    masks: np.ndarray  # (T, H, W) bool: the result (TTT strategy ``ttt``)
    ttt: str  # none | n | mwi | ltv
    strategy: str  # the runner's name: none | naive | momentum | loop
    label: str  # "No TTT", "TTT-N", "TTT-MWI", "TTT-LTV"
    epochs: int
    video: Video  # network-size tensors that went into the model
    baseline_masks: np.ndarray | None = None  # (T, H, W) bool without TTT (when computed)
    gt: np.ndarray | None = None  # (T, H, W) bool ground truth, when given
    annotated: np.ndarray | None = None  # (T,) bool: frames that have ground truth
    metrics: dict | None = None  # J, F, JF, recall, decay, per-frame lists of the result
    baseline_metrics: dict | None = None  # the same without TTT
    timing: dict = field(default_factory=dict)  # seconds per stage
    out_dir: Path | None = None
    files: dict = field(default_factory=dict)  # name → path of what was written
    ttt_result: object | None = None  # dattt_nb.ttt.runner.TTTResult of the result

    def __len__(self) -> int:
        return len(self.frames)

    @property
    def mask_area(self) -> np.ndarray:
        """(T,) fraction of each frame's pixels inside the mask."""
        return self.masks.reshape(len(self.masks), -1).mean(axis=1)

    def table(self):
        """J and F (mean, recall, decay) of no TTT vs the result, a pandas DataFrame (empty without ground truth)."""
        import pandas as pd

        rows = {}
        if self.baseline_metrics is not None:
            rows["No TTT"] = _scalars(self.baseline_metrics)
        if self.metrics is not None:
            rows[self.label] = _scalars(self.metrics)
        return pd.DataFrame.from_dict(rows, orient="index")


# --- stages ---------------------------------------------------------------------------------------

def strategy_for(ttt: str) -> str:
    """A command-line TTT name (none | n | mwi | ltv) or a runner name (none | naive | momentum | loop) → runner name."""
    key = str(ttt).lower()
    if key in TTT_STRATEGIES:
        return TTT_STRATEGIES[key]
    if key in TTT_STRATEGIES.values():
        return key
    raise ValueError(f"unknown TTT strategy {ttt!r}; choose one of {sorted(TTT_STRATEGIES)} "
                     "(none, n = TTT-N, mwi = TTT-MWI, ltv = TTT-LTV)")


def compute_flow(frames: np.ndarray, method: str = "dis", long_side: int | None = FLOW_LONG_SIDE,
                 device=None) -> np.ndarray:
    """Colour-coded forward flow (T, h, w, 3) uint8, estimated on frames scaled to ``long_side`` (aspect kept).

    A moderate size keeps DIS fast and its flow smooth; the colour image is later resized to the input, as the
    layout's readers do for a dataset's Flow PNGs. Method ``gt`` (synthetic only) falls back to ``dis``.
    """
    from dattt_nb.data.flow import estimate_flow, flow_to_rgb

    if long_side and long_side < max(frames.shape[1:3]):
        frames = np.stack([resize_long_side(f, long_side) for f in frames])
    method = "dis" if method == "gt" else method
    return flow_to_rgb(estimate_flow(frames, method, device=device))


def _images_to_tensor(images: np.ndarray, size: int) -> torch.Tensor:
    """(T, H, W, 3) uint8 → (T, 3, size, size) float in [0, 1] (bilinear, antialiased), in chunks."""
    out = []
    for i in range(0, len(images), 32):
        x = torch.from_numpy(np.ascontiguousarray(images[i:i + 32])).permute(0, 3, 1, 2).float().div_(255)
        out.append(F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True))
    return torch.cat(out).clamp_(0, 1)


def to_video(name: str, frames: np.ndarray, flow_rgb: np.ndarray, frame_names: Sequence[str], size: int,
             gt: np.ndarray | None = None, annotated: np.ndarray | None = None) -> Video:
    """Frames, colour-coded flow (and ground truth, for scoring only) as a :class:`Video` at the square input size."""
    masks = None
    if gt is not None:
        masks = F.interpolate(torch.from_numpy(gt)[:, None].float(), size=(size, size), mode="nearest")[:, 0] > 0.5
    ann = None if annotated is None or np.all(annotated) else torch.from_numpy(np.asarray(annotated, bool))
    return Video(name=name, frames=_images_to_tensor(frames, size), masks=masks,
                 flow=_images_to_tensor(flow_rgb, size), depth=None, frame_names=list(frame_names), annotated=ann)


def check_checkpoint(checkpoint: str | Path) -> Path:
    """``checkpoint`` as a Path; a clear FileNotFoundError when the file is missing."""
    path = Path(checkpoint)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist; pass a .pt written by dattt_nb.train "
                                f"(e.g. runs/<profile>/checkpoints/alpha+beta/best.pt) or omit it to load or "
                                f"train the profile's model")
    return path


def load_segmentation_model(settings: Settings, checkpoint: str | Path | None = None, progress: bool = True):
    """(model in eval mode, info): a checkpoint file (read with ``weights_only=True``) or ``load_or_train(settings)``."""
    device = pick_device(settings)
    if checkpoint is not None:
        from dattt_nb.train.checkpoint import load_model

        path = check_checkpoint(checkpoint)
        model, ckpt = load_model(path, device=device)
        config = ckpt.get("config", {})
        return model, dict(checkpoint=str(path), step=ckpt.get("step"), metrics=ckpt.get("metrics"),
                           variant=config.get("variant"), trained_on=trained_on(config),
                           synthetic=config.get("dataset", "synthetic") == "synthetic")
    from dattt_nb.train import load_or_train

    model, info = load_or_train(settings, progress=progress)
    keys = ("checkpoint", "variant", "step", "best_val_J", "trained_now", "trained_on")
    return model, {**{k: info.get(k) for k in keys}, "synthetic": settings.dataset == "synthetic"}


SYNTHETIC_MODEL_WARNING = ("warning: this model was trained only on synthetic clips, not on real video: expect poor "
                           "masks on real footage; for a real-data model run `dattt-nb prepare-real davis16-train "
                           "SRC data/davis16-train --depth precomputed:DIR` and `dattt-nb train --profile paper`, "
                           "then pass --checkpoint (see data/README.md)")


def announce_model(info: dict) -> None:
    """Say which checkpoint segments the video and what it was trained on; warn about a synthetic-only model."""
    import sys

    print(f"model: {info.get('checkpoint')} — trained on {info.get('trained_on')}")
    if info.get("synthetic"):
        print(SYNTHETIC_MODEL_WARNING, file=sys.stderr)


def input_size(model, settings: Settings) -> int:
    """The square side the model was built for (its config), else ``settings.image_size``."""
    config = getattr(model, "config", None)
    size = config.get("image_size") if isinstance(config, dict) else None
    return int(size or settings.image_size)


def upsample_masks(masks, hw: tuple[int, int], chunk: int = 16) -> np.ndarray:
    """(T, h, w) bool masks → (T, H, W) bool: bilinear on the 0/1 map, threshold 0.5 (smooth, not blocky, edges)."""
    masks = torch.as_tensor(masks)
    if tuple(masks.shape[-2:]) == tuple(hw):
        return masks.cpu().numpy().astype(bool)
    out = [F.interpolate(masks[i:i + chunk, None].float(), size=tuple(hw), mode="bilinear",
                         align_corners=False)[:, 0] > 0.5 for i in range(0, len(masks), chunk)]
    return torch.cat(out).cpu().numpy()


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
    unannotated (sparse ground truth, e.g. FBMS)."""
    folder = annotation_dir(gt, video)
    files = {p.stem: p for p in image_files(folder, (".png",))}
    present = [n for n in frame_names if n in files]
    if not present:
        raise ValueError(f"no mask in {folder} matches a frame name ({frame_names[0]} … {frame_names[-1]}); "
                         f"masks there are named e.g. {sorted(files)[:3]}: name them like the frames")
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


def score(gt: np.ndarray, annotated: np.ndarray, masks_small) -> dict:
    """J and F (DAVIS, §5.1) of network-size masks upsampled to the ground truth's size."""
    from dattt_nb.metrics import evaluate_video

    pred = upsample_masks(masks_small, gt.shape[1:])
    res = evaluate_video(gt, pred, annotated=None if annotated.all() else annotated)
    return {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in res.items()}


def _scalars(metrics: Mapping) -> dict:
    return {k: v for k, v in metrics.items() if isinstance(v, (int, float))}


# --- demo inputs ----------------------------------------------------------------------------------

DAVIS_MINI_ENV = "DATTT_DAVIS_MINI"


def davis_mini_root() -> Path | None:
    """The real DAVIS-16 sample beside the project (``$DATTT_DAVIS_MINI`` or ``../shared/data/davis16-mini``)."""
    import os

    from dattt_nb.config import project_root

    root = Path(os.environ.get(DAVIS_MINI_ENV, project_root().parent / "shared" / "data" / "davis16-mini"))
    return root if (root / FRAMES).is_dir() else None


def write_demo_clip(root: str | Path, settings: Settings, n_frames: int | None = None, size: int | None = None,
                    split: str = "davis", index: int = 0) -> Path:
    """Write one synthetic clip (frames + masks) in the DAVIS layout under ``root``; returns its frame folder.

    The stand-in for a real video when none is at hand: ``<root>/JPEGImages/<name>/`` and
    ``<root>/Annotations/<name>/`` (so ``gt_root="auto"`` finds the masks).
    """
    from dattt_nb.data.layout import write_frames, write_masks
    from dattt_nb.data.synthetic import generate_video

    clip_settings = dataclasses.replace(settings, image_size=int(size or max(settings.image_size, 96)),
                                        frames_per_video=int(n_frames or settings.frames_per_video))
    clip = generate_video(split, index, clip_settings)
    names = write_frames(root, clip.name, clip.frames)
    write_masks(root, clip.name, clip.masks, names)
    return Path(root) / FRAMES / clip.name


# --- pictures -------------------------------------------------------------------------------------

def overlay_frames(frames: np.ndarray, masks: np.ndarray, color=COLORS["result"], alpha: float = 0.45) -> np.ndarray:
    """(T, H, W, 3) uint8 frames with each mask tinted and outlined (:func:`dattt_nb.viz.overlay`) → uint8."""
    from dattt_nb.viz import overlay

    return np.stack([(overlay(f, m, color, alpha) * 255).round().astype(np.uint8) for f, m in zip(frames, masks)])


def side_by_side(frames: np.ndarray, masks_by_label: Mapping[str, np.ndarray], gt: np.ndarray | None = None,
                 max_side: int | None = None) -> np.ndarray:
    """One labelled overlay panel per entry of ``masks_by_label`` (e.g. No TTT | TTT-LTV), side by side.

    Returns (T, H, k·W, 3) uint8; the ground-truth outline is drawn in green on every panel when given;
    ``max_side`` shrinks each panel's long side first.
    """
    if max_side and max(frames.shape[1:3]) > max_side:
        frames = np.stack([resize_long_side(f, max_side) for f in frames])
    hw = frames.shape[1:3]
    colors = [COLORS["baseline"], COLORS["result"]] if len(masks_by_label) == 2 else [COLORS["result"]] * 9
    panels = []
    for (label, masks), color in zip(masks_by_label.items(), colors):
        panel = overlay_frames(frames, upsample_masks(masks, hw), color)
        if gt is not None:
            panel = _outline(panel, upsample_masks(gt, hw))
        for img in panel:
            _label(img, label)
        panels.append(panel)
    return np.concatenate(panels, axis=2)


def _outline(frames: np.ndarray, masks: np.ndarray, color=COLORS["gt"]) -> np.ndarray:
    from skimage.segmentation import find_boundaries

    out = frames.copy()
    rgb = (np.asarray(color) * 255).astype(np.uint8)
    for img, m in zip(out, masks):
        edge = find_boundaries(m, mode="outer")
        img[cv2.dilate(edge.astype(np.uint8), np.ones((2, 2), np.uint8)) > 0] = rgb
    return out


def _label(img: np.ndarray, text: str) -> None:
    """Write ``text`` in the top-left corner of an RGB uint8 image, in place (white on a dark box)."""
    scale = max(0.35, img.shape[0] / 480)
    thick = max(1, round(scale * 1.5))
    (w, h), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thick)
    cv2.rectangle(img, (0, 0), (w + 8, h + base + 8), (0, 0, 0), -1)
    cv2.putText(img, text, (4, h + 4), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), thick, cv2.LINE_AA)


def compare_masks(frames: np.ndarray, masks_by_label: Mapping[str, np.ndarray], gt: np.ndarray | None = None,
                  indices: Sequence[int] | None = None, frame_names: Sequence[str] | None = None,
                  panel_height: float = 1.7):
    """A figure: one row per chosen frame, one overlay column per method (+ ground truth); returns the figure."""
    import matplotlib.pyplot as plt

    T = len(frames)
    indices = list(indices) if indices is not None else sorted(set(np.linspace(0, T - 1, min(T, 4)).round().astype(int)))
    hw = frames.shape[1:3]
    columns = [(label, upsample_masks(m, hw), c) for (label, m), c in
               zip(masks_by_label.items(), [COLORS["baseline"], COLORS["result"]] + [COLORS["result"]] * 8)]
    if gt is not None:
        columns.append(("ground truth", upsample_masks(gt, hw), COLORS["gt"]))
    aspect = hw[1] / hw[0]
    fig, axes = plt.subplots(len(indices), len(columns), squeeze=False,
                             figsize=(panel_height * aspect * len(columns), panel_height * len(indices)))
    from dattt_nb.viz import overlay

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


# --- outputs --------------------------------------------------------------------------------------

def write_masks_png(masks: np.ndarray, folder: str | Path, frame_names: Sequence[str], progress: bool = False) -> Path:
    """One 0/255 PNG per frame, ``<folder>/<frame>.png``, each written atomically."""
    from tqdm.auto import tqdm

    folder = Path(folder)
    for name, m in tqdm(list(zip(frame_names, masks)), desc="write masks", unit="frame", disable=not progress,
                        leave=False):
        with atomic_path(folder / f"{name}.png") as tmp:
            if not cv2.imwrite(str(tmp), m.astype(np.uint8) * 255):
                raise OSError(f"could not write {folder / f'{name}.png'}")
    return folder


def write_outputs(result: SegmentResult, out_dir: str | Path, fps: float = DEFAULT_FPS, progress: bool = False,
                  gif_side: int = 480, compare_side: int = 360) -> dict[str, str]:
    """masks/<video>/<frame>.png (the layout ``dattt-nb eval --pred <out>/masks`` reads), overlay.gif, overlay.mp4
    (+ compare.gif with a baseline); segment.json is written by :func:`segment_video` once the timings are complete."""
    out = Path(out_dir)
    files = {"masks": str(write_masks_png(result.masks, out / "masks" / result.name, result.frame_names, progress))}
    overlay = overlay_frames(result.frames, result.masks)
    if result.gt is not None:
        overlay = _outline(overlay, result.gt if result.gt.shape[1:] == result.masks.shape[1:]
                           else upsample_masks(result.gt, result.masks.shape[1:]))
    files["overlay_gif"] = str(write_gif(overlay, out / "overlay.gif", fps, max_side=gif_side))
    files["overlay_mp4"] = str(write_mp4(overlay, out / "overlay.mp4", fps))
    if result.baseline_masks is not None:
        both = side_by_side(result.frames, {"No TTT": result.baseline_masks, result.label: result.masks},
                            gt=result.gt, max_side=compare_side)
        files["compare_gif"] = str(write_gif(both, out / "compare.gif", fps))
    files["json"] = str(out / "segment.json")
    result.files, result.out_dir = files, out
    return files


def summary(result: SegmentResult, settings=None, model_info=None, fps: float | None = None) -> dict:
    """JSON-ready record of a segmentation: inputs, settings, timings, per-frame mask areas, J/F."""
    from dattt_nb.utils import package_versions

    area = result.mask_area
    ttt = None
    if result.ttt_result is not None and result.ttt_result.videos:
        v = result.ttt_result.videos[0]
        ttt = dict(steps=v.steps, skipped=v.skipped, nonfinite=v.nonfinite, seconds=v.seconds,
                   losses=v.losses, depth_std_frames=np.asarray(v.depth_std_frames).tolist()
                   if v.depth_std_frames is not None else None)
    return dict(
        video=result.name, source=result.source, frames=len(result), frame_names=result.frame_names,
        frame_size=list(result.frames.shape[1:3]), input_size=int(result.video.frames.shape[-1]),
        flow_size=list(result.flow_rgb.shape[1:3]), fps=fps,
        ttt=result.ttt, strategy=result.strategy, label=result.label, epochs=result.epochs,
        model=model_info, settings=settings.to_dict() if settings is not None else None,
        timing=result.timing, mask_area=[float(a) for a in area],
        mask_pixels=[int(m.sum()) for m in result.masks],
        metrics=result.metrics, no_ttt_metrics=result.baseline_metrics, ttt_run=ttt,
        files=result.files, versions=package_versions(),
    )


# --- the whole thing ------------------------------------------------------------------------------

def segment_video(source: str | Path, settings: Settings, checkpoint: str | Path | None = None, ttt: str = "ltv",
                  epochs: int | None = None, out_dir: str | Path | None = None, gt_root: str | Path | None = None,
                  progress: bool = True, *, model=None, max_frames: int | None = None,
                  resize_long: int | None = None, flow_long_side: int | None = FLOW_LONG_SIDE,
                  with_baseline: bool = True, fps: float | None = None) -> SegmentResult:
    """Segment the primary moving object of a video (ZSVOS) with the trained model and test-time training.

    ``source``: a folder of frames or a video file. ``checkpoint``: a stage-1 checkpoint (else ``model``, else
    ``load_or_train(settings)``). ``ttt``: none | n | mwi | ltv (Fig. 4), ``epochs`` default
    ``settings.ttt_epochs``. ``gt_root``: ground-truth masks named like the frames (a folder of PNGs or a DAVIS
    root; ``"auto"`` = the Annotations beside a DAVIS frame folder). ``with_baseline`` also predicts without TTT.
    ``flow_long_side``: flow is estimated at this long side (None = the frames' size). Writes masks, overlays and
    segment.json to ``out_dir`` when given.
    """
    from dattt_nb.ttt.runner import run_ttt
    from dattt_nb.ttt.strategies import STRATEGY_LABELS

    progress = progress and not progress_disabled()
    strategy = strategy_for(ttt)
    ttt = {v: k for k, v in TTT_STRATEGIES.items()}[strategy]
    epochs = 0 if strategy == "none" else settings.ttt_epochs if epochs is None else int(epochs)
    if strategy != "none" and epochs < 1:
        raise ValueError(f"TTT {ttt!r} needs epochs >= 1, got {epochs}")
    if checkpoint is not None:
        check_checkpoint(checkpoint)  # fail before any slow work
    source = Path(source)
    name = source.stem if source.is_file() else source.name
    timing: dict[str, float] = {}
    t0 = time.perf_counter()

    frames, names = read_video(source, max_frames=max_frames, resize_long=resize_long, progress=progress)
    gt = annotated = None
    if gt_root is not None and str(gt_root) == "auto":
        gt_root = find_annotations(source)
    if gt_root is not None and str(gt_root) != "":
        gt, annotated = read_annotations(gt_root, name, names)
    timing["read"] = time.perf_counter() - t0

    t = time.perf_counter()
    if model is None:
        model, model_info = load_segmentation_model(settings, checkpoint, progress)
        announce_model(model_info)
    else:
        model_info = dict(checkpoint=None, note="model passed in")
    size = input_size(model, settings)
    timing["model"] = time.perf_counter() - t

    t = time.perf_counter()
    device = pick_device(settings)
    flow_side = None if flow_long_side is None else max(flow_long_side, size)
    flow_rgb = compute_flow(frames, settings.flow_method, flow_side, device=device)
    video = to_video(name, frames, flow_rgb, names, size, gt, annotated)
    timing["flow"] = time.perf_counter() - t

    baseline = None
    if with_baseline and strategy != "none":
        t = time.perf_counter()
        baseline = run_ttt(model, [video], settings, strategy="none", epochs=0, progress=progress,
                           device=device).videos[0].masks
        timing["no_ttt"] = time.perf_counter() - t
    t = time.perf_counter()
    res = run_ttt(model, [video], settings, strategy=strategy, epochs=epochs, progress=progress, device=device)
    small = res.videos[0].masks
    timing["ttt" if strategy != "none" else "predict"] = time.perf_counter() - t

    hw = frames.shape[1:3]
    result = SegmentResult(
        name=name, source=str(source), frame_names=names, frames=frames, flow_rgb=flow_rgb,
        masks=upsample_masks(small, hw), ttt=ttt, strategy=strategy, label=STRATEGY_LABELS[strategy],
        epochs=epochs, video=video, baseline_masks=None if baseline is None else upsample_masks(baseline, hw),
        gt=gt, annotated=annotated, timing=timing, ttt_result=res)
    if gt is not None:
        result.metrics = score(gt, annotated, small)
        if baseline is not None:
            result.baseline_metrics = score(gt, annotated, baseline)
    fps = fps or video_fps(source)
    if out_dir is not None:
        t = time.perf_counter()
        write_outputs(result, out_dir, fps, progress=progress)
        timing["write"] = time.perf_counter() - t
    timing["total"] = time.perf_counter() - t0
    if out_dir is not None:
        atomic_write_json(Path(out_dir) / "segment.json", summary(result, settings, model_info, fps))
    return result
