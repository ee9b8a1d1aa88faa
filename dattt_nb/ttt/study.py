"""One TTT strategy measured on the test splits against No TTT, checked and saved: what the strategy notebooks share.

:func:`measure_strategy` loads (or trains) the model and the test splits, runs No TTT and the strategy through the
per-video cache, checks what came back (:attr:`StrategyRun.checks`) and saves the per-split and per-video tables;
each notebook then spends its cells on what is particular to its strategy. :func:`weight_drift` follows how far
the adapted encoder E_v moves from the trained weights, frame by frame (§4.2, Fig. 4).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch

from dattt_nb.ttt import report
from dattt_nb.ttt.cache import load_test_splits, model_fingerprint, run_splits
from dattt_nb.ttt.runner import TTTResult, seeded_run
from dattt_nb.ttt.strategies import STRATEGY_LABELS, schedule


@dataclass
class StrategyRun:
    """A strategy's results on every test split beside No TTT, with the tables and checks the notebooks show."""

    settings: object = field(repr=False)
    strategy: str
    model: torch.nn.Module = field(repr=False)
    data: dict = field(repr=False)  # {split: [Video]}
    none: dict = field(repr=False)  # {split: TTTResult} without TTT
    adapted: dict = field(repr=False)  # {split: TTTResult} with the strategy
    seconds: float = 0.0  # wall time of the two runs (cached videos are free)
    checks: pd.DataFrame = field(default=None, repr=False)

    @property
    def label(self) -> str:
        return STRATEGY_LABELS[self.strategy]

    @property
    def by_split(self) -> pd.DataFrame:
        """Per split J and F ×100 without and with the strategy, the changes, and the means."""
        return report.compare_splits(self.none, self.adapted)

    @property
    def per_video(self) -> pd.DataFrame:
        return report.per_video_from_results(self.none, self.adapted)

    @property
    def base_all(self) -> TTTResult:
        return report.merge_splits(self.none)

    @property
    def adapted_all(self) -> TTTResult:
        return report.merge_splits(self.adapted)

    @property
    def steps(self) -> pd.DataFrame:
        """Every TTT step of every video (loss, depth std of the views, epoch index)."""
        return report.steps_long(self.adapted_all)

    def depth_std(self) -> tuple[float, float]:
        """Mean spatial std of the predicted depth without and with TTT (collapse watch: 0 is a flat map)."""
        return tuple(float(np.nanmean([np.nanmean(v.depth_std_frames) for v in r.videos]))
                     for r in (self.base_all, self.adapted_all))

    def video(self, split: str, name: str):
        """(video, No TTT result, strategy result) of one test video."""
        pick = lambda items: next(v for v in items if v.name == name)  # noqa: E731
        return pick(self.data[split]), pick(self.none[split].videos), pick(self.adapted[split].videos)

    def cost(self) -> dict:
        """TTT steps, frames, seconds of TTT and milliseconds per step (prediction included) over all videos."""
        steps = sum(v.steps for r in self.adapted.values() for v in r.videos)
        seconds = sum(v.seconds for r in self.adapted.values() for v in r.videos)
        frames = sum(len(v) for videos in self.data.values() for v in videos)
        return dict(steps=steps, frames=frames, seconds=seconds, ms_per_step=1000 * seconds / max(steps, 1))

    def summary(self) -> str:
        """One sentence of this run's numbers (:func:`dattt_nb.ttt.report.summary_sentence`): change on the shifted
        and clean splits, extremes, depth std."""
        return report.summary_sentence(self.label, self.by_split, report.shifted(list(self.data)), *self.depth_std())


def check_run(run: StrategyRun, fingerprint: str) -> pd.DataFrame:
    """What every strategy run must satisfy, as a table (check, passed, detail): results for every video in order,
    No TTT equal to the plain evaluation of the trained model, masks and scores of the right shape and range, as
    many steps as the strategy's schedule promises, finite losses, and the trained model left unchanged."""
    from dattt_nb.train import evaluate_split

    rows = []

    def check(name: str, ok: bool, detail: str = "") -> None:
        rows.append(dict(check=name, passed=bool(ok), detail=detail))

    for split, videos in run.data.items():
        res = run.adapted[split]
        check(f"{split}: one result per video, in order", [v.name for v in res.videos] == [v.name for v in videos])
        plain = evaluate_split(run.model, videos)
        gap = float(np.max(np.abs(plain["J"].to_numpy() - [v.J for v in run.none[split].videos])))
        check(f"{split}: No TTT equals the plain evaluation", gap <= 1e-6, f"max |ΔJ| {gap:.1e}")
        shapes = all(r.masks.shape == v.masks.shape and r.masks.dtype == torch.bool and r.J_frames.shape == (len(v),)
                     for v, r in zip(videos, res.videos))
        check(f"{split}: a boolean mask and a J per frame", shapes)
        check(f"{split}: J and F are fractions", all(0 <= r.J <= 1 and 0 <= r.F <= 1 for r in res.videos))
        want = [sum(e.kind == "step" for e in schedule(res.strategy, len(v), res.epochs, res.frame_gap))
                for v in videos]
        got = [r.steps for r in res.videos]
        check(f"{split}: as many steps as the schedule", got == want, f"{sum(got)} steps")
        check(f"{split}: every loss finite and logged",
              all(len(r.losses) == r.steps and np.isfinite(r.losses).all() for r in res.videos))
        check(f"{split}: depth std of the views >= 0",
              all(np.all(np.asarray(r.step_depth_std) >= 0) for r in res.videos))
    by_split = run.by_split
    check("one row per split, in order", list(by_split.index[:len(run.data)]) == list(run.data))
    check("scores ×100 within 0–100", bool(by_split[["J_none", "J", "F_none", "F"]].apply(
        lambda c: c.between(0, 100)).all().all()))
    check("the trained model is unchanged (TTT adapts a copy)", model_fingerprint(run.model) == fingerprint)
    return pd.DataFrame(rows).set_index("check")


def measure_strategy(settings, strategy: str, refresh: bool = False, save: bool = True) -> StrategyRun:
    """Run No TTT and ``strategy`` (profile's objective and epochs) on every test split through the cache, check the
    results (:func:`check_run`) and save ``per_split_<strategy>`` and ``per_video_<strategy>``."""
    from dattt_nb.results import save_table
    from dattt_nb.train import load_or_train

    model, _ = load_or_train(settings)
    data = load_test_splits(settings)
    fingerprint = model_fingerprint(model)
    start = time.perf_counter()
    none = run_splits(model, data, settings, "none", refresh=refresh)
    adapted = run_splits(model, data, settings, strategy, refresh=refresh)
    run = StrategyRun(settings, strategy, model, data, none, adapted, time.perf_counter() - start)
    run.checks = check_run(run, fingerprint)
    if save:
        first = next(iter(adapted.values()))
        meta = dict(strategy=strategy, label=run.label, epochs=first.epochs, lr=first.lr, pairs=settings.ttt_pairs,
                    seed=settings.seed, units="J, F and changes x100")
        save_table(run.by_split, f"per_split_{strategy}", settings, meta=meta)
        save_table(run.per_video, f"per_video_{strategy}", settings, meta=meta)
    return run


@torch.no_grad()
def _distance(model, trained: dict, prefix: str = "image_encoder.") -> float:
    """L2 distance of E_v's parameters from the trained ones, relative to their norm."""
    params = {k: v for k, v in model.state_dict().items() if k.startswith(prefix) and v.is_floating_point()}
    num = sum(float((v - trained[k]).pow(2).sum()) for k, v in params.items())
    den = sum(float(trained[k].pow(2).sum()) for k in params)
    return (num / max(den, 1e-30)) ** 0.5


def weight_drift(model, video, settings, strategies=("naive", "momentum"), epochs: int | None = None,
                 device=None) -> pd.DataFrame:
    """How far E_v has moved from the trained weights when each frame is predicted (relative L2 distance), for each
    strategy on one video, replayed exactly as the runner runs it: TTT-N starts every frame from the trained
    weights, TTT-MWI carries them forward, so its distance can grow along the video."""
    from dattt_nb.config import pick_device
    from dattt_nb.ttt.engine import TTTEngine

    epochs = settings.ttt_epochs if epochs is None else epochs
    device = torch.device(device) if device is not None else pick_device(settings)
    rows = []
    for strategy in strategies:
        engine = TTTEngine.from_settings(model, settings).to(device)
        for p in seeded_run(engine, video, strategy, epochs, settings.ttt_frame_gap):
            if p.pass_ != "final":
                rows.append(dict(strategy=strategy, label=STRATEGY_LABELS[strategy], pass_=p.pass_, frame=p.t,
                                 drift=_distance(engine.model, engine.trained)))
    return pd.DataFrame(rows)


def collapse_watch(run: StrategyRun) -> tuple[float, float]:
    """The collapse watch of a run in one figure: the views' depth std per step index (train mode, measured during
    the TTT step), the predictions' depth std per split without and with TTT (eval mode), and per video the change
    of the predictions' std against ΔJ; returns the mean predicted-depth std (without TTT, with TTT)."""
    import matplotlib.pyplot as plt

    from dattt_nb.ttt import plots

    fig, axes = plt.subplots(1, 3, figsize=(15, 3.4), gridspec_kw=dict(width_ratios=[1, 1.2, 1.1]))
    plots.plot_steps(run.adapted_all, "depth_std", axes=[axes[0]])
    plots.plot_depth_std_before_after(run.none, run.adapted, ax=axes[1])
    plots.plot_std_change_vs_dj(run.per_video, ax=axes[2])
    axes[0].set_title("views, during each step (train mode)", fontsize=9)
    axes[1].set_title("predictions (eval mode), per split", fontsize=9)
    fig.tight_layout()
    return run.depth_std()
