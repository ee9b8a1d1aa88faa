"""Depth pseudo-labels: normalisation to (0, 1], true / precomputed / transformers sources."""
import sys

import cv2
import numpy as np
import pytest

from dattt_nb.data.depth import EPS, TransformersDepth, depth_labels, normalize_depth
from dattt_nb.data.layout import write_frames

FRAMES = np.zeros((2, 12, 16, 3), np.uint8)


def test_normalize_depth():
    d = np.array([[[0.0, 2.0, 4.0, np.nan, 1e-9]]], np.float32)
    n = normalize_depth(d)
    assert n[0, 0, 2] == 1.0 and n[0, 0, 1] == 0.5
    assert n[0, 0, 0] == 0 and n[0, 0, 3] == 0, "invalid pixels stay 0"
    assert n[0, 0, 4] == pytest.approx(EPS), "valid depth is at least eps"
    assert normalize_depth(np.zeros((1, 2, 2))).max() == 0


def test_normalize_disparity():
    disp = np.array([[[4.0, 2.0, 1.0, 0.0]]], np.float32)
    d = normalize_depth(disp, invert=True)
    assert d[0, 0, 0] < d[0, 0, 1] < d[0, 0, 2] < d[0, 0, 3] == 1.0, "larger disparity = nearer"
    assert d[0, 0, 1] / d[0, 0, 0] == pytest.approx(2.0), "depth = 1 / disparity up to scale"
    assert d.min() >= EPS
    assert (normalize_depth(np.zeros((1, 2, 2)), invert=True) == 1).all(), "no cue: all equally far"


def test_true_depth_source():
    gt = np.full((2, 12, 16), 0.5, np.float32)
    gt[0, 0, 0] = 0.0
    out = depth_labels("gt", FRAMES, gt=gt)
    assert out.dtype == np.float32 and out[0, 0, 0] == 0 and out[1].min() == 0.5
    with pytest.raises(ValueError, match="synthetic"):
        depth_labels("gt", FRAMES)
    with pytest.raises(ValueError, match="expected"):
        depth_labels("gt", FRAMES, gt=gt[:1])
    with pytest.raises(ValueError, match="unknown depth source"):
        depth_labels("lidar", FRAMES)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_precomputed_maps(tmp_path, dtype):
    write_frames(tmp_path, "v", FRAMES)
    top = np.iinfo(dtype).max
    for t in range(2):
        m = np.tile(np.linspace(top // 4, top // 2, 8).astype(dtype), (6, 1))  # half size: resized on read
        (tmp_path / "Depth" / "v").mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(tmp_path / "Depth" / "v" / f"{t:05d}.png"), m)
    d = depth_labels("precomputed", FRAMES, root=tmp_path, name="v")
    assert d.shape == (2, 12, 16) and d.max() == pytest.approx(1.0) and d.min() > 0.4
    assert d[0, 0, -1] > d[0, 0, 0], "values kept in order"
    inv = depth_labels("precomputed", FRAMES, root=tmp_path, name="v", invert=True)
    assert inv[0, 0, -1] < inv[0, 0, 0], "invert: disparity-like maps flip"
    (tmp_path / "Depth" / "v" / "00001.png").unlink()
    with pytest.raises(FileNotFoundError, match=r"missing e\.g\. 00001\.png"):
        depth_labels("precomputed", FRAMES, root=tmp_path, name="v")


def test_transformers_is_optional(monkeypatch):
    monkeypatch.setitem(sys.modules, "transformers", None)
    with pytest.raises(ImportError, match=r"dattt-nb\[depth\]"):
        depth_labels("transformers", FRAMES, model="Intel/dpt-hybrid-midas")


def test_transformers_tiny_random_dpt():
    transformers = pytest.importorskip("transformers")
    import torch

    torch.manual_seed(0)
    config = transformers.DPTConfig(
        hidden_size=32, num_hidden_layers=4, num_attention_heads=2, intermediate_size=37, image_size=32,
        patch_size=8, backbone_out_indices=[0, 1, 2, 3], neck_hidden_sizes=[8, 16, 32, 32], fusion_hidden_size=16,
        reassemble_factors=[4, 2, 1, 0.5])
    model = transformers.DPTForDepthEstimation(config)
    estimator = TransformersDepth(model, device="cpu")
    assert estimator.inverse, "DPT predicts relative inverse depth"
    frames = np.random.default_rng(0).integers(0, 256, (3, 20, 28, 3), dtype=np.uint8)
    raw = estimator(frames)
    assert raw.shape == (3, 20, 28) and np.isfinite(raw).all()
    d = depth_labels("transformers", frames, model=estimator)
    assert d.shape == (3, 20, 28) and d.dtype == np.float32
    assert d.min() >= EPS and d.max() <= 1.0
