"""The tables the notebooks show are unchanged by reorganising the library: every table function, fed the same
TTT results, gives the frame saved in ``tests/fixtures/tables/`` (written once from the code before the change).

"""
from __future__ import annotations

import importlib
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

FIXTURES = Path(__file__).parent / "fixtures" / "tables"

# where each function lives now
NEW = {
    **{k: "dattt_nb.ttt.report" for k in ("split_scores", "compare_splits", "per_video_from_results",
                                          "table3_from_results", "table3_deltas", "fig5_rows", "fig5_table",
                                          "steps_long", "most_changed")},
    "split_statistics": "dattt_nb.reporting.tables", "table3_beside_paper": "dattt_nb.reporting.paper",
    "flat": "dattt_nb.reporting.paper", "paper_scores": "dattt_nb.reporting.paper", "split_label": "dattt_nb.splits",
}
SPLITS = ["davis", "fbms", "mcl"]
SHAPES = {"none": 1, "naive": 2, "momentum": 2, "loop": 3}  # epochs


def _api(paths: dict) -> dict:
    return {name: getattr(importlib.import_module(module), name) for name, module in paths.items()}


def fake_results(seed: int = 0) -> dict[str, dict]:
    """{strategy: {split: TTTResult}}: two videos per split, per-frame scores, step logs of the right length."""
    from dattt_nb.ttt.records import TTTResult, VideoResult
    from dattt_nb.ttt.spec import TTTRun

    rng = np.random.default_rng(seed)
    out = {}
    for strategy, epochs in SHAPES.items():
        out[strategy] = {}
        for split in SPLITS:
            videos = []
            for i in range(2):
                t = 4 + i
                passes = epochs if strategy == "loop" else 1
                pass_j, pass_f = rng.random((passes, t)), rng.random((passes, t))
                pass_j[:, 0] = pass_f[:, 0] = math.nan  # an unannotated frame
                n_steps = 0 if strategy == "none" else t * epochs
                videos.append(VideoResult(
                    name=f"{split}_{i}", masks=torch.zeros(t, 2, 2, dtype=torch.bool), J_frames=pass_j[-1],
                    F_frames=pass_f[-1], J=float(np.nanmean(pass_j[-1])), F=float(np.nanmean(pass_f[-1])),
                    pass_J=pass_j, pass_F=pass_f, final_J=float(rng.random()), final_F=float(rng.random()),
                    depth_std_frames=rng.random(t), losses=rng.random(n_steps).tolist(),
                    step_depth_std=rng.random(n_steps).tolist(), steps=n_steps, skipped=int(rng.integers(2)),
                    seconds=float(rng.random())))
            out[strategy][split] = TTTResult(TTTRun(strategy, "depth", epochs, 1e-5), videos)
    return out


def compute(api: dict) -> dict[str, pd.DataFrame]:
    """Every table of the notebooks' TTT sections, from the same fake results."""
    from dattt_nb.config import resolve

    res = fake_results()
    table3 = api["table3_from_results"](res)
    rows = [r for s, by in res.items() for r in api["fig5_rows"](s, by)]
    tables = {
        "split_scores": api["split_scores"](res["loop"]),
        "split_scores_final": api["split_scores"](res["loop"], final=True),
        "compare_splits": api["compare_splits"](res["none"], res["momentum"]),
        "per_video": api["per_video_from_results"](res["none"], res["loop"]),
        "table3": table3,
        "table3_deltas": api["table3_deltas"](table3),
        "table3_deltas_F": api["table3_deltas"](table3, "F"),
        "fig5": api["fig5_table"]([r for r in rows if r["strategy"] != "none"],
                                  [r for r in rows if r["strategy"] == "none"]),
        "steps_naive": api["steps_long"](res["naive"]["fbms"]),
        "steps_loop": api["steps_long"](res["loop"]["mcl"]),
        "most_changed": pd.DataFrame(api["most_changed"](res["none"], res["loop"], n=4), columns=["split", "video"]),
        "split_statistics": api["split_statistics"](res["loop"]),
        "table3_beside_paper": api["flat"](api["table3_beside_paper"](table3, resolve("ci"))),
        "paper_table4": api["paper_scores"](4),
        "split_labels": pd.DataFrame({"label": [api["split_label"](s) for s in
                                                SPLITS + ["stv2", "longvideos", "shifted", "mean", "x"]]}),
    }
    return tables


def _write(tables: dict[str, pd.DataFrame], folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, df in tables.items():
        df.to_csv(folder / f"{name}.csv")


def test_tables_equal_those_of_the_code_before_the_reorganisation(tmp_path):
    saved = sorted(FIXTURES.glob("*.csv"))
    assert saved, f"no fixtures in {FIXTURES}"
    _write(compute(_api(NEW)), tmp_path)
    assert sorted(p.name for p in tmp_path.glob("*.csv")) == [p.name for p in saved]
    for path in saved:
        before, now = pd.read_csv(path), pd.read_csv(tmp_path / path.name)
        # later additions (the bootstrap intervals of issue 18) are new columns; the old ones keep their values
        now = now[[c for c in before.columns if c in now.columns]]
        pd.testing.assert_frame_equal(now, before, check_exact=False, rtol=1e-12, obj=path.stem)

