"""The TTT engine: what one step changes, episodic reset, the non-finite guard, modes, the caller's model."""
import math

import pytest
import torch

from _ttt_helpers import ci_model, same, state, tiny_video
from dattt_nb.ttt.engine import TTTEngine, adapt_step, configure_model, predict, restore, snapshot


@pytest.fixture(scope="module")
def trained():
    return ci_model()


@pytest.fixture
def engine(trained):
    return TTTEngine(trained, objective="depth", lr=1e-3, n_pairs=2)


def _parts(model):
    return {name: state(getattr(model, name)) for name in
            ("image_encoder", "flow_encoder", "mask_decoder", "depth_decoder", "modulation")}


def test_a_depth_step_changes_only_the_image_encoder(engine):
    video = tiny_video()
    before = _parts(engine.model)
    info = engine.step(engine.optimizer(), video, 0)
    assert not info.skipped and info.loss > 0 and 0 < info.depth_std < 0.5
    after = _parts(engine.model)
    assert not same(before["image_encoder"], after["image_encoder"])
    for name in ("flow_encoder", "mask_decoder", "modulation"):
        assert same(before[name], after[name]), f"{name} must stay frozen"
    weights = lambda d: {k: v for k, v in d.items() if "running" not in k and "num_batches" not in k}  # noqa: E731
    assert same(weights(before["depth_decoder"]), weights(after["depth_decoder"])), "D_d's weights stay frozen"


def test_configure_model_freezes_all_but_the_adapted_parameters(trained):
    model = ci_model()
    params = configure_model(model, "depth")
    flags = {n: p.requires_grad for n, p in model.named_parameters()}
    assert all(flags[n] == n.startswith("image_encoder.") for n in flags)
    assert len(params) == sum(flags.values())


def test_the_step_runs_in_train_mode_and_prediction_in_eval_mode(engine):
    seen = []
    hook = engine.model.depth_decoder.linear_fuse.register_forward_hook(lambda m, i, o: seen.append(m.training))
    video = tiny_video()
    engine.step(engine.optimizer(), video, 0)
    mask, depth = engine.predict(video, [0, 1])
    hook.remove()
    assert seen[0] is True and seen[-1] is False, "official: train() for the step (BN on batch statistics)"
    assert mask.shape == depth.shape == (2, 32, 32)
    assert 0 <= mask.min() and mask.max() <= 1 and not mask.requires_grad


def test_snapshot_and_restore_are_exact_including_buffers(engine):
    model = engine.model
    snap = snapshot(model)
    video = tiny_video()
    optimizer = engine.optimizer()
    for t in range(2):
        engine.step(optimizer, video, t)
    bn = model.depth_decoder.linear_fuse[1]
    assert not torch.equal(bn.running_mean, snap["depth_decoder.linear_fuse.1.running_mean"])
    restore(model, snap)
    assert same(state(model), snap)
    engine.step(optimizer, video, 0)  # the optimiser still drives the restored parameters
    assert not same(state(model), snap)


def test_the_callers_model_and_checkpoint_are_never_modified():
    model = ci_model()
    checkpoint = state(model)
    model.load_state_dict(checkpoint)
    engine = TTTEngine(model, lr=1e-2, n_pairs=2)
    optimizer = engine.optimizer()
    video = tiny_video()
    for t in range(3):
        engine.step(optimizer, video, t)
    assert same(state(model), checkpoint)
    assert all(p.requires_grad for p in model.parameters()) and not model.training
    assert same(checkpoint, state(ci_model())), "the checkpoint dict itself is untouched"
    engine.reset()
    assert same(state(engine.model), checkpoint)


def test_a_non_finite_loss_skips_the_step_and_restores_weights_and_statistics(engine):
    video = tiny_video()
    optimizer = engine.optimizer()
    engine.step(optimizer, video, 0)
    good = state(engine.model)
    video.frames[1, :, :4, :4] = float("nan")
    info = engine.step(optimizer, video, 1)
    assert info.skipped and info.nonfinite and math.isnan(info.loss)
    assert same(state(engine.model), good), "parameters and BatchNorm statistics as before the bad step"
    assert sum(s.nonfinite for s in engine.steps) == 1
    info = engine.step(optimizer, video, 2)
    assert not info.skipped and math.isfinite(info.loss), "adaptation goes on after a skipped step"


def test_a_zero_loss_is_skipped_like_the_official_loop(engine, monkeypatch):
    from dattt_nb.ttt import objectives

    def identical_views(model, batch):  # the same depth map on both sides: SILog is exactly 0
        depth = torch.sigmoid(model.depth(batch.frame))
        return objectives.silog_loss(depth, depth)

    monkeypatch.setitem(objectives.OBJECTIVES, "identical",
                        objectives.Objective(identical_views, objectives.image_encoder_params, "identical"))
    before = state(engine.model.image_encoder)
    v = torch.rand(1, 3, 32, 32)
    info = adapt_step(engine.model, engine.optimizer(), "identical", v, v, n_pairs=2)
    assert info.skipped and not info.nonfinite and info.loss == 0
    assert same(before, state(engine.model.image_encoder))


def test_bn_objective_updates_statistics_but_no_weights(trained):
    engine = TTTEngine(trained, objective="bn", n_pairs=2)
    assert engine.optimizer() is None
    before = state(engine.model)
    info = engine.step(None, tiny_video(), 0)
    assert info.skipped and not info.nonfinite
    after = state(engine.model)
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed and all("running" in k or "num_batches" in k for k in changed)
    video = tiny_video()
    video.frames[0] = float("nan")  # the whole frame: BN's test batch is made of zoomed crops of it
    info = engine.step(None, video, 0)
    assert info.nonfinite and same(state(engine.model), after), "NaN statistics are put back"


def test_predict_without_a_depth_decoder_returns_no_depth():
    model = ci_model(modulation="none")
    mask, depth = predict(model, torch.rand(2, 3, 32, 32), torch.rand(2, 3, 32, 32))
    assert mask.shape == (2, 32, 32) and depth is None


def test_from_settings_reads_the_profile():
    from _ttt_helpers import CI

    engine = TTTEngine.from_settings(ci_model(), CI, lr=None, objective="tent")
    assert (engine.lr, engine.n_pairs, engine.objective) == (CI.ttt_lr, CI.ttt_pairs, "tent")
    with pytest.raises(ValueError, match="unknown TTT objective"):
        TTTEngine(ci_model(), objective="entropy")


def test_the_anchored_extension_keeps_a_frozen_reference(trained):
    engine = TTTEngine(trained, objective="depth_anchored", lr=1e-3, n_pairs=2)
    assert engine.reference is not None and not engine.reference.training
    assert TTTEngine(trained, objective="depth", n_pairs=2).reference is None, "only anchoring pays for a copy"
    frozen = state(engine.reference)
    info = engine.step(engine.optimizer(), tiny_video(), 0)
    assert not info.skipped and math.isfinite(info.loss) and info.loss > 0
    assert same(frozen, state(engine.reference)), "the anchor is the trained model, never adapted"
    assert not same(state(engine.model.image_encoder), state(engine.reference.image_encoder))
