"""Strategies (Fig. 4): which weights each frame's adaptation starts from, and what gets predicted when."""
import pytest
import torch

from _ttt_helpers import ci_model, tiny_video
from dattt_nb.ttt.engine import TTTEngine
from dattt_nb.ttt.strategies import (STRATEGIES, STRATEGY_LABELS, get_strategy, grouped, loop, momentum, naive,
                                     n_predictions, no_ttt, strategy_name)


@pytest.fixture(scope="module")
def trained():
    return ci_model()


class SpyEngine(TTTEngine):
    """Records, for every step, the frame and a copy of the first E_v weight the step starts from."""

    def step(self, optimizer, video, t):
        self.log.append((t, next(self.model.image_encoder.parameters()).detach().clone(), id(optimizer)))
        return super().step(optimizer, video, t)


@pytest.fixture
def engine(trained):
    e = SpyEngine(trained, lr=1e-3, n_pairs=2)
    e.log = []
    return e


def _first_name(engine):
    return next(n for n, _ in engine.model.named_parameters() if n.startswith("image_encoder."))


def test_naive_adapts_every_frame_from_the_trained_weights(engine):
    preds = list(naive(engine, tiny_video(frames=2), epochs=2))
    assert [(p.pass_, p.t) for p in preds] == [(0, 0), (0, 1)]
    assert [t for t, _, _ in engine.log] == [0, 0, 1, 1]
    trained = engine.trained[_first_name(engine)]
    firsts = [w for i, (_, w, _) in enumerate(engine.log) if i % 2 == 0]
    assert all(torch.equal(w, trained) for w in firsts), "each frame starts again from the trained weights"
    assert not torch.equal(engine.log[1][1], trained), "steps on one frame carry on from each other"
    assert engine.log[0][2] != engine.log[2][2], "a new Adam per frame"


def test_momentum_carries_the_weights_from_frame_to_frame(engine):
    preds = list(momentum(engine, tiny_video(frames=3), epochs=2))
    assert [p.t for p in preds] == [0, 1, 2]
    assert [t for t, _, _ in engine.log] == [0, 0, 1, 1, 2, 2]
    trained = engine.trained[_first_name(engine)]
    assert torch.equal(engine.log[0][1], trained)
    assert not torch.equal(engine.log[2][1], trained), "frame 1 starts from the weights adapted on frame 0"
    assert len({opt for _, _, opt in engine.log}) == 1, "one Adam for the whole video"


def test_loop_records_every_pass_and_a_final_reprediction(engine):
    epochs, video = 3, tiny_video(frames=3)
    preds = list(loop(engine, video, epochs))
    assert [t for t, _, _ in engine.log] == [0, 1, 2] * epochs, "one step per frame per pass"
    assert [(p.pass_, p.t) for p in preds] == [(e, t) for e in range(epochs) for t in range(3)] + \
        [("final", t) for t in range(3)]
    assert len(preds) == n_predictions("loop", 3, epochs)
    final = {p.t: p.mask for p in preds if p.pass_ == "final"}
    mask, _ = engine.predict(video, [0])
    assert torch.allclose(final[0], mask[0]), "final = all frames with the weights after the last pass"


def test_grouped_splits_frames_into_interleaved_groups_from_the_trained_weights(engine):
    run = get_strategy("loop", frame_gap=2)
    preds = list(run(engine, tiny_video(frames=4), epochs=1))
    assert [t for t, _, _ in engine.log] == [0, 2, 1, 3]
    trained = engine.trained[_first_name(engine)]
    assert torch.equal(engine.log[0][1], trained) and torch.equal(engine.log[2][1], trained)
    assert not torch.equal(engine.log[1][1], trained)
    assert sorted(p.t for p in preds if p.pass_ == 0) == [0, 1, 2, 3]
    assert run.__name__ == "loop_gap2"
    assert get_strategy("naive", frame_gap=2) is naive, "TTT-N is per frame already"


def test_no_ttt_takes_no_step_and_predicts_the_trained_model(engine):
    video = tiny_video(frames=3)
    list(momentum(engine, video, 1))  # adapt first: no_ttt must reset
    preds = list(no_ttt(engine, video))
    assert len(engine.log) == 3 and [p.t for p in preds] == [0, 1, 2]
    reference = TTTEngine(ci_model(), n_pairs=2)
    mask, _ = reference.predict(video, [0, 1, 2])
    assert torch.allclose(torch.stack([p.mask for p in preds]), mask, atol=1e-6)


def test_registry_and_errors():
    assert set(STRATEGIES) == set(STRATEGY_LABELS) == {"none", "naive", "momentum", "loop"}
    assert STRATEGY_LABELS["loop"] == "TTT-LTV"
    assert get_strategy("ltv") is loop and get_strategy("MWI") is STRATEGIES["momentum"]  # command-line aliases
    with pytest.raises(ValueError, match="unknown TTT strategy"):
        get_strategy("tent")
    with pytest.raises(ValueError, match="frame_gap"):
        grouped(loop, 0)


def test_schedule_is_read_off_the_strategies():
    """Fig. 4 as events: N resets before every frame, MWI once, LTV steps every frame each pass and re-predicts."""
    from dattt_nb.ttt.strategies import n_predictions, schedule, step_epochs

    kinds = [e.kind for e in schedule("naive", 2, 2)]
    assert kinds == ["reset", "step", "step", "predict"] * 2
    loop_events = schedule("loop", 3, 2)
    assert [e.t for e in loop_events if e.kind == "step"] == [0, 1, 2, 0, 1, 2]
    assert sum(e.pass_ == "final" for e in loop_events) == 3
    assert n_predictions("loop", 5, 3) == 20 and n_predictions("momentum", 5, 3) == 5 and n_predictions("none", 4, 9) == 4
    assert step_epochs("momentum", 4, 2, frame_gap=2).tolist() == [0, 1] * 4
    assert [e.kind for e in schedule("momentum", 4, 1, frame_gap=2)].count("reset") == 2  # one per group


ALL_SPELLINGS = ("n", "mwi", "ltv", "naive", "momentum", "loop", "TTT-N", "TTT-MWI", "TTT-LTV")


def test_every_command_accepts_every_spelling_of_a_strategy():
    """Resolved once at the edge: ttt --strategy, segment --ttt, -p ttt_strategy and the explorer take every alias."""
    from dattt_nb.cli import build_parser
    from dattt_nb.config import resolve
    from dattt_nb.ttt.__main__ import add_ttt_arguments
    from dattt_nb.ttt.spec import TTTRun
    import argparse

    ttt_parser = add_ttt_arguments(argparse.ArgumentParser())
    segment = build_parser()
    for text in ALL_SPELLINGS:
        name = strategy_name(text)
        assert ttt_parser.parse_args(["--strategy", text]).strategy == name
        assert segment.parse_args(["segment", "v", "--out", "o", "--ttt", text]).ttt == name
        assert resolve("ci", ttt_strategy=text).ttt_strategy == name
        assert TTTRun.from_settings(resolve("ci"), strategy=text).strategy == name
    with pytest.raises(SystemExit):
        ttt_parser.parse_args(["--strategy", "tent"])


def test_strategy_records_say_what_each_does():
    from dattt_nb.ttt.strategies import resolve_strategy

    n, mwi, ltv, none = (resolve_strategy(s) for s in ("n", "mwi", "ltv", "none"))
    assert not none.adapts and all(s.adapts for s in (n, mwi, ltv))
    assert n.resets_per_frame and not mwi.resets_per_frame and ltv.loops and not mwi.loops
    assert mwi.groupable and ltv.groupable and not n.groupable
    assert (n.label, mwi.label, ltv.label) == ("TTT-N", "TTT-MWI", "TTT-LTV")
