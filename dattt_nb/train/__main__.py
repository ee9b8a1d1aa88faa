"""``python -m dattt_nb.train`` (also under ``torchrun``): train one Table 1 variant outside the notebooks.

Examples::

    python -m dattt_nb.train --profile tiny --variant alpha+beta
    torchrun --nproc_per_node 2 -m dattt_nb.train --profile ci -p train_steps 20
"""
from __future__ import annotations

import argparse
import json
import os
import sys

from dattt_nb.config import add_profile_option, add_setting_options


def add_train_arguments(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The train options (shared with ``dattt-nb train``)."""
    from dattt_nb.models import VARIANTS

    add_profile_option(p)
    p.add_argument("--variant", default=None, choices=tuple(VARIANTS),
                   help="model variant (Table 1): none | head | alpha | beta | alpha+beta, or the Table 4 baselines "
                        "rot | mae (default: the profile's)")
    add_setting_options(p, "train_steps 500")
    p.add_argument("--force", action="store_true", help="start from scratch even if a checkpoint exists")
    p.add_argument("--train-root", action="append", default=[], metavar="DIR",
                   help="train on this prepared DAVIS-layout folder (repeatable) instead of the profile's data "
                        "(paper profile: data/youtube-vos, else data/davis16-train)")
    p.add_argument("--val-root", action="append", default=[], metavar="DIR",
                   help="validation folder (repeatable, with --train-root)")
    p.add_argument("--out-dir", help="checkpoint folder (default: runs/<profile>/checkpoints/<variant>/<key>, "
                                     "keyed by every setting that shapes the weights)")
    p.add_argument("--max-steps", type=int, default=None, help="stop after this many steps in this call (resumable)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def train_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m dattt_nb.train", description=__doc__.splitlines()[0])
    return add_train_arguments(parser)


def train_command(args: argparse.Namespace) -> int:
    """Resolve the settings, train (or resume), print a JSON summary on rank 0."""
    from dattt_nb.config import parse_overrides, resolve

    from .loop import train

    settings = resolve(args.profile, parse_overrides(args.param))
    roots = None
    if args.train_root:
        roots = {"train": args.train_root, "val": args.val_root}
    elif args.val_root:
        raise ValueError("--val-root needs --train-root")
    info = train(settings, args.variant, out_dir=args.out_dir, roots=roots, resume=not args.force,
                 max_steps_this_call=args.max_steps, progress=not args.no_progress)
    if int(os.environ.get("RANK", "0")) == 0:
        summary = {k: info[k] for k in ("variant", "step", "finished", "best_val_J", "train_seconds", "checkpoint")}
        summary["seconds_per_step"] = round(info["seconds_per_step"], 4)
        print(json.dumps(summary, indent=2))
    return 0


def train_main(argv: list[str] | None = None) -> int:
    args = train_parser().parse_args(argv)
    from dattt_nb.utils import run_distributed

    return run_distributed(train_command, args)


if __name__ == "__main__":
    sys.exit(train_main())
