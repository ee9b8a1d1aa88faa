"""Build and cache datasets on disk: the synthetic benchmark (:func:`ensure_benchmark`) and real roots
(:func:`prepare_real`). Derived flow and depth are computed once per video and reused, so a second run is fast.

The model consumes *estimated* flow (``settings.flow_method``, DIS by default) on every split, so training and
testing see the same kind of input; depth pseudo-labels come from ``settings.depth_source`` (eq. 2's d).
"""
from __future__ import annotations

import hashlib
import inspect
import shutil
import time
from pathlib import Path

import numpy as np

from dattt_nb.config import data_root
from dattt_nb.data import synthetic
from dattt_nb.data.depth import TransformersDepth, depth_labels
from dattt_nb.data.flow import estimate_flow, flow_to_rgb
from dattt_nb.data.layout import (DEPTH, DEPTH_GT, FLOW, FLOW_GT, FLOW_RAW, check_root, image_files, kind_dir,
                                  list_videos, read_depths, read_frames, read_manifest, read_raw_flow, write_depth,
                                  write_flow, write_manifest, write_video)
from dattt_nb.data.real import CONVERTERS, DATASETS
from dattt_nb.data.synthetic import SPLITS, TEST_SPLIT_LABELS, TEST_SPLITS  # noqa: F401  (re-exported)

# Where ``settings.dataset == "real"`` looks for each split, under data_root() (prepare_real writes there).
REAL_ROOTS = {"train": "youtube-vos", "val": "davis16-train", "davis": "davis16", "fbms": "fbms",
              "longvideos": "long-videos", "mcl": "mcl", "stv2": "segtrackv2"}
_REAL_SOURCES = {"youtube-vos": ("youtube-vos", {}), "davis16-train": ("davis16", {"split": "train"}),
                 "davis16": ("davis16", {}), "fbms": ("fbms", {}), "long-videos": ("long-videos", {}),
                 "mcl": ("mcl", {}), "segtrackv2": ("segtrackv2", {})}


def synthetic_root(settings, split: str) -> Path:
    """``data_root()/synthetic/<profile>/<split>`` for seed 0, ``.../<profile>-seed<S>/<split>`` for another seed
    (so runs with different seeds do not rebuild each other's clips)."""
    name = settings.profile if int(settings.seed) == 0 else f"{settings.profile}-seed{int(settings.seed)}"
    return data_root() / "synthetic" / name / split


def generator_params(split: str, settings) -> dict:
    """What a synthetic split depends on: seed, counts, sizes and the generator's source (any edit rebuilds)."""
    plan = synthetic.split_plan(settings)[split]
    source = inspect.getsource(synthetic).encode()
    return dict(split=split, seed=int(settings.seed), n_videos=plan["n_videos"], n_frames=plan["n_frames"],
                size=plan["size"], generator=hashlib.sha256(source).hexdigest()[:16])


def ensure_benchmark(settings, splits=None, verbose: bool = True) -> dict[str, Path]:
    """{split: root} of the benchmark for ``settings``, built or completed on disk as needed (cached).

    Synthetic: generates missing splits (or ones made with other generator params), then computes flow
    (``settings.flow_method``) and depth (``settings.depth_source``). Real: checks the prepared roots.
    """
    splits = list(splits) if splits is not None else list(SPLITS)
    unknown = sorted(set(splits) - set(SPLITS))
    if unknown:
        raise ValueError(f"unknown split(s) {unknown}; splits are {SPLITS}")
    if settings.dataset == "real":
        return _ensure_real(settings, splits, verbose)
    if settings.dataset != "synthetic":
        raise ValueError(f"settings.dataset must be 'synthetic' or 'real', got {settings.dataset!r}")
    roots = {}
    for split in splits:
        start = time.perf_counter()
        root = synthetic_root(settings, split)
        built = build_synthetic_split(root, split, settings)
        flow = compute_flow(root, settings.flow_method)
        depth = compute_depth(root, settings.depth_source, model=settings.depth_model)
        if verbose:
            print(f"{split:>10}: {'generated' if built else 'cached'} {len(flow)} videos; "
                  f"flow {settings.flow_method} {_summary(flow)}; depth {settings.depth_source} {_summary(depth)}"
                  f" ({time.perf_counter() - start:.1f} s) → {root}")
        roots[split] = root
    return roots


def _summary(status: dict[str, str]) -> str:
    done = sum(s == "computed" for s in status.values())
    return f"{done} computed, {len(status) - done} cached"


def build_synthetic_split(root: Path, split: str, settings, force: bool = False) -> bool:
    """Generate one synthetic split into ``root`` unless a complete one with the same params is there."""
    params = generator_params(split, settings)
    manifest = read_manifest(root) if (Path(root) / "dataset.json").is_file() else {}
    if not force and manifest.get("complete") and manifest.get("generator") == params:
        return False
    if Path(root).exists():
        shutil.rmtree(root)
    meta = {}
    for video in synthetic.generate_split(split, settings):
        write_video(root, video.name, video.frames, masks=video.masks, flow_gt=video.flow, depth_gt=video.depth)
        meta[video.name] = video.meta
    write_manifest(root, dict(name=f"synthetic-{split}", kind="synthetic", split=split, generator=params,
                              description=synthetic.SPLIT_DESCRIPTIONS[split], sparse_annotations=False,
                              videos=sorted(meta), meta=meta, complete=True, derived={}))
    return True


def _count(folder: Path, pattern: str) -> int:
    return sum(1 for p in folder.glob(pattern) if not p.name.startswith(".")) if folder.is_dir() else 0


def _record(root: Path, what: str, records: dict) -> None:
    manifest = read_manifest(root)
    manifest.setdefault("derived", {})[what] = records
    write_manifest(root, manifest)


def compute_flow(root, method: str = "dis", force: bool = False, device=None, videos=None,
                 save_raw: bool | None = None) -> dict[str, str]:
    """Colour-coded flow → ``Flow/`` (and raw flow → ``FlowRaw/``) for every video, skipping cached ones.

    ``method``: an :func:`~dattt_nb.data.flow.estimate_flow` method, ``gt`` (synthetic true flow from
    ``FlowGT/``) or ``precomputed`` (keep the colour-coded flow already in ``Flow/``, e.g. the official release's).
    ``save_raw`` (default: synthetic roots only — raw flow of a real 480p dataset takes gigabytes).
    Returns {video: "computed" | "cached"}.
    """
    from tqdm.auto import tqdm

    root = check_root(root)
    manifest = read_manifest(root)
    if save_raw is None:
        save_raw = manifest.get("kind") == "synthetic"
    records = dict(manifest.get("derived", {}).get("flow", {}))
    status = {}
    try:
        for v in tqdm(list(videos) if videos is not None else list_videos(root), desc=f"flow {method}",
                      leave=False):
            n = len(image_files(kind_dir(root, "JPEGImages") / v))
            have = _count(kind_dir(root, FLOW) / v, "*.png") == n
            if method == "precomputed":
                if not have:
                    raise FileNotFoundError(f"flow method 'precomputed' but {kind_dir(root, FLOW) / v} does not "
                                            f"hold {n} colour-coded flow PNGs (one per frame)")
                status[v], records[v] = ("cached" if records.get(v) == method else "computed"), method
                continue
            have_raw = not save_raw or _count(root / FLOW_RAW / v, "*.npy") == n
            if not force and records.get(v) == method and have and have_raw:
                status[v] = "cached"
                continue
            if method == "gt":
                flow = read_raw_flow(root, v, FLOW_GT)
                if flow is None or len(flow) != n:
                    raise FileNotFoundError(f"flow method 'gt' needs the true flow in {root / FLOW_GT / v} "
                                            "(synthetic data only); use 'dis' for real videos")
                names = [p.stem for p in image_files(kind_dir(root, "JPEGImages") / v)]
            else:
                frames, names = read_frames(root, v)
                flow = estimate_flow(frames, method, device=device)
            write_flow(root, v, flow_to_rgb(flow), flow if save_raw else None, names)
            status[v], records[v] = "computed", method
    finally:
        _record(root, "flow", records)
    return status


def compute_depth(root, source: str | None = "gt", force: bool = False, model=None, invert: bool = False,
                  device=None, videos=None) -> dict[str, str]:
    """Depth pseudo-labels → ``Depth/`` (16-bit, (0, 1]) for every video, skipping cached ones.

    ``source``: ``gt`` (synthetic true depth from ``DepthGT/``), ``precomputed`` (maps already in ``Depth/``,
    normalised in place once; ``invert`` for disparity), ``transformers`` (``model`` id or object), or None.
    """
    from tqdm.auto import tqdm

    if source in (None, "none"):
        return {}
    root = check_root(root)
    key = source
    if source == "precomputed":
        key = "precomputed-inverted" if invert else "precomputed"
    elif source == "transformers":
        key = f"transformers:{model if isinstance(model, str) or model is None else type(model).__name__}"
    records = dict(read_manifest(root).get("derived", {}).get("depth", {}))
    status, estimator = {}, None
    try:
        for v in tqdm(list(videos) if videos is not None else list_videos(root), desc=f"depth {source}",
                      leave=False):
            n = len(image_files(kind_dir(root, "JPEGImages") / v))
            if not force and records.get(v) == key and _count(kind_dir(root, DEPTH) / v, "*.png") == n:
                status[v] = "cached"
                continue
            if source == "precomputed" and records.get(v, "").startswith("precomputed"):
                raise ValueError(f"{root}/Depth/{v} was already normalised as {records[v]!r}; re-convert the source "
                                 "to normalise it differently")
            frames, names = read_frames(root, v)
            gt = None
            if source == "gt":
                if not (root / DEPTH_GT / v).is_dir():
                    raise FileNotFoundError(f"depth source 'gt' needs the true depth in {root / DEPTH_GT / v} "
                                            "(synthetic data only); use 'precomputed' or 'transformers'")
                gt = read_depths(root, v, names, frames.shape[1:3], kind=DEPTH_GT)
            if source == "transformers" and estimator is None:
                estimator = model if isinstance(model, TransformersDepth) else TransformersDepth(model, device=device)
            labels = depth_labels(source, frames, gt=gt, root=root, name=v, model=estimator, invert=invert)
            write_depth(root, v, labels, names)
            status[v], records[v] = "computed", key
    finally:
        _record(root, "depth", records)
    return status


# --- real datasets ------------------------------------------------------------------------------

def prepare_real(name: str, src, dst=None, flow_method: str = "dis", depth_source: str | None = None,
                 depth_model=None, invert: bool = False, link: bool = True, **convert_kw) -> Path:
    """Convert a real dataset into the layout under ``dst`` (default ``data_root()/<name>``), then compute
    flow and (optionally) depth, cached. ``name``: a key of :data:`~dattt_nb.data.real.CONVERTERS`."""
    if name not in CONVERTERS:
        raise KeyError(f"unknown dataset {name!r}; converters: {sorted(CONVERTERS)}")
    if not Path(src).exists():
        raise FileNotFoundError(f"source {src} does not exist; see DATASETS[{name!r}]['page'] to get the data")
    default = f"davis16-{convert_kw['split']}" if name == "davis16" and convert_kw.get("split", "val") != "val" \
        else name
    dst = Path(dst) if dst is not None else data_root() / default
    CONVERTERS[name](src, dst, link=link, **convert_kw)
    compute_flow(dst, flow_method)
    compute_depth(dst, depth_source, model=depth_model, invert=invert)
    return dst


def _ensure_real(settings, splits, verbose: bool) -> dict[str, Path]:
    roots, missing = {}, []
    for split in splits:
        root = data_root() / REAL_ROOTS[split]
        if read_manifest(root).get("complete") if (root / "dataset.json").is_file() else False:
            roots[split] = root
            continue
        conv, kw = _REAL_SOURCES[REAL_ROOTS[split]]
        args = "".join(f", {k}={v!r}" for k, v in kw.items())
        label = TEST_SPLIT_LABELS.get(split, split)
        missing.append(f"  {split} ({label}): {root} — prepare_real({conv!r}, src='/path/to/{conv}', "
                       f"dst={str(root)!r}{args}, flow_method={settings.flow_method!r}, "
                       f"depth_source={settings.depth_source!r}); get the data: {DATASETS[conv]['page']}")
    if missing:
        raise FileNotFoundError("settings.dataset == 'real' but these prepared roots are missing:\n"
                                + "\n".join(missing) + "\n(see data/README.md; or use dataset='synthetic')")
    for split, root in roots.items():
        flow = compute_flow(root, settings.flow_method)
        depth = compute_depth(root, settings.depth_source, model=settings.depth_model)
        if verbose:
            print(f"{split:>10}: {root} ({len(flow)} videos; flow {_summary(flow)}; depth {_summary(depth)})")
    return roots


def split_counts(roots: dict[str, Path]) -> dict[str, int]:
    """Number of videos per split root."""
    return {split: len(list_videos(root)) for split, root in roots.items()}


def true_and_estimated_flow(root, name: str) -> tuple[np.ndarray | None, np.ndarray | None]:
    """(true flow from FlowGT/, estimated raw flow from FlowRaw/) of one video, (T, H, W, 2) float32 each."""
    return read_raw_flow(root, name, FLOW_GT), read_raw_flow(root, name, FLOW_RAW)
