"""The synthetic ZSVOS benchmark: shapes, determinism, geometry of its ground truth and its shifts."""
import json
import time

import cv2
import numpy as np
import pytest

from dattt_nb.config import resolve
from dattt_nb.data import synthetic as syn
from dattt_nb.splits import TEST_SPLIT_LABELS

CI = resolve("ci")


def _ring(mask: np.ndarray, width: int = 3) -> np.ndarray:
    kernel = np.ones((2 * width + 1, 2 * width + 1), np.uint8)
    return (cv2.dilate(mask.astype(np.uint8), kernel) > 0) & ~mask


def test_split_names_and_plan():
    assert set(syn.TEST_SPLITS) <= set(syn.SPLITS)
    assert syn.SPLITS[:2] == ["train", "val"]
    assert set(TEST_SPLIT_LABELS) == set(syn.TEST_SPLITS)
    assert set(syn.SPLIT_DESCRIPTIONS) == set(syn.SPLITS)
    plan = syn.split_plan(CI)
    assert list(plan) == syn.SPLITS
    assert plan["train"]["n_videos"] == CI.n_train_videos
    assert plan["val"]["n_videos"] == CI.n_val_videos
    assert plan["davis"]["n_videos"] == CI.n_test_videos
    assert plan["longvideos"]["n_frames"] == CI.long_video_frames
    assert plan["davis"]["n_frames"] == CI.frames_per_video
    assert all(p["size"] == CI.image_size and p["description"] for p in plan.values())


@pytest.mark.parametrize("split", syn.SPLITS)
def test_shapes_dtypes_and_ranges(split):
    video = syn.generate_video(split, 0, CI)
    t = syn.split_plan(CI)[split]["n_frames"]
    s = CI.image_size
    assert video.name == f"{split}_000" and len(video) == t
    assert video.frames.shape == (t, s, s, 3) and video.frames.dtype == np.uint8
    assert video.masks.shape == (t, s, s) and video.masks.dtype == bool
    assert video.depth.shape == (t, s, s) and video.depth.dtype == np.float32
    assert video.flow.shape == (t, s, s, 2) and video.flow.dtype == np.float32
    assert video.depth.min() > 0 and video.depth.max() <= 1
    assert np.isfinite(video.flow).all()
    np.testing.assert_array_equal(video.flow[-1], video.flow[-2])  # last frame repeats the previous flow
    assert video.frames.std() > 5  # textured, not flat
    meta = json.loads(json.dumps(video.meta))
    assert meta["split"] == split and meta["seed"] == CI.seed


def test_longvideos_are_long():
    video = syn.generate_video("longvideos", 1, CI)
    assert len(video) == CI.long_video_frames > CI.frames_per_video


def test_deterministic_per_seed_split_and_index():
    a, b = syn.generate_video("fbms", 1, CI), syn.generate_video("fbms", 1, CI)
    for name in ("frames", "masks", "depth", "flow"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    assert a.meta == b.meta
    assert not np.array_equal(a.frames, syn.generate_video("fbms", 2, CI).frames)
    assert not np.array_equal(a.frames, syn.generate_video("fbms", 1, resolve("ci", seed=1)).frames)
    assert not np.array_equal(a.frames, syn.generate_video("stv2", 1, CI).frames)


def test_generate_split_yields_the_plan():
    videos = list(syn.generate_split("val", CI))
    assert [v.name for v in videos] == [f"val_{i:03d}" for i in range(CI.n_val_videos)]
    assert all(v.meta["style"] in syn.TEST_SPLITS for v in videos)


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="unknown synthetic split"):
        syn.generate_video("kitti", 0, CI)
    with pytest.raises(ValueError, match="index"):
        syn.generate_video("davis", -1, CI)


@pytest.mark.parametrize("split", syn.SPLITS)
def test_primary_object_present_and_reasonably_sized(split):
    for index in range(3):
        area = syn.generate_video(split, index, CI).masks.mean(axis=(1, 2))
        assert area.min() > 0.02, f"{split}_{index}: object vanished ({area})"
        assert area.max() < 0.5, f"{split}_{index}: object too large ({area})"
        assert 0.05 < area.mean() < 0.4


def test_object_nearer_than_its_surroundings():
    for index in range(4):
        video = syn.generate_video("davis", index, CI)
        for mask, depth in zip(video.masks, video.depth):
            assert depth[mask].mean() < depth[_ring(mask)].mean() - 0.1


def test_true_flow_warps_next_frame_onto_current():
    """I_t(p) ≈ I_{t+1}(p + F_t(p)) where the same layer stays visible (clean davis split)."""
    warped_err, static_err = [], []
    for index in range(4):
        video = syn.generate_video("davis", index, CI)
        frames = video.frames.astype(np.float32) / 255
        size = frames.shape[1]
        ys, xs = np.mgrid[0:size, 0:size].astype(np.float32)
        for t in range(len(video) - 1):
            mx, my = xs + video.flow[t, ..., 0], ys + video.flow[t, ..., 1]
            warped = cv2.remap(frames[t + 1], mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
            mask_next = cv2.remap(video.masks[t + 1].astype(np.float32), mx, my, cv2.INTER_NEAREST) > 0.5
            valid = (mx >= 0) & (mx <= size - 1) & (my >= 0) & (my <= size - 1) & (mask_next == video.masks[t])
            valid = cv2.erode(valid.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
            warped_err.append(np.abs(warped - frames[t])[valid].mean())
            static_err.append(np.abs(frames[t + 1] - frames[t])[valid].mean())
    assert np.mean(warped_err) < 0.03
    assert np.mean(warped_err) < 0.6 * np.mean(static_err)


def test_paused_object_moves_like_its_background():
    """During a pause the object's flow equals the background's: flow alone cannot find it."""
    checked = 0
    for index in range(12):
        video = syn.generate_video("davis", index, resolve("ci", frames_per_video=8))
        for t in video.meta["paused_frames"]:
            if t >= len(video) - 1:
                continue
            mask = video.masks[t]
            ring = _ring(mask) & (video.depth[t] > 0.7)  # background pixels around the object
            if ring.sum() < 5:
                continue
            relative = np.abs(video.flow[t][mask].mean(0) - video.flow[t][ring].mean(0)).max()
            assert relative < 0.1, (index, t, relative)
            checked += 1
    assert checked > 0


def test_fbms_distractor_crosses_in_front():
    found = 0
    for index in range(8):
        video = syn.generate_video("fbms", index, CI)
        t = video.meta["cross_frame"]
        if not video.meta["occluder"]:
            continue
        occluder = video.depth[t] < video.meta["object_depth"] * 0.8
        assert occluder.any() and video.masks[t].any()
        assert not (occluder & video.masks[t]).any()  # the occluded part is not in the mask
        if (_ring(occluder, 1) & video.masks[t]).any():  # it borders the visible object it covers
            found += 1
    assert found > 0


def test_mcl_is_darker_than_davis():
    mcl = np.mean([syn.generate_video("mcl", i, CI).frames.mean() for i in range(4)])
    davis = np.mean([syn.generate_video("davis", i, CI).frames.mean() for i in range(4)])
    assert mcl < 0.85 * davis


@pytest.mark.parametrize("kind", syn.SHIFT_KINDS)
def test_each_shift_changes_frames_within_range(kind):
    video = syn.generate_video("davis", 0, CI)
    frames = video.frames.astype(np.float32) / 255
    out = syn._apply_shift(frames, kind, 1.0, np.random.default_rng(0), video.depth)
    assert out.shape == frames.shape and out.dtype == np.float32
    assert out.min() >= 0 and out.max() <= 1
    assert np.abs(out - frames).mean() > 0.005


def test_tiny_profile_generates_quickly():
    tiny = resolve("tiny")
    syn._photos()  # loaded once per process
    start = time.perf_counter()
    n_frames = sum(len(syn.generate_video(split, 0, tiny)) for split in syn.SPLITS)
    per_frame = (time.perf_counter() - start) / n_frames
    plan = syn.split_plan(tiny)
    total_frames = sum(p["n_videos"] * p["n_frames"] for p in plan.values())
    assert per_frame * total_frames < 40, f"tiny benchmark would take {per_frame * total_frames:.0f} s"
