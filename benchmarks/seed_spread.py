"""The training-seed spread of the main model: stage 1 with ≥ 3 model seeds on the same benchmark videos.

For every seed, the ``alpha+beta`` model (§4.1, eq. 2) is trained with ``seed=S`` and the profile's ``data_seed``
(the same synthetic clips for every seed), then every test split is scored without TTT and with the profile's
TTT-LTV (§4.2, eq. 4). The table — per (seed, split): no-TTT J, TTT-LTV J and ΔJ (×100) and the 95 % bootstrap
interval of ΔJ over the split's videos — is saved as ``runs/<profile>/results/seed_spread.csv`` (+ .json), where
notebooks 03–08 read it (:mod:`dattt_nb.reporting.noise`) and ``dattt-nb bundle export`` carries it to a class.

    python benchmarks/seed_spread.py --profile tiny --seeds 0,1,2 --jobs 2

Heavy: one stage-1 training (about 4–5 min at tiny on one thread) and one TTT-LTV run over the test videos per
seed; seeds run ``--jobs`` at a time with one thread each. Checkpoints and TTT runs go to the run's usual caches
(seed 0's are the series' own and are reused).
"""
from __future__ import annotations

import argparse
import multiprocessing
import sys
import time
from concurrent.futures import ProcessPoolExecutor

import pandas as pd


def parse_seeds(text: str) -> list[int]:
    """``"0,1,2"`` → ``[0, 1, 2]``; at least three distinct seeds ≥ 0 (exit code 2 otherwise)."""
    try:
        seeds = sorted({int(s) for s in text.split(",") if s.strip()})
    except ValueError:
        raise SystemExit(2) from None
    if len(seeds) < 3 or min(seeds) < 0:
        print(f"--seeds {text!r}: expected at least three distinct integers >= 0, e.g. 0,1,2", file=sys.stderr)
        raise SystemExit(2)
    return seeds


def run_seed(profile: str, seed: int, data_seed: int) -> list[dict]:
    """Train (or load) the main model at ``seed`` and score every test split without and with TTT-LTV."""
    import torch

    from dattt_nb.config import resolve
    from dattt_nb.ttt.report import video_deltas
    from dattt_nb.train import load_or_train
    from dattt_nb.ttt.cache import load_test_splits, run_splits

    torch.set_num_threads(1)
    settings = resolve(profile, {"data_seed": data_seed}, seed=seed)
    start = time.perf_counter()
    model, info = load_or_train(settings, variant="alpha+beta")
    data = load_test_splits(settings)
    none = run_splits(model, data, settings, "none", progress=False)
    ltv = run_splits(model, data, settings, "loop", objective="depth", progress=False)
    rows = []
    for split in data:
        iv = video_deltas(none, ltv, [split])
        j_none = 100 * sum(v.J for v in none[split].videos) / len(none[split].videos)
        rows.append(dict(seed=seed, data_seed=data_seed, split=split, J_none=j_none, J_ltv=j_none + iv.mean,
                         dJ=iv.mean, dJ_lo=iv.lo, dJ_hi=iv.hi, videos=iv.n, best_val_J=100 * info["best_val_J"],
                         seconds=round(time.perf_counter() - start, 1)))
    return rows


def main(argv=None) -> None:
    from dattt_nb.config import resolve
    from dattt_nb.data.prepare import ensure_benchmark
    from dattt_nb.reporting.noise import SEED_SPREAD, spread_by_split
    from dattt_nb.results import save_table

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="tiny")
    parser.add_argument("--seeds", default="0,1,2", help="model seeds, at least three (default 0,1,2)")
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args(argv)
    seeds = parse_seeds(args.seeds)
    settings = resolve(args.profile)
    ensure_benchmark(settings, verbose=False)  # once, before the workers (they share the clips)
    with ProcessPoolExecutor(max(1, args.jobs), mp_context=multiprocessing.get_context("spawn")) as pool:
        parts = list(pool.map(run_seed, [args.profile] * len(seeds), seeds, [settings.data_seed] * len(seeds)))
    table = pd.DataFrame([row for rows in parts for row in rows])
    print(table.round(2).to_string(index=False))
    print(spread_by_split(table).round(2).to_string())
    save_table(table.set_index(["seed", "split"]), SEED_SPREAD, settings,
               meta=dict(variant="alpha+beta", data_seed=settings.data_seed, seeds=seeds, strategy="loop",
                         epochs=settings.ttt_epochs, units="J x100"))


if __name__ == "__main__":
    main()
