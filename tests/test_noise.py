"""The training-seed spread (dattt_nb.reporting.noise), benchmarks/seed_spread.py's arguments and the separate data seed."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pandas as pd
import pytest

from dattt_nb.reporting import noise
from dattt_nb.config import resolve
from dattt_nb.data.prepare import generator_params, synthetic_root


def _bench():
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "seed_spread.py"
    spec = importlib.util.spec_from_file_location("seed_spread", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_without_the_study_the_note_says_it_was_not_measured(monkeypatch):
    cfg = resolve("ci")
    monkeypatch.setattr(noise, "load_table", lambda name, settings: None)
    assert noise.noise_band(cfg) is None
    assert "not measured" in noise.seed_spread_note(cfg)


def test_the_measured_spread_becomes_the_band_and_the_note(monkeypatch):
    table = pd.DataFrame([dict(seed=s, split=sp, J_none=j, dJ=d) for s, (j, d) in enumerate(((52.3, 0.2), (70.1, 0.4),
                                                                                          (41.1, 0.1)))
                          for sp in ("davis", "longvideos")]).set_index("seed")
    monkeypatch.setattr(noise, "load_table", lambda name, settings: table)
    cfg = resolve("ci")
    assert noise.noise_band(cfg) == pytest.approx(pd.Series([0.2, 0.4, 0.1]).std())
    note = noise.seed_spread_note(cfg)
    assert "3 stage-1 seeds" in note and "longvideos J 41.1–70.1" in note and "ΔJ +0.10…+0.40" in note


def test_seed_spread_needs_three_seeds():
    bench = _bench()
    assert bench.parse_seeds("2,0,1") == [0, 1, 2]
    for bad in ("0,1", "0,0,1", "a,b,c", "-1,0,1"):
        with pytest.raises(SystemExit) as err:
            bench.parse_seeds(bad)
        assert err.value.code == 2


def test_the_model_seed_no_longer_draws_other_videos():
    base, other_model, other_data = resolve("tiny"), resolve("tiny", seed=2), resolve("tiny", {"data_seed": 3})
    assert synthetic_root(other_model, "davis") == synthetic_root(base, "davis")
    assert generator_params("davis", other_model) == generator_params("davis", base)
    assert synthetic_root(other_data, "davis") != synthetic_root(base, "davis")
    assert generator_params("davis", other_data)["seed"] == 3
    assert "data_seed" not in base.to_dict()  # records and checkpoint keys of default runs are unchanged
    assert other_model.to_dict()["data_seed"] == 0
