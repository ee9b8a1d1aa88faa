"""The exercises' self-checks: each passes the reference solution, names a typical wrong answer, and reads a stub
as "not attempted yet" (so the notebooks run top to bottom)."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from dattt_nb import exercise_solutions as sol
from dattt_nb import exercises as ex
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
    for p in sol.loop(engine, video, epochs):
        if p.pass_ != "final":
            yield p


def _momentum_one_pass(engine, video, epochs, frames=None):  # TTT-MWI with one step per frame
    yield from sol.momentum(engine, video, 1)


CASES = [  # check, reference solution, typical wrong answer, words the feedback must contain
    (ex.check_endpoint_error, sol.endpoint_error, lambda p, t: float(((p - t) ** 2).sum(-1).mean()), "squared"),
    (ex.check_normalize_depth, sol.normalize_depth,
     lambda d: np.nan_to_num((d - np.nanmin(d[np.isfinite(d)])) / np.ptp(d[np.isfinite(d)])), "invalid"),
    (ex.check_silog, sol.silog, lambda p, t: torch.sqrt(((torch.log(p + 1e-3) - torch.log(t + 1e-3)) ** 2).mean()),
     "SILog"),
    (ex.check_joint_loss, sol.joint_loss,
     lambda m, d, mask, depth, lam: sol.joint_loss(m, d, mask, depth, 1.0), "λ is not applied"),
    (ex.check_modulation, sol.modulate,
     lambda layer, d, m: layer.alpha(layer.shared(torch.cat([d, m], 1))) * m, "β is missing"),
    (ex.check_identity_init, sol.init_identity,
     lambda layer: [torch.nn.init.zeros_(p) for p in layer.parameters()], "not the identity"),
    (ex.check_naive, sol.naive, _naive_without_reset, "TTT-MWI"),
    (ex.check_consistency, sol.consistency, lambda d1, d2: sol.silog(d2, d1.detach()), "view 1"),
    (ex.check_momentum, sol.momentum, _momentum_one_pass, "adaptation steps"),
    (ex.check_photometric_shift, sol.low_light, lambda f: torch.flip(f, dims=(-1,)), "edges moved"),
    (ex.check_loop, sol.loop, _loop_without_final, "predictions"),
    (ex.check_binary_entropy, sol.binary_entropy,
     lambda z: -(torch.sigmoid(z) * torch.log(torch.sigmoid(z))).mean(), "foreground term"),
    (ex.check_rotate_batch, sol.rotate_batch,
     lambda x: (torch.stack([torch.rot90(i, -(k % 4), dims=(-2, -1)) for k, i in enumerate(x)]),
                torch.arange(len(x)) % 4), "wrong way"),
    (ex.check_jaccard, sol.jaccard, lambda g, p: 2 * (g & p).sum() / max(1, g.sum() + p.sum()), "Dice"),
    (ex.check_recall_decay, sol.recall_decay,
     lambda v: {**sol.recall_decay(v), "recall": float((np.asarray(v) >= 0.5).mean())}, "strictly above"),
    (ex.check_natural_sort, sol.natural_sort, sorted, "plain string order"),
    (ex.check_temporal_iou, sol.temporal_iou,
     lambda m: float(np.mean([sol.jaccard(m[0], b) for b in m[1:]])), "previous one"),
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
    from dattt_nb.exercises import _ttt_setup

    model, video = _ttt_setup()
    table = ex.strategies_on_shift(model, video, sol.low_light, resolve("ci", device="cpu"), epochs=1)
    assert list(table.index) == ["none", "naive", "momentum"]
    assert table[["J original", "J shifted"]].apply(lambda c: c.between(0, 100)).all().all()
    assert np.allclose(table["shift costs"], table["J shifted"] - table["J original"], atol=0.02)
