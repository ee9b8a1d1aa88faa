"""The exercises' self-checks: each passes the reference solution, names a typical wrong answer, and reads a stub
as "not attempted yet" (so the notebooks run top to bottom)."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from dattt_nb.course import solutions as sol
from dattt_nb.course import exercises as ex
from dattt_nb.ttt.strategies import Prediction


def stub(*args, **kwargs):
    raise NotImplementedError


def _naive_without_reset(engine, video, epochs, frames=None):  # TTT-N that forgets the reset: that is MWI-like
    optimizer = engine.optimizer()
    engine.reset()
    for t in range(len(video)):
        for _ in range(epochs):
            engine.step(optimizer, video, t)
        mask, depth = engine.predict(video, [t])
        yield Prediction(0, t, mask[0], depth[0])


def _loop_without_final(engine, video, epochs, frames=None):
    for p in sol.loop_solution(engine, video, epochs):
        if p.pass_ != "final":
            yield p


def _momentum_one_pass(engine, video, epochs, frames=None):  # TTT-MWI with one step per frame
    yield from sol.momentum_solution(engine, video, 1)


CASES = [  # check, reference solution, typical wrong answer, words the feedback must contain
    (ex.check_endpoint_error, sol.endpoint_error_solution, lambda p, t: float(((p - t) ** 2).sum(-1).mean()),
     "squared"),
    (ex.check_normalize_depth, sol.normalize_depth_solution,
     lambda d: np.nan_to_num((d - np.nanmin(d[np.isfinite(d)])) / np.ptp(d[np.isfinite(d)])), "invalid"),
    (ex.check_silog, sol.silog_solution,
     lambda p, t: torch.sqrt(((torch.log(p + 1e-3) - torch.log(t + 1e-3)) ** 2).mean()), "SILog"),
    (ex.check_joint_loss, sol.joint_loss_solution,
     lambda m, d, mask, depth, lam: sol.joint_loss_solution(m, d, mask, depth, 1.0), "λ is not applied"),
    (ex.check_modulation, sol.modulate_solution,
     lambda layer, d, m: layer.alpha(layer.shared(torch.cat([d, m], 1))) * m, "β is missing"),
    (ex.check_identity_init, sol.init_identity_solution,
     lambda layer: [torch.nn.init.zeros_(p) for p in layer.parameters()], "not the identity"),
    (ex.check_naive, sol.naive_solution, _naive_without_reset, "TTT-MWI"),
    (ex.check_consistency, sol.consistency_solution, lambda d1, d2: sol.silog_solution(d2, d1.detach()), "view 1"),
    (ex.check_momentum, sol.momentum_solution, _momentum_one_pass, "adaptation steps"),
    (ex.check_photometric_shift, sol.low_light_solution, lambda f: torch.flip(f, dims=(-1,)), "edges moved"),
    (ex.check_loop, sol.loop_solution, _loop_without_final, "predictions"),
    (ex.check_binary_entropy, sol.binary_entropy_solution,
     lambda z: -(torch.sigmoid(z) * torch.log(torch.sigmoid(z))).mean(), "foreground term"),
    (ex.check_rotate_batch, sol.rotate_batch_solution,
     lambda x: (torch.stack([torch.rot90(i, -(k % 4), dims=(-2, -1)) for k, i in enumerate(x)]),
                torch.arange(len(x)) % 4), "wrong way"),
    (ex.check_jaccard, sol.jaccard_solution, lambda g, p: 2 * (g & p).sum() / max(1, g.sum() + p.sum()), "Dice"),
    (ex.check_recall_decay, sol.recall_decay_solution,
     lambda v: {**sol.recall_decay_solution(v), "recall": float((np.asarray(v) >= 0.5).mean())}, "strictly above"),
    (ex.check_natural_sort, sol.natural_sort_solution, sorted, "plain string order"),
    (ex.check_temporal_iou, sol.temporal_iou_solution,
     lambda m: float(np.mean([sol.jaccard_solution(m[0], b) for b in m[1:]])), "previous one"),
]


@pytest.mark.parametrize("check, solution, wrong, words", CASES, ids=[c[0].__name__ for c in CASES])
def test_check_passes_the_solution_and_explains_a_typical_mistake(check, solution, wrong, words):
    good = check(solution)
    assert good.correct, repr(good)
    bad = check(wrong)
    assert bad.status == "wrong" and not bad and any(words in p for p in bad.problems), repr(bad)
    todo = check(stub)
    assert todo.status == ex.NOT_ATTEMPTED and not todo.attempted and "not attempted" in repr(todo)


def test_stubs_returning_nothing_and_crashing_answers_do_not_raise():
    assert ex.check_silog(lambda p, t: ...).status == ex.NOT_ATTEMPTED
    assert ex.check_silog(None).status == ex.NOT_ATTEMPTED
    crashed = ex.check_silog(lambda p, t: p.no_such_method())
    assert crashed.status == "wrong" and "AttributeError" in crashed.problems[0]
    shape = ex.check_silog(lambda p, t: (p - t) ** 2)
    assert shape.status == "wrong" and "one number" in shape.problems[0]


def test_collapse_quiz():
    assert ex.check_collapse_reading(sol.COLLAPSED_RUN, sol.FIRST_FIX).correct
    assert ex.check_collapse_reading("", "").status == ex.NOT_ATTEMPTED
    wrong = ex.check_collapse_reading("A", "pairs")
    assert "falling toward 0" in wrong.problems[0] and "learning rate" in wrong.problems[1]
    assert ex.plot_collapse_quiz().axes


def test_strategies_on_shift_table():
    from dattt_nb.config import resolve
    from dattt_nb.course.exercises import _ttt_setup

    model, video = _ttt_setup()
    table = ex.strategies_on_shift(model, video, sol.low_light_solution, resolve("ci", device="cpu"), epochs=1)
    assert list(table.index) == ["none", "naive", "momentum"]
    assert table[["J original", "J shifted"]].apply(lambda c: c.between(0, 100)).all().all()
    assert np.allclose(table["shift costs"], table["J shifted"] - table["J original"], atol=0.02)


def _library_answers():
    """Answers that only call the library's reference: each must fail its check (the hidden check forbids it)."""
    from dattt_nb.data.depth import normalize_depth
    from dattt_nb.data.flow import endpoint_error
    from dattt_nb.data.layout import natural_key
    from dattt_nb.losses import joint_loss, silog_loss
    from dattt_nb.metrics import db_statistics, jaccard
    from dattt_nb.models.aux_heads import rotate_batch
    from dattt_nb.ttt import strategies
    from dattt_nb.ttt.objectives import binary_entropy

    return [
        (ex.check_endpoint_error, lambda p, t: endpoint_error(p, t)),
        (ex.check_normalize_depth, lambda d: normalize_depth(d)),
        (ex.check_silog, lambda p, t: silog_loss(p, t)),
        (ex.check_joint_loss, lambda m, d, mask, depth, lam: joint_loss(m, d, mask, depth, lam)),
        (ex.check_modulation, lambda layer, d, m: layer(d, m)),
        (ex.check_naive, lambda engine, video, epochs: (yield from strategies.naive(engine, video, epochs))),
        (ex.check_momentum, lambda engine, video, epochs: (yield from strategies.STRATEGIES["momentum"](engine, video,
                                                                                                       epochs))),
        (ex.check_loop, lambda engine, video, epochs: (yield from strategies.loop(engine, video, epochs))),
        (ex.check_binary_entropy, lambda z: binary_entropy(z)),
        (ex.check_rotate_batch, lambda x: rotate_batch(x)),
        (ex.check_jaccard, lambda g, p: jaccard(g, p)),
        (ex.check_recall_decay, lambda v: db_statistics(v)),
        (ex.check_natural_sort, lambda names: sorted(names, key=natural_key)),
    ]


def test_a_building_block_from_an_earlier_notebook_stays_allowed():
    from dattt_nb.metrics import jaccard

    assert ex.check_temporal_iou(lambda m: float(np.mean(jaccard(m[1:], m[:-1])))).correct  # 09.2 may use 08's J


@pytest.mark.parametrize("index", range(13))
def test_an_answer_that_calls_the_library_fails_its_check(index):
    check, answer = _library_answers()[index]
    got = check(answer)
    assert got.status == "wrong" and any("library's" in p for p in got.problems), repr(got)


def test_forbidden_references_are_restored_after_a_check():
    from dattt_nb.losses import silog_loss

    ex.check_silog(lambda p, t: silog_loss(p, t))
    d = torch.rand(1, 1, 4, 4) + 0.1
    assert float(silog_loss(d, d)) == 0.0  # the library works again after the check
    assert ex.check_silog(sol.silog_solution).correct


def test_natural_sort_is_not_a_sort_on_length_then_name():
    got = ex.check_natural_sort(lambda names: sorted(names, key=lambda n: (len(n), n)))
    assert got.status == "wrong" and "length" in got.problems[0]


def test_fewer_epochs_is_not_the_first_fix_for_a_collapse():
    got = ex.check_collapse_reading(sol.COLLAPSED_RUN, "epochs")
    assert got.status == "wrong" and "learning rate" in got.problems[0]


def test_reading_questions_are_graded_against_the_run():
    import pandas as pd

    by_split = pd.DataFrame({"dJ": [0.3, -0.2, 0.1, 0.05, 0.2], "dJ_lo": [0.1, -0.5, -0.3, -0.2, -0.1],
                             "dJ_hi": [0.5, 0.1, 0.4, 0.3, 0.5]},
                            index=["davis", "fbms", "mcl", "mean", "mean_shifted"])
    assert ex.check_splits_improved(2, by_split).correct and not ex.check_splits_improved(3, by_split).correct
    assert ex.check_splits_improved(None, by_split).status == ex.NOT_ATTEMPTED
    assert ex.check_interval_reading("yes", by_split).correct and not ex.check_interval_reading("no", by_split)
    assert ex.check_verdict_choice("b", by_split).correct and not ex.check_verdict_choice("a", by_split).correct
    clear = by_split.assign(dJ_lo=0.05)
    assert ex.check_verdict_choice("a", clear).correct and ex.check_interval_reading("no", clear).correct
    pretext = pd.DataFrame({"learned": [False, True]}, index=["TTT-Rot", "TTT-MAE"])
    assert ex.check_pretext_reading(["TTT-MAE"], pretext).correct
    assert not ex.check_pretext_reading(["TTT-Rot", "TTT-MAE"], pretext).correct
    assert ex.check_pretext_reading([], pretext.assign(learned=False)).correct
