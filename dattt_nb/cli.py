"""The ``dattt-nb`` command: run the notebook series, evaluate predicted masks.

One ``_add_<cmd>(subparsers)`` / ``_cmd_<cmd>(args)`` pair per sub-command, listed in ``COMMANDS``; heavy imports
happen inside the command functions so ``dattt-nb --help`` stays fast.
"""
from __future__ import annotations

import argparse
import re
import sys
from typing import Callable


_NUMBER = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)$")  # 1e-5: a string to YAML 1.1, a float here


def _parse_value(text: str):
    """A command-line value as YAML: ``3`` → int, ``1e-5`` → float, ``true`` → bool, ``null`` → None."""
    import yaml

    if _NUMBER.match(text.strip()):
        return float(text)
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


# --- run ---------------------------------------------------------------------------------------------------------

def _add_run(subparsers) -> None:
    p = subparsers.add_parser("run", help="execute the notebooks in order with papermill (runs/<profile>/)")
    p.add_argument("--profile", help="named profile: ci | tiny | paper (default: $DATTT_PROFILE or tiny)")
    p.add_argument("--only", help="comma-separated notebook numbers or names, e.g. 00,01")
    p.add_argument("-p", "--param", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                   help="override a notebook parameter (value parsed as YAML); repeatable")
    p.add_argument("--force", action="store_true", help="re-run notebooks even if their last run is up to date")
    p.add_argument("--timeout", type=int, default=None, help="per-cell timeout in seconds (default: none)")
    p.set_defaults(func=_cmd_run)


def _cmd_run(args) -> int:
    from .pipeline import run_pipeline

    only = [s for s in args.only.split(",") if s.strip()] if args.only else None
    params = {name: _parse_value(value) for name, value in args.param}
    manifest = run_pipeline(profile=args.profile, only=only, params=params, force=args.force, timeout=args.timeout)
    for name, entry in manifest["notebooks"].items():
        state = "reused" if entry.get("reused") else entry.get("status")
        print(f"{name:<32} {state:<8} {entry.get('seconds', 0):8.1f} s")
    print(f"manifest and report in {manifest['run_dir']}")
    return 0


# --- eval --------------------------------------------------------------------------------------------------------

def _add_eval(subparsers) -> None:
    p = subparsers.add_parser("eval", help="DAVIS J and F of predicted masks against a DAVIS-layout ground truth")
    p.add_argument("--gt", required=True, help="root with Annotations/<video>/*.png (or Annotations/480p/...)")
    p.add_argument("--pred", required=True, help="folder with <video>/<frame>.png masks (nonzero = object)")
    p.add_argument("--out", help="write per-video and mean results to this JSON file")
    p.add_argument("--bound-th", type=float, default=0.008, help="boundary tolerance (fraction of the diagonal)")
    p.set_defaults(func=_cmd_eval)


def _cmd_eval(args) -> int:
    from .metrics import evaluate_folder
    from .utils import atomic_write_json

    table = evaluate_folder(args.gt, args.pred, bound_th=args.bound_th)
    mean = {k: float(table[k].mean()) for k in ("J", "F", "JF")}
    shown = table[["frames", "J", "F", "JF", "J_recall", "J_decay", "F_recall", "F_decay"]]
    print(shown.to_string(float_format=lambda v: f"{v:.3f}"))
    print(f"mean over {len(table)} videos: J = {mean['J']:.3f}  F = {mean['F']:.3f}  J&F = {mean['JF']:.3f}")
    if args.out:
        atomic_write_json(args.out, {"gt": str(args.gt), "pred": str(args.pred), "bound_th": args.bound_th,
                                     "mean": mean, "videos": table.to_dict(orient="index")})
        print(f"wrote {args.out}")
    return 0


# --- entry point -------------------------------------------------------------------------------------------------

COMMANDS: list[Callable] = [_add_run, _add_eval]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dattt-nb", description=__doc__.splitlines()[0])
    parser.add_argument("--traceback", action="store_true", help="show the full traceback on errors")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in COMMANDS:
        add(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Parse ``argv`` and run the command; errors become one line on stderr and a non-zero return code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:  # --help or a usage error (argparse has printed it)
        return int(exit_.code or 0)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("dattt-nb: interrupted", file=sys.stderr)
        return 130
    except Exception as err:
        if args.traceback:
            raise
        message = err.args[0] if isinstance(err, KeyError) and err.args else err
        print(f"dattt-nb {args.command}: error: {message}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
