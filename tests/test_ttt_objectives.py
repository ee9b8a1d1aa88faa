"""TTT objectives: eq. 4's depth consistency, TENT, BN statistics, TTT-Rot / TTT-MAE, and what each adapts."""
import math

import pytest
import torch
from torch import nn

from _ttt_helpers import ci_model
from dattt_nb.ttt.engine import configure_model
from dattt_nb.models.aux_heads import patch_mask, rotate_batch
from dattt_nb.ttt.objectives import (OBJECTIVES, TTTBatch, binary_entropy, depth_anchored, depth_consistency, mae,
                                     params_for, rotation, tent_entropy, bn_statistics)


@pytest.fixture(scope="module")
def model():
    return ci_model()


def _batch(views=None, seed=0, n_pairs=2):
    g = torch.Generator().manual_seed(seed)
    frame, flow = torch.rand(1, 3, 32, 32, generator=g), torch.rand(1, 3, 32, 32, generator=g)
    batch = TTTBatch(frame, flow, n_pairs=n_pairs, generator=g)
    if views is not None:
        batch.__dict__["views"] = views  # bypass the cached property
    return batch


def _ids(params):
    return {id(p) for p in params}


def test_depth_consistency_is_zero_for_identical_views_and_positive_otherwise(model):
    model.eval()
    v = torch.rand(2, 3, 32, 32)
    assert depth_consistency(model, _batch((v, v.clone()))).item() == 0.0
    loss = depth_consistency(model, _batch())  # two real augmented views
    assert math.isfinite(loss.item()) and loss.item() > 0


def test_depth_gradients_flow_through_both_views_and_reach_only_the_image_encoder(model):
    model.eval()
    params = configure_model(model, "depth")
    assert _ids(params) == _ids(model.image_encoder.parameters())
    v1, v2 = torch.rand(2, 3, 32, 32, requires_grad=True), torch.rand(2, 3, 32, 32, requires_grad=True)
    model.zero_grad(set_to_none=True)
    depth_consistency(model, _batch((v1, v2))).backward()
    assert v1.grad.abs().sum() > 0 and v2.grad.abs().sum() > 0, "no stop-gradient on either view (official)"
    assert all(p.grad is not None for p in model.image_encoder.parameters() if p.requires_grad)
    assert any(p.grad.abs().sum() > 0 for p in model.image_encoder.parameters())
    for name, p in model.named_parameters():
        if not name.startswith("image_encoder."):
            assert p.grad is None, f"{name} must stay frozen"
    model.zero_grad(set_to_none=True)
    model.requires_grad_(True)


def test_depth_objective_records_the_depth_spatial_std(model):
    batch = _batch()
    depth_consistency(model, batch)
    assert 0 < batch.stats["depth_std"].item() < 0.5


def test_params_for_each_objective(model):
    assert _ids(params_for("depth", model)) == _ids(model.image_encoder.parameters())
    assert _ids(params_for("rotation", model)) == _ids(model.image_encoder.parameters())
    tent = params_for("tent", model)
    norms = [m for m in model.modules() if isinstance(m, (nn.LayerNorm, nn.BatchNorm2d, nn.GroupNorm))]
    assert tent and _ids(tent) == _ids(p for m in norms for p in m.parameters(recurse=False))
    assert params_for("bn", model) == []
    with pytest.raises(ValueError, match="unknown TTT objective"):
        params_for("nope", model)


def test_depth_objective_needs_a_depth_decoder():
    with pytest.raises(ValueError, match="depth decoder"):
        params_for("depth", ci_model(modulation="none"))


def test_tent_entropy_is_a_bounded_differentiable_entropy(model):
    assert binary_entropy(torch.zeros(4)).item() == pytest.approx(math.log(2))
    assert binary_entropy(torch.full((4,), 30.0)).item() < 1e-6
    model.eval()
    configure_model(model, "tent")
    model.zero_grad(set_to_none=True)
    loss = tent_entropy(model, _batch())
    assert 0 < loss.item() <= math.log(2) + 1e-6
    loss.backward()
    for part in (model.image_encoder, model.flow_encoder, model.mask_decoder):  # what the mask depends on
        assert all(p.grad is not None for p in params_for("tent", part))
    assert all(p.grad is None for n, p in model.named_parameters() if n.endswith("conv.weight"))
    model.zero_grad(set_to_none=True)
    model.requires_grad_(True)


def test_bn_objective_only_updates_statistics(model):
    m = ci_model()
    bn = m.depth_decoder.linear_fuse[1]
    before = bn.running_mean.clone()
    m.train()
    loss = bn_statistics(m, _batch())
    assert loss.item() == 0 and not loss.requires_grad
    assert not torch.equal(bn.running_mean, before)


def test_rotation_and_mae_need_an_auxiliary_head(model):
    for fn, task in ((rotation, "rotation"), (mae, "mae")):
        with pytest.raises(ValueError, match=f"auxiliary {task} head"):
            fn(model, _batch())


class _Head(nn.Module):
    """A minimal aux head on E_v's coarsest features: 4 rotation logits, or an RGB reconstruction."""

    def __init__(self, task, channels, size=32):
        super().__init__()
        self.task, self.size = task, size
        self.proj = nn.Conv2d(channels, 4 if task == "rotation" else 3, 1)

    def forward(self, feats):
        x = self.proj(feats[-1])
        if self.task == "rotation":
            return x.mean(dim=(-2, -1))
        return torch.sigmoid(nn.functional.interpolate(x, size=self.size))


@pytest.mark.parametrize("task", ["rotation", "mae"])
def test_rotation_and_mae_train_the_image_encoder_through_the_head(task):
    m = ci_model()
    m.aux_head = _Head(task, m.feature_channels[-1])
    configure_model(m, task)
    loss = OBJECTIVES[task].loss(m, _batch(n_pairs=4))
    assert math.isfinite(loss.item()) and loss.item() > 0
    loss.backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in m.image_encoder.parameters())
    assert all(p.grad is None for p in m.flow_encoder.parameters())


def test_rotate_batch_and_patch_mask():
    x = torch.arange(16.0).view(1, 1, 4, 4).expand(4, 3, 4, 4)
    rotated, labels = rotate_batch(x)
    assert labels.tolist() == [0, 1, 2, 3]
    for k in range(4):
        assert torch.equal(rotated[k], torch.rot90(x[k], k, dims=(-2, -1)))
    mask = patch_mask(3, (32, 32), 4, 0.75, torch.Generator().manual_seed(0))
    assert mask.shape == (3, 1, 32, 32) and mask.mean().item() == pytest.approx(0.75)


def test_registry_names():
    assert set(OBJECTIVES) == {"depth", "tent", "bn", "rotation", "mae", "depth_anchored"}


def test_depth_anchored_adds_a_pull_to_the_frozen_model(model):
    """Extension: zero when the adapted model is the frozen one and the views agree; a flat depth map that is
    perfectly consistent (eq. 4 = 0) still pays the anchor term."""
    import copy

    model.eval()
    v = torch.rand(2, 3, 32, 32)
    with pytest.raises(ValueError, match="frozen model"):
        depth_anchored(model, _batch((v, v.clone())))
    batch = _batch((v, v.clone()))
    batch.reference = copy.deepcopy(model).eval()
    assert depth_anchored(model, batch).item() == 0.0
    flat = copy.deepcopy(model).eval()
    for p in flat.depth_decoder.parameters():
        p.data.zero_()  # the depth decoder now predicts sigmoid(0) = 0.5 everywhere: a collapsed map
    batch = _batch((v, v.clone()))
    batch.reference = model
    assert depth_consistency(flat, batch).item() == 0.0
    assert depth_anchored(flat, batch).item() > 0
    assert _ids(params_for("depth_anchored", model)) == _ids(model.image_encoder.parameters())
