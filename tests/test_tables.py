"""Tables 1, 3, 4 and Figs. 5–6 saved or computed (dattt_nb.reporting.tables), ours beside the paper (dattt_nb.reporting.paper)."""
import math

import numpy as np
import pandas as pd
import pytest
import torch

from dattt_nb.reporting import paper, tables
from dattt_nb.ttt import plots
from dattt_nb.config import resolve
from dattt_nb.splits import TEST_SPLITS
from dattt_nb.results import load_table, results_dir, save_table
from dattt_nb.ttt.records import TTTResult, VideoResult
from dattt_nb.ttt.spec import TTTRun

SCORE = {"none": 50.0, "naive": 51.0, "momentum": 52.0, "loop": 53.0}  # J ×100 of the fake runs
OBJECTIVE = {"tent": 1.0, "bn": 2.0, "rotation": 3.0, "mae": -1.0, "depth": 0.0, None: 0.0}  # added to J for the fake runs' objective
VARIANT = {"none": -10.0, "head": -5.0, "alpha+beta": 0.0, "rot": -8.0, "mae": -9.0}


@pytest.fixture
def cfg(tmp_path, monkeypatch):
    monkeypatch.setenv("DATTT_RUNS", str(tmp_path / "runs"))
    return resolve("ci")


def fake_video(name: str, j: float, f: float, frames: int = 4, passes: int = 1) -> VideoResult:
    J, F = np.full(frames, j), np.full(frames, f)
    return VideoResult(name=name, masks=torch.zeros(frames, 2, 2, dtype=torch.bool), J_frames=J, F_frames=F,
                       J=j, F=f, pass_J=np.tile(J, (passes, 1)), pass_F=np.tile(F, (passes, 1)),
                       depth_std_frames=np.full(frames, 0.1), steps=frames * passes)


def fake_run(settings, strategy=None, objective=None, variant="alpha+beta", epochs=None, n_videos=0, refresh=False):
    """{split: TTTResult}: two videos per split whose J depends on strategy, objective, variant and split."""
    strategy = strategy or settings.ttt_strategy
    epochs = settings.ttt_epochs if epochs is None else epochs
    out = {}
    for k, split in enumerate(TEST_SPLITS):
        j = (SCORE[strategy] + (OBJECTIVE[objective] if strategy != "none" else 0) + VARIANT[variant] + k) / 100
        videos = [fake_video(f"{split}_{i:03d}", j + 0.01 * i, j / 2, passes=epochs if strategy == "loop" else 1)
                  for i in range(n_videos or 2)]
        out[split] = TTTResult(TTTRun(strategy, objective or "depth", epochs, 1e-5), videos)
    return out


@pytest.fixture
def fake_runs(monkeypatch):
    """Replace the TTT runner and the model loader (no rot / mae models): no training, no TTT, counted calls."""
    calls = []

    def run(settings, *args, **kw):
        calls.append((args, kw))
        return fake_run(settings, *args, **kw)

    monkeypatch.setattr(tables, "strategy_runs", run)
    monkeypatch.setattr(tables, "trained_model", lambda s, v="alpha+beta": None if v in ("rot", "mae") else v)
    return calls


def no_runs(*args, **kw):
    raise AssertionError("a saved table must be read, not recomputed")


# --- collecting: saved tables are read back, missing ones computed and saved ------------------------

def test_missing_tables_are_computed_saved_and_then_read_back(cfg, fake_runs, monkeypatch):
    t3 = tables.table3(cfg)
    assert t3.attrs["source"].startswith("computed") and (results_dir(cfg) / "table3_strategies.csv").is_file()
    assert list(t3.index) == ["none", "naive", "momentum", "loop", "naive_delta", "momentum_delta", "loop_delta"]
    assert t3.loc["loop_delta", "davis_J"] == pytest.approx(SCORE["loop"] - SCORE["none"])
    assert tables.check_table3(t3) is None

    monkeypatch.setattr(tables, "strategy_runs", no_runs)
    again = tables.table3(cfg)
    assert again.attrs["source"].startswith("saved") and again.attrs["file"] == "results/table3_strategies.csv"
    assert again.attrs["meta"]["epochs"] == cfg.ttt_epochs
    pd.testing.assert_frame_equal(again, t3, check_dtype=False)


def test_collect_reads_every_saved_table_without_running(cfg, fake_runs, monkeypatch):
    first = tables.collect(cfg)
    assert set(first) == {"table1", "table3", "table4", "fig5", "per_video", "mean_recall_decay"}
    monkeypatch.setattr(tables, "strategy_runs", no_runs)
    monkeypatch.setattr(tables, "mean_recall_decay", lambda s: first["mean_recall_decay"])
    again = tables.collect(cfg)
    for name in ("table1", "table3", "table4", "fig5", "per_video"):
        assert again[name].attrs["source"].startswith("saved"), name
        assert again[name].shape == first[name].shape, name
    prov = tables.provenance(again)
    assert list(prov.index) == list(again) and prov.loc["table4", "file"] == "results/table4_methods.csv"


def test_table1_rows_columns_and_ttt_rows(cfg, fake_runs):
    t1 = tables.table1(cfg)
    assert list(t1.index) == list(paper.TABLE1_ROWS) and tables.check_table1(t1) is None
    assert list(t1["ttt"]) == ["no", "no", "yes", "no", "yes"]
    assert t1.loc["none", "davis_J"] == pytest.approx(SCORE["none"] + VARIANT["none"] + 0.5)  # 2 videos: +0, +1
    assert t1.loc["alpha+beta_ttt", "davis_J"] == pytest.approx(SCORE["loop"] + 0.5)
    assert t1.loc["alpha+beta", "shifted_J"] == pytest.approx(SCORE["none"] + np.mean([1, 2, 3, 4]) + 0.5)
    saved = load_table("table1_architecture", cfg)
    assert list(saved.index) == ["none", "head", "alpha+beta"] and "davis_J_ttt" in saved.columns, "07's layout"
    assert math.isnan(saved.loc["none", "davis_J_ttt"]), "no depth decoder, nothing for depth-aware TTT to adapt"
    effects = paper.table1_effects(t1)
    assert effects.loc["TTT, head + modulation", "ours"] == pytest.approx(SCORE["loop"] - SCORE["none"])
    assert effects.loc["depth head (no TTT)", paper.paper_label()] == pytest.approx((77.0 + 77.5 + 62.8 - 75.9
                                                                                           - 75.1 - 63.9) / 3)


def test_table4_computes_what_it_can_and_marks_the_rest_not_run(cfg, fake_runs):
    t4 = tables.table4(cfg)
    assert list(t4.index) == list(paper.TABLE4_ROWS) and tables.check_table4(t4) is None
    not_run = t4["status"].str.startswith(tables.NOT_RUN)
    assert list(t4.index[not_run]) == ["TTT-Rot (no TTT)", "TTT-Rot", "TTT-MAE (no TTT)", "TTT-MAE"]
    assert t4.loc[not_run, tables.score_columns(t4)].isna().all().all()
    # TENT and BN are changes from the Baseline (variant "none"), DATTT from its own no-TTT row
    assert t4.loc["Baseline", "davis_J"] == pytest.approx(SCORE["none"] + VARIANT["none"] + 0.5)
    assert t4.loc["TENT", "davis_J"] == pytest.approx(SCORE["loop"] + OBJECTIVE["tent"] - SCORE["none"])
    assert t4.loc["BN", "fbms_F"] == pytest.approx((SCORE["loop"] + OBJECTIVE["bn"] - SCORE["none"]) / 2)
    assert t4.loc["DATTT", "mean_J"] == pytest.approx(SCORE["loop"] - SCORE["none"])
    assert list(t4["value_kind"]) == ["absolute", "delta", "delta"] + ["absolute", "delta"] * 3
    saved = load_table("table4_methods", cfg)
    assert saved.loc["TTT-MAE", "status"].startswith(tables.NOT_RUN) and math.isnan(saved.loc["TTT-MAE", "mcl_J"])


def test_table4_runs_the_auxiliary_head_baselines_when_their_models_exist(cfg, fake_runs, monkeypatch):
    monkeypatch.setattr(tables, "trained_model", lambda s, v="alpha+beta": v)
    t4 = tables.compute_table4(cfg)
    assert (t4["status"] == "measured").all() and t4[tables.score_columns(t4)].notna().all().all()
    assert t4.loc["TTT-Rot (no TTT)", "davis_J"] == pytest.approx(SCORE["none"] + VARIANT["rot"] + 0.5)
    assert t4.loc["TTT-Rot", "davis_J"] == pytest.approx(SCORE["loop"] + OBJECTIVE["rotation"] - SCORE["none"])
    assert t4.loc["TTT-MAE", "stv2_J"] == pytest.approx(SCORE["loop"] + OBJECTIVE["mae"] - SCORE["none"])


def test_models_the_library_cannot_train_are_none(cfg, monkeypatch):
    monkeypatch.setattr(tables, "VARIANTS", {k: v for k, v in tables.VARIANTS.items() if k not in ("rot", "mae")})
    assert tables.trained_model(cfg, "rot") is None


def test_notebook_07s_tables_are_read_in_its_layout(cfg, fake_runs, monkeypatch):
    """07 saves Table 1 one row per variant (J, J with TTT, change) and Table 4 without a status column, with extra
    rows for a BatchNorm backbone: 08 reads both without running anything."""
    from dattt_nb.ttt import baselines

    none = {v: fake_run(cfg, "none", None, v) for v in ("none", "head", "alpha+beta", "rot", "mae")}
    t1_07 = baselines.table1_ttt({v: none[v] for v in ("none", "head", "alpha+beta")},
                                 {"head": fake_run(cfg, "loop", "depth", "head"),
                                  "alpha+beta": fake_run(cfg, "loop", "depth", "alpha+beta")})
    save_table(t1_07, "table1_architecture", cfg)
    ms = baselines.methods("resnet18", cfg.backbone)
    none_runs = {m.model: none[m.variant] for m in ms}
    t4_07 = baselines.table4_from_results(none_runs, {m: fake_run(cfg, "loop", m.objective, m.variant) for m in ms},
                                          backbone=cfg.backbone)
    save_table(t4_07, "table4_methods", cfg)
    monkeypatch.setattr(tables, "strategy_runs", no_runs)

    t1 = tables.table1(cfg)
    assert t1.attrs["source"].startswith("saved") and list(t1.index) == list(paper.TABLE1_ROWS)
    assert t1.loc["head_ttt", "davis_J"] == pytest.approx(SCORE["loop"] + VARIANT["head"] + 0.5)
    assert t1.loc["none", "ttt"] == "no" and "davis_F" not in t1.columns, "07 saves J only, as the paper's Table 1"
    assert paper.table1_beside_paper(t1, cfg).shape == (5, 6)

    t4 = tables.table4(cfg)
    assert t4.attrs["source"].startswith("saved") and list(t4.index[:9]) == list(paper.TABLE4_ROWS)
    assert len(t4) == 12 and (t4["status"] == "measured").all(), "07's extra BatchNorm-backbone rows are kept"
    assert t4.loc["TTT-Rot", "davis_J"] == pytest.approx(SCORE["loop"] + OBJECTIVE["rotation"] - SCORE["none"])
    assert paper.table4_beside_paper(t4, cfg).shape == (9, 10)


def test_a_saved_table_in_another_layout_is_kept_and_ours_saved_beside_it(cfg, fake_runs):
    other = pd.DataFrame({"method": ["DATTT"], "davis": [1.0]}).set_index("method")
    save_table(other, "table4_methods", cfg)
    with pytest.warns(UserWarning, match="08_table4_methods"):
        t4 = tables.table4(cfg)
    assert t4.attrs["file"] == "results/08_table4_methods.csv" and tables.check_table4(t4) is None
    pd.testing.assert_frame_equal(load_table("table4_methods", cfg), other)


def test_fig5_and_per_video(cfg, fake_runs):
    f5 = tables.fig5(cfg, epochs="1,3", n_videos=1)
    assert tables.check_fig5(f5) is None
    assert sorted(f5.loc[f5["strategy"] == "naive", "epoch"].unique()) == [0, 1, 3]
    assert (f5[f5["epoch"] == 0].groupby("split")["J"].nunique() == 1).all(), "curves start at No TTT"
    assert tables.fig5_epoch_counts(cfg, "") == sorted({1, 2, cfg.ttt_epochs})

    videos = tables.per_video(cfg)
    assert len(videos) == 2 * len(TEST_SPLITS) and videos.index.names == ["split", "video"]
    assert np.allclose(videos["dJ_loop"], SCORE["loop"] - SCORE["none"])
    assert set(videos["best"]) == {"TTT-LTV"}
    fig = plots.plot_per_video(videos)
    assert len(fig.axes) == 2 and len(fig.axes[1].collections) == 3 * len(TEST_SPLITS)
    assert tables.fig6_video(videos) in list(videos.index)
    assert tables.fig6_video(videos, "mcl/mcl_001") == ("mcl", "mcl_001")
    with pytest.raises(ValueError, match="split/video"):
        tables.fig6_video(videos, "mcl_001")
    with pytest.raises(ValueError, match="no test video"):
        tables.fig6_video(videos, "mcl/nope")


# --- mean / recall / decay ----------------------------------------------------------------

def test_video_statistics_ignore_frames_without_ground_truth():
    stats = tables.video_statistics([0.9, np.nan, 0.9, np.nan, 0.2, 0.2, 0.2, 0.2])
    assert stats["mean"] == pytest.approx(100 * np.mean([0.9, 0.9, 0.2, 0.2, 0.2, 0.2]))
    assert stats["recall"] == pytest.approx(100 * 2 / 6), "unannotated frames neither pass nor fail"
    assert stats["decay"] == pytest.approx(100 * 0.7)
    assert all(math.isnan(v) for v in tables.video_statistics([np.nan]).values())


def test_split_statistics_average_per_video_statistics():
    a = fake_video("a", 0.8, 0.6)
    b = fake_video("b", 0.4, 0.2)
    b.J_frames = np.array([0.6, 0.6, 0.2, 0.2])
    stats = tables.split_statistics({"davis": TTTResult(TTTRun("loop", "depth", 1, 1e-5), [a, b])})
    assert stats.loc["davis", "J_mean"] == pytest.approx(100 * (0.8 + 0.4) / 2)
    assert stats.loc["davis", "J_recall"] == pytest.approx(100 * (1.0 + 0.5) / 2)
    assert stats.loc["davis", "J_decay"] == pytest.approx(100 * (0.0 + 0.4) / 2)
    assert stats.loc["davis", "dataset"] == "DAVIS-16" and stats.loc["davis", "videos"] == 2


def test_mean_recall_decay_is_saved_with_a_mean_row_per_method(cfg, fake_runs):
    mrd = tables.mean_recall_decay(cfg)
    assert list(mrd["method"].unique()) == ["No TTT", "TTT-LTV"]
    assert list(mrd.index[:6]) == list(TEST_SPLITS) + ["mean"]
    assert load_table("08_mean_recall_decay", cfg).shape == mrd.shape
    none = mrd[mrd["method"] == "No TTT"]
    assert none.loc["davis", "J_mean"] == pytest.approx(SCORE["none"] + 0.5)
    assert none.loc["mean", "videos"] == 2 * len(TEST_SPLITS)


# --- the paper's tables beside ours ----------------------------------------------------------------

def test_paper_tables_load_with_their_published_shapes():
    from dattt_nb.reporting import paper

    shapes = {1: (10, 7), 2: (7, 6), 3: (8, 13), 4: (18, 14), 5: (8, 7)}
    for n, shape in shapes.items():
        assert paper.paper_table(n).shape == shape, n
    with pytest.raises(ValueError, match="Tables"):
        paper.paper_table(6)


@pytest.mark.parametrize("n, rows", [(1, list(paper.TABLE1_ROWS)),
                                     (3, ["none", "naive_delta", "momentum_delta", "loop_delta"]),
                                     (4, list(paper.TABLE4_ROWS))])
def test_paper_scores_are_keyed_like_ours_and_labelled(n, rows):
    for backbone in ("MiT-b1", "Swin-T"):
        scores = paper.paper_scores(n, backbone)
        assert list(scores.index) == rows and list(scores.columns) == list(TEST_SPLITS)
        assert scores.attrs["source"] == paper.paper_label(backbone) and "paper" in scores.attrs["source"]
    if n == 1:  # Table 1 reports three splits only
        assert scores[["mcl", "stv2"]].isna().all().all() and scores["davis"].notna().all()
    else:
        assert scores.notna().all().all()
    with pytest.raises(ValueError, match="backbone"):
        paper.paper_scores(n, "ResNet-50")


def test_beside_paper_labels_every_column_and_keeps_the_published_values(cfg, fake_runs):
    side = paper.table3_beside_paper(tables.table3(cfg), cfg, "J")
    sources = set(side.columns.get_level_values("source"))
    assert sources == {paper.ours_label(cfg), "paper (MiT-b1, 512 px, real data)"}
    assert side.shape == (4, 10) and list(side.index)[0] == "No TTT"
    assert side.loc["TTT-LTV (change)", ("Long-Videos", "paper (MiT-b1, 512 px, real data)")] == pytest.approx(7.9)
    side1 = paper.table1_beside_paper(tables.table1(cfg), cfg, "Swin-T")
    assert side1.shape == (5, 6), "splits the paper leaves blank are dropped"
    assert side1.iloc[0][("DAVIS-16", "paper (Swin-T, 512 px, real data)")] == pytest.approx(77.8)
    path = paper.save_beside_paper(side1, "08_table1_vs_paper", cfg, "Swin-T")
    saved = pd.read_csv(path, index_col=0)
    assert all("ours" in c or "paper (Swin-T" in c for c in saved.columns)
    assert "not measured here" in load_meta(cfg, "08_table1_vs_paper")["paper"]


def load_meta(cfg, name):
    import json

    return json.loads((results_dir(cfg) / f"{name}.json").read_text())["meta"]


def test_scale_table_contrasts_the_paper_with_this_profile(cfg):
    table = tables.scale_table(cfg)
    assert list(table.columns) == ["paper", paper.ours_label(cfg)]
    assert table.loc["input size", "paper"] == "512 × 512" and "32" in table.loc["input size"].iloc[1]
    assert paper.ours_label(cfg) == "ours (ci: mit_b0, 32 px, synthetic data)"


def test_table3_bars_share_one_scale_with_the_paper_and_mark_the_noise(cfg):
    import matplotlib.pyplot as plt

    rows = ["naive_delta", "momentum_delta", "loop_delta"]
    ours = pd.DataFrame({f"{s}_J": [0.1, 0.3, -0.2] for s in TEST_SPLITS}, index=rows)
    fig = paper.plot_deltas_vs_paper(ours, cfg, "J")
    (left, right) = fig.axes[:2]
    assert left.get_ylim() == right.get_ylim(), "ours and the paper's on one vertical scale"
    assert left.get_ylim()[1] - left.get_ylim()[0] > 2, "the paper's changes of several points set the scale"
    assert not any("spread" in t.get_text() for t in left.get_legend().get_texts()), "no band that was not measured"
    assert not left.containers or all(not hasattr(c, "has_yerr") or not c.has_yerr for c in left.containers)
    plt.close(fig)
    # with the bootstrap bounds in the table, our bars get error bars; a measured seed spread draws the band
    bounds = {f"{s}_J_{b}": [v, v, v] for s in TEST_SPLITS for b, v in (("lo", -0.5), ("hi", 0.6))}
    fig = paper.plot_deltas_vs_paper(ours.assign(**bounds), cfg, "J", noise=0.4)
    left = fig.axes[0]
    assert sum(getattr(c, "has_yerr", False) for c in left.containers) == 3, "one error bar set per strategy"
    assert any("training-seed spread" in t.get_text() for t in left.get_legend().get_texts())
    plt.close(fig)
