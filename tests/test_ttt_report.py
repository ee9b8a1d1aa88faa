"""The TTT notebooks' helpers: cached runs that equal fresh ones, Table 3 / Fig. 5 tables, step schedules, traces."""
import numpy as np
import pytest
import torch

from _ttt_helpers import CI, ci_model, tiny_video
from dattt_nb import viz
from dattt_nb.ttt import cache, plots, report, strategies
from dattt_nb.ttt.records import load_split_results
from dattt_nb.ttt.runner import run_ttt
from dattt_nb.ttt.spec import TTTRun


@pytest.fixture(scope="module")
def trained():
    return ci_model()


@pytest.fixture
def runs(tmp_path, monkeypatch):
    monkeypatch.setenv("DATTT_RUNS", str(tmp_path / "runs"))
    return tmp_path / "runs"


def _data():
    return {"davis": [tiny_video("davis_a", frames=3, seed=1)],
            "mcl": [tiny_video("mcl_a", frames=3, seed=2), tiny_video("mcl_b", frames=2, seed=3)]}


def _kw():
    return dict(epochs=2, lr=1e-3, n_pairs=2, device="cpu", progress=False)


def test_a_cached_run_equals_a_fresh_one_and_is_read_back(trained, runs):
    videos = _data()["mcl"]
    first = cache.cached_ttt(trained, videos, CI, "mcl", strategy="loop", **_kw())
    fresh = run_ttt(trained, videos, CI, strategy="loop", epochs=2, lr=1e-3, n_pairs=2, device="cpu", progress=False)
    for a, b in zip(first.videos, fresh.videos):
        assert torch.equal(a.masks, b.masks) and a.losses == b.losses and a.J == b.J
    folder = cache.cache_dir(trained, CI, TTTRun.from_settings(CI, strategy="loop", epochs=2, lr=1e-3, n_pairs=2), device="cpu")
    assert (folder / "mcl.json").is_file() and (folder / "mcl.csv").is_file() and (folder / "mcl.npz").is_file()
    again = cache.cached_ttt(trained, videos[::-1], CI, "mcl", strategy="loop", **_kw())
    assert [v.name for v in again.videos] == ["mcl_b", "mcl_a"], "the caller's order"
    b = again.videos[1]
    assert torch.equal(b.masks, fresh.videos[0].masks) and np.array_equal(b.pass_J, fresh.videos[0].pass_J)
    assert b.seconds == first.videos[0].seconds, "read from the cache, not recomputed"
    assert torch.equal(b.final_masks, fresh.videos[0].final_masks)


def test_a_subset_reuses_the_split_and_changed_data_or_settings_recompute(trained, runs):
    videos = _data()["mcl"]
    whole = cache.cached_ttt(trained, videos, CI, "mcl", strategy="naive", **_kw())
    part = cache.cached_ttt(trained, videos[1:], CI, "mcl", strategy="naive", **_kw())
    assert part.videos[0].seconds == whole.videos[1].seconds
    changed = tiny_video("mcl_b", frames=2, seed=4)  # same name, other frames
    redo = cache.cached_ttt(trained, [changed], CI, "mcl", strategy="naive", **_kw())
    assert redo.videos[0].seconds != whole.videos[1].seconds
    other = cache.cache_dir(trained, CI, TTTRun.from_settings(CI, strategy="naive", epochs=2, lr=1e-4, n_pairs=2), device="cpu")
    assert other != cache.cache_dir(trained, CI, TTTRun.from_settings(CI, strategy="naive", epochs=2, lr=1e-3, n_pairs=2), device="cpu")
    assert cache.cache_dir(trained, CI, TTTRun.from_settings(CI, strategy="none", epochs=5, lr=1.0, n_pairs=8), device="cpu") == \
        cache.cache_dir(trained, CI, TTTRun.from_settings(CI, strategy="none"), device="cpu"), "No TTT does not depend on the TTT settings"


def test_a_split_saved_by_another_notebook_meanwhile_is_kept(trained, runs, monkeypatch):
    """Two notebooks adapting different videos of one split at the same time: the second save adds to the first."""
    mcl_a, mcl_b = _data()["mcl"]
    real_run = cache.run_ttt

    def run_while_another_notebook_saves(model, videos, *args, **kw):
        monkeypatch.setattr(cache, "run_ttt", real_run)
        cache.cached_ttt(trained, [mcl_a], CI, "mcl", strategy="loop", **_kw())  # the other notebook, mid-run
        return real_run(model, videos, *args, **kw)

    monkeypatch.setattr(cache, "run_ttt", run_while_another_notebook_saves)
    mine = cache.cached_ttt(trained, [mcl_b], CI, "mcl", strategy="loop", **_kw())
    _, saved, _ = load_split_results(cache.cache_dir(trained, CI, TTTRun.from_settings(CI, strategy="loop", epochs=2, lr=1e-3, n_pairs=2), device="cpu"), "mcl")
    assert sorted(saved) == ["mcl_a", "mcl_b"], "neither notebook's video was dropped"
    assert saved["mcl_b"].J == mine.videos[0].J


def test_step_schedule_matches_what_the_strategies_log(trained, runs):
    data = _data()
    for strategy in ("naive", "momentum", "loop"):
        res = cache.cached_ttt(trained, data["mcl"], CI, "mcl", strategy=strategy, **_kw())
        steps = report.steps_long(res)
        assert len(steps) == sum(v.steps for v in res.videos) == 2 * (3 + 2)
        assert sorted(steps["epoch"].unique()) == [1, 2]
    assert strategies.step_epochs("loop", 3, 2).tolist() == [0, 0, 0, 1, 1, 1]
    assert strategies.step_epochs("naive", 3, 2).tolist() == [0, 1, 0, 1, 0, 1]
    assert strategies.step_epochs("loop", 4, 2, frame_gap=2).tolist() == [0, 0, 1, 1, 0, 0, 1, 1]


def test_tables_table3_and_fig5(trained, runs):
    data = _data()
    results = {s: cache.run_splits(trained, data, CI, s, **_kw()) for s in ("none", "naive", "momentum", "loop")}
    cmp = report.compare_splits(results["none"], results["loop"])
    assert list(cmp.index) == ["davis", "mcl", "mean", "mean_shifted"]
    assert cmp.loc["mcl", "dJ"] == pytest.approx(cmp.loc["mcl", "J"] - cmp.loc["mcl", "J_none"])
    assert cmp.loc["mean", "videos"] == 3 and cmp.loc["mean_shifted", "videos"] == 2
    t3 = report.table3_from_results(results)
    assert list(t3.index) == ["none", "naive", "momentum", "loop", "naive_delta", "momentum_delta", "loop_delta"]
    assert t3.loc["loop_delta", "mcl_J"] == pytest.approx(t3.loc["loop", "mcl_J"] - t3.loc["none", "mcl_J"])
    assert t3.loc["none", "shifted_J"] == pytest.approx(t3.loc["none", "mcl_J"])
    deltas = report.table3_deltas(t3)
    assert list(deltas.index) == ["No TTT", "TTT-N", "TTT-MWI", "TTT-LTV"] and "DAVIS-16" in deltas.columns
    videos = report.per_video_from_results(results["none"], results["naive"])
    assert len(videos) == 3 and videos["steps"].tolist() == [6, 6, 4]
    rows = report.fig5_rows("loop", results["loop"]) + report.fig5_rows("naive", results["naive"])
    fig5 = report.fig5_table(rows, report.fig5_rows("none", results["none"]))
    loop = fig5[(fig5.strategy == "loop") & (fig5.split == "mcl")]
    assert loop["epoch"].tolist() == [0, 1, 2]
    assert loop["J"].iloc[-1] == pytest.approx(100 * np.mean([v.J for v in results["loop"]["mcl"].videos]))
    assert set(fig5["split"]) == {"davis", "mcl", "mean", "mean_shifted"}


def test_trace_reproduces_the_run_pass_by_pass(trained, runs):
    video = _data()["davis"][0]
    res = cache.cached_ttt(trained, [video], CI, "davis", strategy="loop", **_kw()).videos[0]
    passes = report.trace_passes(trained, video, CI, "loop", epochs=2, lr=1e-3, n_pairs=2, device="cpu")
    assert set(passes) == {0, 1, "final"}
    assert torch.equal(passes[1], res.masks) and torch.equal(passes["final"], res.final_masks)


def test_figures_draw(trained, runs):
    import matplotlib.pyplot as plt

    data = _data()
    none = cache.run_splits(trained, data, CI, "none", **_kw())
    loop = cache.run_splits(trained, data, CI, "loop", **_kw())
    merged = report.merge_splits(loop)
    assert len(merged.videos) == 3
    show = report.most_changed(none, loop, n=2)
    assert len(show) == 2 and all(split in data for split, _ in show)
    figs = [plots.plot_per_frame_j(report.merge_splits(none), merged, n=2), plots.plot_loss_curve(merged),
            plots.plot_depth_std(merged), plots.plot_depth_std_before_after(none, loop),
            viz.plot_mask_grid(data["davis"][0], {"No TTT": none["davis"].videos[0].masks}, frames=[0, 2])]
    fig5 = report.fig5_table(report.fig5_rows("loop", loop), report.fig5_rows("none", none))
    figs.append(plots.plot_j_vs_epoch(fig5))
    assert all(f.axes for f in figs)
    plt.close("all")


def test_fig5_axis_spans_at_least_0_2_j_so_tenths_of_a_point_look_small():
    import matplotlib.pyplot as plt
    import pandas as pd

    rows = [dict(strategy=s, epoch=e, split=sp, J=60 + 0.1 * e * (i + 1))
            for i, s in enumerate(("naive", "momentum", "loop")) for e in range(3) for sp in ("mean_shifted", "davis")]
    fig = plots.plot_j_vs_epoch(pd.DataFrame(rows))
    for ax in fig.axes:
        low, high = ax.get_ylim()
        assert high - low >= plots.FIG5_MIN_SPAN - 1e-9 and low <= 60 <= 60.6 <= high
    wide = pd.DataFrame([dict(strategy="loop", epoch=e, split="davis", J=40 + 20 * e) for e in range(3)])
    low, high = plots.plot_j_vs_epoch(wide, splits=("davis",)).axes[0].get_ylim()
    assert low < 40 and high > 80, "a real effect larger than the span keeps its full range"
    plt.close("all")


def test_sentences_pick_words_by_sign():
    import pandas as pd

    mixed = pd.Series({"fbms": 0.9, "mcl": -0.4, "stv2": 0.1})
    assert report.extremes_phrase(mixed) == "largest gain +0.90 J (fbms), largest loss -0.40 J (mcl)"
    gains = pd.Series({"fbms": 1.2, "mcl": 0.38})
    text = report.extremes_phrase(gains)
    assert "loss" not in text and "smallest +0.38 J (mcl)" in text and "largest gain +1.20 J (fbms)" in text
    losses = pd.Series({"fbms": -1.2, "mcl": -0.1})
    text = report.extremes_phrase(losses)
    assert "gain" not in text and "largest loss -1.20 J (fbms)" in text
    from dattt_nb.stats import Interval

    # the verdict reads the interval, not the mean: a large mean with an interval across zero is no clear change
    words = [report.change_word(Interval(m, lo, hi, 8)) for m, lo, hi in
             ((0.3, 0.1, 0.5), (-0.3, -0.5, -0.1), (2.0, -0.2, 4.0))]
    assert words == ["improves", "lowers", "does not clearly change"]
    by_split = pd.DataFrame({"dJ": [0.2, 0.38, 1.0, 0.69]}, index=["davis", "fbms", "mcl", "mean_shifted"])
    line = report.summary_sentence("TTT-LTV", by_split, ["fbms", "mcl"], 0.165, 0.160)
    assert line.startswith("TTT-LTV: mean change over the shifted splits +0.69 J, clean split +0.20 J")
    assert "largest loss" not in line and "depth std 0.165 → 0.160" in line
    with_iv = by_split.assign(dJ_lo=[-0.1, 0.1, 0.2, 0.3], dJ_hi=[0.5, 0.6, 1.8, 1.1], videos=[8, 8, 8, 16])
    line = report.summary_sentence("TTT-LTV", with_iv, ["fbms", "mcl"], 0.165, 0.160)
    assert "shifted splits +0.69 [+0.30, +1.10] J (95 % interval over 16 videos: a gain)" in line
    assert "clean split +0.20 [-0.10, +0.50] J (95 % interval over 8 videos: no clear change)" in line


def test_compare_splits_carries_a_bootstrap_interval_per_split():
    from types import SimpleNamespace

    def res(js):
        return SimpleNamespace(videos=[SimpleNamespace(name=f"v{i}", J=j, F=j, final_J=j, final_F=j)
                                       for i, j in enumerate(js)])
    base = {"davis": res([0.5, 0.6, 0.7, 0.4]), "fbms": res([0.4, 0.5, 0.6, 0.5])}
    adapted = {"davis": res([0.51, 0.61, 0.71, 0.41]), "fbms": res([0.3, 0.6, 0.6, 0.5])}
    df = report.compare_splits(base, adapted)
    assert df.loc["davis", "dJ_lo"] == pytest.approx(1.0) and df.loc["davis", "dJ_hi"] == pytest.approx(1.0)
    assert df.loc["fbms", "dJ_lo"] < 0 < df.loc["fbms", "dJ_hi"]  # one video lost 10, one gained 10
    assert report.change_word(report.row_interval(df.loc["davis"])) == "improves"
    assert report.change_word(report.row_interval(df.loc["fbms"])) == "does not clearly change"


def test_fig5_rows_carry_the_interval_of_each_change():
    from types import SimpleNamespace

    import numpy as np

    def res(js, passes=None):
        return SimpleNamespace(epochs=1, videos=[SimpleNamespace(J=j, pass_J=np.array(passes[i]) if passes else None)
                                                 for i, j in enumerate(js)])
    base = {"mcl": res([0.5, 0.6])}
    loop = {"mcl": res([0.52, 0.6], passes=[[[0.51, 0.51], [0.52, 0.52]], [[0.6, 0.6], [0.6, 0.6]]])}
    rows = report.fig5_rows("loop", loop, base=base)
    assert [r["epoch"] for r in rows] == [1, 2]
    assert rows[1]["dJ"] == pytest.approx(1.0) and rows[1]["dJ_lo"] <= 1.0 <= rows[1]["dJ_hi"]
    table = report.fig5_table(rows, report.fig5_rows("none", base))
    assert {"dJ_lo", "dJ_hi"} <= set(table.columns)
    fig = plots.plot_j_vs_epoch(table, splits=("mcl",), note="Fig. 5 on a subset")
    assert fig._suptitle.get_text() == "Fig. 5 on a subset"
    assert all(float(t).is_integer() for t in fig.axes[0].get_xticks())
