"""The TTT explorer and the mask viewer (dattt_nb.course.widgets, dattt_nb.ttt.explore) without a browser: what the view
shows for a given state, the cache, Stop, and the widgets driven from Python like a user would."""
import time

import numpy as np
import pytest
import torch

from _ttt_helpers import CI, ci_model, tiny_video
from dattt_nb.course import widgets
from dattt_nb.ttt import explore as ex_mod
from dattt_nb.ttt.explore import Stopped, curves_figure, exploration_summary, explore, frame_view
from dattt_nb.ttt.spec import TTTRun
from dattt_nb.ttt.runner import run_ttt


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """One runs/ folder for the module: the cache computed by one test is what the next one looks at."""
    root = tmp_path_factory.mktemp("explore") / "runs"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DATTT_RUNS", str(root))
        yield root


@pytest.fixture(scope="module")
def model():
    return ci_model()


STATE = TTTRun.from_settings(CI, strategy="loop", objective="depth", lr=1e-3, epochs=2, n_pairs=2)


def test_explore_matches_the_notebooks_runner_and_keeps_depth(model, runs):
    video = tiny_video(frames=3)
    ex = explore(model, video, CI, STATE, "fbms")
    ref = run_ttt(model, [video], CI, strategy="loop", objective="depth", epochs=2, lr=1e-3, n_pairs=2,
                  progress=False, device="cpu").videos[0]
    assert torch.equal(ex.after.result.masks, ref.masks) and np.allclose(ex.after.result.J_frames, ref.J_frames)
    assert ex.after.result.losses == pytest.approx(ref.losses)
    assert ex.before.result.steps == 0 and ex.after.result.steps == 3 * 2
    assert ex.before.depth.shape == ex.after.depth.shape == (3, 32, 32)
    assert not np.allclose(ex.before.depth, ex.after.depth), "lr 1e-3 changes the predicted depth"


def test_second_look_is_cached_and_identical(model, runs, monkeypatch):
    video = tiny_video(frames=3)
    first = explore(model, video, CI, STATE, "fbms")  # computed here or by the test above
    assert len(list(runs.rglob("explore/fbms__clip_*.npz"))) == 2, "No TTT and TTT-LTV, one file each"
    with monkeypatch.context() as mp:
        mp.setattr(ex_mod, "run_video", lambda *a, **k: pytest.fail("a cached run must not adapt again"))
        start = time.perf_counter()
        again = explore(model, video, CI, STATE, "fbms")
    # ~0.4 s on an idle box: hashing only
    assert time.perf_counter() - start < 10.0 and again.before.cached and again.after.cached
    assert exploration_summary(again)["cached"]
    assert torch.equal(again.after.result.masks, first.after.result.masks)
    assert np.allclose(again.after.depth, first.after.depth, atol=1e-3)  # stored as float16
    assert again.after.result.losses == pytest.approx(first.after.result.losses)
    assert np.array_equal(again.after.result.pass_J, first.after.result.pass_J, equal_nan=True)
    other = STATE.replace(objective="tent")
    assert not explore(model, video, CI, other, "fbms").after.cached, "another lr is another cache entry"


def test_stop_ends_between_steps_and_caches_nothing(model, runs):
    calls = []

    def stop():
        calls.append(1)
        return len(calls) >= 5  # after 3 No TTT predictions and 2 TTT steps

    state = STATE.replace(epochs=3)
    with pytest.raises(Stopped, match="stopped by the user"):
        explore(model, tiny_video("stopped", frames=3), CI, state, "fbms", stop=stop)
    assert len(calls) == 5
    assert not list(runs.rglob("loop/*_e3_*/explore/*.npz")), "a stopped run is not cached"


def test_frame_view_shows_six_panels_and_the_frames_j(model, runs):
    ex = explore(model, tiny_video(frames=3), CI, STATE, "fbms")
    v0, v2 = frame_view(ex, 0), frame_view(ex, 2)
    titles = list(v0["panels"])
    assert len(titles) == 6 and titles[0] == "frame 0" and titles[1] == "ground truth"
    assert titles[2].startswith("No TTT · J") and titles[3].startswith("TTT-LTV · J")
    assert titles[4:] == ["depth, No TTT", "depth, TTT-LTV"]
    assert all(p.shape == (32, 32, 3) and p.dtype == np.float32 for p in v0["panels"].values())
    assert v0["J_before"] == pytest.approx(ex.before.result.J_frames[0])
    assert v0["J_after"] == pytest.approx(ex.after.result.J_frames[0])
    assert not np.array_equal(v0["panels"]["frame 0"], v2["panels"]["frame 2"]), "the slider changes the picture"
    with pytest.raises(IndexError, match="out of range"):
        frame_view(ex, 3)
    fig = curves_figure(ex, t=1)
    j_axis, loss_axis, std_axis = fig.axes
    assert [len(l.get_ydata()) for l in j_axis.lines[:2]] == [3, 3] and len(loss_axis.lines[0].get_ydata()) == 6
    assert np.all(np.asarray(std_axis.lines[0].get_ydata()) >= 0)


def test_bad_knobs_are_named():
    for kw, word in (({"strategy": "fast"}, "strategy"), ({"objective": "magic"}, "objective"), ({"lr": 0.0}, "lr"),
                     ({"epochs": 0}, "epochs"), ({"n_pairs": 0}, "n_pairs")):
        with pytest.raises(ValueError, match=word):
            STATE.replace(**kw).check()
    assert TTTRun(strategy="momentum", frame_gap=3).label == "TTT-MWI, gap 3"
    assert TTTRun(strategy="naive", objective="tent").label == "TTT-N (TENT)"


def test_widget_run_slider_and_stop_from_python(model, runs):
    data = {"fbms": [tiny_video("a", frames=3), tiny_video("b", frames=4, seed=1)], "mcl": [tiny_video("c")]}
    ui = widgets.ttt_explorer(model, CI, data, split="fbms", video="b", lr=1e-3, epochs=1, n_pairs=2)
    assert ui.video.options == ("a", "b") and ui.state().lr == 1e-3 and ui.panels.value == b""
    ui.split.value = "mcl"
    assert ui.video.options == ("c",) and ui.video.value == "c"
    ui.split.value, ui.video.value, ui.strategy.value = "fbms", "b", "momentum"
    ui.run(wait=True)
    assert ui.error is None and ui.result.after.result.steps == 4 and ui.progress.value == ui.progress.max == 8
    assert "TTT-MWI" in ui.status.value and ui.frame.max == 3
    shown, curves = ui.panels.value, ui.curves.value
    assert shown[:4] == b"\x89PNG" and curves[:4] == b"\x89PNG"
    ui.frame.value = 3
    assert ui.panels.value != shown, "moving the frame slider redraws the panels"
    ui.lr.value = 5e-3
    ui.run().join(timeout=60)  # in a thread, as the Run button does
    assert ui.curves.value != curves and not ui.run_button.disabled and ui.stop_button.disabled
    ui.epochs.value = 3
    ui._stop = _PressedDuringRun()
    ui.run(wait=True)
    assert "stopped" in ui.status.value and ui.result.state.epochs == 1, "a stopped run leaves the last result shown"
    assert not ui.run_button.disabled


class _PressedDuringRun:
    """A Stop button pressed right after Run (run() clears the flag, then the first check sees it)."""

    def clear(self):
        pass

    def set(self):
        pass

    def is_set(self):
        return True


def test_widget_reports_a_missing_folder(model, runs, tmp_path):
    ui = widgets.ttt_explorer(model, CI, {"fbms": [tiny_video()]})
    ui.folder.value = str(tmp_path / "nowhere")
    ui.run(wait=True)
    assert "does not exist" in ui.error and "error" in ui.status.value


class _Segment:
    """The fields of a SegmentResult the viewer reads (frames at the frame size, masks, metrics)."""

    def __init__(self, gt=True):
        rng = np.random.default_rng(0)
        self.name, self.label = "clip", "TTT-LTV"
        self.frames = rng.integers(0, 255, (3, 20, 30, 3), dtype=np.uint8)
        self.frame_names = ["a", "b", "c"]
        self.masks = np.zeros((3, 20, 30), bool)
        self.masks[:, 5:15, 5:20] = True
        self.baseline_masks = np.zeros_like(self.masks)
        self.baseline_masks[:, 5:10, 5:10] = True
        self.gt = self.masks.copy() if gt else None
        self.annotated = np.array([True, False, True]) if gt else None
        self.metrics = dict(J_frames=[1.0, 0.5], frames=[0, 2]) if gt else None
        self.baseline_metrics = dict(J_frames=[0.33, 0.2], frames=[0, 2]) if gt else None

    def __len__(self):
        return 3


def test_segment_frame_and_mask_viewer():
    res = _Segment()
    view = widgets.segment_frame(res, 0)
    assert list(view["panels"]) == ["frame a", "No TTT · J 0.33", "TTT-LTV · J 1.00", "ground truth"]
    assert list(widgets.segment_frame(res, 1)["panels"]) == ["frame b", "No TTT", "TTT-LTV"], "b has no annotation"
    after = view["panels"]["TTT-LTV · J 1.00"]
    assert after.shape == (20, 30, 3) and not np.allclose(after[10, 10], view["panels"]["frame a"][10, 10])
    faint = widgets.segment_frame(res, 0, alpha=0.0)["panels"]["TTT-LTV · J 1.00"]
    assert np.allclose(faint[10, 10], view["panels"]["frame a"][10, 10]), "opacity 0 leaves the inside untouched"
    assert list(widgets.segment_frame(_Segment(gt=False), 2)["panels"]) == ["frame c", "No TTT", "TTT-LTV"]
    box = widgets.mask_viewer(res)
    (frame, opacity), image = box.children[0].children, box.children[1]
    first = image.value
    frame.value = 2
    assert image.value != first and image.value[:4] == b"\x89PNG"
    with pytest.raises(IndexError):
        widgets.segment_frame(res, 3)


def test_a_real_video_folder_with_its_annotations(davis_mini):
    video = ex_mod.load_folder(davis_mini / "JPEGImages" / "480p" / "blackswan", CI, max_frames=3)
    assert video.name == "blackswan" and video.frames.shape == video.flow.shape == (3, 3, 32, 32)
    assert video.masks is not None and video.masks.shape == (3, 32, 32) and video.masks.any()
    with pytest.raises(FileNotFoundError, match="does not exist"):
        ex_mod.load_folder(davis_mini / "no-such-video", CI)
