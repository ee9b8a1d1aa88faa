"""Optical flow: OpenCV DIS/Farneback recover a known motion, RAFT runs offline, colour coding, real frames."""

import numpy as np
import pytest
import torch

from dattt_nb.data import flow as flowmod
from dattt_nb.data.flow import endpoint_error, estimate_flow, flow_to_rgb

DX, DY = 3, 2  # the content moves right by 3 px and down by 2 px


def _translated_pair(size=96):
    from skimage.data import astronaut

    img = astronaut()
    a = img[100:100 + size, 150:150 + size]
    b = img[100 - DY:100 - DY + size, 150 - DX:150 - DX + size]
    return np.stack([a, b, a])


@pytest.mark.parametrize("method", ["dis", "farneback"])
def test_opencv_flow_recovers_a_translation(method):
    frames = _translated_pair()
    flow = estimate_flow(frames, method)
    assert flow.shape == (3, 96, 96, 2) and flow.dtype == np.float32
    inner = flow[0, 16:-16, 16:-16]
    assert np.allclose(inner.mean((0, 1)), [DX, DY], atol=0.5)
    assert np.median(np.linalg.norm(inner - [DX, DY], axis=-1)) < 0.5
    assert np.allclose(flow[1, 16:-16, 16:-16].mean((0, 1)), [-DX, -DY], atol=0.5)  # back again
    assert np.array_equal(flow[-1], flow[-2]), "last frame repeats the previous flow"


def test_input_checks():
    assert estimate_flow(np.zeros((1, 8, 8, 3), np.uint8)).shape == (1, 8, 8, 2)
    with pytest.raises(ValueError, match="uint8"):
        estimate_flow(np.zeros((2, 8, 8, 3), np.float32))
    with pytest.raises(ValueError, match="unknown flow method"):
        estimate_flow(np.zeros((2, 8, 8, 3), np.uint8), "magic")
    with pytest.raises(ValueError, match="synthetic"):
        estimate_flow(np.zeros((2, 8, 8, 3), np.uint8), "gt")


def test_raft_small_random_init_runs_offline():
    torch.manual_seed(0)
    frames = _translated_pair(64)[:2]
    flow = estimate_flow(frames, "raft_small", weights=None, device="cpu")
    assert flow.shape == (2, 64, 64, 2) and np.isfinite(flow).all()


def test_raft_weights_never_download(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    monkeypatch.delenv(flowmod.RAFT_WEIGHTS_ENV, raising=False)
    with pytest.raises(FileNotFoundError, match=r"raft_small weights not found.*pytorch\.org.*allow_download"):
        flowmod.load_raft("raft_small")
    from torchvision.models.optical_flow import raft_small

    path = tmp_path / "raft_small.pth"
    torch.save(raft_small(weights=None).state_dict(), path)
    monkeypatch.setenv(flowmod.RAFT_WEIGHTS_ENV, str(path))
    assert isinstance(flowmod.load_raft("raft_small"), torch.nn.Module)
    assert isinstance(flowmod.load_raft("raft_small", weights=path), torch.nn.Module)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        flowmod.load_raft("raft_small", weights=tmp_path / "missing.pth")


def test_flow_to_rgb():
    f = np.zeros((2, 5, 6, 2), np.float32)
    rgb = flow_to_rgb(f)
    assert rgb.shape == (2, 5, 6, 3) and rgb.dtype == np.uint8 and (rgb == 255).all()  # no motion = white
    f[1, ..., 0] = 4.0
    one = flow_to_rgb(f[1])
    assert one.shape == (5, 6, 3) and not (one == 255).all()
    assert np.array_equal(flow_to_rgb(f)[1], one), "normalised per frame, not per batch"
    with pytest.raises(ValueError, match=r"\(T, H, W, 2\)"):
        flow_to_rgb(np.zeros((5, 6, 3)))


def test_endpoint_error():
    a = np.zeros((4, 4, 2))
    b = np.zeros((4, 4, 2))
    b[..., 0] = 3
    b[..., 1] = 4
    assert endpoint_error(a, b) == pytest.approx(5.0)


def test_flow_on_real_davis_frames(davis_mini):
    from dattt_nb.data.layout import read_rgb

    files = sorted((davis_mini / "JPEGImages" / "480p" / "blackswan").glob("*.jpg"))[:2]
    frames = np.stack([read_rgb(p)[::4, ::4] for p in files])  # 120 x 214
    flow = estimate_flow(frames, "dis")
    assert flow.shape == (2, *frames.shape[1:3], 2) and np.isfinite(flow).all()
    magnitude = np.linalg.norm(flow[0], axis=-1)
    assert magnitude.mean() > 0.1 and magnitude.std() > 0.05, "real motion is neither zero nor uniform"
