"""The schematic figures follow §4.2: N resets per frame, MWI once, LTV visits every frame each pass."""
import matplotlib

matplotlib.use("Agg")
import pytest

from dattt_nb.course import diagrams


def test_schedules_match_the_strategies():
    steps, preds, resets = diagrams._schedule("naive", 4, 3)
    assert len(steps) == 12 and len(resets) == 4 and len(preds) == 4
    steps, preds, resets = diagrams._schedule("momentum", 4, 3)
    assert len(resets) == 1 and [f for _, f in steps] == sorted(f for _, f in steps)
    steps, preds, resets = diagrams._schedule("loop", 4, 3)
    assert [f for _, f in steps] == [0, 1, 2, 3] * 3 and len(preds) == 12
    with pytest.raises(ValueError, match="unknown TTT strategy"):
        diagrams._schedule("tent", 4, 3)


def test_figures_draw():
    assert len(diagrams.overview().axes) == 2
    assert diagrams.strategy_timeline("loop").get_title().startswith("TTT-LTV")
