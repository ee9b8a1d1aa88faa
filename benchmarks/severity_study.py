"""The shift-severity study's runs (notebook 10) for a grid, computed into the per-video TTT run cache, so that the
notebook only reads them: ``--grid tiny`` is what notebook 10 shows at the tiny profile, ``--grid full`` every kind
at every severity (about ten CPU-hours at tiny: a course-bundle job, ``dattt-nb bundle export`` ships the cache).

    python benchmarks/severity_study.py --profile tiny --grid tiny --jobs 2

Conditions are shared out over ``--jobs`` worker processes (one thread each); the cache merges their videos under a
file lock. Prints the time per worker; the notebook's own run then takes seconds per condition.
"""
from __future__ import annotations

import argparse
import time
from concurrent.futures import ProcessPoolExecutor


def work(profile: str, grid: str, part: int, parts: int) -> str:
    import torch

    from dattt_nb.config import resolve
    from dattt_nb.train import load_or_train
    from dattt_nb.ttt.severity import get_grid, run_study, source_clips, stopping_runs

    torch.set_num_threads(1)
    settings = resolve(profile)
    g = get_grid(grid)
    model, _ = load_or_train(settings, progress=False)
    clips = source_clips(settings, n_videos=g.n_videos)
    start = time.perf_counter()
    conds = g.conditions()[part::parts]
    run_study(model, settings, clips, conds, seeds=g.seeds, progress=False)
    stops = g.stop_conditions()[part::parts]
    stopping_runs(model, settings, clips, stops, g.stop_epochs, progress=False)
    if parts == 1:
        from dattt_nb.ttt.severity import mark_grid_done

        mark_grid_done(settings, grid, model)
    return f"worker {part}: {len(conds)} conditions + {len(stops)} stopping runs in {time.perf_counter() - start:.0f} s"


def mark(profile: str, grid: str) -> None:
    """Every worker finished: record the grid as cached for this model (notebook 10 then shows it)."""
    from dattt_nb.config import resolve
    from dattt_nb.train import load_or_train
    from dattt_nb.ttt.severity import mark_grid_done

    settings = resolve(profile)
    mark_grid_done(settings, grid, load_or_train(settings, progress=False)[0])


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--profile", default="tiny")
    p.add_argument("--grid", default=None, help="ci | tiny | full (default: the profile's name)")
    p.add_argument("--jobs", type=int, default=1)
    args = p.parse_args(argv)
    grid = args.grid or args.profile
    start = time.perf_counter()
    if args.jobs <= 1:
        print(work(args.profile, grid, 0, 1))
    else:
        import multiprocessing

        with ProcessPoolExecutor(args.jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
            for line in pool.map(work, [args.profile] * args.jobs, [grid] * args.jobs, range(args.jobs),
                                 [args.jobs] * args.jobs):
                print(line, flush=True)
        mark(args.profile, grid)
    print(f"grid {grid!r} at profile {args.profile!r}: {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
