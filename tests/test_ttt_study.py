"""One strategy measured and checked (the strategy notebooks' shared body), and the drift of carried weights."""
import dataclasses

import numpy as np
import pytest

from _ttt_helpers import CI, ci_model, tiny_video
from dattt_nb.ttt import study
from dattt_nb.ttt.cache import model_fingerprint
from dattt_nb.ttt.runner import run_ttt
from dattt_nb.ttt.spec import TTTRun

SETTINGS = dataclasses.replace(CI, ttt_epochs=2, ttt_lr=1e-3, ttt_pairs=2)


@pytest.fixture(scope="module")
def trained():
    return ci_model()


def _run(model, strategy):
    data = {"davis": [tiny_video("a", 3), tiny_video("b", 4, seed=1)], "mcl": [tiny_video("c", 3, seed=2)]}
    spec = TTTRun.from_settings(SETTINGS, strategy=strategy)
    none = {s: run_ttt(model, v, SETTINGS, spec.replace(strategy="none"), progress=False, device="cpu")
            for s, v in data.items()}
    adapted = {s: run_ttt(model, v, SETTINGS, spec, progress=False, device="cpu") for s, v in data.items()}
    return study.StrategyRun(SETTINGS, spec, model, data, none, adapted)


@pytest.mark.parametrize("strategy", ["loop"])
def test_checks_pass_on_a_real_run_and_catch_a_wrong_step_count(trained, strategy):
    run = _run(trained, strategy)
    checks = study.check_run(run, model_fingerprint(trained))
    assert checks["passed"].all(), checks[~checks["passed"]]
    assert len(run.per_video) == 3 and list(run.by_split.index[:2]) == ["davis", "mcl"]
    run.adapted["mcl"].videos[0].steps += 1  # a run that took one step too many
    checks = study.check_run(run, model_fingerprint(trained))
    assert not checks.loc["mcl: as many steps as the schedule", "passed"]
    assert "mean change over the shifted splits" in run.summary()


def test_weight_drift_resets_for_naive_and_accumulates_for_momentum(trained):
    drift = study.weight_drift(trained, tiny_video("d", 4), SETTINGS, device="cpu")
    naive = drift[drift["strategy"] == "naive"]["drift"].to_numpy()
    momentum = drift[drift["strategy"] == "momentum"]["drift"].to_numpy()
    assert len(naive) == len(momentum) == 4 and (naive > 0).all()
    assert momentum[-1] > momentum[0], "carried weights move further along the video"
    assert momentum.max() > naive.max() and np.isfinite(drift["drift"]).all()
