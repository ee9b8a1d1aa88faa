"""Eq. 2: BCE + λ·SILog (official AdaBins/ZoeDepth form of the scale-invariant log loss)."""
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from dattt_nb.losses import bce_loss, joint_loss, silog_loss


def _depth(shape=(2, 1, 8, 8), seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(shape, generator=g) * 0.8 + 0.1


def test_silog_matches_the_formula():
    pred, target = _depth(seed=0), _depth(seed=1)
    target[0, 0, :2] = 0  # invalid pixels
    valid = target.numpy() > 0
    g = np.log(pred.numpy()[valid] + 1e-3) - np.log(target.numpy()[valid] + 1e-3)
    expected = math.sqrt(g.var(ddof=1) + 0.15 * g.mean() ** 2)
    assert silog_loss(pred, target).item() == pytest.approx(expected, rel=1e-5)


def test_silog_is_zero_with_finite_gradients_when_equal():
    target = _depth()
    pred = target.clone().requires_grad_(True)
    loss = silog_loss(pred, target)
    loss.backward()
    assert loss.item() == 0.0
    assert torch.isfinite(pred.grad).all()


def test_silog_is_nearly_scale_invariant():
    target = _depth()
    scaled = silog_loss(target * 0.5, target, eps=0.0, variance_focus=0.0).item()
    assert scaled < 1e-3, "a global scale changes mean(g) only; the variance term ignores it"
    full = silog_loss(target * 0.5, target, eps=0.0).item()
    assert full == pytest.approx(math.sqrt(0.15) * math.log(2), rel=1e-3)


def test_silog_ignores_invalid_pixels():
    pred, target = _depth(seed=0), _depth(seed=1)
    masked = target.clone()
    masked[:, :, :4] = 0
    changed = pred.clone()
    changed[:, :, :4] = 0.99  # only where the target is invalid
    assert silog_loss(changed, masked).item() == pytest.approx(silog_loss(pred, masked).item(), rel=1e-6)
    empty = silog_loss(pred.requires_grad_(True), torch.zeros_like(target))
    empty.backward()
    assert empty.item() == 0.0 and torch.isfinite(pred.grad).all()


def test_bce_and_shapes():
    logits = torch.randn(2, 1, 8, 8)
    mask = torch.rand(2, 8, 8) > 0.5
    assert bce_loss(logits, mask).item() == pytest.approx(
        F.binary_cross_entropy_with_logits(logits, mask[:, None].float()).item())
    with pytest.raises(ValueError, match="does not match"):
        bce_loss(logits, torch.zeros(2, 4, 4))


def test_joint_loss_is_eq2():
    mask_logits, depth_logits = torch.randn(2, 1, 8, 8), torch.randn(2, 1, 8, 8)
    mask, depth = torch.rand(2, 8, 8) > 0.5, _depth((2, 8, 8))
    total, parts = joint_loss(mask_logits, depth_logits, mask, depth, lambda_depth=0.1)
    expected = bce_loss(mask_logits, mask) + 0.1 * silog_loss(torch.sigmoid(depth_logits), depth)
    assert total.item() == pytest.approx(expected.item(), rel=1e-6)
    assert set(parts) == {"bce", "silog", "total"} and not parts["total"].requires_grad
    baseline, parts = joint_loss(mask_logits, None, mask, depth)
    assert parts["silog"].item() == 0.0 and baseline.item() == pytest.approx(bce_loss(mask_logits, mask).item())
