"""``python -m dattt_nb.ttt`` (also under ``torchrun``): test-time training over a test split, results to disk.

Examples::

    python -m dattt_nb.ttt --profile tiny --strategy loop --split davis
    python -m dattt_nb.ttt --profile ci --strategy naive --objective tent -p ttt_epochs 2
    torchrun --nproc_per_node 4 -m dattt_nb.ttt --profile paper --strategy loop --split longvideos

Videos are independent: under ``torchrun`` rank r takes ``videos[r::world]`` and rank 0 merges and writes
``runs/<profile>/ttt/<strategy>/<split>[_<objective>][_gap<k>].csv`` and ``.json``.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from dattt_nb.config import add_profile_option, add_setting_options


def strategy_arg(text: str) -> str:
    """``--strategy`` / ``--ttt``: any spelling of a strategy → its name (argparse shows the error on one line)."""
    from dattt_nb.ttt.strategies import strategy_name

    try:
        return strategy_name(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def add_ttt_arguments(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The TTT options (shared with ``dattt-nb ttt``)."""
    from dattt_nb.ttt.objectives import OBJECTIVES
    from dattt_nb.ttt.strategies import STRATEGY_CHOICES

    add_profile_option(p)
    p.add_argument("--strategy", type=strategy_arg, default=None,
                   help=f"{STRATEGY_CHOICES} (default: the profile's)")
    p.add_argument("--objective", choices=sorted(OBJECTIVES), default=None,
                   help="depth (DATTT) | tent | bn | rotation | mae (default: the profile's)")
    p.add_argument("--split", default="davis", help="test split / dataset name (default: davis)")
    p.add_argument("--root", "--test-root", dest="root", action="append", default=[], metavar="DIR",
                   help="a prepared DAVIS-layout folder to adapt on instead of the profile's split (repeatable: "
                        "each is named after its dataset, e.g. davis16 → davis)")
    p.add_argument("--checkpoint", help="stage-1 checkpoint .pt to adapt (never trains); default: the finished "
                                        "checkpoint of these settings, else stop and say how to train it")
    p.add_argument("--train-root", action="append", default=[], metavar="DIR",
                   help="the prepared training root(s) of the model to look up (as given to train; repeatable)")
    p.add_argument("--val-root", action="append", default=[], metavar="DIR",
                   help="the prepared validation root(s) of the model to look up (repeatable)")
    p.add_argument("--videos", nargs="+", help="only these videos (default: every video of the split)")
    p.add_argument("--variant", default=None, help="trained model variant (default: the profile's modulation)")
    add_setting_options(p, "ttt_epochs 3")
    p.add_argument("--out-dir", help="output folder (default: runs/<profile>/ttt/<strategy>)")
    p.add_argument("--save-masks", nargs="?", const="", default=None, metavar="OUT",
                   help="also write the predicted masks as PNGs OUT/<video>/<frame>.png (default OUT: "
                        "<out-dir>/<split>_masks), at each frame's own size for real data (score them with "
                        "`dattt-nb eval --gt ROOT --pred OUT`)")
    p.add_argument("--force", action="store_true",
                   help="replace the masks another run (other settings, model, videos or data) left in --save-masks")
    p.add_argument("--allow-nonfinite", action="store_true",
                   help="write the results even when TTT skipped many steps as non-finite (NaN/inf)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def ttt_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m dattt_nb.ttt", description=__doc__.splitlines()[0])
    return add_ttt_arguments(parser)


def _distributed():
    """(rank, world, device) — a gloo process group under torchrun, so results can be gathered on rank 0."""
    import torch

    from dattt_nb.utils import distributed_env

    rank, world, local = distributed_env("gloo")
    device = None
    if torch.cuda.is_available():
        torch.cuda.set_device(local)
        device = torch.device("cuda", local)
    return rank, world, device


def load_model_for(settings, args, rank: int = 0):
    """(model, checkpoint path, its config): ``--checkpoint``, else the finished checkpoint of these settings
    (and ``--train-root/--val-root``); never trains — a missing one stops with the command that trains it."""
    from dattt_nb.config import pick_device
    from dattt_nb.train.checkpoint import find_checkpoint, load_model, training_data

    if args.checkpoint:
        path = Path(args.checkpoint)
        if not path.is_file():
            raise FileNotFoundError(f"checkpoint {path} does not exist; pass a best.pt written by dattt-nb train")
    else:
        roots = {"train": args.train_root, "val": args.val_root} if args.train_root else None
        path = find_checkpoint(settings, args.variant or settings.modulation, training_data(settings, roots))
    model, ckpt = load_model(path, device=pick_device(settings))
    return model, path, ckpt.get("config", {})


def ttt_command(args: argparse.Namespace) -> int:
    """Resolve settings, load the trained model, adapt on this rank's videos, merge and write on rank 0."""
    import torch.distributed as dist

    from dattt_nb.config import parse_overrides, resolve
    from dattt_nb.data.layout import list_videos
    from dattt_nb.train.checkpoint import trained_on
    from dattt_nb.utils import check_output

    settings = resolve(args.profile, parse_overrides(args.param))
    if args.out_dir:
        check_output(args.out_dir, folder=True, what="--out-dir")
    rank, world, device = _distributed()
    if args.root:
        from dattt_nb.data.prepare import test_split_name

        targets = [(args.split if len(args.root) == 1 else test_split_name(r), Path(r)) for r in args.root]
    else:
        from dattt_nb.data.prepare import ensure_benchmark

        if rank == 0:
            roots = ensure_benchmark(settings, splits=[args.split])
        if world > 1:
            dist.barrier()  # rank 0 has built the data: the others only find it
        if rank != 0:
            roots = ensure_benchmark(settings, splits=[args.split], verbose=False)
        if args.split not in roots:
            raise ValueError(f"split {args.split!r} not found; available: {sorted(roots)}")
        targets = [(args.split, roots[args.split])]
    from dattt_nb.guards import check_separate

    for _, root in targets:  # results and masks never go into the dataset they score
        for flag, value in (("--out-dir", args.out_dir), ("--save-masks", args.save_masks)):
            if value:
                check_separate(root, value, "test root", flag)
    model, path, config = load_model_for(settings, args, rank)
    if rank == 0:
        print(f"model: {path}, trained on {trained_on(config)}")
    size = int(config.get("image_size") or settings.image_size)  # the input size the model was trained at
    for split, root in targets:
        names = list_videos(root)
        if args.videos:
            names = list(args.videos) if len(targets) == 1 else [v for v in args.videos if v in names]
        if names:
            _adapt(model, settings, args, split, root, names, size, rank, world, device)
    return 0


MASKS_RECORD = ".dattt-masks.json"  # what made the masks in a --save-masks folder


def _claim_masks_folder(folder: Path, model, spec, root, names: list[str], force: bool) -> None:
    """``--save-masks`` writes into ``folder`` only when it is empty or holds this same run's masks (same model,
    TTT run, videos and data); other masks there stop the command unless ``--force``, which replaces them whole."""
    from dattt_nb.guards import claim_output, fingerprint
    from dattt_nb.ttt.cache import model_fingerprint
    from dattt_nb.utils import atomic_write_json

    from dattt_nb.data.layout import FLOW, FRAMES

    key = fingerprint([Path(root) / sub for sub in (FRAMES, FLOW)], model=model_fingerprint(model),
                      run=spec.to_dict(), videos=sorted(names))
    record = folder / MASKS_RECORD
    same = record.is_file() and json.loads(record.read_text()).get("fingerprint") == key
    claim_output(folder, same_job=same, force=force, what="masks folder (--save-masks)",
                 holds="masks of another run (other model, TTT settings, videos or data)")
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write_json(record, {"fingerprint": key, "run": spec.to_dict(), "videos": sorted(names)})


def _adapt(model, settings, args, split, root, names, size, rank, world, device) -> None:
    """TTT on this rank's share of one root's videos; rank 0 merges, prints and writes the results."""
    import torch.distributed as dist

    from dattt_nb.config import run_dir
    from dattt_nb.data.layout import read_manifest, write_masks
    from dattt_nb.data.stream import stream_split
    from dattt_nb.native_scores import write_native_masks
    from dattt_nb.ttt.records import write_results
    from dattt_nb.ttt.runner import check_nonfinite, run_ttt

    from dattt_nb.ttt.spec import TTTRun

    real = read_manifest(root).get("kind") == "real"
    mine = names[rank::world]
    spec = TTTRun.from_settings(settings, strategy=args.strategy, objective=args.objective)
    out = Path(args.out_dir) if args.out_dir else run_dir(settings) / "ttt" / spec.strategy
    stem = split + ("" if spec.objective == "depth" else f"_{spec.objective}") + \
        (f"_gap{spec.frame_gap}" if spec.frame_gap > 1 and spec.record.groupable else "")
    masks_out = None
    if args.save_masks is not None:  # claimed before any TTT: an earlier run's masks are never overwritten silently
        masks_out = Path(args.save_masks) if args.save_masks else out / f"{stem}_masks"
        if rank == 0:
            _claim_masks_folder(masks_out, model, spec, root, names, args.force)
        if world > 1:
            dist.barrier()
    videos = stream_split(root, size=size, videos=mine, with_depth=False) if mine else []
    result = run_ttt(model, videos, settings, spec, progress=not args.no_progress and rank == 0, device=device)
    if masks_out is not None:  # each rank writes its own videos
        if real:
            write_native_masks(result, root, masks_out)
        else:
            for video, res in zip(videos, result.videos):
                write_masks(masks_out, video.name, res.masks.numpy(), video.frame_names)
        if rank == 0:
            print(f"masks in {masks_out}" + (" (each frame's own size)" if real else f" ({size} px)"))
    for res in result.videos:  # only the scores travel to rank 0
        res.masks = res.final_masks = None
    if world > 1:
        gathered = [None] * world if rank == 0 else None
        dist.gather_object(result, gathered, dst=0)
        if rank == 0:
            by_name = {v.name: v for r in gathered for v in r.videos}
            result.videos = [by_name[n] for n in names]
    if rank == 0:
        if not args.allow_nonfinite:
            check_nonfinite(result)
        csv, js = write_results(result, out / stem, settings=settings)
        table = result.table()
        print(table[["method", "J", "F", "J_final", "steps", "nonfinite", "fps"]].to_string(
            float_format=lambda v: f"{v:.3f}"))
        where = "at the original frame size" if real else f"at {size} px"
        print(f"{split}: mean J = {table['J'].mean():.3f}  F = {table['F'].mean():.3f} over {len(table)} videos "
              f"({where})")
        print(f"wrote {csv} and {js}")


def ttt_main(argv: list[str] | None = None) -> int:
    try:
        args = ttt_parser().parse_args(argv)
    except SystemExit as exit_:  # --help or a usage error (argparse has printed it)
        return int(exit_.code or 0)
    from dattt_nb.utils import run_distributed

    return run_distributed(ttt_command, args)


if __name__ == "__main__":
    sys.exit(ttt_main())
