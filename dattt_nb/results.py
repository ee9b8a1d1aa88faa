"""Results shared between notebooks: tables as CSV + JSON and figures as PNG under ``runs/<profile>/results/``.

Notebooks save what they measure here; notebook 08 and ``dattt-nb run``'s report collect it.
"""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from .config import Settings, run_dir
from .utils import atomic_path, atomic_write_json


def results_dir(settings: Settings | str) -> Path:
    """``runs/<profile>/results/``, created on demand."""
    path = run_dir(settings) / "results"
    path.mkdir(parents=True, exist_ok=True)
    return path


def save_table(df: pd.DataFrame, name: str, settings: Settings | str, meta: dict | None = None) -> Path:
    """Write ``<name>.csv`` and ``<name>.json`` (records + ``meta``) atomically; returns the CSV path."""
    folder = results_dir(settings)
    csv = folder / f"{name}.csv"
    with atomic_path(csv) as tmp:
        df.to_csv(tmp)
    records = json.loads(df.reset_index().to_json(orient="records"))
    atomic_write_json(folder / f"{name}.json", {"name": name, "meta": meta or {}, "rows": records})
    return csv


def load_table(name: str, settings: Settings | str) -> pd.DataFrame | None:
    """A saved table (index restored from the CSV's first column), or ``None`` when it was never saved."""
    csv = results_dir(settings) / f"{name}.csv"
    if not csv.is_file():
        return None
    return pd.read_csv(csv, index_col=0)


def save_figure(fig, name: str, settings: Settings | str, dpi: int = 110) -> Path:
    """Save a matplotlib figure as ``<name>.png`` atomically."""
    path = results_dir(settings) / f"{name}.png"
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi, bbox_inches="tight", format="png")
    return path
