"""The ``dattt-nb`` command: run the notebook series, prepare data, train, adapt, segment, evaluate, bundle.

One ``_add_<cmd>(subparsers)`` / ``_cmd_<cmd>(args)`` pair per sub-command, listed in ``COMMANDS``; heavy imports
happen inside the command functions so ``dattt-nb --help`` stays fast.
"""
from __future__ import annotations

import argparse
import sys
import warnings
from typing import Callable

from .config import add_profile_option, add_setting_options


# --- run ---------------------------------------------------------------------------------------------------------

def _add_run(subparsers) -> None:
    p = subparsers.add_parser("run", help="execute the notebooks in order with papermill (runs/<profile>/)")
    add_profile_option(p)
    p.add_argument("--only", help="comma-separated notebook numbers or names, e.g. 00,01")
    add_setting_options(p, "SEED 1", what="a notebook parameter (value read as YAML)")
    p.add_argument("--force", action="store_true", help="re-run notebooks even if their last run is up to date")
    p.add_argument("--timeout", type=int, default=None, help="per-cell timeout in seconds (default: none)")
    p.add_argument("--jobs", type=int, default=1,
                   help="on a multi-core CPU: train the series' models, then run notebooks, this many at a time "
                        "(each with cores/jobs threads; `make tutorial` uses 2 at the ci and tiny profiles)")
    p.set_defaults(func=_cmd_run)


def _cmd_run(args) -> int:
    from .config import parse_parameter
    from .run.pipeline import run_pipeline

    only = [s for s in args.only.split(",") if s.strip()] if args.only else None
    params = {name: parse_parameter(value) for name, value in args.param}
    manifest = run_pipeline(profile=args.profile, only=only, params=params, force=args.force, timeout=args.timeout,
                            jobs=args.jobs)
    for name, entry in manifest["notebooks"].items():
        state = "reused" if entry.get("reused") else entry.get("status")
        print(f"{name:<32} {state:<8} {entry.get('seconds', 0):8.1f} s")
    print(f"manifest and report in {manifest['run_dir']}")
    return 0


# --- eval --------------------------------------------------------------------------------------------------------

def _add_eval(subparsers) -> None:
    p = subparsers.add_parser("eval", help="DAVIS J and F of predicted masks against a DAVIS-layout ground truth")
    p.add_argument("--gt", required=True, help="root with Annotations/<video>/*.png (or Annotations/480p/..., "
                                               "Annotations/1080p/...)")
    p.add_argument("--pred", required=True, help="folder with <video>/<frame>.png masks (nonzero = object)")
    p.add_argument("--out", help="write per-video and mean results to this JSON file")
    p.add_argument("--bound-th", type=float, default=0.008, help="boundary tolerance (fraction of the diagonal)")
    p.add_argument("--allow-missing", action="store_true",
                   help="score only the ground-truth videos that have predictions (the others are listed)")
    p.set_defaults(func=_cmd_eval)


def _cmd_eval(args) -> int:
    from .metrics import evaluate_folder
    from .utils import atomic_write_json, check_output

    import math

    if not (math.isfinite(args.bound_th) and 0 < args.bound_th < 1):
        raise InputError(f"--bound-th {args.bound_th}: expected a number in (0, 1), the boundary tolerance as a "
                         "fraction of the image diagonal (DAVIS: 0.008)")
    if args.out:
        check_output(args.out, what="--out")
    table = evaluate_folder(args.gt, args.pred, bound_th=args.bound_th, allow_missing=args.allow_missing)
    missing = table.attrs.get("missing", [])
    mean = {k: float(table[k].mean()) for k in ("J", "F", "JF")}
    shown = table[["frames", "J", "F", "JF", "J_recall", "J_decay", "F_recall", "F_decay"]]
    print(shown.to_string(float_format=lambda v: f"{v:.3f}"))
    if missing:
        print(f"skipped {len(missing)} ground-truth video(s) without predictions (--allow-missing): "
              f"{', '.join(missing)}")
    print(f"mean over {len(table)} videos: J = {mean['J']:.3f}  F = {mean['F']:.3f}  J&F = {mean['JF']:.3f}")
    if args.out:
        atomic_write_json(args.out, {"gt": str(args.gt), "pred": str(args.pred), "bound_th": args.bound_th,
                                     "mean": mean, "videos": table.to_dict(orient="index"), "missing": missing})
        print(f"wrote {args.out}")
    return 0


# --- prepare -----------------------------------------------------------------------------------------------------

def add_root_options(p: argparse.ArgumentParser, train: bool = True, test: bool = True) -> None:
    """``--train-root/--val-root/--test-root`` (repeatable): prepared real roots that replace the default ones."""
    if train:
        p.add_argument("--train-root", action="append", default=[], metavar="DIR",
                       help="prepared training root (repeatable; default: data/youtube-vos, else data/davis16-train)")
        p.add_argument("--val-root", action="append", default=[], metavar="DIR",
                       help="prepared validation root (repeatable; default: data/davis16-train unless it trains)")
    if test:
        p.add_argument("--test-root", action="append", default=[], metavar="DIR",
                       help="prepared test root (repeatable; default: every prepared test dataset under data/)")


def _add_prepare(subparsers) -> None:
    p = subparsers.add_parser("prepare", help="build the profile's datasets: synthetic benchmark, flow, depth (cached)")
    add_profile_option(p)
    add_setting_options(p, "flow_method farneback")
    add_root_options(p)
    p.set_defaults(func=_cmd_prepare)


def _cmd_prepare(args) -> int:
    from .config import parse_overrides, resolve
    from .data.prepare import ensure_benchmark, with_roots

    settings = with_roots(resolve(args.profile, parse_overrides(args.param)), args.train_root, args.val_root,
                          args.test_root)
    roots = ensure_benchmark(settings)
    from .data.layout import list_videos

    for split, paths in roots.items():
        paths = paths if isinstance(paths, list) else [paths]
        print(f"{split:<12} {sum(len(list_videos(r)) for r in paths):4d} videos  {', '.join(map(str, paths))}")
    return 0


# --- prepare-real ------------------------------------------------------------------------------------------------

REAL_DATASETS = ("davis16", "davis16-train", "youtube-vos", "fbms", "long-videos", "mcl", "segtrackv2", "flat-release")


def _add_prepare_real(subparsers) -> None:
    p = subparsers.add_parser("prepare-real", help="convert a downloaded real dataset into the layout, then compute "
                                                   "depth and flow (cached)")
    p.add_argument("dataset", choices=REAL_DATASETS, help="which dataset SRC holds")
    p.add_argument("src", help="the extracted download (e.g. the DAVIS root with JPEGImages/480p)")
    p.add_argument("dst", help="output root in the layout (the paper profile looks in data/<dataset>)")
    p.add_argument("--flow", choices=["dis", "farneback", "raft_small", "raft_large", "precomputed"], default=None,
                   help="optical flow (default: the profile's flow_method; flat-release: precomputed, the "
                        "release's own RAFT flow)")
    p.add_argument("--split", choices=["train", "val"], default=None,
                   help="flat-release only: which split of the official processed data (frame/<split>/ ...)")
    p.add_argument("--depth", default="none", metavar="ROUTE",
                   help="depth pseudo-labels: precomputed:DIR (DIR/<video>/<frame>.png, 16-bit), "
                        "transformers[:MODEL] (a Hugging Face depth model), or none (default)")
    p.add_argument("--allow-download", action="store_true",
                   help="let RAFT and the depth model download their weights (default: local files only)")
    p.add_argument("--copy", action="store_true", help="copy frames and masks instead of linking them")
    p.add_argument("--invert", action="store_true", help="precomputed maps are disparity (larger = nearer)")
    p.add_argument("--videos", nargs="+", help="only these videos of the source")
    p.add_argument("--force", action="store_true",
                   help="DST holds another dataset (other source files or options): delete it and convert again")
    add_profile_option(p)
    add_setting_options(p, "depth_model Intel/dpt-large")
    p.set_defaults(func=_cmd_prepare_real)


def _cmd_prepare_real(args) -> int:
    import time
    from pathlib import Path

    from .config import parse_overrides, resolve
    from .data.layout import list_videos
    from .data.prepare import parse_depth_route, prepare_real

    settings = resolve(args.profile, parse_overrides(args.param))
    source, arg = parse_depth_route(args.depth)
    flat = args.dataset == "flat-release"
    if args.split and not flat:
        raise InputError(f"--split is for flat-release only (the {args.dataset} converter knows its own splits)")
    flow = args.flow or ("precomputed" if flat and (Path(args.src) / "flow").is_dir() else settings.flow_method)
    extra = {"split": args.split} if flat and args.split else {}
    start = time.perf_counter()
    try:
        dst = prepare_real(args.dataset, args.src, args.dst, flow_method=flow, depth_source=source,
                           depth_model=(arg or settings.depth_model) if source == "transformers" else None,
                           depth_dir=arg if source == "precomputed" else None, invert=args.invert,
                           link=not args.copy, allow_download=args.allow_download, force=args.force,
                           **({"videos": args.videos} if args.videos else {}), **extra)
    except ImportError as err:  # an optional package that is not installed: say how to get it
        raise InputError(str(err)) from err
    print(f"{args.dataset}: {len(list_videos(dst))} videos in {dst} (flow {flow}, depth {source or 'none'}; "
          f"{time.perf_counter() - start:.1f} s)")
    return 0


# --- import-official ---------------------------------------------------------------------------------------------

def _add_import_official(subparsers) -> None:
    p = subparsers.add_parser("import-official", help="turn an official DATTT checkpoint (model.pth) into a dattt-nb "
                                                      "checkpoint (OUT/best.pt) for ttt/segment/notebooks")
    p.add_argument("model_pth", help="the official release's model.pth (Baseline state dict) or an epoch file")
    p.add_argument("--backbone", choices=["mit_b1", "swin_tiny"], required=True, help="the checkpoint's encoder")
    p.add_argument("--modulation", choices=["alpha+beta", "alpha", "beta", "basic", "none"], default="alpha+beta",
                   help="the checkpoint's depth_arch (default alpha+beta, the published models; basic = depth head only)")
    p.add_argument("--image-size", type=int, default=512, help="network input side recorded with it (default 512, "
                                                                "the paper's; -p image_size N overrides it later)")
    p.add_argument("--out", required=True, help="output folder: OUT/best.pt")
    p.add_argument("--force", action="store_true", help="replace an existing OUT/best.pt")
    p.set_defaults(func=_cmd_import_official)


def _cmd_import_official(args) -> int:
    from .train.official import describe_import, import_official

    path = import_official(args.model_pth, args.out, backbone=args.backbone, modulation=args.modulation,
                           image_size=args.image_size, force=args.force)
    print(describe_import(path))
    print(f"use it with: dattt-nb segment VIDEO --checkpoint {path} --out OUT   or   "
          f"dattt-nb ttt --checkpoint {path} ...")
    return 0


# --- download ----------------------------------------------------------------------------------------------------

def _add_download(subparsers) -> None:
    p = subparsers.add_parser("download", help="fetch a real dataset and prepare it under data/ (only davis16 has a "
                                               "direct address)")
    p.add_argument("name", choices=["davis16"], help="davis16: DAVIS-2016 (~800 MB zip) → data/davis16 (20 val videos)")
    p.add_argument("--sha256", help="expected sha256 of the archive (none is published; the measured one is printed)")
    p.add_argument("--flow", default="dis", help="flow method for the prepared root (default: dis)")
    p.set_defaults(func=_cmd_download)


def _cmd_download(args) -> int:
    """DAVIS-16: download + unzip into data/downloads/, convert the val videos into data/davis16 with flow.

    Notebooks 01, 03 and 09 use data/davis16 when it exists (:func:`dattt_nb.config.davis_root`)."""
    from .config import data_root
    from .data.prepare import prepare_real
    from .data.real import download

    downloads = data_root() / "downloads"
    downloads.mkdir(parents=True, exist_ok=True)
    download(args.name, downloads, sha256=args.sha256, extract=True)
    src = downloads / "DAVIS"
    if not (src / "JPEGImages").is_dir():
        raise FileNotFoundError(f"the archive did not unpack to {src}/JPEGImages; convert it by hand with "
                                f"prepare_real('davis16', src=...) (see data/README.md)")
    root = prepare_real(args.name, src, flow_method=args.flow)
    print(f"DAVIS-16 val videos ready in {root}; notebooks 01, 03 and 09 now use them")
    return 0


# --- train / ttt: the modules' own command lines ------------------------------------------------------------------

DELEGATES = {"train": ("dattt_nb.train", "train_main", "stage-1 training (also under torchrun)"),
             "ttt": ("dattt_nb.ttt", "ttt_main", "test-time training over a dataset (also under torchrun)")}


def _add_delegates(subparsers) -> None:
    """Listed for --help; `main` hands their arguments to the module's own parser untouched."""
    for name, (_, _, text) in DELEGATES.items():
        subparsers.add_parser(name, help=f"{text}; see `dattt-nb {name} --help`", add_help=False)


def _delegate(name: str, argv: list[str]) -> int:
    import importlib

    debug = "--debug" in argv
    argv = [a for a in argv if a != "--debug"]
    package, entry, _ = DELEGATES[name]
    try:
        return _guarded(lambda: getattr(importlib.import_module(f"{package}.__main__"), entry)(argv), debug)
    except SystemExit as exit_:  # the module's --help or a usage error
        return int(exit_.code or 0)


# --- segment -----------------------------------------------------------------------------------------------------

def _add_segment(subparsers) -> None:
    p = subparsers.add_parser("segment", help="segment a video (frame folder or video file): PNG masks, overlay, J/F")
    p.add_argument("video", help="a folder of frames (jpg/png, natural order) or a video file (.mp4/.avi/.mov)")
    p.add_argument("--out", required=True, help="output folder: masks/<video>/<frame>.png and <video>/ with "
                                                "overlay.gif/.mp4 and segment.json (one place per video)")
    p.add_argument("--force", action="store_true",
                   help="replace this video's earlier output in --out made from other inputs or settings")
    p.add_argument("--checkpoint", help="stage-1 checkpoint .pt, never retrained (default: load or train the "
                                        "profile's model; the tiny/ci models know only synthetic clips)")
    p.add_argument("--ttt", type=_strategy, default="loop",
                   help="test-time training: none | n (TTT-N) | mwi (TTT-MWI) | ltv (TTT-LTV, default); the long "
                        "names (naive, momentum, loop) and the paper's labels work too")
    p.add_argument("--epochs", type=int, default=None, help="TTT epochs (default: the profile's ttt_epochs)")
    add_profile_option(p)
    p.add_argument("--gt", help="ground-truth masks named like the frames: a folder of PNGs, a DAVIS root, or "
                                "'auto' (the Annotations beside a DAVIS frame folder); adds J/F to segment.json")
    p.add_argument("--max-frames", type=int, default=0, help="segment only the first N frames (0 = all)")
    p.add_argument("--resize-long", type=int, default=None, help="scale frames so their long side is N pixels")
    p.add_argument("--device", help="auto | cpu | cuda (default: the profile's)")
    add_setting_options(p, "ttt_lr 1e-4")
    p.add_argument("--allow-gaps", action="store_true",
                   help="accept numbered frames with gaps (e.g. 00003 missing), treating neighbours as consecutive")
    p.add_argument("--allow-nonfinite", action="store_true",
                   help="keep the result even when TTT skipped many steps as non-finite (NaN/inf)")
    p.add_argument("--no-baseline", action="store_true", help="skip the extra no-TTT prediction")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=_cmd_segment)


def _strategy(text: str) -> str:
    from .ttt.__main__ import strategy_arg

    return strategy_arg(text)


def _cmd_segment(args) -> int:
    from .config import parse_overrides, resolve
    from .run.segment import segment_video

    given = parse_overrides(args.param)
    settings = resolve(args.profile, given, device=args.device)
    res = segment_video(args.video, settings, checkpoint=args.checkpoint, ttt=args.ttt, epochs=args.epochs,
                        out_dir=args.out, gt_root=args.gt, progress=not args.quiet, max_frames=args.max_frames,
                        resize_long=args.resize_long, with_baseline=not args.no_baseline,
                        allow_gaps=args.allow_gaps, allow_nonfinite=args.allow_nonfinite, force=args.force,
                        given=given)
    print(f"{res.label} on {len(res)} frames ({res.timing['total']:.1f} s): masks in {res.files['masks']}, "
          f"overlay {res.files['overlay_mp4']}, record {res.files['json']}")
    if res.metrics is not None:
        print(res.table()[["J", "F", "JF"]].to_string(float_format=lambda v: f"{v:.3f}"))
    return 0


# --- bundle ------------------------------------------------------------------------------------------------------

def _add_bundle(subparsers) -> None:
    p = subparsers.add_parser("bundle", help="export / import a course bundle: trained checkpoints and TTT caches")
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    e = actions.add_parser("export", help="pack runs/<profile>/{checkpoints,ttt/cache,results} into FILE (.tar.gz)")
    e.add_argument("file", metavar="FILE", help="the bundle to write (a FILE.sha256 is written beside it)")
    add_profile_option(e)
    e.set_defaults(func=_cmd_bundle_export)
    i = actions.add_parser("import", help="verify a bundle (path or URL) and unpack it into runs/<profile>/")
    i.add_argument("source", metavar="FILE_OR_URL", help="a bundle file, or a URL (https://, file://)")
    i.add_argument("--sha256", help="the bundle's expected sha256 (hex); a different file is refused")
    i.add_argument("--profile", help="refuse a bundle of any other profile")
    i.add_argument("--overwrite", action="store_true", help="replace files in runs/<profile>/ that differ")
    i.add_argument("--any-version", action="store_true", help="accept a bundle made by another dattt-nb version")
    i.set_defaults(func=_cmd_bundle_import)


def _cmd_bundle_export(args) -> int:
    from .course.bundle import export_bundle

    made = export_bundle(args.file, profile=args.profile)
    print(f"{made['path']}: profile {made['profile']}, {len(made['files'])} files, {made['bytes'] / 2**20:.1f} MiB, "
          f"commit {made['git_commit']}")
    print(f"sha256 {made['sha256']} (also in {made['path']}.sha256)")
    print(f"students: dattt-nb bundle import FILE_OR_URL --sha256 {made['sha256']}")
    return 0


def _cmd_bundle_import(args) -> int:
    from .course.bundle import import_bundle

    done = import_bundle(args.source, sha256=args.sha256, profile=args.profile, overwrite=args.overwrite,
                         allow_version=args.any_version)
    print(f"imported {done['files']} files of profile {done['profile']} into {done['run_dir']} "
          f"({done['placed']} placed, {done['unchanged']} already there)")
    if not done["same_commit"]:
        print(f"note: the bundle was made at commit {done['git_commit']}; TTT caches made by other code are "
              f"recomputed when a notebook needs them")
    return 0


# --- report ------------------------------------------------------------------------------------------------------

def _add_report(subparsers) -> None:
    p = subparsers.add_parser("report", help="the README's results block from a run (runs/<profile>/results_block.md)")
    p.add_argument("--profile", help="named profile whose run to read (default: $DATTT_PROFILE or tiny)")
    p.add_argument("--readme", help="also write the block between the results markers of this README")
    p.set_defaults(func=_cmd_report)


def _cmd_report(args) -> int:
    from .config import default_profile, run_dir
    from .reporting.summary import results_block, update_readme
    from .utils import atomic_path

    folder = run_dir(args.profile or default_profile())
    if not (folder / "results").is_dir():
        raise FileNotFoundError(f"{folder / 'results'}: no results for this profile yet; run `make tutorial` first")
    block = results_block(folder)
    out = folder / "results_block.md"
    with atomic_path(out) as tmp:
        tmp.write_text(block)
    print(f"results block: {out}")
    if args.readme:
        print(f"updated {update_readme(args.readme, block)}")
    return 0


# --- corrupt -----------------------------------------------------------------------------------------------------

def _add_corrupt(subparsers) -> None:
    from .data.corruptions import CORRUPTIONS

    p = subparsers.add_parser("corrupt", help="write a corrupted copy of a DAVIS-layout root (frames only; masks, "
                                              "flow and depth copied unchanged): a \"DAVIS-C\"")
    p.add_argument("src", help="a dataset root in the DAVIS layout")
    p.add_argument("dst", help="a new folder for the corrupted copy (not SRC, not inside it, not containing it)")
    p.add_argument("--kind", required=True, choices=sorted(CORRUPTIONS), help="photometric corruption")
    p.add_argument("--severity", required=True, type=int, choices=range(0, 6), metavar="{0..5}",
                   help="severity 1-5 (ImageNet-C style tables in dattt_nb.data.corruptions; 0 = a clean copy)")
    p.add_argument("--seed", type=int, default=0, help="seed of the random draws (default 0)")
    p.add_argument("--recompute-flow", action="store_true",
                   help="estimate the flow again from the corrupted frames (default: keep SRC's flow)")
    p.add_argument("--flow", choices=["dis", "farneback", "raft_small", "raft_large"], default="dis",
                   help="flow method with --recompute-flow (default dis)")
    p.set_defaults(func=_cmd_corrupt)


def _cmd_corrupt(args) -> int:
    import time

    from .data.corrupted import corrupt_root
    from .data.layout import list_videos

    start = time.perf_counter()
    info = corrupt_root(args.src, args.dst, args.kind, args.severity, seed=args.seed,
                        recompute_flow=args.recompute_flow, flow_method=args.flow)
    print(f"{args.dst}: {len(list_videos(args.dst))} videos, {info['kind']} at severity {info['severity']} "
          f"({info['meaning']} = {info['parameter']}), flow {info['flow']} ({time.perf_counter() - start:.1f} s)")
    return 0


# --- entry point -------------------------------------------------------------------------------------------------

COMMANDS: list[Callable] = [_add_run, _add_prepare, _add_prepare_real, _add_import_official, _add_corrupt,
                            _add_download, _add_delegates, _add_segment, _add_eval, _add_bundle, _add_report]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dattt-nb", description=__doc__.splitlines()[0])
    parser.add_argument("--debug", action="store_true", help="show the full traceback on errors (also --traceback)")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in COMMANDS:
        add(subparsers)
    return parser


class InputError(ValueError):
    """Bad input from the user (a file, a folder, a setting): one line on stderr and exit code 2."""


INPUT_ERRORS = (ValueError, KeyError, FileNotFoundError, FileExistsError, NotADirectoryError, IsADirectoryError,
                PermissionError)


def _one_line_warnings(show: Callable) -> Callable:
    """``warnings.showwarning`` that prints warnings about the input or result
    (:class:`~dattt_nb.utils.DatttWarning`) as one line on stderr and hands the others to ``show``."""
    from .utils import DatttWarning

    def show_warning(message, category, filename, lineno, file=None, line=None):
        if issubclass(category, DatttWarning):
            print(f"dattt-nb: warning: {message}", file=sys.stderr)
        else:
            show(message, category, filename, lineno, file, line)

    return show_warning


def _guarded(call: Callable[[], int | None], debug: bool) -> int:
    """Run a command: input errors become ``dattt-nb: error: …`` and exit code 2 (``--debug``: the traceback)."""
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _one_line_warnings(warnings.showwarning)
            return int(call() or 0)
    except KeyboardInterrupt:
        print("dattt-nb: interrupted", file=sys.stderr)
        return 130
    except INPUT_ERRORS as err:
        if debug:
            raise
        message = err.args[0] if isinstance(err, KeyError) and err.args else err
        print(f"dattt-nb: error: {message}", file=sys.stderr)
        return 2
    except Exception as err:
        if debug:
            raise
        from .guards import disk_error

        mapped = disk_error(err, getattr(err, "filename", None) or "the output") if isinstance(err, OSError) \
            else None
        if mapped is not None:  # a full disk or read-only target that no writer named: still one line, exit 2
            print(f"dattt-nb: error: {mapped}", file=sys.stderr)
            return 2
        print(f"dattt-nb: error: {type(err).__name__}: {err} (run with --debug for the traceback)", file=sys.stderr)
        return 1


def main(argv: list[str] | None = None) -> int:
    """Parse ``argv`` and run the command; errors become one line on stderr and a non-zero return code."""
    argv = sys.argv[1:] if argv is None else list(argv)
    debug = "--debug" in argv or "--traceback" in argv
    argv = [a for a in argv if a not in ("--debug", "--traceback")]
    if argv and argv[0] in DELEGATES:
        return _delegate(argv[0], argv[1:] + (["--debug"] if debug else []))
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:  # --help or a usage error (argparse has printed it)
        return int(exit_.code or 0)
    return _guarded(lambda: args.func(args), debug)


if __name__ == "__main__":
    sys.exit(main())
