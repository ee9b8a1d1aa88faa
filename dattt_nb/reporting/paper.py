"""The paper's published Tables 1–5 (transcribed CSVs shipped with the package), and ours beside them.

Rows with ``value_kind = delta`` are changes from the same backbone's no-TTT row, as the paper prints them;
numbers are percentages (×100). An empty cell is one the paper leaves blank. The paper's numbers are never shown
without their caption (:func:`paper_label`).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from dattt_nb.splits import PAPER_SPLITS, TEST_SPLITS, split_label
from dattt_nb.ttt.strategies import STRATEGY_LABELS

TABLES_DIR = Path(__file__).resolve().parent / "paper_tables"
TABLES = {
    1: "table1_architecture.csv",  # backbone × depth decoder × modulation × TTT (J)
    2: "table2_depth_extractors.csv",  # depth estimator used for the pseudo labels
    3: "table3_ttt_strategies.csv",  # TTT-N / TTT-MWI / TTT-LTV
    4: "table4_ttt_methods.csv",  # TENT, BN, TTT-Rot, TTT-MAE vs depth
    5: "table5_sota.csv",  # comparison with the state of the art
}


def paper_table(n: int) -> pd.DataFrame:
    """The paper's Table ``n`` (1–5) as published, one row per printed row."""
    if n not in TABLES:
        raise ValueError(f"the paper has Tables {sorted(TABLES)}, not {n!r}")
    path = TABLES_DIR / TABLES[n]
    if not path.is_file():
        raise FileNotFoundError(f"paper table file {path} is missing from the package (reinstall dattt-nb)")
    return pd.read_csv(path)


# --- ours beside the paper's -------------------------------------------------------------------

# Table 1: (depth decoder, modulation, TTT) per row, as in the paper; key = our row name.
TABLE1_ROWS = {"none": ("no", "no", "no"), "head": ("yes", "no", "no"), "head_ttt": ("yes", "no", "yes"),
               "alpha+beta": ("yes", "yes", "no"), "alpha+beta_ttt": ("yes", "yes", "yes")}


TABLE1_LABELS = {"none": "two-stream baseline", "head": "+ depth head", "head_ttt": "+ depth head, TTT",
                 "alpha+beta": "+ depth head + modulation", "alpha+beta_ttt": "+ depth head + modulation, TTT"}


# Table 4: row name → (method, TTT, model variant, objective, row its change is measured from).
TABLE4_ROWS = {
    "Baseline": ("Baseline", "no", "none", None, None),
    "TENT": ("TENT", "yes", "none", "tent", "Baseline"),
    "BN": ("BN", "yes", "none", "bn", "Baseline"),
    "TTT-Rot (no TTT)": ("TTT-Rot", "no", "rot", None, None),
    "TTT-Rot": ("TTT-Rot", "yes", "rot", "rotation", "TTT-Rot (no TTT)"),
    "TTT-MAE (no TTT)": ("TTT-MAE", "no", "mae", None, None),
    "TTT-MAE": ("TTT-MAE", "yes", "mae", "mae", "TTT-MAE (no TTT)"),
    "DATTT (no TTT)": ("DATTT", "no", "alpha+beta", None, None),
    "DATTT": ("DATTT", "yes", "alpha+beta", "depth", "DATTT (no TTT)"),
}


def paper_label(backbone: str = "MiT-b1") -> str:
    """Caption of the paper's numbers: never shown without it."""
    return f"paper ({backbone}, 512 px, real data)"


def ours_label(settings) -> str:
    """Caption of this run's numbers: profile, backbone, input size, data."""
    data = "synthetic data" if settings.dataset == "synthetic" else "real data"
    return f"ours ({settings.profile}: {settings.backbone}, {settings.image_size} px, {data})"


def paper_scores(n: int, backbone: str = "MiT-b1", measure: str = "J") -> pd.DataFrame:
    """The paper's Table ``n`` (1, 3 or 4) for one backbone, rows keyed like ours, columns = our split names."""
    paper = paper_table(n)
    paper = paper[paper["backbone"] == backbone]
    if paper.empty:
        raise ValueError(f"the paper's Table {n} has no rows for backbone {backbone!r}; use 'MiT-b1' or 'Swin-T'")
    if n == 1:
        keys = {v: k for k, v in TABLE1_ROWS.items()}
        index = [keys[(r.depth_decoder, r.modulation, r.ttt)] for r in paper.itertuples()]
    elif n == 3:
        keys = {v: k for k, v in STRATEGY_LABELS.items()} | {"none": "none"}
        index = [keys[s] if k == "absolute" else f"{keys[s]}_delta"
                 for s, k in zip(paper["strategy"], paper["value_kind"])]
    elif n == 4:
        index = [m if t == "yes" or m == "Baseline" else f"{m} (no TTT)" for m, t in zip(paper["method"], paper["ttt"])]
    else:
        raise ValueError(f"paper_scores covers Tables 1, 3 and 4, not {n!r}")
    out = pd.DataFrame(index=pd.Index(index, name="row"))
    for split, name in PAPER_SPLITS.items():
        col = f"{name}_{measure}"
        out[split] = pd.to_numeric(paper[col], errors="coerce").to_numpy() if col in paper.columns else np.nan
    out.attrs["source"] = paper_label(backbone)
    return out


def ours_scores(table: pd.DataFrame, measure: str = "J", rows=None) -> pd.DataFrame:
    """One of our tables as rows × our split names (one measure), like :func:`paper_scores`."""
    rows = list(table.index) if rows is None else [r for r in rows if r in table.index]
    out = pd.DataFrame({s: pd.to_numeric(table.loc[rows, f"{s}_{measure}"], errors="coerce") for s in TEST_SPLITS
                        if f"{s}_{measure}" in table.columns}, index=pd.Index(rows, name="row"))
    return out


def beside_paper(ours: pd.DataFrame, paper: pd.DataFrame, ours_caption: str, paper_caption: str,
                 labels: dict | None = None, splits=None) -> pd.DataFrame:
    """Ours and the paper's numbers side by side: rows in our order, columns (test split, source), every paper
    column labelled ``paper_caption``; splits the paper leaves blank everywhere are dropped."""
    splits = [s for s in (splits or TEST_SPLITS) if s in ours.columns and s in paper.columns
              and paper[s].notna().any()]
    rows = list(ours.index)
    parts = {}
    for s in splits:
        parts[(split_label(s), ours_caption)] = ours.loc[rows, s]
        parts[(split_label(s), paper_caption)] = paper[s].reindex(rows)
    out = pd.DataFrame(parts, index=pd.Index(rows, name="row"))
    out.columns = pd.MultiIndex.from_tuples(out.columns, names=["test split", "source"])
    if labels:
        out.index = [labels.get(r, r) for r in rows]
    return out


def flat(side: pd.DataFrame) -> pd.DataFrame:
    """A side-by-side table with one-level column names (``DAVIS-16 · paper (…)``) for CSV / JSON."""
    out = side.copy()
    out.columns = [" · ".join(c) for c in side.columns]
    return out


def table1_beside_paper(table: pd.DataFrame, settings, backbone: str = "MiT-b1") -> pd.DataFrame:
    """Table 1, J ×100: our five rows beside the paper's (DAVIS-16, FBMS, Long-Videos, the splits it reports)."""
    return beside_paper(ours_scores(table, "J", list(TABLE1_ROWS)), paper_scores(1, backbone, "J"),
                        ours_label(settings), paper_label(backbone), TABLE1_LABELS)


def table3_beside_paper(table: pd.DataFrame, settings, measure: str = "J",
                        backbone: str = "MiT-b1") -> pd.DataFrame:
    """Table 3 in the paper's layout (No TTT absolute, strategies as changes), ours beside the paper's."""
    rows = ["none", "naive_delta", "momentum_delta", "loop_delta"]
    labels = {"none": "No TTT", "naive_delta": "TTT-N (change)", "momentum_delta": "TTT-MWI (change)",
              "loop_delta": "TTT-LTV (change)"}
    return beside_paper(ours_scores(table, measure, rows), paper_scores(3, backbone, measure), ours_label(settings),
                        paper_label(backbone), labels)


def table4_beside_paper(table: pd.DataFrame, settings, measure: str = "J",
                        backbone: str = "MiT-b1") -> pd.DataFrame:
    """Table 4 in the paper's layout (no-TTT rows absolute, TTT rows as changes), ours beside the paper's."""
    labels = {k: k if v[1] == "no" else f"{k} (change)" for k, v in TABLE4_ROWS.items()}
    return beside_paper(ours_scores(table, measure, list(TABLE4_ROWS)), paper_scores(4, backbone, measure),
                        ours_label(settings), paper_label(backbone), labels)


def save_beside_paper(side: pd.DataFrame, name: str, settings, backbone: str = "MiT-b1") -> Path:
    """Save a side-by-side table (flat columns) with a meta note that the paper's columns are published numbers."""
    from dattt_nb.results import save_table

    return save_table(flat(side), name, settings, meta=dict(
        units="x100", paper=f"{paper_label(backbone)}: published numbers (dattt_nb/reporting/paper_tables), not measured here",
        ours=ours_label(settings)))


TABLE1_EFFECTS = {"depth head (no TTT)": ("head", "none"), "modulation (no TTT)": ("alpha+beta", "head"),
                  "TTT, depth head only": ("head_ttt", "head"),
                  "TTT, head + modulation": ("alpha+beta_ttt", "alpha+beta")}  # effect: (row, base row)


def table1_effects(table: pd.DataFrame, backbone: str = "MiT-b1",
                   splits=("davis", "fbms", "longvideos")) -> pd.DataFrame:
    """What each step of Table 1 adds, in J ×100 averaged over ``splits`` (the paper's three), ours and the paper's."""
    ours, paper, splits = ours_scores(table, "J"), paper_scores(1, backbone, "J"), list(splits)
    rows = {}
    for name, (row, base) in TABLE1_EFFECTS.items():
        rows[name] = {"ours": float((ours.loc[row, splits] - ours.loc[base, splits]).mean()),
                      paper_label(backbone): float((paper.loc[row, splits] - paper.loc[base, splits]).mean())}
    out = pd.DataFrame.from_dict(rows, orient="index")
    out.index.name = f"change in mean J x100 over {', '.join(split_label(s) for s in splits)}"
    return out


def plot_deltas_vs_paper(table: pd.DataFrame, settings, measure: str = "J", backbone: str = "MiT-b1",
                         noise: float | None = None, noise_label: str = "training-seed spread"):
    """Table 3 as bars: the change made by TTT-N / MWI / LTV per test split, ours (left) and the paper's (right).

    Both panels share one vertical scale, so that our changes of a few tenths of a point are not drawn as large as
    the paper's of several points; our bars carry their 95 % bootstrap interval over the split's videos when the
    table holds it (``<split>_J_lo`` / ``_hi``), and ``noise`` (J ×100, e.g. the measured training-seed spread)
    draws a grey band; the paper's bars have no interval (it publishes none).
    """
    import matplotlib.pyplot as plt

    from dattt_nb.viz import shade_noise_band

    rows = ["naive_delta", "momentum_delta", "loop_delta"]
    ours = ours_scores(table, measure, rows)
    paper = paper_scores(3, backbone, measure).reindex(rows)
    colors = {"naive_delta": "#42a5f5", "momentum_delta": "#ab47bc", "loop_delta": "#ef6c00"}
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.3), sharey=True)
    x = np.arange(len(TEST_SPLITS))
    for ax, df, title in ((axes[0], ours, ours_label(settings)), (axes[1], paper, paper_label(backbone))):
        for i, r in enumerate(rows):
            ys = df.loc[r, list(TEST_SPLITS)].astype(float).to_numpy()
            ax.bar(x + (i - 1) * 0.27, ys, 0.27, color=colors[r], label=STRATEGY_LABELS[r.removesuffix("_delta")])
            bounds = [f"{s}_{measure}_{b}" for b in ("lo", "hi") for s in TEST_SPLITS]
            if df is ours and r in table.index and all(c in table.columns for c in bounds):
                lo = table.loc[r, bounds[:len(TEST_SPLITS)]].astype(float).to_numpy()
                hi = table.loc[r, bounds[len(TEST_SPLITS):]].astype(float).to_numpy()
                ax.errorbar(x + (i - 1) * 0.27, ys, yerr=[ys - lo, hi - ys], fmt="none", ecolor="#263238", lw=0.8,
                            capsize=2)
        ax.axhline(0, color="k", lw=0.8)
        if noise is not None and df is ours:
            shade_noise_band(ax, noise, f"±{noise:.2f}: {noise_label}")
        ax.set_xticks(x, [split_label(s) for s in TEST_SPLITS], fontsize=8)
        ax.set_ylabel(f"change in {measure} × 100 (vs No TTT)")
        ax.set_title(title, fontsize=9)
        ax.grid(alpha=0.3, axis="y")
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig
