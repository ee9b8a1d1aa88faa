"""run_ttt over videos: episodic reset, repeatability, per-pass scores, sparse annotations, files on disk."""
import dataclasses
import json
import math

import numpy as np
import pytest
import torch

from _ttt_helpers import CI, ci_model, same, state, tiny_video
from dattt_nb.metrics import evaluate_video
from dattt_nb.ttt.records import results_table, write_results
from dattt_nb.ttt.runner import NonFiniteError, check_nonfinite, run_ttt


@pytest.fixture(scope="module")
def trained():
    return ci_model()


def _videos():
    return [tiny_video("a", frames=3, seed=1), tiny_video("b", frames=3, seed=2)]


def _run(model, videos, **kw):
    kw = {"strategy": "loop", "epochs": 2, "lr": 1e-3, "progress": False, **kw}
    return run_ttt(model, videos, CI, **kw)


def test_each_video_starts_from_the_trained_state_and_runs_repeat(trained):
    both = _run(trained, _videos())
    alone = _run(trained, _videos()[1:])
    b_both, b_alone = both.videos[1], alone.videos[0]
    assert b_both.name == b_alone.name == "b"
    assert torch.equal(b_both.masks, b_alone.masks), "video b does not depend on video a having run first"
    assert b_both.losses == b_alone.losses
    again = _run(trained, _videos())
    assert all(torch.equal(x.masks, y.masks) and x.losses == y.losses for x, y in zip(both.videos, again.videos))


def test_loop_result_has_per_pass_scores_and_a_final_reprediction(trained):
    result = _run(trained, _videos()[:1], epochs=2)
    v = result.videos[0]
    assert v.masks.shape == (3, 32, 32) and v.masks.dtype == torch.bool and v.masks.device.type == "cpu"
    assert v.pass_J.shape == (2, 3) and np.isfinite(v.pass_J).all()
    assert np.array_equal(v.J_frames, v.pass_J[-1]), "the last pass is the result"
    check = evaluate_video(tiny_video("a", frames=3, seed=1).masks, v.masks)
    assert v.J == pytest.approx(check["J"], abs=1e-6) and v.F == pytest.approx(check["F"], abs=1e-6)
    assert 0 <= v.final_J <= 1 and v.final_masks.shape == v.masks.shape
    assert v.steps == 6 and len(v.losses) == 6 and len(v.step_depth_std) == 6
    assert v.nonfinite == 0 and v.seconds > 0 and v.fps > 0
    assert np.isfinite(v.depth_std_frames).all()


def test_only_annotated_frames_are_scored(trained):
    video = tiny_video("sparse", frames=3, annotated=[True, False, True])
    v = run_ttt(trained, [video], CI, strategy="none", progress=False).videos[0]
    assert math.isnan(v.J_frames[1]) and np.isfinite(v.J_frames[[0, 2]]).all()
    assert v.J == pytest.approx(np.mean(v.J_frames[[0, 2]]))
    assert v.steps == 0 and math.isnan(v.final_J)


def test_the_callers_model_is_untouched(trained):
    before = state(trained)
    _run(trained, _videos()[:1], epochs=1, lr=1e-2)
    assert same(before, state(trained)) and not trained.training


def test_non_finite_steps_are_counted_and_the_run_goes_on(trained, monkeypatch):
    from dattt_nb.ttt import objectives

    record, calls = objectives.OBJECTIVES["depth"], []
    real = record.loss

    def nan_on_second_call(model, batch):
        calls.append(1)
        loss = real(model, batch)
        return loss * float("nan") if len(calls) == 2 else loss

    monkeypatch.setitem(objectives.OBJECTIVES, "depth", dataclasses.replace(record, loss=nan_on_second_call))
    result = _run(trained, [tiny_video("bad", frames=3)], strategy="momentum", epochs=1)
    v = result.videos[0]
    assert v.nonfinite == 1 and v.skipped == 1 and v.steps == 3 and v.fallback == 0
    assert v.masks.shape == (3, 32, 32)
    with pytest.raises(NonFiniteError, match=r"skipped 1 of 3 steps \(33%\) as non-finite .* --allow-nonfinite"):
        check_nonfinite(result)
    check_nonfinite(result, max_share=0.5)  # within a larger allowance


def test_nan_or_inf_in_a_frames_input_is_an_error_naming_the_frame(trained):
    video = tiny_video("bad", frames=3)
    video.flow[1, :, :2, :2] = float("inf")
    with pytest.raises(NonFiniteError, match="video 'bad': the frame or flow of frame.s. 00001 holds NaN or inf"):
        run_ttt(trained, [video], CI, strategy="none", progress=False)


def test_non_finite_predictions_fall_back_to_the_trained_weights(trained, monkeypatch):
    """Adapted weights that turn NaN: those frames are predicted with the trained weights, counted and warned."""
    from dattt_nb.ttt.engine import TTTEngine
    from dattt_nb.utils import DatttWarning

    step = TTTEngine.step

    def poisoned(self, optimizer, video, t):
        info = step(self, optimizer, video, t)
        if t == 1:
            with torch.no_grad():
                self.params[0].fill_(float("nan"))
        return info

    video = tiny_video("poisoned", frames=3)
    base = run_ttt(trained, [video], CI, strategy="none", progress=False).videos[0]
    monkeypatch.setattr(TTTEngine, "step", poisoned)
    with pytest.warns(DatttWarning, match="2 frame.s. .00001, 00002.* predicted with the trained weights"):
        v = _run(trained, [video], strategy="momentum", epochs=1).videos[0]
    assert v.fallback == 2 and v.nonfinite == 1  # frame 2's step met the NaN weights
    assert torch.equal(v.masks[1:], base.masks[1:]) and v.masks[1:].any(), "trained prediction, not an empty mask"
    assert np.array_equal(v.J_frames[1:], base.J_frames[1:])


def test_a_model_with_nan_weights_is_refused_naming_the_tensor(trained):
    import copy

    broken = copy.deepcopy(trained)
    name, weight = next(iter(broken.named_parameters()))
    with torch.no_grad():
        weight.view(-1)[0] = float("nan")
    with pytest.raises(ValueError, match=f"the trained model: weight tensor '{name}' has NaN or inf"):
        run_ttt(broken, [tiny_video()], CI, strategy="none", progress=False)


def test_table_and_files(trained, tmp_path):
    result = _run(trained, _videos(), strategy="naive", epochs=1)
    table = results_table(result)
    assert list(table.index) == ["a", "b"] and set(table["method"]) == {"TTT-N"}
    assert {"J", "F", "steps", "nonfinite", "fps"} <= set(table.columns)
    csv, js = write_results(result, tmp_path / "ttt" / "davis", settings=CI)
    record = json.loads(js.read_text())
    assert record["run"]["strategy"] == "naive" and record["settings"]["profile"] == "ci"
    assert len(record["videos"][0]["J_frames"]) == 3 and csv.read_text().startswith("video,")


def test_a_video_without_flow_is_refused(trained):
    video = tiny_video()
    video.flow = None
    with pytest.raises(ValueError, match="no flow"):
        run_ttt(trained, [video], CI, strategy="none", progress=False)


def test_command_line_writes_results_and_masks(tmp_path, monkeypatch):
    """``python -m dattt_nb.ttt`` on a DAVIS-layout folder (the trained model is stubbed to stay fast)."""
    from dattt_nb.data.layout import write_video
    from dattt_nb.ttt.__main__ import ttt_main

    rng = np.random.default_rng(0)
    root = tmp_path / "data"
    for name in ("v1", "v2"):
        masks = np.zeros((3, 32, 32), bool)
        masks[:, 8:20, 10:22] = True
        write_video(root, name, rng.integers(0, 255, (3, 32, 32, 3), dtype=np.uint8), masks=masks,
                    flow_rgb=rng.integers(0, 255, (3, 32, 32, 3), dtype=np.uint8))
    import dattt_nb.ttt.__main__ as command

    monkeypatch.setattr(command, "load_model_for", lambda settings, args, rank: (ci_model(), "stub.pt", {}))
    out = tmp_path / "out"
    code = ttt_main(["--profile", "ci", "--strategy", "naive", "--root", str(root), "--split", "mine", "--out-dir",
                     str(out), "--save-masks", "--no-progress", "-p", "device", "cpu"])
    assert code == 0
    record = json.loads((out / "mine.json").read_text())
    assert [v["name"] for v in record["videos"]] == ["v1", "v2"] and record["label"] == "TTT-N"
    assert (out / "mine.csv").is_file()
    assert len(list((out / "mine_masks" / "Annotations" / "v2").glob("*.png"))) == 3


def test_a_short_alias_runs_as_its_strategy(trained):
    alias, name = _run(trained, _videos()[:1], strategy="ltv"), _run(trained, _videos()[:1], strategy="loop")
    a, b = alias.videos[0], name.videos[0]
    assert a.pass_J.shape == b.pass_J.shape == (2, 3), "every LTV pass is scored under the alias too"
    assert torch.equal(a.masks, b.masks) and a.losses == b.losses


def test_save_masks_never_replaces_another_runs_masks_without_force(tmp_path, monkeypatch, capsys):
    """``--save-masks`` into a folder: the same run again writes (same masks), another run stops with one line
    naming --force, and --force replaces the old masks whole (no stale video survives)."""
    from dattt_nb.cli import main
    from dattt_nb.data.layout import write_video

    rng = np.random.default_rng(0)
    root = tmp_path / "data"
    for name in ("v1", "v2"):
        write_video(root, name, rng.integers(0, 255, (2, 32, 32, 3), dtype=np.uint8),
                    masks=np.ones((2, 32, 32), bool), flow_rgb=rng.integers(0, 255, (2, 32, 32, 3), dtype=np.uint8))
    import dattt_nb.ttt.__main__ as command

    monkeypatch.setattr(command, "load_model_for", lambda settings, args, rank: (ci_model(), "stub.pt", {}))
    masks = tmp_path / "masks"
    base = ["ttt", "--profile", "ci", "--root", str(root), "--split", "mine", "--out-dir", str(tmp_path / "out"),
            "--save-masks", str(masks), "--no-progress", "-p", "device", "cpu"]
    assert main(base + ["--strategy", "naive"]) == 0
    first = sorted(p.relative_to(masks) for p in masks.rglob("*.png"))
    assert len(first) == 4
    assert main(base + ["--strategy", "n"]) == 0, "the same run (any spelling) may write its masks again"
    assert main(base + ["--strategy", "naive", "--videos", "v1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--force" in err[-1] and str(masks) in err[-1], err
    assert sorted(p.relative_to(masks) for p in masks.rglob("*.png")) == first, "nothing was overwritten"
    assert main(base + ["--strategy", "naive", "--videos", "v1", "--force"]) == 0
    assert not list(masks.rglob("v2/*.png")), "--force replaces the old masks whole: no stale video survives"
    assert len(list(masks.rglob("v1/*.png"))) == 2
