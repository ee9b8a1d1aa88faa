"""The two views of eq. 4: shapes, range, determinism, shared geometry, one photometric draw per view batch."""
import pytest
import torch
import torch.nn.functional as F

from dattt_nb.ttt.views import apply_geometry, make_views, photometric_distortion, sample_geometry


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


def _ramp(size=32):
    """A grey left-to-right ramp: saturation 0, so only brightness/contrast can change it (monotonically)."""
    x = torch.linspace(0.1, 0.9, size).expand(3, size, size).clone()
    return x


def test_views_have_the_frame_shape_range_dtype_and_device():
    frame = torch.rand(3, 32, 32)
    v1, v2 = make_views(frame, 3, generator=_gen())
    for v in (v1, v2):
        assert v.shape == (3, 3, 32, 32) and v.dtype == frame.dtype and v.device == frame.device
        assert v.min() >= 0 and v.max() <= 1


def test_views_are_deterministic_under_a_generator():
    frame = torch.rand(3, 32, 32)
    a = make_views(frame, 4, generator=_gen(7))
    b = make_views(frame, 4, generator=_gen(7))
    c = make_views(frame, 4, generator=_gen(8))
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    assert not torch.equal(a[0], c[0])


def test_without_photometry_both_views_of_a_pair_are_identical():
    v1, v2 = make_views(torch.rand(3, 32, 32), 4, generator=_gen(), photometric=False)
    assert torch.equal(v1, v2)


def test_pairs_share_flip_and_crop_even_with_photometry():
    """On a ramp, the horizontal gradient's sign shows the flip; both views of every pair agree."""
    flips1, flips2 = [], []
    for seed in range(6):
        v1, v2 = make_views(_ramp(), 4, generator=_gen(seed))
        flips1 += (v1[..., -1] - v1[..., 0]).mean(dim=(1, 2)).lt(0).tolist()
        flips2 += (v2[..., -1] - v2[..., 0]).mean(dim=(1, 2)).lt(0).tolist()
    assert flips1 == flips2
    assert 0 < sum(flips1) < len(flips1), "some pairs are flipped, some are not (p = 0.5)"


def test_geometry_is_zoom_then_crop_of_the_frame():
    frame = torch.rand(1, 3, 32, 32)
    s, (oy, ox) = 1.5, (5, 11)  # resize to 48 px, crop 32 px at (5, 11)
    expected = F.interpolate(frame, scale_factor=s, mode="bilinear", align_corners=False)[..., oy:oy + 32, ox:ox + 32]
    cx, cy = ox / ((s - 1) * 32), oy / ((s - 1) * 32)
    theta = torch.tensor([[[1 / s, 0, (1 - 1 / s) * (2 * cx - 1)], [0, 1 / s, (1 - 1 / s) * (2 * cy - 1)]]])
    assert torch.allclose(apply_geometry(frame, theta), expected, atol=1e-5)
    theta[:, 0, 0] *= -1
    assert torch.allclose(apply_geometry(frame, theta), expected.flip(-1), atol=1e-5)


def test_zoom_range_is_respected():
    theta = sample_geometry(500, (1.05, 1.5), _gen())
    zoom = 1 / theta[:, 1, 1]
    assert zoom.min() >= 1.05 - 1e-6 and zoom.max() <= 1.5 + 1e-6
    inside = theta[:, :, 2].abs() <= (1 - theta[:, 1, 1] + 1e-6)[:, None]
    assert inside.all(), "the crop window stays inside the frame"


def test_a_batch_of_frames_is_used_in_turn():
    frames = torch.stack([torch.zeros(3, 32, 32), torch.ones(3, 32, 32)])
    v1, _ = make_views(frames, 4, generator=_gen(), photometric=False)
    assert torch.allclose(v1[0::2], torch.zeros(1)) and torch.allclose(v1[1::2], torch.ones(1))


def test_photometric_distortion_is_one_draw_for_the_whole_batch():
    x = torch.rand(1, 3, 16, 16).expand(5, -1, -1, -1)
    changed = False
    for seed in range(8):
        y = photometric_distortion(x, _gen(seed))
        assert torch.allclose(y, y[:1].expand_as(y)), "every image of the batch gets the same distortion"
        assert y.min() >= 0 and y.max() <= 1
        changed |= not torch.allclose(y, x, atol=1e-4)
    assert changed


def test_the_two_view_batches_get_independent_photometry():
    frame = torch.rand(3, 32, 32)
    differ = [not torch.allclose(*make_views(frame, 2, generator=_gen(s))) for s in range(6)]
    assert any(differ)


def test_bad_inputs_are_refused():
    with pytest.raises(ValueError, match="n_pairs"):
        make_views(torch.rand(3, 8, 8), 0)
    with pytest.raises(ValueError, match=r"\(3, H, W\)"):
        make_views(torch.rand(8, 8), 2)
    with pytest.raises(ValueError, match="scale"):
        make_views(torch.rand(3, 8, 8), 2, scale=(0.5, 0.9))
