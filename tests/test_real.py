"""Real datasets: converters on small fake trees, the DAVIS loader on davis16-mini, offline download checks."""
import hashlib
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from PIL import Image

from dattt_nb.data import real
from dattt_nb.data.layout import list_videos, load_video, read_manifest

H, W = 12, 16


def _frame(path: Path, value: int = 120):
    path.parent.mkdir(parents=True, exist_ok=True)
    img = np.full((H, W, 3), value, np.uint8)
    if path.suffix == ".jpg":
        cv2.imwrite(str(path), img)
    else:
        Image.fromarray(img).save(path)


def _palette_mask(path: Path, boxes: dict[int, tuple]):
    path.parent.mkdir(parents=True, exist_ok=True)
    m = np.zeros((H, W), np.uint8)
    for idx, (y0, y1, x0, x1) in boxes.items():
        m[y0:y1, x0:x1] = idx
    img = Image.fromarray(m, "P")
    img.putpalette([0, 0, 0, 128, 0, 0, 0, 128, 0] + [0] * 759)
    img.save(path)


def _binary(path: Path, box: tuple, value=255, mode="L"):
    path.parent.mkdir(parents=True, exist_ok=True)
    m = np.zeros((H, W), np.uint8)
    y0, y1, x0, x1 = box
    m[y0:y1, x0:x1] = value
    Image.fromarray(m).convert(mode).save(path)


def test_youtube_vos_objects_merged_and_sparse(tmp_path):
    src = tmp_path / "train_all_frames"
    for n in ("00000", "00001", "00005"):
        _frame(src / "JPEGImages" / "0a1b2c" / f"{n}.jpg")
    _palette_mask(src / "Annotations" / "0a1b2c" / "00000.png", {1: (0, 4, 0, 4), 2: (6, 10, 8, 12)})
    _palette_mask(src / "Annotations" / "0a1b2c" / "00005.png", {2: (1, 3, 1, 3)})
    dst = real.convert_youtube_vos(src, tmp_path / "ytvos")
    manifest = read_manifest(dst)
    assert manifest["sparse_annotations"] and manifest["annotated"] == {"0a1b2c": 2}
    v = load_video(dst, "0a1b2c", with_flow=False, with_depth=False)
    assert v.frame_names == ["00000", "00001", "00005"]
    assert v.annotated.tolist() == [True, False, True]
    assert v.masks[0].sum() == 32, "both objects are foreground"
    assert not v.masks[1].any() and v.masks[2].sum() == 4
    assert np.unique(cv2.imread(str(dst / "Annotations" / "0a1b2c" / "00000.png"), 0)).tolist() == [0, 255]
    assert (dst / "JPEGImages" / "0a1b2c" / "00000.jpg").is_symlink()


def test_flat_release_names_to_layout(tmp_path):
    src = tmp_path / "DAVIS2SEG"
    for video in ("bmx-trees", "bird_of_paradise"):
        for t in range(3):
            stem = f"{video}_{t:05d}"
            _frame(src / "frame" / "val" / f"{stem}.jpg")
            _frame(src / "flow" / "val" / f"{stem}.png", 200)
            _binary(src / "mask" / "val" / f"{stem}.png", (2, 5, 2, 5))
            _binary(src / "depth" / "val" / f"{stem}.png", (0, H, 0, W), value=51 * (t + 1))
        _frame(src / "frame" / "train" / f"{video}_00000.jpg")
    with pytest.raises(ValueError, match="pass split"):
        real.convert_flat_release(src, tmp_path / "out0")
    dst = real.convert_flat_release(src, tmp_path / "out", split="val")
    assert list_videos(dst) == ["bird_of_paradise", "bmx-trees"]
    v = load_video(dst, "bird_of_paradise")
    assert len(v) == 3 and v.masks.sum() == 27 and v.flow.shape == (3, 3, H, W)
    assert torch.allclose(v.depth[:, 0, 0], torch.tensor([0.2, 0.4, 0.6]))  # 8-bit maps read as value / 255
    manifest = read_manifest(dst)
    assert manifest["derived"]["flow"]["bmx-trees"] == "precomputed"
    assert manifest["release_folders"] == ["frame", "mask", "flow", "depth"]
    assert real.split_flat_name("bird_of_paradise_00042") == ("bird_of_paradise", "00042")
    with pytest.raises(FileNotFoundError, match="frame/ flow/ mask/ depth/"):
        real.convert_flat_release(tmp_path / "ytvos-nothing", tmp_path / "x")


def test_fbms_sparse_ground_truth(tmp_path):
    src = tmp_path / "FBMS"
    video = src / "Testset" / "cars1"
    for n in range(1, 6):
        _frame(video / f"cars1_{n:02d}.jpg")
    _binary(video / "GroundTruth" / "001_gt.pgm", (0, 4, 0, 4))
    colour = np.full((H, W, 3), 255, np.uint8)  # .ppm: colour labels on white
    colour[5:8, 5:9] = (255, 0, 0)
    Image.fromarray(colour).save(video / "GroundTruth" / "004_gt.ppm")
    (video / "GroundTruth" / "cars1Def.dat").write_text("ground truth definition")
    dst = real.convert_fbms(src, tmp_path / "fbms")
    assert read_manifest(dst)["sparse_annotations"]
    v = load_video(dst, "cars1", with_flow=False, with_depth=False)
    assert v.frame_names == ["00000", "00001", "00002", "00003", "00004"]
    assert v.annotated.tolist() == [True, False, False, True, False]
    assert v.masks[0].sum() == 16 and v.masks[3].sum() == 12, "white background of .ppm is not foreground"


def test_segtrackv2_objects_merged(tmp_path):
    src = tmp_path / "SegTrackv2"
    for t in range(3):
        _frame(src / "JPEGImages" / "monkeydog" / f"monkeydog_{t:03d}.png")  # non-JPEG frames are re-encoded
        _binary(src / "GroundTruth" / "monkeydog" / "1" / f"monkeydog_{t:03d}.png", (0, 3, 0, 3))
        _binary(src / "GroundTruth" / "monkeydog" / "2" / f"monkeydog_{t:03d}.png", (6, 9, 6, 9), mode="RGB")
    dst = real.convert_segtrackv2(src, tmp_path / "stv2")
    v = load_video(dst, "monkeydog", with_flow=False, with_depth=False)
    assert v.annotated is None and (v.masks.sum((1, 2)) == 18).all()
    assert (dst / "JPEGImages" / "monkeydog" / "00000.jpg").is_file()


def test_long_videos_and_mcl_layouts(tmp_path):
    lv = tmp_path / "Long-Videos"
    for t in range(4):
        _frame(lv / "JPEGImages" / "dressage" / f"{t:05d}.jpg")
    _palette_mask(lv / "Annotations" / "dressage" / "00002.png", {1: (0, 2, 0, 2), 3: (4, 6, 4, 6)})
    v = load_video(real.convert_long_videos(lv, tmp_path / "lv"), "dressage", with_flow=False, with_depth=False)
    assert v.annotated.tolist() == [False, False, True, False] and v.masks[2].sum() == 8
    mcl = tmp_path / "MCL"
    for t in range(3):
        _frame(mcl / "BigBuckBunny" / f"frame{t + 1}.bmp")
    _binary(mcl / "BigBuckBunny" / "GT" / "gt3.bmp", (0, 5, 0, 5))
    v = load_video(real.convert_mcl(mcl, tmp_path / "mcl"), "BigBuckBunny", with_flow=False, with_depth=False)
    assert v.frame_names == ["frame1", "frame2", "frame3"] and v.annotated.tolist() == [False, False, True]


def test_match_masks_errors_name_the_file(tmp_path):
    frames = [tmp_path / f"{i:05d}.jpg" for i in range(3)]
    with pytest.raises(ValueError, match="cannot match mask .*weird"):
        real.match_masks(frames, [tmp_path / "weird.png", tmp_path / "odd.png"])


def test_davis_loader_on_davis16_mini(tmp_path, davis_mini):
    assert list_videos(davis_mini) == ["blackswan", "car-shadow", "libby"]
    v = load_video(davis_mini, "blackswan", size=64, with_flow=False, with_depth=False)
    assert len(v) == 50 and v.frames.shape == (50, 3, 64, 64)
    assert v.masks.dtype == torch.bool and v.masks.shape == (50, 64, 64) and v.annotated is None
    assert 0.02 < v.masks.float().mean() < 0.5
    assert v.frame_names[0] == "00000" and v.frame_names[-1] == "00049"
    dst = real.convert_davis16(davis_mini, tmp_path / "davis16", videos=["libby"])
    assert list_videos(dst) == ["libby"] and len(load_video(dst, "libby", with_flow=False, with_depth=False)) == 49
    assert (dst / "JPEGImages" / "libby" / "00000.jpg").is_symlink()


# --- downloads (no network: file:// URLs through a guarded opener) ---

@pytest.fixture
def archive(tmp_path, monkeypatch, file_urls_only):
    payload = b"fake dataset archive " * 1000
    path = tmp_path / "src" / "fake.zip"
    path.parent.mkdir()
    path.write_bytes(payload)
    opened = file_urls_only
    monkeypatch.setitem(real.DATASETS, "fake", dict(url=path.as_uri(), sha256=hashlib.sha256(payload).hexdigest(),
                                                    size=len(payload), page="https://example.org", notes="test"))
    return payload, opened


def test_download_verifies_checksum(tmp_path, archive):
    payload, opened = archive
    out = real.download("fake", tmp_path / "dl")
    assert out.read_bytes() == payload and len(opened) == 1
    real.download("fake", tmp_path / "dl")
    assert len(opened) == 1, "a verified file is not downloaded again"
    with pytest.raises(ValueError, match="checksum mismatch"):
        real.download("fake", tmp_path / "bad", sha256="0" * 64)
    assert not (tmp_path / "bad").exists() or not any((tmp_path / "bad").iterdir()), "nothing kept"


def test_download_refuses_manual_datasets():
    with pytest.raises(ValueError, match="youtube-vos.org"):
        real.download("youtube-vos", "/tmp/never")
    with pytest.raises(KeyError, match="unknown dataset"):
        real.download("imagenet", "/tmp/never")
    assert real.DATASETS["davis16"]["url"] == "https://graphics.ethz.ch/Downloads/Data/Davis/DAVIS-data.zip"
    assert all({"url", "sha256", "page", "notes"} <= set(e) for e in real.DATASETS.values())
    json.dumps(real.DATASETS)
