"""The paper's published Tables 1–5 (transcribed CSVs shipped with the package): show them labelled as the paper's.

Rows with ``value_kind = delta`` are changes from the same backbone's no-TTT row, as the paper prints them;
numbers are percentages (×100). An empty cell is one the paper leaves blank.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

TABLES_DIR = Path(__file__).resolve().parent / "paper_tables"
TABLES = {
    1: "table1_architecture.csv",  # backbone × depth decoder × modulation × TTT (J)
    2: "table2_depth_extractors.csv",  # depth estimator used for the pseudo labels
    3: "table3_ttt_strategies.csv",  # TTT-N / TTT-MWI / TTT-LTV
    4: "table4_ttt_methods.csv",  # TENT, BN, TTT-Rot, TTT-MAE vs depth
    5: "table5_sota.csv",  # comparison with the state of the art
}


def load_table(n: int) -> pd.DataFrame:
    """The paper's Table ``n`` (1–5) as published, one row per printed row."""
    if n not in TABLES:
        raise ValueError(f"the paper has Tables {sorted(TABLES)}, not {n!r}")
    path = TABLES_DIR / TABLES[n]
    if not path.is_file():
        raise FileNotFoundError(f"paper table file {path} is missing from the package (reinstall dattt-nb)")
    return pd.read_csv(path)
