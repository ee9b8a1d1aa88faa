"""The training-seed spread: how far another stage-1 seed moves this run's numbers, on the same benchmark videos.

The bootstrap intervals of :mod:`dattt_nb.stats` say how much a change depends on *which videos* were tested; they
say nothing about the *model*. A second source of noise is the training run itself: the same architecture, data
and budget trained from another seed (``Settings.seed``; ``Settings.data_seed`` keeps the videos) lands elsewhere.
``benchmarks/seed_spread.py`` measures it (≥ 3 seeds of the main model, §4.1 stage 1, then TTT-LTV, §4.2) and saves
``seed_spread`` in the run's results; a course bundle carries it. The notebooks show it as the noise band when it
is there, and say that it was not measured when it is not.
"""
from __future__ import annotations

import pandas as pd

from dattt_nb.results import load_table

SEED_SPREAD = "seed_spread"  # results table: one row per (seed, split) with J_none and dJ (×100)


def load_seed_spread(settings) -> pd.DataFrame | None:
    """The per-(seed, split) table ``benchmarks/seed_spread.py`` saved for this profile, or ``None``."""
    table = load_table(SEED_SPREAD, settings)
    if table is None:
        return None
    table = table.reset_index() if "seed" not in table.columns else table
    return table if {"seed", "split", "J_none", "dJ"} <= set(table.columns) else None


def spread_by_split(table: pd.DataFrame) -> pd.DataFrame:
    """Per split: the seeds, no-TTT J and TTT-LTV ΔJ (×100) as min / max / std over the seeds."""
    g = table.groupby("split", sort=False)
    out = pd.DataFrame({"seeds": g["seed"].nunique(),
                        "J_none_min": g["J_none"].min(), "J_none_max": g["J_none"].max(),
                        "J_none_std": g["J_none"].std(ddof=1),
                        "dJ_min": g["dJ"].min(), "dJ_max": g["dJ"].max(), "dJ_std": g["dJ"].std(ddof=1)})
    return out


def noise_band(settings, column: str = "dJ") -> float | None:
    """Half-width of the noise band in J ×100: the largest per-split std over seeds of ``column`` (``dJ`` for a
    change made by TTT, ``J_none`` for an absolute score); ``None`` when the seed spread was not measured."""
    table = load_seed_spread(settings)
    if table is None or table["seed"].nunique() < 2:
        return None
    return float(spread_by_split(table)[f"{column}_std"].max())


def seed_spread_note(settings) -> str:
    """One sentence for the notebooks: the measured spread per split, or that it was not measured in this run."""
    table = load_seed_spread(settings)
    if table is None or table["seed"].nunique() < 2:
        return ("Training-seed spread: not measured in this run. These numbers come from one stage-1 seed; another "
                "seed can move each split's J by more than the changes TTT makes, so compare signs across splits "
                "rather than single values (a course bundle from the instructor carries the measured spread).")
    s = spread_by_split(table)
    parts = [f"{split} J {r.J_none_min:.1f}–{r.J_none_max:.1f}, ΔJ {r.dJ_min:+.2f}…{r.dJ_max:+.2f}"
             for split, r in s.iterrows()]
    return (f"Training-seed spread ({int(s['seeds'].max())} stage-1 seeds of the main model on the same videos; "
            f"no-TTT J and TTT-LTV ΔJ ×100, min–max per split): " + "; ".join(parts) + ".")
