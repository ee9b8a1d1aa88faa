"""The DAVIS-style layout: writers/readers round-trip, odd image modes, sparse masks and clear errors."""
import json

import numpy as np
import pytest
import torch
from PIL import Image

from dattt_nb.data import layout
from dattt_nb.data.layout import list_videos, load_split, load_video, write_video

T, H, W = 3, 16, 20


def _video(seed=0):
    rng = np.random.default_rng(seed)
    from skimage.data import astronaut

    frames = np.stack([astronaut()[100 + 8 * t:100 + 8 * t + 4 * H:4, 150:150 + 4 * W:4] for t in range(T)])
    masks = np.zeros((T, H, W), bool)
    masks[:, 4:12, 5:15] = True
    flow_raw = rng.normal(size=(T, H, W, 2)).astype(np.float32)
    flow_rgb = rng.integers(0, 256, (T, H, W, 3), dtype=np.uint8)
    depth = rng.uniform(0.01, 1.0, (T, H, W)).astype(np.float32)
    return frames, masks, flow_rgb, flow_raw, depth


@pytest.fixture
def root(tmp_path):
    frames, masks, flow_rgb, flow_raw, depth = _video()
    write_video(tmp_path, "b-video", frames, masks, flow_rgb, flow_raw, depth)
    write_video(tmp_path, "a-video", frames, masks, flow_rgb, flow_raw, depth)
    return tmp_path


def test_round_trip(root):
    frames, masks, _, flow_raw, depth = _video()
    assert list_videos(root) == ["a-video", "b-video"]
    v = load_video(root, "a-video")
    assert len(v) == T and v.frame_names == ["00000", "00001", "00002"]
    assert v.frames.shape == (T, 3, H, W) and v.frames.dtype == torch.float32
    assert np.abs(v.frames.permute(0, 2, 3, 1).numpy() * 255 - frames).mean() < 6  # JPEG q95
    assert v.masks.dtype == torch.bool and torch.equal(v.masks, torch.from_numpy(masks))
    assert v.flow.shape == (T, 3, H, W) and v.annotated is None
    assert np.abs(v.depth.numpy() - depth).max() <= 0.5 / 65535 + 1e-7
    raw = layout.read_raw_flow(root, "a-video")
    assert np.abs(raw - flow_raw).max() < 1e-2  # float16
    assert not any(p.name.startswith(".") for p in root.rglob("*")), "temporary files left behind"


def test_resize_and_device(root):
    v = load_video(root, "a-video", size=8)
    assert v.frames.shape == (T, 3, 8, 8) and v.flow.shape == (T, 3, 8, 8)
    assert v.masks.shape == (T, 8, 8) and v.masks.dtype == torch.bool and v.masks.any()
    assert v.depth.shape == (T, 8, 8)
    assert 0 <= v.frames.min() and v.frames.max() <= 1
    assert load_video(root, "a-video", size=(8, 10)).frames.shape == (T, 3, 8, 10)
    assert v.to("cpu").frames.device.type == "cpu"
    assert [x.name for x in load_split(root, size=8)] == ["a-video", "b-video"]


def test_davis_resolution_level_and_odd_modes(tmp_path):
    """JPEGImages/480p/<video>; grayscale, RGBA and palette frames; palette/RGBA/L masks (any nonzero = fg)."""
    fdir, mdir = tmp_path / "JPEGImages" / "480p" / "v", tmp_path / "Annotations" / "480p" / "v"
    fdir.mkdir(parents=True)
    mdir.mkdir(parents=True)
    Image.fromarray(np.full((H, W), 200, np.uint8)).save(fdir / "00000.png")  # grayscale
    Image.fromarray(np.full((H, W, 4), 100, np.uint8), "RGBA").save(fdir / "00001.png")
    pal = Image.fromarray(np.ones((H, W), np.uint8), "P")
    pal.putpalette([0, 0, 0, 10, 20, 30] + [0] * 762)
    pal.save(fdir / "00002.png")
    m = np.zeros((H, W), np.uint8)
    m[2:5, 3:7] = 2  # palette index 2 (a second object) still counts as foreground
    pm = Image.fromarray(m, "P")
    pm.putpalette([0, 0, 0, 255, 0, 0, 0, 255, 0] + [0] * 759)
    pm.save(mdir / "00000.png")
    rgba = np.zeros((H, W, 4), np.uint8)
    rgba[..., 3] = 255
    rgba[0:3, 0:3, :3] = 255
    Image.fromarray(rgba, "RGBA").save(mdir / "00001.png")
    Image.fromarray((m > 0).astype(np.uint8)).save(mdir / "00002.png")  # L with value 1
    v = load_video(tmp_path, "v", with_flow=False, with_depth=False)
    assert list_videos(tmp_path) == ["v"]
    assert v.frames.shape == (3, 3, H, W)
    assert torch.allclose(v.frames[0], torch.full((3, H, W), 200 / 255))
    assert torch.allclose(v.frames[2, :, 0, 0], torch.tensor([10, 20, 30]) / 255)
    assert v.masks[0].sum() == 12 and v.masks[1].sum() == 9 and v.masks[2].sum() == 12


def test_sparse_annotations(root):
    (root / "Annotations" / "a-video" / "00001.png").unlink()
    with pytest.raises(ValueError, match=r"expected 3 \(one per frame\).*00001"):
        load_video(root, "a-video")
    v = load_video(root, "a-video", sparse=True)
    assert v.annotated.tolist() == [True, False, True] and not v.masks[1].any() and v.masks[0].any()
    (root / "dataset.json").write_text(json.dumps({"sparse_annotations": True}))
    assert load_video(root, "a-video").annotated.tolist() == [True, False, True]


def test_unannotated_video_has_no_masks(root):
    for p in (root / "Annotations" / "a-video").iterdir():
        p.unlink()
    assert load_video(root, "a-video").masks is None


def test_wrong_layout_errors(tmp_path, root):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        list_videos(tmp_path / "nope")
    (tmp_path / "other").mkdir()
    with pytest.raises(FileNotFoundError, match=r"JPEGImages/<video>/<frame>\.jpg"):
        list_videos(tmp_path / "other")
    (tmp_path / "flat" / "frame").mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match="convert_flat_release"):
        load_video(tmp_path / "flat", "x")
    with pytest.raises(FileNotFoundError, match="no video 'zzz'"):
        load_video(root, "zzz")
    (root / "JPEGImages" / "empty").mkdir()
    with pytest.raises(ValueError, match="'empty' is empty"):
        load_video(root, "empty")
    (tmp_path / "novideos" / "JPEGImages").mkdir(parents=True)
    with pytest.raises(ValueError, match="has no videos"):
        load_split(tmp_path / "novideos")


def test_bad_files_name_the_file(root):
    bad = root / "JPEGImages" / "a-video" / "00001.jpg"
    bad.write_bytes(b"not a jpeg")
    with pytest.raises(ValueError, match=r"00001\.jpg.*unreadable"):
        load_video(root, "a-video")


def test_mask_size_and_count_errors(root):
    Image.fromarray(np.zeros((H + 1, W), np.uint8)).save(root / "Annotations" / "b-video" / "00002.png")
    with pytest.raises(ValueError, match=rf"00002\.png is {W}x{H + 1}, expected {W}x{H}"):
        load_video(root, "b-video")
    Image.fromarray(np.zeros((H, W), np.uint8)).save(root / "Annotations" / "a-video" / "00009.png")
    with pytest.raises(ValueError, match=r"00009\.png has no matching frame"):
        load_video(root, "a-video")


def test_frames_of_different_sizes(root):
    Image.fromarray(np.zeros((H, W + 2, 3), np.uint8)).save(root / "JPEGImages" / "a-video" / "00001.jpg")
    with pytest.raises(ValueError, match=rf"00001\.jpg is {W + 2}x{H}, expected {W}x{H}"):
        load_video(root, "a-video")


def test_missing_derived_inputs(root):
    import shutil

    shutil.rmtree(root / "Flow" / "a-video")
    with pytest.raises(FileNotFoundError, match="compute_flow"):
        load_video(root, "a-video")
    assert load_video(root, "a-video", with_flow=False).flow is None
    (root / "Depth" / "a-video" / "00002.png").unlink()
    with pytest.raises(ValueError, match="expected 3"):
        load_video(root, "a-video", with_flow=False)


def test_writer_validates_shapes(tmp_path):
    frames, masks, *_ = _video()
    with pytest.raises(ValueError, match="uint8"):
        write_video(tmp_path, "v", frames.astype(np.float32))
    with pytest.raises(ValueError, match="masks of video 'v'"):
        write_video(tmp_path, "v", frames, masks[:2])
    with pytest.raises(ValueError, match="no frames"):
        write_video(tmp_path, "v", frames[:0])


def test_depth_encoding():
    d = np.array([[0.0, 0.5, 1.0, 2.0, np.nan]])
    assert layout.depth_to_uint16(d).tolist() == [[0, 32768, 65535, 65535, 0]]


def test_duplicate_frame_names_are_an_error_listing_them(root):
    folder = root / "JPEGImages" / "a-video"
    (folder / "00001.png").write_bytes((folder / "00001.jpg").read_bytes())
    with pytest.raises(ValueError, match=r"several files for one frame name: 00001\.jpg, 00001\.png; keep one"):
        load_video(root, "a-video")


def test_a_gap_in_numbered_frames_is_an_error_unless_allowed(tmp_path):
    from dattt_nb.utils import DatttWarning

    assert layout.missing_frames(["00000", "00001", "00003", "00006"]) == ["00002", "00004", "00005"]
    assert layout.missing_frames(["00000", "00005", "00015"]) == ["00010"], "the sequence's own step (YouTube-VOS)"
    assert layout.missing_frames(["a", "b", "c"]) == [] and layout.missing_frames(["0", "1", "2"]) == []
    frames, masks, flow_rgb, flow_raw, depth = _video()
    write_video(tmp_path, "gappy", frames, masks, flow_rgb, flow_raw, depth, frame_names=["00000", "00001", "00003"])
    with pytest.raises(ValueError, match=r"frame\(s\) 00002 missing from the numbered sequence 00000 … 00003"):
        load_video(tmp_path, "gappy")
    with pytest.warns(DatttWarning, match="00002 missing"):
        v = load_video(tmp_path, "gappy", allow_gaps=True)
    assert v.frame_names == ["00000", "00001", "00003"]


def test_a_truncated_jpeg_is_an_error(tmp_path):
    from skimage.data import astronaut

    layout.write_frames(tmp_path, "v", astronaut()[None, ::4, ::4].copy())
    frame = tmp_path / "JPEGImages" / "v" / "00000.jpg"
    data = frame.read_bytes()
    frame.write_bytes(data[: len(data) * 2 // 3])
    with pytest.raises(ValueError, match=r"frame .*00000\.jpg is truncated"):
        layout.read_rgb(frame)
    frame.write_bytes(data + b"\0" * 16)  # bytes after the end marker are fine
    assert layout.read_rgb(frame).shape == (128, 128, 3)


def test_ground_truth_masks_must_name_frames(tmp_path):
    masks = np.zeros((3, 8, 8), bool)
    layout.write_mask_pngs(tmp_path / "gt", masks, ["00000", "00001", "00002"])
    names = ["f0", "f1", "f2"]
    with pytest.raises(ValueError, match="no mask .* matches a frame name"):
        layout.read_annotations(tmp_path / "gt", "v", names)
    layout.write_mask_pngs(tmp_path / "gt", masks[:1], ["f1"])
    with pytest.raises(ValueError, match=r"2 mask\(s\) that match no frame of 'v': 00000\.png, 00001\.png"):
        layout.read_annotations(tmp_path / "gt", "v", ["00002", "f1"])
    gt, annotated = layout.read_annotations(tmp_path / "gt", "v", ["00000", "00001"])  # 00002: frames cut short
    assert gt.shape == (2, 8, 8) and annotated.all()
