"""Corruptions at severity 1–5 and `dattt-nb corrupt`: PSNR falls with severity, draws are seeded and per video or
per frame as documented, content shifts keep severity 0 clean, and a corrupted root keeps its masks byte for byte."""
import json
from pathlib import Path

import numpy as np
import pytest

from dattt_nb import cli
from dattt_nb.config import resolve
from dattt_nb.data import synthetic
from dattt_nb.data.corruptions import (CONTENT_SHIFTS, CORRUPTIONS, SEVERITIES, content_video, corrupt_frames,
                                       get_corruption, psnr)
from dattt_nb.data.layout import list_videos, write_video


@pytest.fixture(scope="module")
def clip():
    return synthetic.generate_video("davis", 0, resolve("ci", image_size=64, frames_per_video=4))


@pytest.mark.parametrize("kind", sorted(CORRUPTIONS))
def test_psnr_falls_with_severity(clip, kind):
    values = [psnr(corrupt_frames(clip.frames, kind, s, seed=0, video=clip.name, depth=clip.depth), clip.frames)
              for s in SEVERITIES]
    assert all(np.isfinite(values)), values
    assert all(a > b for a, b in zip(values, values[1:])), f"{kind}: PSNR {values} does not fall with severity"


@pytest.mark.parametrize("kind", sorted(CORRUPTIONS))
def test_severity_zero_is_clean_and_draws_are_seeded(clip, kind):
    assert np.array_equal(corrupt_frames(clip.frames, kind, 0), clip.frames)
    a = corrupt_frames(clip.frames, kind, 3, seed=1, video="v")
    assert np.array_equal(a, corrupt_frames(clip.frames, kind, 3, seed=1, video="v"))
    assert a.dtype == np.uint8 and a.shape == clip.frames.shape
    if get_corruption(kind).draw != "none":  # a random corruption changes with the seed and with the video
        assert not np.array_equal(a, corrupt_frames(clip.frames, kind, 3, seed=2, video="v"))
        assert not np.array_equal(a, corrupt_frames(clip.frames, kind, 3, seed=1, video="w"))


def test_per_video_draw_is_the_same_on_every_frame():
    """A colour cast on a video of identical frames is identical on every frame; noise differs frame to frame."""
    frames = np.full((4, 16, 16, 3), 128, np.uint8)
    cast = corrupt_frames(frames, "color_cast", 4, video="v")
    assert all(np.array_equal(cast[0], f) for f in cast[1:]) and not np.array_equal(cast[0], frames[0])
    fogged = corrupt_frames(frames, "fog", 4, video="v")
    assert all(np.array_equal(fogged[0], f) for f in fogged[1:])
    noisy = corrupt_frames(frames, "noise", 4, video="v")
    assert not np.array_equal(noisy[0], noisy[1])
    # per frame: frame t's noise does not depend on the clip's length
    assert np.array_equal(corrupt_frames(frames[:2], "noise", 4, video="v"), noisy[:2])
    # per video: the other videos draw another cast
    assert not np.array_equal(corrupt_frames(frames, "color_cast", 4, video="w"), cast)


def test_bad_kind_and_severity_are_clear_errors(clip):
    with pytest.raises(ValueError, match="unknown corruption 'snow'"):
        corrupt_frames(clip.frames, "snow", 1)
    with pytest.raises(ValueError, match="severity must be an integer 0-5"):
        corrupt_frames(clip.frames, "noise", 6)


@pytest.mark.parametrize("kind", sorted(CONTENT_SHIFTS))
def test_content_shift_severity_zero_is_the_clean_clip(kind):
    settings = resolve("ci", image_size=32, frames_per_video=4)
    clean = synthetic.generate_video("davis", 1, settings)
    zero = content_video(kind, 0, 1, settings)
    assert np.array_equal(zero.frames, clean.frames) and np.array_equal(zero.masks, clean.masks)
    five = content_video(kind, 5, 1, settings)
    assert five.frames.shape[1:] == clean.frames.shape[1:] and five.masks.shape == five.frames.shape[:3]
    assert five.flow.shape == five.frames.shape[:3] + (2,) and five.depth.shape == five.masks.shape
    assert not np.array_equal(five.frames[:len(clean)], clean.frames)
    if kind == "long":
        assert len(five) > len(clean)


def test_distractors_grow_with_severity():
    settings = resolve("ci", image_size=32, frames_per_video=4)
    counts = [np.mean([content_video("distractors", s, i, settings).meta["n_distractors"] for i in range(4)])
              for s in (1, 5)]
    assert counts[1] > counts[0]


def _tiny_root(root: Path, n_videos: int = 2) -> Path:
    settings = resolve("ci", image_size=32, frames_per_video=3)
    for i in range(n_videos):
        v = synthetic.generate_video("davis", i, settings)
        write_video(root, v.name, v.frames, masks=v.masks, flow_rgb=np.zeros_like(v.frames), depth=v.depth)
    (root / "dataset.json").write_text(json.dumps({"name": "tiny"}))
    return root


def _files(root: Path, kind: str) -> dict[str, bytes]:
    return {str(p.relative_to(root / kind)): p.read_bytes() for p in sorted((root / kind).rglob("*")) if p.is_file()}


def test_corrupt_command_writes_a_corrupted_copy(tmp_path, capsys):
    src = _tiny_root(tmp_path / "src")
    worst = {}
    for severity in (1, 5):
        dst = tmp_path / f"noise{severity}"
        assert cli.main(["corrupt", str(src), str(dst), "--kind", "noise", "--severity", str(severity)]) == 0
        assert list_videos(dst) == list_videos(src)
        for kind in ("Annotations", "Flow", "Depth"):  # masks, flow, depth: byte-identical
            assert _files(dst, kind) == _files(src, kind), kind
        assert json.loads((dst / "dataset.json").read_text())["corruption"]["severity"] == severity
        from dattt_nb.data.layout import read_frames
        a, _ = read_frames(dst, "davis_000")
        b, _ = read_frames(src, "davis_000")
        worst[severity] = psnr(a, b)
    assert worst[5] < worst[1]
    assert "noise at severity 5" in capsys.readouterr().out


def test_corrupt_recompute_flow(tmp_path):
    src = _tiny_root(tmp_path / "src", 1)
    dst = tmp_path / "fog"
    assert cli.main(["corrupt", str(src), str(dst), "--kind", "fog", "--severity", "3", "--recompute-flow"]) == 0
    assert _files(dst, "Annotations") == _files(src, "Annotations")
    assert _files(dst, "Flow") != _files(src, "Flow")  # the source's flow was all zeros
    assert "recomputed" in json.loads((dst / "dataset.json").read_text())["corruption"]["flow"]


@pytest.mark.parametrize("where", ["same", "inside", "containing"])
def test_corrupt_refuses_overlapping_destination(tmp_path, capsys, where):
    src = _tiny_root(tmp_path / "data" / "src", 1)
    dst = {"same": src, "inside": src / "c", "containing": tmp_path / "data"}[where]
    assert cli.main(["corrupt", str(src), str(dst), "--kind", "noise", "--severity", "2"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("dattt-nb: error: destination") and "\n" not in err


def test_corrupt_refuses_missing_source(tmp_path, capsys):
    assert cli.main(["corrupt", str(tmp_path / "nope"), str(tmp_path / "out"), "--kind", "blur",
                     "--severity", "1"]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_corrupt_real_davis_sample(davis_mini, tmp_path):
    video = list_videos(davis_mini)[0]
    dst = tmp_path / "davis-c"
    assert cli.main(["corrupt", str(davis_mini), str(dst), "--kind", "jpeg", "--severity", "5"]) == 0
    from dattt_nb.data.layout import kind_dir, read_frames
    assert _files(dst, "Annotations") == _files(davis_mini, "Annotations")
    a, _ = read_frames(dst, video)
    b, _ = read_frames(davis_mini, video)
    assert a.shape == b.shape and psnr(a, b) < 35
    assert list_videos(dst) == list_videos(davis_mini)
    assert sorted(p.name for p in (kind_dir(dst, "JPEGImages") / video).iterdir()) == \
        sorted(p.name for p in (kind_dir(davis_mini, "JPEGImages") / video).iterdir())
