"""Schematic figures of the method, drawn with matplotlib: the two stages (Fig. 2) and the
order in which each TTT strategy visits frames (Fig. 4)."""
from __future__ import annotations

import matplotlib.pyplot as plt
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

_COLORS = {"frozen": "#cfd8dc", "train": "#ffcc80", "data": "#e3f2fd", "out": "#c8e6c9", "loss": "#f8bbd0"}


def _box(ax, xy, text, kind="frozen", w=1.5, h=0.6):
    x, y = xy
    ax.add_patch(FancyBboxPatch((x - w / 2, y - h / 2), w, h, boxstyle="round,pad=0.05",
                                fc=_COLORS[kind], ec="#37474f", lw=1.2))
    ax.text(x, y, text, ha="center", va="center", fontsize=9)


def _arrow(ax, a, b, text="", style="-|>"):
    ax.add_patch(FancyArrowPatch(a, b, arrowstyle=style, mutation_scale=12, color="#37474f", lw=1.1))
    if text:
        ax.text((a[0] + b[0]) / 2, (a[1] + b[1]) / 2 + 0.12, text, ha="center", fontsize=8, color="#37474f")


def overview(figsize=(13, 4.2)):
    """Fig. 2 in one picture: stage 1 trains mask + depth jointly; stage 2 adapts E_v per video."""
    fig, (a1, a2) = plt.subplots(1, 2, figsize=figsize)
    for ax in (a1, a2):
        ax.set_xlim(0, 10)
        ax.set_ylim(0, 4)
        ax.axis("off")
    a1.set_title("Stage 1 — training (eq. 2): BCE(mask) + λ·SILog(depth, pseudo-depth)", fontsize=10)
    _box(a1, (1, 3), "frame v", "data", w=1.2)
    _box(a1, (1, 1), "flow f", "data", w=1.2)
    _box(a1, (3.2, 3), "image encoder\nE_v", "train")
    _box(a1, (3.2, 1), "flow encoder\nE_f", "train")
    _box(a1, (5.4, 2), "Σ per scale", "train", w=1.2)
    _box(a1, (7.4, 3.3), "depth decoder\nD_d", "train")
    _box(a1, (7.4, 1.2), "mask decoder\nD_m", "train")
    _box(a1, (7.4, 2.25), "modulation M\nα⊙D_m+β", "train", h=0.55)
    _box(a1, (9.3, 3.3), "depth", "out", w=1.0)
    _box(a1, (9.3, 1.2), "mask", "out", w=1.0)
    _arrow(a1, (1.6, 3), (2.45, 3))
    _arrow(a1, (1.6, 1), (2.45, 1))
    _arrow(a1, (3.95, 2.8), (4.8, 2.2))
    _arrow(a1, (3.95, 1.2), (4.8, 1.8))
    _arrow(a1, (3.95, 3.1), (6.65, 3.3))
    _arrow(a1, (6.0, 1.9), (6.65, 1.3))
    _arrow(a1, (7.4, 3.0), (7.4, 2.55))
    _arrow(a1, (7.4, 1.95), (7.4, 1.5))
    _arrow(a1, (8.15, 3.3), (8.8, 3.3))
    _arrow(a1, (8.15, 1.2), (8.8, 1.2))

    a2.set_title("Stage 2 — test-time training (eq. 4): make two views agree in depth", fontsize=10)
    _box(a2, (1, 2), "test frame\nv_i", "data", w=1.2)
    _box(a2, (2.9, 3), "view v¹\n(flip/zoom/crop\n+ photometric)", "data", w=1.7, h=0.9)
    _box(a2, (2.9, 1), "view v²\n(same geometry,\nother colours)", "data", w=1.7, h=0.9)
    _box(a2, (5.1, 2), "E_v\n(adapted)", "train", w=1.2, h=2.4)
    _box(a2, (7.0, 3), "D_d (frozen)", "frozen", w=1.4)
    _box(a2, (7.0, 1), "D_d (frozen)", "frozen", w=1.4)
    _box(a2, (9.1, 2), "SILog(d¹, d²)", "loss", w=1.5)
    _arrow(a2, (1.6, 2.2), (2.05, 2.9))
    _arrow(a2, (1.6, 1.8), (2.05, 1.1))
    _arrow(a2, (3.75, 3), (4.5, 3))
    _arrow(a2, (3.75, 1), (4.5, 1))
    _arrow(a2, (5.7, 3), (6.3, 3))
    _arrow(a2, (5.7, 1), (6.3, 1))
    _arrow(a2, (7.7, 3), (8.6, 2.2), "d¹")
    _arrow(a2, (7.7, 1), (8.6, 1.8), "d²")
    a2.text(5.1, 0.35, "gradients update E_v only; D_d, E_f, M and D_m stay frozen", ha="center", fontsize=8.5)
    a2.text(5.1, 3.65, "then: predict the mask of v_i with the adapted E_v", ha="center", fontsize=8.5)
    handles = [plt.Rectangle((0, 0), 1, 1, fc=_COLORS[k], ec="#37474f") for k in ("train", "frozen", "data", "out")]
    fig.legend(handles, ["trained / adapted", "frozen", "input", "output"], loc="lower center", ncol=4,
               fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    return fig


def strategy_timeline(strategy: str, n_frames: int = 5, epochs: int = 3, ax=None):
    """Fig. 4: which frame each TTT step adapts on, where weights reset, when masks are predicted.

    x = step number, y = frame; orange squares are adaptation steps, green triangles predictions,
    red bars resets to the trained weights.
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(9, 2.6))
    steps, predictions, resets = _schedule(strategy, n_frames, epochs)
    if steps:
        xs, ys = zip(*steps)
        ax.scatter(xs, ys, marker="s", s=60, c=_COLORS["train"], edgecolors="#37474f", label="adapt step", zorder=3)
    if predictions:
        xs, ys = zip(*predictions)
        ax.scatter(xs, ys, marker=">", s=60, c="#66bb6a", edgecolors="#1b5e20", label="predict mask", zorder=3)
    for x in resets:
        ax.axvline(x - 0.5, color="#e53935", lw=1.5, alpha=0.8)
    if resets:
        ax.plot([], [], color="#e53935", label="reset to trained weights")
    from dattt_nb.ttt.strategies import STRATEGY_LABELS

    ax.set_title(f"{STRATEGY_LABELS.get(strategy, strategy)}: {n_frames} frames, {epochs} epochs", fontsize=10)
    ax.set_xlabel("step")
    ax.set_ylabel("frame")
    ax.set_yticks(range(n_frames))
    ax.invert_yaxis()
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8, frameon=False)
    return ax


def strategy_timelines(highlight: str | None = None, n_frames: int = 5, epochs: int = 3):
    """Fig. 4, the three strategies one above the other (:func:`strategy_timeline`), ``highlight`` shaded."""
    fig, axes = plt.subplots(3, 1, figsize=(9, 7))
    from dattt_nb.ttt.strategies import ADAPTIVE

    for ax, name in zip(axes, ADAPTIVE):
        strategy_timeline(name, n_frames=n_frames, epochs=epochs, ax=ax)
        if name == highlight:
            ax.set_facecolor("#fff8e1")
    fig.tight_layout()
    return fig


def _schedule(strategy, n_frames, epochs):
    """(adapt steps, predictions, resets) as (x, frame) lists and x positions, read off the strategy itself
    (:func:`dattt_nb.ttt.strategies.schedule`); LTV's closing re-prediction with the final weights is left out."""
    from dattt_nb.ttt.strategies import schedule

    steps, preds, resets, t = [], [], [], 0
    for event in schedule(strategy, n_frames, epochs):
        if event.kind == "reset":
            resets.append(t)
        elif event.kind == "step":
            steps.append((t, event.t))
            t += 1
        elif event.pass_ != "final":
            preds.append((t - 0.5 if steps else len(preds), event.t))
    return steps, preds, resets
