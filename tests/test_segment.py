"""Segmenting a video end to end (dattt_nb.run.segment): synthetic clip and real DAVIS frames, folder and .mp4."""
import json
import shutil

import cv2
import numpy as np
import pytest

from dattt_nb.config import resolve
from dattt_nb.data.video_file import read_video, write_mp4
from dattt_nb.data.demo import write_demo_clip
from dattt_nb.data.layout import find_annotations, read_annotations, upsample_masks
from dattt_nb.run.segment import segment_video
from dattt_nb.ttt.strategies import strategy_name as strategy_for
from dattt_nb.viz import compare_masks, side_by_side


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    """ci settings, runs/ and data/ in a temporary folder, and an untrained ci-size model checkpoint."""
    from dattt_nb.models import build_model
    from dattt_nb.train.checkpoint import save_checkpoint, train_config

    tmp = tmp_path_factory.mktemp("segment")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DATTT_RUNS", str(tmp / "runs"))
        mp.setenv("DATTT_DATA", str(tmp / "data"))
        settings = resolve("ci", device="cpu")
        model = build_model(settings)
        ckpt = save_checkpoint(tmp / "model.pt", config=train_config(settings, "alpha+beta"),
                               model=model.state_dict(), step=0)
        clip = write_demo_clip(tmp / "clip", settings, n_frames=4, size=48)
        yield dict(settings=settings, checkpoint=ckpt, clip=clip, tmp=tmp, model=model)


def read_png_masks(folder, names):
    masks = [cv2.imread(str(folder / f"{n}.png"), cv2.IMREAD_UNCHANGED) for n in names]
    assert all(m is not None for m in masks)
    return np.stack(masks)


def test_strategy_names():
    """Every spelling of a strategy (command line, code, the paper's label) resolves to one record."""
    spellings = {"naive": ("n", "naive", "TTT-N", "ttt-n"), "momentum": ("mwi", "momentum", "TTT-MWI"),
                 "loop": ("ltv", "loop", "TTT-LTV", "LTV"), "none": ("none", "No TTT")}
    assert {k: {strategy_for(a) for a in names} for k, names in spellings.items()} == {k: {k} for k in spellings}
    with pytest.raises(ValueError, match="unknown TTT strategy 'tent'"):
        strategy_for("tent")


def test_synthetic_clip_end_to_end(env, tmp_path):
    out = tmp_path / "out"
    res = segment_video(env["clip"], env["settings"], checkpoint=env["checkpoint"], ttt="ltv", epochs=1,
                        out_dir=out, gt_root="auto", progress=False)
    frames, names = read_video(env["clip"])
    assert res.masks.shape == frames.shape[:3] and res.masks.dtype == bool
    assert res.frame_names == names and res.label == "TTT-LTV" and res.epochs == 1
    pngs = sorted(p.stem for p in (out / "masks" / res.name).glob("*.png"))
    assert pngs == names  # one mask per frame, named like the frame
    written = read_png_masks(out / "masks" / res.name, names)
    assert written.shape == frames.shape[:3] and set(np.unique(written)) <= {0, 255}
    np.testing.assert_array_equal(written > 0, res.masks)
    for f in ("overlay.gif", "overlay.mp4", "compare.gif", "segment.json"):  # one folder per video
        assert (out / res.name / f).is_file() and (out / res.name / f).stat().st_size > 0, f
    report = json.loads((out / res.name / "segment.json").read_text())
    assert report["frames"] == len(names) and report["ttt"] == "ltv" and report["strategy"] == "loop"
    assert len(report["mask_area"]) == len(names) and all(0 <= a <= 1 for a in report["mask_area"])
    for key in ("metrics", "no_ttt_metrics"):
        assert 0 <= report[key]["J"] <= 1 and 0 <= report[key]["F"] <= 1
        assert len(report[key]["J_frames"]) == len(names)
    assert report["settings"]["profile"] == "ci" and report["timing"]["total"] > 0
    assert res.table().shape[0] == 2


def test_no_ttt_and_a_video_file(env, tmp_path):
    frames, _ = read_video(env["clip"])
    mp4 = write_mp4(frames, tmp_path / "clip.mp4", fps=8)
    res = segment_video(mp4, env["settings"], model=env["model"], ttt="none", out_dir=tmp_path / "out",
                        progress=False)
    assert res.name == "clip" and res.frame_names == [f"{i:05d}" for i in range(len(frames))]
    assert res.baseline_masks is None and res.metrics is None and res.epochs == 0
    assert len(list((tmp_path / "out" / "masks" / "clip").glob("*.png"))) == len(frames)
    assert not (tmp_path / "out" / "clip" / "compare.gif").exists()
    report = json.loads((tmp_path / "out" / "clip" / "segment.json").read_text())
    assert report["metrics"] is None and report["fps"] == pytest.approx(8, abs=0.1)


def test_clear_errors(env, tmp_path):
    with pytest.raises(FileNotFoundError, match="checkpoint .*missing.pt does not exist"):
        segment_video(env["clip"], env["settings"], checkpoint=tmp_path / "missing.pt", progress=False)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        segment_video(tmp_path / "no_video", env["settings"], model=env["model"], progress=False)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="empty"):
        segment_video(tmp_path / "empty", env["settings"], model=env["model"], progress=False)
    with pytest.raises(FileNotFoundError, match="no masks for video"):
        segment_video(env["clip"], env["settings"], model=env["model"], gt_root=tmp_path, progress=False)
    with pytest.raises(ValueError, match="epochs >= 1"):
        segment_video(env["clip"], env["settings"], model=env["model"], ttt="n", epochs=0, progress=False)


def test_pictures(env):
    frames, _ = read_video(env["clip"])
    gt, annotated = read_annotations(find_annotations(env["clip"]), env["clip"].name, [f"{i:05d}" for i in range(4)])
    assert annotated.all() and gt.shape == frames.shape[:3]
    small = gt[:, ::2, ::2]
    assert upsample_masks(small, frames.shape[1:3]).shape == gt.shape
    panels = side_by_side(frames, {"No TTT": small, "TTT-LTV": gt}, gt=gt)
    assert panels.shape == (len(frames), frames.shape[1], 2 * frames.shape[2], 3) and panels.dtype == np.uint8
    fig = compare_masks(frames, {"No TTT": small, "TTT-LTV": gt}, gt=gt, indices=[0, 3])
    assert np.array(fig.axes).size == 2 * 3


def test_davis_blackswan_folder_and_mp4(env, davis_mini, tmp_path):
    """Real frames: the first 6 of blackswan as a frame folder and as an .mp4; masks scored by evaluate_folder."""
    from dattt_nb.metrics import evaluate_folder

    video = "blackswan"
    src = davis_mini / "JPEGImages" / "480p" / video
    ann = davis_mini / "Annotations" / "480p" / video
    folder = tmp_path / "JPEGImages" / video
    folder.mkdir(parents=True)
    for p in sorted(src.glob("*.jpg"))[:6]:
        shutil.copy(p, folder / p.name)
    frames, names = read_video(folder)
    mp4 = write_mp4(frames, tmp_path / f"{video}.mp4", fps=24)

    gt_subset = tmp_path / "gt" / "Annotations" / video  # ground truth of the 6 frames, for evaluate_folder
    gt_subset.mkdir(parents=True)
    for n in names:
        shutil.copy(ann / f"{n}.png", gt_subset / f"{n}.png")

    for source in (folder, mp4):
        out = tmp_path / f"out_{source.suffix or 'dir'}"
        res = segment_video(source, env["settings"], checkpoint=env["checkpoint"], ttt="ltv", epochs=1,
                            out_dir=out, gt_root=ann, progress=False)
        assert res.masks.shape == (6, 480, 854) and res.frame_names == names
        assert 0 <= res.metrics["J"] <= 1 and 0 <= res.baseline_metrics["J"] <= 1
        table = evaluate_folder(tmp_path / "gt", out / "masks")  # what `dattt-nb eval --pred <out>/masks` reads
        assert table.loc[video, "frames"] == 6
        assert table.loc[video, "J"] == pytest.approx(res.metrics["J"], abs=1e-9)
        assert table.loc[video, "F"] == pytest.approx(res.metrics["F"], abs=1e-9)


def test_ground_truth_of_another_size_is_refused_before_the_model_runs(env, tmp_path):
    from dattt_nb.data.layout import write_mask_pngs
    from dattt_nb.run.segment import check_gt_size

    write_mask_pngs(tmp_path / "gt", np.zeros((4, 10, 30), bool), [f"{i:05d}" for i in range(4)])
    with pytest.raises(ValueError, match=r"masks in .*gt are 30x10, the frames are 48x48; expected masks of the "):
        segment_video(env["clip"], env["settings"], checkpoint=env["checkpoint"], gt_root=tmp_path / "gt",
                      progress=False)
    check_gt_size(np.zeros((2, 480, 854), bool), "gt", (240, 427), resize_long=427)  # masks at the size before
    with pytest.raises(ValueError, match="before --resize-long 400"):
        check_gt_size(np.zeros((2, 480, 854), bool), "gt", (240, 427), resize_long=400)


def test_bad_weights_flow_and_output_are_named(env, tmp_path, monkeypatch):
    import torch

    from dattt_nb.data import flow as flow_module
    from dattt_nb.data.clip import flow_of_frames as compute_flow

    state = env["model"].state_dict()
    name = next(k for k, v in state.items() if v.is_floating_point())
    state = {**state, name: torch.full_like(state[name], float("nan"))}
    ckpt = torch.load(env["checkpoint"], weights_only=True)
    torch.save({**ckpt, "model": state}, tmp_path / "nan.pt")
    with pytest.raises(ValueError, match=f"weight tensor '{name}' has NaN or inf values"):
        segment_video(env["clip"], env["settings"], checkpoint=tmp_path / "nan.pt", progress=False)
    (tmp_path / "taken").write_text("a file")
    with pytest.raises(NotADirectoryError, match="output folder .*taken is a file"):
        segment_video(env["clip"], env["settings"], model=env["model"], out_dir=tmp_path / "taken", progress=False)

    frames, names = read_video(env["clip"])
    real = flow_module.estimate_flow

    def inf_in_frame_2(*args, **kw):
        flow = real(*args, **kw)
        flow[2, 0, 0] = np.inf
        return flow

    monkeypatch.setattr(flow_module, "estimate_flow", inf_in_frame_2)
    with pytest.raises(ValueError, match=r"the dis flow of frame\(s\) 00002 is not finite"):
        compute_flow(frames, "dis", frame_names=names)
