"""How many stage-1 steps a profile needs, judged on the validation split only (never a test split).

Trains the ``alpha+beta`` model (eq. 2) once per config — run length, learning rate, batch — each with its own
warm-up and cosine schedule, validates every 100 steps, and reports the best validation J and the time. Configs run
``--jobs`` at a time with one thread each (dattt_nb.run.scheduler: 1.6× the throughput of one two-thread job on 2 cores).

    python benchmarks/stage1_budget_study.py --profile tiny --jobs 2
    python benchmarks/stage1_budget_study.py --profile tiny --config steps=600,lr=1e-3 --config steps=1200,batch=8

Measured for the tiny profile (2 cores, one thread per run, two runs at a time; best validation J ×100):
600 steps 59.2 (271 s), 900 steps 60.1 (450 s), 600 steps at lr 1e-3 58.0, batch 8 × 1,200 steps 59.6; a
1,200-step run (2026-11-25) reached 61.5. The profile trains 600 steps: the series' time budget, not the plateau.

Writes ``runs/<profile>/results/stage1_budget_study.csv`` (+ .json). Checkpoints go to a temporary folder.
"""
from __future__ import annotations

import argparse
import multiprocessing
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor

import pandas as pd

DEFAULT_PLAN = ["steps=600", "steps=900", "steps=1200", "steps=600,lr=1e-3", "steps=1200,batch=8"]
KEYS = {"steps": ("train_steps", int), "lr": ("lr", float), "batch": ("batch_size", int)}


def parse_config(spec: str) -> dict:
    """``"steps=600,lr=1e-3"`` → setting overrides ``{"train_steps": 600, "lr": 0.001}``."""
    out = {}
    for part in filter(None, (p.strip() for p in spec.split(","))):
        key, _, value = part.partition("=")
        if key not in KEYS:
            raise SystemExit(f"--config {spec!r}: unknown key {key!r}; expected one of {sorted(KEYS)}")
        name, kind = KEYS[key]
        out[name] = kind(value)
    return out


def run_config(profile: str, overrides: dict, out_dir: str) -> dict:
    """Train one config from scratch (one thread) and return its validation curve's summary."""
    import torch

    from dattt_nb.config import resolve
    from dattt_nb.train.loop import train

    torch.set_num_threads(1)
    settings = resolve(profile, {**overrides, "val_every": 100})
    start = time.perf_counter()
    info = train(settings, "alpha+beta", out_dir=out_dir, resume=False, progress=False)
    val = info["val"]
    return dict(train_steps=settings.train_steps, lr=settings.lr, batch_size=settings.batch_size,
                best_val_J=100 * info["best_val_J"], last_val_J=100 * val["J"][-1],
                curve=" ".join(f"{100 * j:.1f}" for j in val["J"]), seconds=round(time.perf_counter() - start, 1))


def main(argv=None) -> None:
    from dattt_nb.config import resolve
    from dattt_nb.data.prepare import ensure_benchmark
    from dattt_nb.results import save_table

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="tiny")
    parser.add_argument("--config", action="append", help="steps=N,lr=X,batch=B (repeatable; default: the plan)")
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args(argv)
    plan = [parse_config(c) for c in (args.config or DEFAULT_PLAN)]
    settings = resolve(args.profile)
    ensure_benchmark(settings, splits=["train", "val"], verbose=False)
    with tempfile.TemporaryDirectory() as tmp, ProcessPoolExecutor(
            args.jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
        rows = list(pool.map(run_config, [args.profile] * len(plan), plan, [f"{tmp}/{i}" for i in range(len(plan))]))
    table = pd.DataFrame(rows)
    print(table.to_string(index=False))
    save_table(table, "stage1_budget_study", settings, meta=dict(split="val", variant="alpha+beta", threads=1,
                                                                   jobs=args.jobs))


if __name__ == "__main__":
    main()
