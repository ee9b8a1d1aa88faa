"""Which TTT settings to use at a profile, chosen on the validation split only.

Runs depth-aware TTT-LTV (eq. 4, Fig. 4c) on the ``val`` split — never on a test split — over a small plan of
learning rate × view pairs × network mode during the step, and prints J / F against No TTT after 2, 4, 8 passes.
One run with P passes gives every pass ≤ P: LTV predicts each frame right after its step, and pass e of a P-pass
run is exactly an e-pass run (same reset and seeds). ``mode=eval`` adapts with the whole network in eval mode
(BatchNorm on running statistics, no stochastic depth / dropout) instead of the official train mode, to see
whether that detail of the official release (docs/ttt-details.md) matters here. ``objective=depth_anchored`` is an extension, not the paper.

    OMP_NUM_THREADS=1 python benchmarks/ttt_validation_study.py --profile tiny --jobs 2
    python benchmarks/ttt_validation_study.py --profile tiny --config lr=1e-4,pairs=4 --config lr=3e-4,mode=eval

Writes ``runs/<profile>/results/ttt_validation_study.csv`` (+ .json); runs are cached per config under
``runs/<profile>/ttt/cache/`` (dattt_nb.ttt.report), so a second call only runs configs it has not seen.
"""
from __future__ import annotations

import argparse
import itertools
import time

import numpy as np
import pandas as pd

# The plan measured for the report (tiny): learning rates at the paper's 8 pairs, 4 pairs at the two smaller
# rates, and eval-mode steps at the two smaller rates.
DEFAULT_PLAN = [
    "lr=1e-5,pairs=8", "lr=1e-4,pairs=8", "lr=3e-4,pairs=8",
    "lr=1e-5,pairs=4", "lr=1e-4,pairs=4",
    "lr=1e-5,pairs=8,mode=eval", "lr=1e-4,pairs=8,mode=eval",
]
EXTENSION_PLAN = ["lr=1e-4,pairs=8,objective=depth_anchored", "lr=3e-4,pairs=8,objective=depth_anchored"]


def parse_config(spec: str, passes: int) -> dict:
    """``"lr=1e-4,pairs=4,mode=eval"`` → a config dict (strategy loop, objective depth, mode train by default)."""
    cfg = dict(strategy="loop", objective="depth", mode="train", lr=1e-5, pairs=8, epochs=passes)
    for part in filter(None, (p.strip() for p in spec.split(","))):
        key, _, value = part.partition("=")
        if key not in cfg:
            raise ValueError(f"unknown key {key!r} in config {spec!r}; keys: {sorted(cfg)}")
        cfg[key] = type(cfg[key])(float(value) if key in ("pairs", "epochs") else value)
    if cfg["mode"] not in ("train", "eval"):
        raise ValueError(f"mode must be train or eval, got {cfg['mode']!r}")
    return cfg


def register_eval_mode() -> None:
    """``<objective>_evalmode``: the same loss with the network in eval mode during the step (not the official way)."""
    from dattt_nb.ttt import objectives

    for name in list(objectives.OBJECTIVES):
        if name.endswith("_evalmode") or name in ("bn",):
            continue
        base = objectives.OBJECTIVES[name]

        def evalmode(model, batch, _base=base):
            model.eval()  # after the engine's model.train(): BatchNorm on running statistics, no drop path
            return _base(model, batch)

        objectives.OBJECTIVES[f"{name}_evalmode"] = evalmode
        objectives.OBJECTIVE_LABELS[f"{name}_evalmode"] = objectives.OBJECTIVE_LABELS[name] + ", eval mode"


def objective_name(cfg: dict) -> str:
    return cfg["objective"] + ("_evalmode" if cfg["mode"] == "eval" else "")


def run_config(args: tuple) -> dict:
    """Run one config on the validation split (cached); returns its per-video results as plain data."""
    profile, seed, spec, passes, threads = args
    import torch

    from dattt_nb.config import resolve
    from dattt_nb.train import load_or_train
    from dattt_nb.ttt.report import cached_ttt, load_test_splits

    torch.set_num_threads(threads)
    register_eval_mode()
    settings = resolve(profile, seed=seed)
    model, _ = load_or_train(settings, progress=False)
    videos = load_test_splits(settings, splits=["val"])["val"]
    cfg = parse_config(spec, passes) if spec != "none" else dict(strategy="none", objective="depth", mode="-",
                                                                 lr=0.0, pairs=0, epochs=0)
    start = time.perf_counter()
    res = cached_ttt(model, videos, settings, "val", strategy=cfg["strategy"], epochs=cfg["epochs"], lr=cfg["lr"],
                     n_pairs=cfg["pairs"] or None, objective=objective_name(cfg) if spec != "none" else None,
                     progress=False)
    return dict(spec=spec, cfg=cfg, seconds=time.perf_counter() - start,
                videos=[dict(name=v.name, J=v.J, F=v.F, pass_J=np.nanmean(v.pass_J, axis=1),
                             pass_F=np.nanmean(v.pass_F, axis=1), final_J=v.final_J,
                             depth_std=float(np.nanmean(v.depth_std_frames)), losses=v.losses,
                             step_depth_std=v.step_depth_std, run_seconds=v.seconds) for v in res.videos])


def summarise(base: dict, run: dict, report_passes: list[int]) -> list[dict]:
    """Rows (one per reported pass): J, F ×100, change from No TTT, videos better / worse by > 0.5 J, collapse watch."""
    none = {v["name"]: v for v in base["videos"]}
    cfg, rows = run["cfg"], []
    n = len(run["videos"])
    passes = len(run["videos"][0]["pass_J"]) if cfg["strategy"] == "loop" else 1
    for e in [p for p in report_passes if p <= passes] if cfg["strategy"] == "loop" else [cfg["epochs"]]:
        i = e - 1 if cfg["strategy"] == "loop" else 0
        J = np.array([v["pass_J"][i] for v in run["videos"]])
        F = np.array([v["pass_F"][i] for v in run["videos"]])
        J0 = np.array([none[v["name"]]["J"] for v in run["videos"]])
        F0 = np.array([none[v["name"]]["F"] for v in run["videos"]])
        d = 100 * (J - J0)
        steps_per_pass = len(run["videos"][0]["losses"]) // passes
        sl = slice(i * steps_per_pass, (i + 1) * steps_per_pass) if cfg["strategy"] == "loop" else slice(None)
        rows.append(dict(strategy=cfg["strategy"], objective=cfg["objective"], mode=cfg["mode"], lr=cfg["lr"],
                         pairs=cfg["pairs"], passes=e, J=100 * J.mean(), dJ=d.mean(), F=100 * F.mean(),
                         dF=100 * (F - F0).mean(), better=int((d > 0.5).sum()), worse=int((d < -0.5).sum()),
                         videos=n, loss=float(np.mean([np.mean(v["losses"][sl]) for v in run["videos"]])),
                         view_depth_std=float(np.nanmean([np.nanmean(v["step_depth_std"][sl])
                                                          for v in run["videos"]])),
                         final_dJ=100 * np.mean([v["final_J"] for v in run["videos"]] - J0) if e == passes and
                         cfg["strategy"] == "loop" else np.nan,
                         depth_std_pred=np.mean([v["depth_std"] for v in run["videos"]]) if e == passes else np.nan,
                         wall_seconds=sum(v["run_seconds"] for v in run["videos"])))
    return rows


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--profile", default="tiny")
    p.add_argument("--seed", type=int, default=0, help="trained model / TTT seed (the notebooks' SEED)")
    p.add_argument("--passes", type=int, default=8, help="LTV passes per run (every pass up to it is reported)")
    p.add_argument("--report-passes", type=int, nargs="+", default=[1, 2, 4, 8])
    p.add_argument("--config", action="append", help="a config like lr=1e-4,pairs=4,mode=eval (repeatable); "
                                                     "default: the plan measured for the report")
    p.add_argument("--extension", action="store_true", help="also run the anchored objective (an extension)")
    p.add_argument("--jobs", type=int, default=1, help="processes (each one torch thread)")
    args = p.parse_args(argv)

    specs = ["none"] + (args.config or DEFAULT_PLAN) + (EXTENSION_PLAN if args.extension else [])
    jobs = [(args.profile, args.seed, s, args.passes, 1) for s in specs]
    if args.jobs > 1:
        import multiprocessing as mp

        with mp.get_context("spawn").Pool(args.jobs) as pool:
            runs = pool.map(run_config, jobs, chunksize=1)
    else:
        runs = [run_config(j) for j in jobs]
    base = runs[0]
    rows = list(itertools.chain.from_iterable(summarise(base, r, args.report_passes) for r in runs[1:]))
    none_J, none_F = 100 * np.mean([v["J"] for v in base["videos"]]), 100 * np.mean([v["F"] for v in base["videos"]])
    table = pd.DataFrame(rows)
    pd.set_option("display.width", 200)
    print(f"validation split: {len(base['videos'])} videos; No TTT J {none_J:.2f}  F {none_F:.2f} (×100)")
    cols = ["objective", "mode", "lr", "pairs", "passes", "J", "dJ", "dF", "better", "worse", "loss",
            "view_depth_std", "final_dJ", "depth_std_pred", "wall_seconds"]
    print(table[cols].to_string(index=False, float_format=lambda v: f"{v:.3g}" if abs(v) < 1e-3 else f"{v:.2f}"))
    best = table.sort_values(["dJ", "passes", "pairs"], ascending=[False, True, True]).iloc[0]
    print(f"\nbest on validation: {best['objective']} ({best['mode']} mode), lr {best['lr']:g}, {best['pairs']} pairs, "
          f"{best['passes']} passes: dJ {best['dJ']:+.2f}, dF {best['dF']:+.2f} "
          f"({best['better']} videos better, {best['worse']} worse by > 0.5 J)")

    from dattt_nb.config import resolve
    from dattt_nb.results import save_table

    settings = resolve(args.profile, seed=args.seed)
    path = save_table(table, "ttt_validation_study", settings,
                      meta=dict(split="val", none_J=none_J, none_F=none_F, units="J, F and changes x100",
                                plan=specs[1:], passes=args.passes))
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
