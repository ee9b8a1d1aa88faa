"""Segment a user's video end to end: frames → optical flow → the two-stream model → TTT (§4.2) → masks.

:func:`segment_video` reads a folder of frames or a video file, estimates flow (``settings.flow_method``) and
colour-codes it (the flow encoder's input, §4.1), resizes frames and flow to the network's square input, runs a
TTT strategy of Fig. 4 (or none) through :func:`dattt_nb.ttt.runner.run_ttt`, upsamples the masks to the frame
size and writes one 0/255 PNG per frame, an overlay GIF and MP4, and ``segment.json`` (J/F with ground truth).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

import numpy as np

from dattt_nb.config import Settings, pick_device
from dattt_nb.data.clip import FLOW_LONG_SIDE, flow_of_frames, to_video
from dattt_nb.data.layout import Video, find_annotations, read_annotations, upsample_masks, write_mask_pngs
from dattt_nb.data.video_file import DEFAULT_FPS, long_side_size, read_video, video_fps, write_gif, write_mp4
from dattt_nb.models.dattt import input_size
from dattt_nb.train.checkpoint import trained_on
from dattt_nb.ttt.strategies import resolve_strategy
from dattt_nb.ttt.spec import TTTRun
from dattt_nb.utils import atomic_write_json, check_output, progress_disabled
from dattt_nb.viz import outline_masks, overlay_frames, side_by_side



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
    ttt_result: object | None = None  # dattt_nb.ttt.records.TTTResult of the result

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

def check_checkpoint(checkpoint: str | Path) -> Path:
    """``checkpoint`` as a Path; a clear error when the file is missing or is a directory."""
    path = Path(checkpoint)
    if path.is_dir():
        raise IsADirectoryError(f"checkpoint {path} is a directory, expected a .pt file (e.g. {path}/best.pt)")
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist; pass a .pt written by dattt_nb.train "
                                f"(e.g. runs/<profile>/checkpoints/alpha+beta/best.pt) or omit it to load or "
                                f"train the profile's model")
    return path


def load_segmentation_model(settings: Settings, checkpoint: str | Path | None = None, progress: bool = True,
                            image_size: int | None = None):
    """(model in eval mode, info): a checkpoint file (read with ``weights_only=True``; ``image_size`` replaces its
    recorded input side) or ``load_or_train(settings)``."""
    device = pick_device(settings)
    checkpoint = checkpoint or settings.checkpoint or None
    if checkpoint is not None:
        from dattt_nb.train.checkpoint import load_model

        path = check_checkpoint(checkpoint)
        model, ckpt = load_model(path, device=device, image_size=image_size)
        config = ckpt.get("config", {})
        return model, dict(checkpoint=str(path), step=ckpt.get("step"), metrics=ckpt.get("metrics"),
                           variant=config.get("variant"), trained_on=trained_on(config),
                           synthetic=config.get("dataset", "synthetic") == "synthetic")
    from dattt_nb.train import load_or_train

    model, info = load_or_train(settings, progress=progress)
    keys = ("checkpoint", "variant", "step", "best_val_J", "trained_now", "trained_on")
    return model, {**{k: info.get(k) for k in keys}, "synthetic": settings.dataset == "synthetic"}


SYNTHETIC_MODEL_WARNING = ("this model was trained only on synthetic clips, not on real video: expect poor "
                           "masks on real footage; for a real-data model run `dattt-nb prepare-real davis16-train "
                           "SRC data/davis16-train --depth precomputed:DIR` and `dattt-nb train --profile paper`, "
                           "then pass --checkpoint (see data/README.md)")


def announce_model(info: dict) -> None:
    """Say which checkpoint segments the video and what it was trained on; warn about a synthetic-only model."""
    from dattt_nb.utils import warn

    print(f"model: {info.get('checkpoint')} — trained on {info.get('trained_on')}")
    if info.get("synthetic"):
        warn(SYNTHETIC_MODEL_WARNING)


def check_gt_size(gt: np.ndarray, gt_root: str | Path, frames_hw: tuple[int, int], resize_long: int | None) -> None:
    """Ground truth must have the frames' size (before ``resize_long`` scaled them), as ``eval`` demands."""
    hw = tuple(gt.shape[1:3])
    if hw == tuple(frames_hw) or (resize_long and long_side_size(hw, resize_long) == tuple(frames_hw)):
        return
    note = f" before --resize-long {resize_long}" if resize_long else ""
    raise ValueError(f"ground-truth masks in {gt_root} are {hw[1]}x{hw[0]}, the frames are {frames_hw[1]}x"
                     f"{frames_hw[0]}{note}; expected masks of the frames' size")


def score(gt: np.ndarray, annotated: np.ndarray, masks_small) -> dict:
    """J and F (DAVIS, §5.1) of network-size masks upsampled to the ground truth's size."""
    from dattt_nb.metrics import evaluate_video

    pred = upsample_masks(masks_small, gt.shape[1:])
    res = evaluate_video(gt, pred, annotated=None if annotated.all() else annotated)
    return {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in res.items()}


def _scalars(metrics: Mapping) -> dict:
    return {k: v for k, v in metrics.items() if isinstance(v, (int, float))}


# --- outputs --------------------------------------------------------------------------------------

def video_outputs(out_dir: str | Path, name: str) -> tuple[Path, Path]:
    """(masks folder, record folder) of one video under ``out_dir``: ``masks/<video>/`` (what ``dattt-nb eval
    --pred <out>/masks`` reads) and ``<video>/`` (overlays and ``segment.json``): one place per video."""
    out = Path(out_dir)
    return out / "masks" / name, out / name


def write_outputs(result: SegmentResult, out_dir: str | Path, fps: float = DEFAULT_FPS, progress: bool = False,
                  gif_side: int = 480, compare_side: int = 360) -> dict[str, str]:
    """masks/<video>/<frame>.png (the layout ``dattt-nb eval --pred <out>/masks`` reads) and, in <video>/,
    overlay.gif, overlay.mp4 (+ compare.gif with a baseline); <video>/segment.json is written by
    :func:`segment_video` once the timings are complete."""
    masks_dir, out = video_outputs(out_dir, result.name)
    files = {"masks": str(write_mask_pngs(masks_dir, result.masks, result.frame_names, progress=progress))}
    overlay = overlay_frames(result.frames, result.masks)
    if result.gt is not None:
        overlay = outline_masks(overlay, result.gt if result.gt.shape[1:] == result.masks.shape[1:]
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
        ttt = dict(steps=v.steps, skipped=v.skipped, nonfinite=v.nonfinite, fallback=v.fallback, seconds=v.seconds,
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
                  with_baseline: bool = True, fps: float | None = None, allow_gaps: bool = False,
                  allow_nonfinite: bool = False, force: bool = False,
                  given: Mapping | None = None) -> SegmentResult:
    """Segment the primary moving object of a video (ZSVOS) with the trained model and test-time training.

    ``source``: a folder of frames or a video file. ``checkpoint``: a stage-1 checkpoint (else ``model``, else
    ``load_or_train(settings)``). ``ttt``: a strategy in any spelling (none | n | mwi | ltv | naive | TTT-N ...; Fig. 4), ``epochs`` default
    ``settings.ttt_epochs``. ``gt_root``: ground-truth masks named like the frames (a folder of PNGs or a DAVIS
    root; ``"auto"`` = the Annotations beside a DAVIS frame folder). ``with_baseline`` also predicts without TTT.
    ``flow_long_side``: flow is estimated at this long side (None = the frames' size). Writes masks, overlays and
    segment.json to ``out_dir`` when given. ``allow_gaps`` accepts numbered frames with gaps (a warning);
    ``allow_nonfinite`` keeps a TTT result that skipped many steps as non-finite (else an error).

    ``out_dir`` has one writer at a time; a video's earlier output there made from other inputs or settings is an
    error unless ``force``, which deletes that video's old masks, overlays and record first. ``given``: the
    settings the user overrode (``-p``), each applied or refused (:func:`check_given`).
    """
    progress = progress and not progress_disabled()
    record = resolve_strategy(ttt)  # any spelling: n | naive | TTT-N | ...
    strategy, ttt = record.name, record.short
    run = TTTRun.from_settings(settings, strategy=strategy, epochs=None if epochs is None else int(epochs))
    epochs = run.key().epochs  # No TTT: 0, whatever was asked
    if record.adapts and epochs < 1:
        raise ValueError(f"TTT {ttt!r} needs epochs >= 1, got {epochs}")
    if checkpoint is not None:  # fail before any slow work
        check_checkpoint(checkpoint)
    if out_dir is not None:
        check_output(out_dir, folder=True, what="output folder")
    check_given(given or {}, checkpoint)
    device = pick_device(settings)  # a device this machine cannot serve fails before any work
    source = Path(source)
    name = source.stem if source.is_file() else source.resolve().name  # `segment .` is named after the folder
    if out_dir is None:
        return _segment(source, name, settings, checkpoint, strategy, ttt, epochs, None, gt_root, progress, model,
                        max_frames, resize_long, flow_long_side, with_baseline, fps, allow_gaps, allow_nonfinite,
                        device, given or {}, None)
    from dattt_nb.guards import check_separate, output_lock

    if source.is_dir():
        check_separate(source, out_dir, "video folder", "--out")
    with output_lock(out_dir, "output folder"):
        key = _claim_video_output(out_dir, name, source, settings, checkpoint, ttt, epochs, gt_root, max_frames,
                                  resize_long, flow_long_side, with_baseline, force)
        return _segment(source, name, settings, checkpoint, strategy, ttt, epochs, out_dir, gt_root, progress,
                        model, max_frames, resize_long, flow_long_side, with_baseline, fps, allow_gaps,
                        allow_nonfinite, device, given or {}, key)


# settings that shape the weights: with --checkpoint they come from the checkpoint and cannot be changed by -p
# (image_size can: the model is rebuilt at the size asked for, the weights do not depend on it)
MODEL_SETTINGS = ("backbone", "pretrained", "decoder_dim", "modulation", "drop_path_rate", "input_norm")
# settings of stage-1 training only: with --checkpoint nothing is trained, so -p cannot apply them
TRAINING_SETTINGS = ("dataset", "frames_per_video", "long_video_frames", "n_train_videos", "n_val_videos",
                     "n_test_videos", "depth_source", "depth_model", "train_steps", "batch_size", "lr",
                     "weight_decay", "lambda_depth", "val_every", "grad_clip", "num_workers")


def check_given(given: Mapping, checkpoint) -> None:
    """Refuse a ``-p`` that segment would ignore: ``ttt_strategy`` (``--ttt`` chooses) and, with a checkpoint,
    the training settings (the checkpoint is never retrained); model settings are checked against the
    checkpoint once it is loaded (:func:`check_model_settings`)."""
    from dattt_nb.config import SettingError

    if "ttt_strategy" in given:
        raise SettingError("setting 'ttt_strategy' is not used by segment: choose the strategy with --ttt "
                           "none | n | mwi | ltv")
    if checkpoint is not None:
        unused = [k for k in given if k in TRAINING_SETTINGS]
        if unused:
            raise SettingError(f"setting {unused[0]!r} shapes stage-1 training, but --checkpoint {checkpoint} is "
                               "used as it is (never retrained); drop the -p, or drop --checkpoint to train")


def check_model_settings(given: Mapping, model, checkpoint) -> None:
    """A ``-p`` model setting (image_size, backbone, ...) must agree with the checkpoint's own."""
    from dattt_nb.config import SettingError

    config = getattr(model, "config", None) or {}
    for key in MODEL_SETTINGS:
        if key in given and key in config and config[key] != given[key]:
            raise SettingError(f"setting {key!r} is {given[key]!r} but --checkpoint {checkpoint} was trained "
                               f"with {config[key]!r}; a checkpoint's model settings cannot change: drop the -p, "
                               "or drop --checkpoint to train a model with it")


def _claim_video_output(out_dir, name, source, settings, checkpoint, ttt, epochs, gt_root, max_frames,
                        resize_long, flow_long_side, with_baseline, force) -> str:
    """This video's earlier output under ``out_dir``: the same job (same inputs and options) is rewritten,
    another needs ``force``; either way the old files go first, so none survives stale. Returns the job's key."""
    import json
    import shutil

    from dattt_nb.guards import OutputError, disk_errors, fingerprint

    key = fingerprint([source] + ([checkpoint] if checkpoint else []), settings=settings.to_dict(), ttt=ttt,
                      epochs=epochs, gt=str(gt_root), max_frames=max_frames, resize_long=resize_long,
                      flow_long_side=flow_long_side, baseline=with_baseline)
    masks_dir, video_dir = video_outputs(out_dir, name)
    if not masks_dir.exists() and not video_dir.exists():
        return key
    try:
        same = json.loads((video_dir / "segment.json").read_text()).get("inputs") == key
    except (OSError, ValueError):
        same = False
    if not same and not force:
        raise OutputError(f"--out {out_dir} already holds a segmentation of video {name!r} made from other "
                          f"inputs or settings ({masks_dir}, {video_dir}); pass --force to replace it, or choose "
                          "another --out")
    with disk_errors(out_dir):
        for folder in (masks_dir, video_dir):
            if folder.is_dir():
                shutil.rmtree(folder)
    return key


def _segment(source: Path, name: str, settings, checkpoint, strategy, ttt, epochs, out_dir, gt_root, progress,
             model, max_frames, resize_long, flow_long_side, with_baseline, fps, allow_gaps, allow_nonfinite,
             device, given, key) -> SegmentResult:
    """:func:`segment_video` once the output is claimed."""
    from dattt_nb.ttt.runner import check_nonfinite, run_ttt
    from dattt_nb.ttt.strategies import STRATEGY_LABELS

    timing: dict[str, float] = {}
    t0 = time.perf_counter()

    frames, names = read_video(source, max_frames=max_frames, resize_long=resize_long, progress=progress,
                               allow_gaps=allow_gaps)
    from dattt_nb.data.flow import check_flow_size

    check_flow_size(*frames.shape[1:3], "dis" if settings.flow_method == "gt" else settings.flow_method)
    gt = annotated = None
    if gt_root is not None and str(gt_root) == "auto":
        gt_root = find_annotations(source)
        if gt_root is None:
            from dattt_nb.utils import warn

            warn(f"--gt auto: no annotations found beside {source} (expected <root>/Annotations[/480p]/{name}/ "
                 "next to <root>/JPEGImages[/480p]/); no J/F; pass --gt DIR to score")
        else:
            print(f"ground truth: {gt_root} (found by --gt auto)")
    if gt_root is not None and str(gt_root) != "":
        gt, annotated = read_annotations(gt_root, name, names)
        check_gt_size(gt, gt_root, frames.shape[1:3], resize_long)
    timing["read"] = time.perf_counter() - t0

    t = time.perf_counter()
    if model is None:
        model, model_info = load_segmentation_model(settings, checkpoint, progress, image_size=given.get("image_size"))
        if checkpoint is not None:
            check_model_settings(given, model, checkpoint)
        announce_model(model_info)
    else:
        model_info = dict(checkpoint=None, note="model passed in")
    size = input_size(model, settings)
    timing["model"] = time.perf_counter() - t

    t = time.perf_counter()
    flow_side = None if flow_long_side is None else max(flow_long_side, size)
    flow_rgb = flow_of_frames(frames, settings.flow_method, flow_side, device=device, frame_names=names)
    video = to_video(name, frames, flow_rgb, names, size, gt, annotated)
    timing["flow"] = time.perf_counter() - t

    baseline = None
    if with_baseline and resolve_strategy(strategy).adapts:
        t = time.perf_counter()
        baseline = run_ttt(model, [video], settings, "none", progress=progress, device=device).videos[0].masks
        timing["no_ttt"] = time.perf_counter() - t
    t = time.perf_counter()
    res = run_ttt(model, [video], settings, strategy, epochs=epochs, progress=progress, device=device)
    if not allow_nonfinite:
        check_nonfinite(res)
    small = res.videos[0].masks
    timing["ttt" if resolve_strategy(strategy).adapts else "predict"] = time.perf_counter() - t

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
    if out_dir is None:
        timing["total"] = time.perf_counter() - t0
        return result
    t = time.perf_counter()
    try:  # all of a video's files or none: a failed write (full disk) leaves no masks without a record
        write_outputs(result, out_dir, fps, progress=progress)
        timing["write"] = time.perf_counter() - t
        timing["total"] = time.perf_counter() - t0
        record = {**summary(result, settings, model_info, fps), "inputs": key}
        atomic_write_json(Path(result.files["json"]), record)
    except BaseException:
        import shutil

        for folder in video_outputs(out_dir, name):
            shutil.rmtree(folder, ignore_errors=True)
        raise
    return result
