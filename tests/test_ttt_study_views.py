"""The views the strategy notebooks 04–06 share (study.shared_views and its pieces, the explorer helpers), on real
TTT runs of the ci model over tiny videos: what they return is what the notebooks assert on."""
import dataclasses

import matplotlib
import numpy as np
import pytest

from _ttt_helpers import CI, ci_model, tiny_video
from dattt_nb.course import widgets
from dattt_nb.ttt import study
from dattt_nb.ttt.runner import run_ttt
from dattt_nb.ttt.spec import TTTRun

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

SETTINGS = dataclasses.replace(CI, ttt_epochs=2, ttt_lr=1e-3, ttt_pairs=2)


@pytest.fixture(scope="module")
def trained():
    return ci_model()


@pytest.fixture(scope="module")
def runs():
    """A TTT-MWI and a TTT-LTV run on two splits (three videos), beside No TTT."""
    model = ci_model()
    data = {"davis": [tiny_video("a", 3), tiny_video("b", 4, seed=1)], "mcl": [tiny_video("c", 3, seed=2)]}
    none = {s: run_ttt(model, v, SETTINGS, "none", progress=False, device="cpu") for s, v in data.items()}
    out = {}
    for strategy in ("momentum", "loop"):
        adapted = {s: run_ttt(model, v, SETTINGS, strategy, progress=False, device="cpu") for s, v in data.items()}
        out[strategy] = study.StrategyRun(SETTINGS, TTTRun.from_settings(SETTINGS, strategy=strategy), model, data,
                                          none, adapted)
    return out


@pytest.fixture(autouse=True)
def no_open_figures():
    plt.close("all")
    yield
    plt.close("all")


def test_the_pieces_return_what_they_draw(runs):
    run = runs["momentum"]
    by_split = study.split_table(run)
    assert list(by_split.index[:2]) == ["davis", "mcl"] and by_split.equals(run.by_split)
    per_epoch = study.loss_view(run)
    assert list(per_epoch.index) == [1, 2] and list(per_epoch.columns) == ["loss", "depth_std"]
    assert np.isfinite(per_epoch.to_numpy()).all() and len(plt.get_fignums()) == 1
    shown = study.per_frame_view(run, n=2)
    changes = {(s, v.name): abs(v.J - b.J) for s, r in run.adapted.items() for v, b in zip(r.videos, run.none[s].videos)}
    assert len(shown) == 2 and changes[shown[0]] == max(changes.values()) and changes[shown[0]] >= changes[shown[1]]
    frames = study.mask_grid(run, "davis", "b")
    assert frames.tolist() == [0, 1, 2, 3], "at most four evenly spaced frames of a four-frame video"
    grid = plt.figure(plt.get_fignums()[-1])
    assert len(grid.axes) == 4 * 4, "frame, ground truth, No TTT and TTT-MWI per row"
    assert study.mask_grid(run, "mcl", "c", columns={"x": run.none["mcl"].videos[0].masks}, n_frames=2).tolist() == [0, 2]
    assert len(plt.figure(plt.get_fignums()[-1]).axes) == 2 * 3


def test_split_table_refuses_a_run_missing_a_video(runs):
    run = dataclasses.replace(runs["momentum"], data={**runs["momentum"].data,
                                                      "mcl": runs["momentum"].data["mcl"] + [tiny_video("d")]})
    with pytest.raises(ValueError, match="per-video table of TTT-MWI: 3 rows for 4 test videos"):
        study.split_table(run)


def test_collapse_sentence_prints_both_stds_and_the_change():
    line = study.collapse_sentence(0.2, 0.15)
    assert "0.2000 without TTT → 0.1500 with TTT (-25.0 %)" in line
    assert "%" not in study.collapse_sentence(0.0, 0.0), "no relative change from a zero std"


@pytest.mark.parametrize("strategy, masks", [("momentum", True), ("loop", False)])
def test_shared_views_shows_every_view_in_order_and_returns_their_numbers(runs, strategy, masks, monkeypatch, capsys):
    import IPython.display
    import pandas as pd
    from matplotlib.figure import Figure

    shown_items = []
    monkeypatch.setattr(IPython.display, "display", lambda *items: shown_items.extend(items))
    run = runs[strategy]
    views = study.shared_views(run, n_show=2, masks=masks)
    assert plt.get_fignums() == [], "every figure shown once and closed"
    assert views.by_split.equals(run.by_split) and len(views.per_epoch) == SETTINGS.ttt_epochs
    assert views.shown == study.per_frame_view(run, n=2)
    assert (views.std_none, views.std_ttt) == run.depth_std() and min(views.std_none, views.std_ttt) >= 0
    assert (views.frames is not None) == masks
    kinds = ["md" if isinstance(x, IPython.display.Markdown) else "table" if isinstance(x, pd.DataFrame)
             else "figure" if isinstance(x, Figure) else type(x).__name__ for x in shown_items]
    want = ["md", "table", "md", "figure", "table", "md", "figure", "md", "figure"] + ["md", "figure"] * masks
    assert kinds == want, "each view's heading, then its figure and table, in the order notebook 04 explains them"
    headings = [x.data for x, kind in zip(shown_items, kinds) if kind == "md"]
    starts = [f"**Per split: {run.label} against No TTT**", "**The loss of eq. 4 over the steps**", "**Per frame:**",
              "**Collapse watch:**"] + ["**Masks**"] * masks
    assert len(headings) == len(starts) and all(h.startswith(w) for h, w in zip(headings, starts)), headings
    assert all(run.label in h for h in headings[:3])
    assert "spatial std of the predicted depth" in capsys.readouterr().out


def test_explorer_helpers_run_once_and_show_the_middle_frame(trained, tmp_path, monkeypatch):
    import dattt_nb.train
    import dattt_nb.ttt.cache

    monkeypatch.setenv("DATTT_RUNS", str(tmp_path / "runs"))
    data = {"fbms": [tiny_video("a", 3)], "mcl": [tiny_video("c", 4, seed=2)]}
    monkeypatch.setattr(dattt_nb.train, "load_or_train", lambda settings: (trained, None))
    monkeypatch.setattr(dattt_nb.ttt.cache, "load_test_splits", lambda settings: data)
    explorer = widgets.strategy_explorer(SETTINGS, split="mcl")
    assert explorer.error is None and explorer.result.video.name == "c", "run once on the split's first video"
    info = widgets.explorer_snapshot(explorer)
    assert info["t"] == 2 and info["video"] == "c" and info["steps"] == info["losses"] > 0
    assert info["mask_shape"] == info["depth_shape"] == (4, 32, 32) and 0 <= info["J_after"] <= 1
    assert widgets.explorer_snapshot(explorer, t=0)["t"] == 0
    with pytest.raises(IndexError, match="frame 9 out of range"):
        widgets.explorer_snapshot(explorer, t=9)
    fresh = widgets.ttt_explorer(trained, SETTINGS, data)
    with pytest.raises(RuntimeError, match="has not run yet"):
        widgets.explorer_snapshot(fresh)
