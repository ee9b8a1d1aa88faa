"""Figures of TTT results: per-frame J, the loss and depth std over the steps, Fig. 5, depth collapse watch."""
from __future__ import annotations

import numpy as np
import pandas as pd

from dattt_nb.splits import CLEAN_SPLIT, split_label
from dattt_nb.ttt.report import steps_long
from dattt_nb.ttt.records import TTTResult
from dattt_nb.ttt.strategies import ADAPTIVE, STRATEGIES, STRATEGY_LABELS, resolve_strategy


def plot_per_frame_j(base: TTTResult, adapted: TTTResult, names=None, n: int = 3, axes=None):
    """J per frame of a few videos: no TTT against the strategy (the last pass for LTV); returns the figure."""
    import matplotlib.pyplot as plt

    none = {v.name: v for v in base.videos}
    videos = [v for v in adapted.videos if names is None or v.name in names][:n]
    if axes is None:
        _, axes = plt.subplots(1, len(videos), figsize=(3.6 * len(videos), 2.8), squeeze=False, sharey=True)
        axes = axes[0]
    for ax, v in zip(axes, videos):
        t = np.arange(len(v.J_frames))
        ax.plot(t, none[v.name].J_frames, "o-", color="#90a4ae", label=f"No TTT (J {none[v.name].J:.2f})")
        ax.plot(t, v.J_frames, "o-", color="#ef6c00", label=f"{adapted.label} (J {v.J:.2f})")
        ax.set_title(v.name, fontsize=9)
        ax.set_xlabel("frame")
        ax.set_ylim(0, 1)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="lower left")
    axes[0].set_ylabel("J (IoU with ground truth)")
    fig = axes[0].figure
    fig.tight_layout()
    return fig


def plot_steps(result: TTTResult, column: str = "loss", axes=None, max_videos: int = 8, every_step: bool = False):
    """``column`` (loss or depth_std) as its mean ± std per epoch index (steps within a frame for N / MWI, passes
    for LTV) over all videos of the result; ``every_step`` adds a first panel with every step of a few videos (the
    raw trace, for the explorer). Returns the figure."""
    import matplotlib.pyplot as plt

    df = steps_long(result)
    if axes is None:
        _, axes = plt.subplots(1, 2 if every_step else 1, figsize=(11 if every_step else 5.5, 3.0), squeeze=False)
        axes = axes[0]
    axes = list(np.atleast_1d(axes))
    ylabel = {"loss": "TTT loss (SILog between views)",
              "depth_std": "spatial std of the views' depth"}.get(column, column)
    if every_step:
        for name, g in list(df.groupby("video", sort=False))[:max_videos]:
            axes[0].plot(g["step"], g[column], lw=0.9, alpha=0.8, label=name)
        axes[0].set_xlabel("TTT step (in the order taken)")
        axes[0].set_ylabel(ylabel)
        axes[0].set_title(f"{result.label}: every step, {min(max_videos, df['video'].nunique())} videos", fontsize=9)
        axes[0].legend(fontsize=6, ncol=2)
    ax = axes[-1]
    stats = df.groupby("epoch")[column].agg(["mean", "std"])
    ax.errorbar(stats.index, stats["mean"], yerr=stats["std"], fmt="o-", color="#ef6c00", capsize=3)
    ax.set_xlabel("pass over the video" if resolve_strategy(result.strategy).loops else "step on the same frame")
    ax.set_ylabel(ylabel)
    ax.set_title(f"{result.label}: mean ± std over {df['video'].nunique()} videos", fontsize=9)
    ax.set_xticks(stats.index)
    for a in axes:
        a.grid(alpha=0.3)
    fig = axes[0].figure
    fig.tight_layout()
    return fig


def plot_loss_curve(result: TTTResult, axes=None):
    """The TTT loss over the steps (eq. 4): does adaptation make the two views agree?"""
    return plot_steps(result, "loss", axes)


def plot_depth_std(result: TTTResult, axes=None):
    """Collapse watch: spatial std of the views' predicted depth over the steps (0 = a flat, trivial depth map)."""
    return plot_steps(result, "depth_std", axes)


FIG5_MIN_SPAN = 20.0  # J ×100: Fig. 5's vertical axis spans at least 0.2 J, so a few tenths of a point look small


def plot_j_vs_epoch(fig5: pd.DataFrame, splits=("mean_shifted", CLEAN_SPLIT), axes=None,
                    min_span: float = FIG5_MIN_SPAN, note: str | None = None):
    """Fig. 5: J against epochs for each strategy (epoch 0 = No TTT), one panel per split, two panels a row, whole
    epochs on the horizontal axis; ``note`` (e.g. which videos the curves use) goes on the figure's face.

    Every panel's vertical axis spans at least ``min_span`` (J ×100), the same in every panel, so changes of a
    fraction of a point — within the noise of a split of a few videos — are not stretched into an effect. Rows that
    carry ``dJ_lo`` / ``dJ_hi`` (:func:`dattt_nb.ttt.report.fig5_rows` with ``base``) get the 95 % interval of
    their change from No TTT as error bars.
    """
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    from dattt_nb.viz import hold_span

    splits = [s for s in splits if s in set(fig5["split"])]
    if axes is None:
        ncols = min(2, len(splits))
        nrows = -(-len(splits) // ncols)
        fig, grid = plt.subplots(nrows, ncols, figsize=(5.2 * ncols, 3.4 * nrows), squeeze=False)
        for extra in grid.ravel()[len(splits):]:
            extra.set_visible(False)
        axes = grid.ravel()[:len(splits)]
    style = {"naive": ("#42a5f5", "s", ":"), "momentum": ("#ab47bc", "^", "--"), "loop": ("#ef6c00", "o", "-")}
    for ax, split in zip(axes, splits):
        for strategy in ADAPTIVE:
            g = fig5[(fig5["split"] == split) & (fig5["strategy"] == strategy)].sort_values("epoch")
            if len(g):
                color, marker, line = style[strategy]
                ax.plot(g["epoch"], g["J"], marker=marker, ls=line, color=color, label=STRATEGY_LABELS[strategy])
                if {"dJ", "dJ_lo", "dJ_hi"} <= set(g.columns) and g["dJ_lo"].notna().any():  # 95 % interval of ΔJ
                    k = g[g["dJ_lo"].notna()]
                    ax.errorbar(k["epoch"], k["J"], yerr=[k["dJ"] - k["dJ_lo"], k["dJ_hi"] - k["dJ"]], fmt="none",
                                ecolor=color, alpha=0.6, capsize=3)
        ax.set_xlabel("epochs (steps per frame for N / MWI, passes for LTV)")
        ax.set_ylabel("J × 100")
        ax.set_title(split_label(split.removeprefix("mean_") if split == "mean_shifted" else split), fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        hold_span(ax, fig5.loc[fig5["split"] == split, "J"], min_span)
    fig = axes[0].figure
    if note:
        fig.suptitle(note, fontsize=9)
    fig.tight_layout()
    return fig


def plot_depth_std_before_after(base: dict[str, TTTResult], adapted: dict[str, TTTResult], ax=None):
    """Collapse watch on the predictions: mean spatial std of the predicted depth per split, without and with TTT."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(6.5, 3.0))
    splits = list(adapted)
    before = [np.nanmean([np.nanmean(v.depth_std_frames) for v in base[s].videos]) for s in splits]
    after = [np.nanmean([np.nanmean(v.depth_std_frames) for v in adapted[s].videos]) for s in splits]
    x = np.arange(len(splits))
    ax.bar(x - 0.2, before, 0.4, color="#90a4ae", label="No TTT")
    ax.bar(x + 0.2, after, 0.4, color="#ef6c00", label=next(iter(adapted.values())).label)
    ax.set_xticks(x, [split_label(s) for s in splits])
    ax.set_ylabel("spatial std of predicted depth")
    ax.set_title("collapse watch: a flat depth map has std 0", fontsize=10)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3, axis="y")
    return ax.figure


def plot_std_change_vs_dj(per_video: pd.DataFrame, ax=None):
    """One dot per test video: the relative change of its predicted depth's spatial std (eval mode, after TTT vs
    No TTT) against its change in J (×100), coloured by split. Does flattening depth go with losing J?"""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(5.6, 3.6))
    df = per_video.reset_index()
    change = 100 * (df["depth_std"] / df["depth_std_none"].where(df["depth_std_none"] > 0) - 1)
    for i, (split, g) in enumerate(df.assign(change=change).groupby("split", sort=False)):
        ax.scatter(g["change"], g["dJ"], s=22, color=plt.cm.tab10(i), label=split_label(split), alpha=0.85)
    ax.axhline(0, color="k", lw=0.7)
    ax.axvline(0, color="k", lw=0.7)
    ax.set_xlabel("change of the predicted depth's std (%)")
    ax.set_ylabel("ΔJ × 100 (TTT − No TTT)")
    ax.set_title("per video: does a flatter depth map cost J?", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    return ax.figure


def plot_per_video(table: pd.DataFrame, strategy: str = "loop"):
    """Left: every test video's J without TTT (x) against J with ``strategy`` (y), above the diagonal = TTT helped.
    Right: each strategy's change in J per video (one dot per video, one colour per split)."""
    import matplotlib.pyplot as plt

    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(10, 4.0), gridspec_kw=dict(width_ratios=[1, 1.3]))
    splits = list(dict.fromkeys(table.index.get_level_values("split")))
    colors = {s: plt.cm.tab10(i) for i, s in enumerate(splits)}
    for split, g in table.groupby(level="split", sort=False):
        ax.scatter(g["J_none"], g[f"J_{strategy}"], s=22, color=colors[split], label=split_label(split), alpha=0.85)
    both = table[["J_none", f"J_{strategy}"]].astype(float).to_numpy()
    lo, hi = float(np.nanmin(both)) - 2, float(np.nanmax(both)) + 2
    ax.plot([lo, hi], [lo, hi], "k--", lw=0.8)
    ax.set_xlabel("J × 100, No TTT")
    ax.set_ylabel(f"J × 100, {STRATEGY_LABELS[strategy]}")
    ax.set_title("one dot per test video", fontsize=9)
    ax.legend(fontsize=7)
    rng = np.random.default_rng(0)
    for i, s in enumerate(list(STRATEGIES)[1:]):
        for split, g in table.groupby(level="split", sort=False):
            ax2.scatter(i + rng.uniform(-0.25, 0.25, len(g)), g[f"dJ_{s}"], s=16, color=colors[split], alpha=0.8)
    ax2.axhline(0, color="k", lw=0.8)
    ax2.set_xticks(range(len(STRATEGIES) - 1), [STRATEGY_LABELS[s] for s in list(STRATEGIES)[1:]])
    ax2.set_ylabel("change in J × 100 (vs No TTT)")
    ax2.set_title("per video: the change made by each strategy", fontsize=9)
    for a in (ax, ax2):
        a.grid(alpha=0.3)
    fig.tight_layout()
    return fig
