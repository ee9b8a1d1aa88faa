"""Does the training budget decide whether depth-aware TTT helps? TTT-LTV's gain on the VALIDATION split (never a
test split) for the stage-1 alpha+beta model trained 600 and 1,200 steps, with the profile's TTT settings.

    python benchmarks/budget_ttt_gain.py --profile tiny                 # 600 and 1,200 steps
    python benchmarks/budget_ttt_gain.py --profile tiny --steps 600 900 1200 --seeds 0 1 2

Trains (or loads) each model with ``load_or_train`` (the series' checkpoints), runs No TTT and TTT-LTV over the
validation clips through the per-video run cache, once per seed of the TTT views, and prints per model the mean
no-TTT J, the mean change with its 95 % bootstrap interval over videos (``dattt_nb.stats``) and the verdict.
Writes ``runs/<profile>/results/budget_ttt_gain.csv`` (+ .json). It does not change the profile.

Measured for the tiny profile (2026-12-06, 2-core CPU shared with other jobs; TTT-LTV lr 1e-5, 8 pairs, 2 passes;
12 validation clips x 3 seeds of the views; J x100): 600 steps: no-TTT J 60.3, ΔJ +0.09 [-0.09, +0.32]; 1,200 steps:
no-TTT J 63.1, ΔJ -0.03 [-0.37, +0.31]. No clear change either way: doubling the stage-1 budget adds 2.8 J without TTT
and does not make TTT-LTV help (the TTT settings were not re-chosen for either model).
"""
from __future__ import annotations

import argparse
import dataclasses
import time


def main(argv=None) -> None:
    import numpy as np
    import pandas as pd
    import torch

    from dattt_nb.config import resolve
    from dattt_nb.data.layout import load_split
    from dattt_nb.data.prepare import ensure_benchmark
    from dattt_nb.results import save_table
    from dattt_nb.stats import paired_delta_ci
    from dattt_nb.train import load_or_train
    from dattt_nb.ttt.cache import cached_ttt

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--profile", default=None, help="named profile (default: $DATTT_PROFILE or tiny)")
    p.add_argument("--steps", nargs="+", type=int, default=[600, 1200], help="stage-1 training steps to compare")
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2], help="seeds of the TTT views")
    p.add_argument("--strategy", default="loop", help="TTT strategy (default loop = TTT-LTV)")
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    base = resolve(args.profile)
    rows = []
    for steps in args.steps:
        settings = dataclasses.replace(base, train_steps=steps)
        start = time.perf_counter()
        model, info = load_or_train(settings, progress=False)
        root = ensure_benchmark(settings, splits=["val"], verbose=False)["val"]
        videos = load_split(root, size=settings.image_size, with_depth=False)
        none = cached_ttt(model, videos, settings, "val", strategy="none", progress=False)
        gains = []
        for seed in args.seeds:
            res = cached_ttt(model, videos, dataclasses.replace(settings, seed=seed), "val", strategy=args.strategy,
                             progress=False)
            gains.append([v.J for v in res.videos])
        after = np.mean(gains, axis=0)  # per video, averaged over the seeds of the views
        ci = paired_delta_ci(after, [v.J for v in none.videos])
        rows.append(dict(train_steps=steps, best_val_J=100 * info["best_val_J"], J_none=100 * np.mean(
            [v.J for v in none.videos]), dJ=100 * ci.mean, lo=100 * ci.lo, hi=100 * ci.hi, videos=ci.n,
            seeds=len(args.seeds), verdict=ci.verdict(), seconds=round(time.perf_counter() - start, 1)))
        print(f"{steps} steps: no-TTT J {rows[-1]['J_none']:.1f}, {args.strategy} ΔJ {ci.format(100)} over {ci.n} "
              f"validation videos x {len(args.seeds)} seeds: {ci.verdict()}", flush=True)
    table = pd.DataFrame(rows)
    print(table.round(2).to_string(index=False))
    save_table(table, "budget_ttt_gain", base, meta=dict(split="val", strategy=args.strategy, units="J x100"))


if __name__ == "__main__":
    main()
