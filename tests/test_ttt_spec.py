"""One TTT run's settings as a record: built from a profile in one place, the same run whatever the spelling."""
import dataclasses

import pytest

from _ttt_helpers import CI, ci_model
from dattt_nb.ttt.cache import cache_dir
from dattt_nb.ttt.engine import TTTEngine
from dattt_nb.ttt.spec import TTTRun


def test_from_settings_reads_the_profile_and_none_keeps_it():
    settings = dataclasses.replace(CI, ttt_strategy="momentum", ttt_epochs=3, ttt_lr=2e-5, ttt_pairs=4,
                                   ttt_frame_gap=2, seed=7)
    run = TTTRun.from_settings(settings, lr=None, epochs=5)
    assert (run.strategy, run.objective, run.epochs, run.lr, run.n_pairs, run.frame_gap, run.seed) == \
        ("momentum", settings.ttt_objective, 5, 2e-5, 4, 2, 7)
    assert run.scale == tuple(float(s) for s in settings.ttt_scale)
    assert run.label == "TTT-MWI, gap 2" and run.passes == 1
    assert TTTRun.from_settings(settings, strategy="ltv").passes == 3  # the profile's passes


@pytest.mark.parametrize("spelling", ["n", "naive", "TTT-N", "ttt-n", "tttn"])
def test_every_spelling_is_one_run(spelling):
    assert TTTRun(strategy=spelling) == TTTRun(strategy="naive")


def test_resolve_accepts_a_name_or_a_run_and_refuses_two_strategies():
    run = TTTRun.resolve(CI, "mwi", epochs=4)
    assert run.strategy == "momentum" and run.epochs == 4
    assert TTTRun.resolve(CI, run, lr=1e-3) == run.replace(lr=1e-3)
    assert TTTRun.resolve(CI, None, strategy="loop").strategy == "loop"
    with pytest.raises(ValueError, match="two strategies"):
        TTTRun.resolve(CI, "naive", strategy="loop")
    with pytest.raises(TypeError, match="unknown TTT run setting"):
        run.replace(learning_rate=1.0)


def test_no_ttt_is_one_run_whatever_the_step_settings():
    a = TTTRun(strategy="none", epochs=5, lr=1.0, n_pairs=3, frame_gap=4)
    b = TTTRun(strategy="none")
    assert a.key() == b.key() and a.folder_name() == b.folder_name()
    assert TTTRun(epochs=2).folder_name() != TTTRun(epochs=3).folder_name()
    assert TTTRun(strategy="loop", frame_gap=3).folder_name().endswith("_g3_seed0")


def test_check_names_the_setting_out_of_range():
    for change, word in ((dict(lr=0.0), "lr"), (dict(epochs=0), "epochs"), (dict(n_pairs=0), "n_pairs"),
                         (dict(objective="magic"), "objective")):
        with pytest.raises(ValueError, match=word):
            TTTRun(**change).check()
    TTTRun(strategy="none", epochs=0, lr=0.0).check()  # nothing adapts: step settings do not matter
    TTTRun(objective="bn:16").check()


def test_the_engine_and_the_cache_take_the_run(tmp_path, monkeypatch):
    run = TTTRun(strategy="loop", objective="tent", lr=3e-4, n_pairs=2, scale=(1.1, 1.2), seed=5)
    engine = TTTEngine.for_run(ci_model(), run)
    assert (engine.objective, engine.lr, engine.n_pairs, engine.scale, engine.seed) == ("tent", 3e-4, 2, (1.1, 1.2), 5)
    monkeypatch.setenv("DATTT_RUNS", str(tmp_path))
    model = ci_model()
    assert cache_dir(model, CI, run.replace(strategy="ltv"), "cpu") == cache_dir(model, CI, run, "cpu")
    assert cache_dir(model, CI, run.replace(lr=1e-4), "cpu") != cache_dir(model, CI, run, "cpu")
    assert TTTRun.from_dict(run.to_dict()) == run
