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
from dattt_nb.ttt.records import TTTResult
from dattt_nb.ttt.runner import seeded_run
from dattt_nb.ttt.spec import TTTRun
from dattt_nb.ttt.strategies import schedule


@dataclass
class StrategyRun:
    """A strategy's results on every test split beside No TTT, with the tables and checks the notebooks show."""

    settings: object = field(repr=False)
    spec: TTTRun  # the strategy's run (No TTT is the same run with strategy "none")
    model: torch.nn.Module = field(repr=False)
    data: dict = field(repr=False)  # {split: [Video]}
    none: dict = field(repr=False)  # {split: TTTResult} without TTT
    adapted: dict = field(repr=False)  # {split: TTTResult} with the strategy
    seconds: float = 0.0  # wall time of the two runs (cached videos are free)
    checks: pd.DataFrame = field(default=None, repr=False)

    @property
    def strategy(self) -> str:
        return self.spec.strategy

    @property
    def label(self) -> str:
        return self.spec.label

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

    spec = TTTRun.from_settings(settings, strategy=strategy)
    model, _ = load_or_train(settings)
    data = load_test_splits(settings)
    fingerprint = model_fingerprint(model)
    start = time.perf_counter()
    none = run_splits(model, data, settings, spec.replace(strategy="none"), refresh=refresh)
    adapted = run_splits(model, data, settings, spec, refresh=refresh)
    run = StrategyRun(settings, spec, model, data, none, adapted, time.perf_counter() - start)
    run.checks = check_run(run, fingerprint)
    if save:
        meta = dict(**spec.to_dict(), units="J, F and changes x100")
        save_table(run.by_split, f"per_split_{spec.strategy}", settings, meta=meta)
        save_table(run.per_video, f"per_video_{spec.strategy}", settings, meta=meta)
    return run


@torch.no_grad()
def _distance(model, trained: dict, prefix: str = "image_encoder.") -> float:
    """L2 distance of E_v's parameters from the trained ones, relative to their norm."""
    params = {k: v for k, v in model.state_dict().items() if k.startswith(prefix) and v.is_floating_point()}
    num = sum(float((v - trained[k]).pow(2).sum()) for k, v in params.items())
    den = sum(float(trained[k].pow(2).sum()) for k in params)
    return (num / max(den, 1e-30)) ** 0.5


def weight_drift(model, video, settings, strategies=("naive", "momentum"), device=None, **overrides) -> pd.DataFrame:
    """How far E_v has moved from the trained weights when each frame is predicted (relative L2 distance), for each
    strategy on one video, replayed exactly as the runner runs it: TTT-N starts every frame from the trained
    weights, TTT-MWI carries them forward, so its distance can grow along the video. ``overrides`` (``epochs=``,
    ...) change the profile's TTT run."""
    from dattt_nb.config import pick_device
    from dattt_nb.ttt.engine import TTTEngine

    device = torch.device(device) if device is not None else pick_device(settings)
    rows = []
    for strategy in strategies:
        spec = TTTRun.from_settings(settings, strategy=strategy, **overrides)
        engine = TTTEngine.for_run(model, spec).to(device)
        for p in seeded_run(engine, video, spec):
            if p.pass_ != "final":
                rows.append(dict(strategy=spec.strategy, label=spec.label, pass_=p.pass_, frame=p.t,
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


# === The views every strategy notebook shows (notebooks 04–06) ====================================================
# One producer per view: notebook 04 calls the pieces one section at a time, where it explains them; notebooks 05 and
# 06 show the same views through :func:`shared_views`, which calls the same pieces. Each piece draws its figure and
# returns the numbers it shows, so that the notebook cell asserts on real results.


@dataclass
class SharedViews:
    """What :func:`shared_views` showed, for the notebook's asserts and later cells."""

    by_split: pd.DataFrame  # per split J, F ×100, changes and intervals (:attr:`StrategyRun.by_split`)
    per_epoch: pd.DataFrame  # mean loss and views' depth std per epoch index (:func:`loss_view`)
    shown: list  # [(split, video)] whose J changed most, most first (:func:`per_frame_view`)
    std_none: float  # mean spatial std of the predicted depth without TTT (:func:`collapse_watch`)
    std_ttt: float  # ... and with TTT
    frames: np.ndarray | None = None  # frames of the mask grid (:func:`mask_grid`); None when not drawn


def split_table(run: StrategyRun) -> pd.DataFrame:
    """The per-split table of a run (J and F ×100 without and with TTT, dJ with its 95 % bootstrap interval over the
    split's videos), after checking that the per-video table has one row per test video."""
    n_videos = sum(len(v) for v in run.data.values())
    if len(run.per_video) != n_videos:
        raise ValueError(f"per-video table of {run.label}: {len(run.per_video)} rows for {n_videos} test videos")
    return run.by_split


def loss_view(run: StrategyRun) -> pd.DataFrame:
    """The loss of eq. 4 over the steps (mean ± std per epoch index over all test videos, figure) and its table: mean
    loss and mean depth std of the views per epoch index (steps on a frame for N / MWI, passes for LTV)."""
    from dattt_nb.ttt import plots

    plots.plot_loss_curve(run.adapted_all)
    return run.steps.groupby("epoch")[["loss", "depth_std"]].mean()


def per_frame_view(run: StrategyRun, n: int = 3) -> list[tuple[str, str]]:
    """J of every frame without and with TTT for the ``n`` videos whose J changed most (either way); returns their
    (split, video) names, most changed first."""
    from dattt_nb.ttt import plots

    shown = report.most_changed(run.none, run.adapted, n=n)
    plots.plot_per_frame_j(run.base_all, run.adapted_all, names=[name for _, name in shown], n=n)
    return shown


def collapse_sentence(std_none: float, std_ttt: float) -> str:
    """The collapse watch's printed line: mean spatial std of the predicted depth without and with TTT."""
    change = f" ({100 * (std_ttt / std_none - 1):+.1f} %)" if std_none > 0 else ""
    return f"spatial std of the predicted depth: {std_none:.4f} without TTT → {std_ttt:.4f} with TTT{change}"


def mask_grid(run: StrategyRun, split: str, name: str, columns: dict | None = None, n_frames: int = 4) -> np.ndarray:
    """Fig. 1 / Fig. 6 style masks of one test video on ``n_frames`` evenly spaced frames: frame, ground truth, then
    No TTT and the strategy's masks (or the named ``columns`` of (T, H, W) masks), each titled with its J; returns
    the frames shown."""
    from dattt_nb import viz

    video, base, result = run.video(split, name)
    columns = columns if columns is not None else {"No TTT": base.masks, run.label: result.masks}
    frames = np.linspace(0, len(video) - 1, min(n_frames, len(video))).round().astype(int)
    viz.plot_mask_grid(video, columns, frames=frames)
    return frames


def _flush(*items) -> None:
    """Display every open figure (closing it), then ``items`` (tables, Markdown), in that order: keeps a cell's
    outputs in the order the views were made (the inline backend would draw all figures at the cell's end)."""
    import matplotlib.pyplot as plt
    from IPython.display import display

    for num in plt.get_fignums():
        display(plt.figure(num))
        plt.close(num)
    for item in items:
        display(item)


def shared_views(run: StrategyRun, n_show: int = 3, masks: bool = True) -> SharedViews:
    """The views notebook 04 introduces, for any strategy run, in one cell: the per-split table, the loss over the
    steps with its per-epoch table, the per-frame J of the ``n_show`` most changed videos, the collapse watch with
    its printed line and (``masks``) the masks of the most changed video without and with TTT."""
    from IPython.display import Markdown

    label = run.label
    by_split = split_table(run)
    _flush(Markdown(f"**Per split: {label} against No TTT** (J, F ×100; `dJ_lo` … `dJ_hi`: the 95 % interval of "
                    "`dJ` over the split's videos)"), by_split.round(2))
    _flush(Markdown(f"**The loss of eq. 4 over the steps** ({label}), and its mean per epoch index:"))
    per_epoch = loss_view(run)
    _flush(per_epoch.round(4))
    _flush(Markdown(f"**Per frame:** J of every frame of the videos whose J changed most with {label}:"))
    shown = per_frame_view(run, n=n_show)
    _flush(Markdown("**Collapse watch:** the views' depth std (train mode), the predictions' (eval mode), and per "
                    "video the change of the predictions' std against ΔJ:"))
    std_none, std_ttt = collapse_watch(run)
    _flush()
    print(collapse_sentence(std_none, std_ttt))
    frames = None
    if masks and shown:
        _flush(Markdown(f"**Masks** of `{shown[0][0]}/{shown[0][1]}` (the most changed video) without and with "
                        f"{label}:"))
        frames = mask_grid(run, *shown[0])
        _flush()
    return SharedViews(by_split, per_epoch, shown, std_none, std_ttt, frames)
