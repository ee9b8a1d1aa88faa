"""Build and cache datasets on disk: the synthetic benchmark (:func:`ensure_benchmark`) and real roots
(:func:`prepare_real`). Derived flow and depth are computed once per video and reused, so a second run is fast.

The model consumes *estimated* flow (``settings.flow_method``, DIS by default) on every split, so training and
testing see the same kind of input; depth pseudo-labels come from ``settings.depth_source`` (eq. 2's d).
"""
from __future__ import annotations

import dataclasses
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
from dattt_nb.splits import SPLITS, TEST_SPLIT_LABELS, TEST_SPLITS

def data_settings(settings):
    """``settings`` as the synthetic generator sees them: its ``seed`` is the benchmark's ``data_seed`` (the model's
    ``seed`` never changes which clips are drawn)."""
    seed = int(getattr(settings, "data_seed", settings.seed))
    return settings if seed == int(settings.seed) else dataclasses.replace(settings, seed=seed)


def synthetic_root(settings, split: str) -> Path:
    """``data_root()/synthetic/<profile>/<split>`` for data seed 0, ``.../<profile>-seed<S>/<split>`` for another
    data seed (so benchmarks drawn with different seeds do not rebuild each other's clips)."""
    seed = int(data_settings(settings).seed)
    name = settings.profile if seed == 0 else f"{settings.profile}-seed{seed}"
    return data_root() / "synthetic" / name / split


def generator_params(split: str, settings) -> dict:
    """What a synthetic split depends on: seed, counts, sizes and the generator's source (any edit rebuilds)."""
    settings = data_settings(settings)
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
    from dattt_nb.utils import file_lock

    roots = {}
    for split in splits:
        start = time.perf_counter()
        root = synthetic_root(settings, split)
        # one builder per split: two notebooks (or test workers) asking at once must not delete each other's files
        with file_lock(Path(root).parent / f".{Path(root).name}.lock"):
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
    for video in synthetic.generate_split(split, data_settings(settings)):
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
                 save_raw: bool | None = None, allow_download: bool = False) -> dict[str, str]:
    """Colour-coded flow → ``Flow/`` (and raw flow → ``FlowRaw/``) for every video, skipping cached ones.

    ``method``: an :func:`~dattt_nb.data.flow.estimate_flow` method, ``gt`` (synthetic true flow from
    ``FlowGT/``) or ``precomputed`` (keep the colour-coded flow already in ``Flow/``, e.g. the official release's).
    ``save_raw`` (default: synthetic roots only — raw flow of a real 480p dataset takes gigabytes).
    ``allow_download``: RAFT may fetch its weights (otherwise a missing file is an error saying where to put it).
    Returns {video: "computed" | "cached"}.
    """
    from dattt_nb.utils import progress

    root = check_root(root)
    manifest = read_manifest(root)
    if save_raw is None:
        save_raw = manifest.get("kind") == "synthetic"
    records = dict(manifest.get("derived", {}).get("flow", {}))
    status = {}
    try:
        for v in progress(list(videos) if videos is not None else list_videos(root), desc=f"flow {method}",
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
                flow = estimate_flow(frames, method, device=device, allow_download=allow_download)
            write_flow(root, v, flow_to_rgb(flow), flow if save_raw else None, names)
            status[v], records[v] = "computed", method
    finally:
        _record(root, "flow", records)
    return status


def compute_depth(root, source: str | None = "gt", force: bool = False, model=None, invert: bool = False,
                  device=None, videos=None, allow_download: bool = False) -> dict[str, str]:
    """Depth pseudo-labels → ``Depth/`` (16-bit, (0, 1]) for every video, skipping cached ones.

    ``source``: ``gt`` (synthetic true depth from ``DepthGT/``), ``precomputed`` (maps already in ``Depth/``,
    normalised in place once; ``invert`` for disparity), ``transformers`` (``model`` id or object), or None.
    """
    from dattt_nb.utils import progress

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
        for v in progress(list(videos) if videos is not None else list_videos(root), desc=f"depth {source}",
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
                estimator = model if isinstance(model, TransformersDepth) else TransformersDepth(
                    model, device=device, allow_download=allow_download)
            labels = depth_labels(source, frames, gt=gt, root=root, name=v, model=estimator, invert=invert)
            write_depth(root, v, labels, names)
            status[v], records[v] = "computed", key
    finally:
        _record(root, "depth", records)
    return status


# --- real datasets ------------------------------------------------------------------------------

def parse_depth_route(route: str | None) -> tuple[str | None, str | None]:
    """``--depth`` of ``prepare-real`` → (source, argument): ``precomputed:DIR`` → ("precomputed", DIR),
    ``precomputed`` → ("precomputed", None) (maps the source already brings, e.g. the flat release's ``depth/``),
    ``transformers[:MODEL]`` → ("transformers", MODEL or None), ``none`` / None → (None, None)."""
    if route in (None, "", "none"):
        return None, None
    kind, _, arg = str(route).partition(":")
    if kind == "precomputed":
        return "precomputed", arg or None
    if kind == "transformers":
        return "transformers", arg or None
    raise ValueError(f"--depth {route!r}: expected precomputed[:DIR] (DIR/<video>/<frame>.png, 16-bit) or "
                     "transformers[:MODEL] (a Hugging Face depth model id or folder) or none")


def import_depth_maps(src, root, videos=None, link: bool = True) -> int:
    """Copy (or link) precomputed depth maps ``src/<video>/<frame>.png`` into ``<root>/Depth/<video>/``.

    The maps are 16-bit PNGs in the layout's depth format (:func:`~dattt_nb.data.layout.depth_to_uint16`:
    ``round(depth·65535)``, larger = farther, 0 = invalid; 8-bit is read as value/255), one per frame and named
    like the frames; :func:`compute_depth` with source ``precomputed`` then normalises each video by its maximum.
    Returns the number of maps placed.
    """
    from dattt_nb.data.real import _link_file

    src, root = Path(src), check_root(root)
    if not src.is_dir():
        raise FileNotFoundError(f"precomputed depth folder {src} does not exist; expected {src}/<video>/<frame>.png "
                                "(16-bit PNG, round(depth*65535), one per frame, named like the frames)")
    placed = 0
    for v in list(videos) if videos is not None else list_videos(root):
        stems = [p.stem for p in image_files(kind_dir(root, "JPEGImages") / v)]
        maps = {p.stem: p for p in image_files(src / v, (".png",))}
        missing = [s for s in stems if s not in maps]
        if missing:
            raise FileNotFoundError(f"precomputed depth for video {v!r}: {src / v} lacks {len(missing)} of "
                                    f"{len(stems)} maps, e.g. {missing[0]}.png (one 16-bit PNG per frame, named "
                                    "like the frames)")
        for stem in stems:
            _link_file(maps[stem], root / DEPTH / v / f"{stem}.png", link)
            placed += 1
    return placed


def check_flow_weights(method: str, allow_download: bool = False) -> None:
    """Fail before any slow work when RAFT's weights are neither on disk nor allowed to download."""
    if method in ("raft_small", "raft_large") and not allow_download:
        from dattt_nb.data.flow import load_raft

        load_raft(method, allow_download=False)


def prepare_real(name: str, src, dst=None, flow_method: str = "dis", depth_source: str | None = None,
                 depth_model=None, invert: bool = False, link: bool = True, allow_download: bool = False,
                 depth_dir=None, force: bool = False, **convert_kw) -> Path:
    """Convert a real dataset into the layout under ``dst`` (default ``data_root()/<name>``), then compute
    flow and depth, cached — in this order: convert → depth maps → flow → depth labels.

    ``name``: a key of :data:`~dattt_nb.data.real.CONVERTERS`, or ``davis16-train`` (the DAVIS-16 train split).
    ``depth_source``: ``precomputed`` (maps from ``depth_dir``/<video>/<frame>.png, or already in ``Depth/``),
    ``transformers`` (``depth_model``), or None. ``allow_download`` lets RAFT and the depth model fetch weights.

    ``dst`` must lie outside ``src`` (and ``depth_dir``) and the reverse. A rerun skips the conversion when ``dst``
    was made from the same source files (names, sizes, mtimes) and options; a ``dst`` holding anything else is
    an error unless ``force``, which deletes its old contents first (no stale frame, mask or flow survives).
    """
    from dattt_nb.guards import check_separate, output_lock

    if name == "davis16-train":
        name, convert_kw = "davis16", {**convert_kw, "split": "train"}
    if name not in CONVERTERS:
        raise KeyError(f"unknown dataset {name!r}; converters: {sorted(CONVERTERS)} and davis16-train")
    if not Path(src).exists():
        raise FileNotFoundError(f"source {src} does not exist; see DATASETS[{name!r}]['page'] to get the data")
    check_flow_weights(flow_method, allow_download)
    if depth_source == "transformers":
        from dattt_nb.data.depth import _transformers

        _transformers()  # a missing package is an error before the conversion, not after it
    default = f"davis16-{convert_kw['split']}" if name == "davis16" and convert_kw.get("split", "val") != "val" \
        else name
    dst = Path(dst) if dst is not None else data_root() / default
    check_separate(src, dst, "source", "destination")
    if depth_dir is not None:
        check_separate(depth_dir, dst, "depth folder", "destination")
    with output_lock(dst, "destination"):
        if _convert_once(name, src, dst, link, depth_source, depth_model, invert, depth_dir, force, convert_kw):
            compute_flow(dst, flow_method, allow_download=allow_download)
            compute_depth(dst, depth_source, model=depth_model, invert=invert, allow_download=allow_download)
            check_prepared(dst)
            _mark_inputs(dst, "done")
        else:
            compute_flow(dst, flow_method, allow_download=allow_download)
    return dst


INPUTS_KEY = "inputs"  # the dataset.json entry: {"fingerprint": ..., "state": "converting" | "done"}


def _convert_once(name, src, dst: Path, link, depth_source, depth_model, invert, depth_dir, force,
                  convert_kw) -> bool:
    """Convert ``src`` into ``dst`` unless ``dst`` already holds it (same fingerprint, done): True when converted.

    The fingerprint covers the source files, the depth folder and every option that decides the layout's
    contents, so a changed source or ``--invert`` is noticed (never re-linked over normalised labels)."""
    from dattt_nb.guards import claim_output, fingerprint

    key = fingerprint([src] + ([depth_dir] if depth_dir is not None else []), name=name, link=link,
                      depth=depth_source, model=depth_model if isinstance(depth_model, str) or depth_model is None
                      else type(depth_model).__name__, invert=invert, depth_dir=str(depth_dir), **convert_kw)
    before = read_manifest(dst).get(INPUTS_KEY, {}) if (dst / "dataset.json").is_file() else {}
    same = before.get("fingerprint") == key
    if same and before.get("state") == "done" and not force:
        return False
    claim_output(dst, same_job=same, force=force, what="destination",
                 holds="a dataset made from other source files or options (or not by prepare-real)")
    if not same and dst.exists():  # --force, or an empty folder: start from nothing
        from dattt_nb.guards import clear_folder

        clear_folder(dst)
    _mark_inputs(dst, "converting", key)
    CONVERTERS[name](src, dst, link=link, **convert_kw)
    if depth_dir is not None:
        import_depth_maps(depth_dir, dst, link=link)
    return True


def _mark_inputs(dst: Path, state: str, key: str | None = None) -> None:
    manifest = read_manifest(dst) if (dst / "dataset.json").is_file() else {}
    entry = dict(manifest.get(INPUTS_KEY, {}))
    entry.update(state=state, **({"fingerprint": key} if key else {}))
    manifest[INPUTS_KEY] = entry
    write_manifest(dst, manifest)


def check_prepared(root: Path) -> None:
    """Every video of a converted root has frames, and its masks match the frames' size and count (one line
    naming the first file that does not), so a bad source fails here, not later in training or TTT."""
    from PIL import Image

    for v in list_videos(root):
        frames = image_files(kind_dir(root, "JPEGImages") / v)
        if not frames:
            raise ValueError(f"video {v!r} in {root} has no frames; remove its folder from the source or pass "
                             "--videos without it")
        with Image.open(frames[0]) as img:
            size = img.size
        masks = image_files(kind_dir(root, "Annotations") / v)
        if len(masks) > len(frames):
            raise ValueError(f"video {v!r} has {len(masks)} masks but {len(frames)} frames; expected at most one "
                             "mask per frame")
        for m in masks:
            with Image.open(m) as img:
                if img.size != size:
                    raise ValueError(f"mask {m} is {img.size[0]}x{img.size[1]}, the frames of video {v!r} are "
                                     f"{size[0]}x{size[1]}; expected masks of the frames' size")


# the paper profile's data (§5.1): training roots in order of preference, the validation root, the test roots
TRAIN_SOURCES = ("youtube-vos", "davis16-train")
VAL_SOURCE = "davis16-train"
TEST_SOURCES = {"davis": "davis16", "fbms": "fbms", "longvideos": "long-videos", "mcl": "mcl", "stv2": "segtrackv2"}
_SPLIT_OF_NAME = {v: k for k, v in TEST_SOURCES.items()}


def with_roots(settings, train=None, val=None, test=None):
    """``settings`` with ``extra["roots"]`` set from ``--train-root/--val-root/--test-root`` (lists; empty = keep)."""
    import dataclasses

    given = {k: [str(p) for p in v] for k, v in (("train", train), ("val", val), ("test", test)) if v}
    if not given:
        return settings
    roots = {**(settings.extra.get("roots") or {}), **given}
    return dataclasses.replace(settings, extra={**settings.extra, "roots": roots})


def _prepared(root: Path) -> bool:
    return (Path(root) / "dataset.json").is_file() and bool(read_manifest(root).get("complete"))


def _how_to_prepare(source: str, settings) -> str:
    conv = "davis16" if source == "davis16-train" else source
    return (f"dattt-nb prepare-real {source} /path/to/{conv} {data_root() / source} --flow {settings.flow_method} "
            f"--depth precomputed:DIR|transformers; get the data: {DATASETS[conv]['page']}")


def test_split_name(root) -> str:
    """The test split a prepared root plays, from its manifest name (``davis16`` → ``davis``), else its folder name."""
    name = read_manifest(root).get("name", "") if (Path(root) / "dataset.json").is_file() else ""
    return _SPLIT_OF_NAME.get(name, _SPLIT_OF_NAME.get(Path(root).name, Path(root).name))


def real_roots(settings, verbose: bool = True) -> dict[str, list[Path]]:
    """{split: [roots]} of the real data that exists: "Use what exists".

    Overrides in ``settings.extra["roots"]`` (``{"train": [...], "val": [...], "test": [...]}``, set by
    ``--train-root/--val-root/--test-root``) win; otherwise training uses YouTube-VOS when prepared, else DAVIS-16
    train alone; validation uses DAVIS-16 train unless it is a training root; each test split is used when its root
    is prepared. Prints what it uses and skips; warns when validation and test videos overlap.
    """
    given = dict(settings.extra.get("roots") or {})
    unknown = sorted(set(given) - {"train", "val", "test"})
    if unknown:
        raise ValueError(f"extra['roots'] has unknown keys {unknown}; expected train, val, test (lists of folders)")
    listed = {k: [Path(p) for p in ([v] if isinstance(v, (str, Path)) else v)] for k, v in given.items() if v}
    for key, paths in listed.items():
        for root in paths:
            if not _prepared(root):
                raise FileNotFoundError(f"--{key}-root {root} is not a prepared dataset (no complete dataset.json); "
                                        "convert it first with dattt-nb prepare-real")
    lines, out = [], {}
    if "train" in listed:
        out["train"] = listed["train"]
    else:
        found = [s for s in TRAIN_SOURCES if _prepared(data_root() / s)]
        if found:
            out["train"] = [data_root() / found[0]]
            lines += [f"skip  train {s}: {'not prepared' if s not in found else 'YouTube-VOS is used'}"
                      for s in TRAIN_SOURCES if s != found[0]]
    if "val" in listed:
        out["val"] = listed["val"]
    elif _prepared(data_root() / VAL_SOURCE) and data_root() / VAL_SOURCE not in out.get("train", []):
        out["val"] = [data_root() / VAL_SOURCE]
    else:
        lines.append(f"skip  val: {VAL_SOURCE} is {'the training root' if 'train' in out else 'not prepared'} "
                     "(no validation: best.pt is the last step)")
    if "test" in listed:
        for root in listed["test"]:
            split = test_split_name(root)
            out[split if split not in out else root.name] = [root]
    else:
        for split, source in TEST_SOURCES.items():
            if _prepared(data_root() / source):
                out[split] = [data_root() / source]
            else:
                lines.append(f"skip  test {split} ({TEST_SPLIT_LABELS.get(split, split)}): {data_root() / source} "
                             "not prepared")
    if verbose:
        for split, paths in out.items():
            print(f"use   {split}: {', '.join(str(p) for p in paths)}")
        for line in lines:
            print(line)
    _warn_overlap(out)
    return out


def _warn_overlap(roots: dict[str, list[Path]]) -> None:
    import warnings

    val = {v for r in roots.get("val", []) for v in list_videos(r)}
    for split, paths in roots.items():
        if split in ("train", "val"):
            continue
        both = sorted(val & {v for r in paths for v in list_videos(r)})
        if both:
            warnings.warn(f"validation and test split {split!r} share {len(both)} video(s) ({', '.join(both[:5])}): "
                          "choices made on validation are then tuned on test videos", stacklevel=3)


def _ensure_real(settings, splits, verbose: bool) -> dict[str, Path | list[Path]]:
    """Prepared real roots of the requested splits that exist (train/val: lists when several roots are given;
    test splits: the root of each split present), flow completed for ``settings.flow_method``."""
    found = real_roots(settings, verbose=verbose)
    wanted = [s for s in found if s in splits or (s not in SPLITS and any(t in TEST_SPLITS for t in splits))]
    if "train" in splits and "train" not in found:
        raise FileNotFoundError("settings.dataset == 'real' but no training root is prepared: "
                                + " or ".join(_how_to_prepare(s, settings) for s in TRAIN_SOURCES)
                                + " (or pass --train-root; see data/README.md)")
    tests = [s for s in wanted if s not in ("train", "val")]
    if any(s in TEST_SPLITS for s in splits) and not tests and "train" not in splits:
        raise FileNotFoundError("settings.dataset == 'real' but no test root is prepared, e.g. "
                                + _how_to_prepare("davis16", settings) + " (or pass --test-root)")
    roots = {}
    for split in wanted:
        for root in found[split]:
            compute_flow(root, settings.flow_method)
            if settings.depth_source and not _has_depth(root):
                if settings.depth_source == "precomputed":
                    raise FileNotFoundError(f"{root} has no depth maps: run prepare-real with --depth "
                                            "precomputed:DIR or --depth transformers (see data/README.md)")
                compute_depth(root, settings.depth_source, model=settings.depth_model)
        roots[split] = found[split][0] if len(found[split]) == 1 else found[split]
    return roots


def _has_depth(root: Path) -> bool:
    """Whether every video of a prepared real root has a depth map per frame (any source)."""
    records = read_manifest(root).get("derived", {}).get("depth", {})
    return all(v in records and _count(kind_dir(root, DEPTH) / v, "*.png") ==
               len(image_files(kind_dir(root, "JPEGImages") / v)) for v in list_videos(root))


def true_and_estimated_flow(root, name: str) -> tuple[np.ndarray | None, np.ndarray | None]:
    """(true flow from FlowGT/, estimated raw flow from FlowRaw/) of one video, (T, H, W, 2) float32 each."""
    return read_raw_flow(root, name, FLOW_GT), read_raw_flow(root, name, FLOW_RAW)
