"""Table 4 baselines: the TTT-Rot / TTT-MAE auxiliary heads, their stage-1 training and checkpoints, BN adaptation
and TENT on a BatchNorm backbone."""
import math

import pytest
import torch
from torch import nn

from _ttt_helpers import CI, same, state, tiny_video
from dattt_nb.config import resolve
from dattt_nb.data.flow import flow_to_rgb
from dattt_nb.data.layout import Video
from dattt_nb.data.synthetic import generate_video
from dattt_nb.models import MAEHead, RotationHead, aux_loss, build_model
from dattt_nb.models.aux_heads import mae_loss, masked_mse, patch_mask, rotation_loss
from dattt_nb.train import checkpoint_dir, load_checkpoint, load_model, load_or_train, train
from dattt_nb.ttt.engine import TTTEngine
from dattt_nb.ttt.objectives import BN_PRIOR, bn_layers, params_for

SIZE = 32


def _model(aux, **kw):
    torch.manual_seed(0)
    return build_model(CI, aux=aux, modulation="none", decoder_dim=16, **kw)


def _images(n=4, seed=0):
    return torch.rand(n, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(seed))


def test_heads_give_rotation_logits_and_a_full_size_reconstruction():
    rot, mae = _model("rotation"), _model("mae")
    feats = rot.image_features(_images())
    assert isinstance(rot.aux_head, RotationHead) and rot.aux_head(feats).shape == (4, 4)
    recon = mae.aux_head(mae.image_features(_images()))
    assert isinstance(mae.aux_head, MAEHead) and recon.shape == (4, 3, SIZE, SIZE)
    assert recon.min() >= 0 and recon.max() <= 1
    assert build_model(CI).aux_head is None and "aux_head" not in build_model(CI).param_groups()
    groups = rot.param_groups()
    ids = [id(p) for ps in groups.values() for p in ps]
    assert groups["aux_head"] and len(ids) == len(set(ids)) == len(list(rot.parameters()))
    named = build_model(CI, variant="mae")
    assert named.aux_head.task == "mae" and named.depth_decoder is None and named.modulation is None
    with pytest.raises(ValueError, match="unknown auxiliary task"):
        build_model(CI, aux="jigsaw")


def test_rotation_loss_goes_down_when_overfitting_a_few_images():
    model = _model("rotation").train()
    images = _images(8)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    losses = []
    for _ in range(25):
        loss = rotation_loss(model, images)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[0] == pytest.approx(math.log(4), abs=0.3), "starts near chance (ln 4)"
    assert min(losses[-5:]) < 0.5 * losses[0], losses


def test_mae_hides_the_requested_fraction_and_scores_hidden_pixels_only():
    mask = patch_mask(3, (SIZE, SIZE), 4, 0.6, torch.Generator().manual_seed(0))
    assert mask.shape == (3, 1, SIZE, SIZE) and mask.mean().item() == pytest.approx(round(0.6 * 64) / 64)
    assert ((mask.view(3, 8, 4, 8, 4) == mask.view(3, 8, 4, 8, 4)[:, :, :1, :, :1]).all()), "whole patches"
    images = _images(3)
    garbage = torch.where(mask.bool(), images, 1 - images)  # right on hidden pixels, wrong on visible ones
    assert masked_mse(garbage, images, mask).item() == 0.0
    assert masked_mse(1 - images, images, mask).item() > 0

    model = _model("mae").eval()
    seen = {}
    model.image_encoder.register_forward_pre_hook(lambda m, args: seen.setdefault("input", args[0].detach()))
    loss = mae_loss(model, images, torch.Generator().manual_seed(1))
    fill = model.image_encoder.mean.view(1, 3, 1, 1)
    hidden = (seen["input"] == fill).all(dim=1)  # masked pixels carry the encoder's mean colour
    assert hidden.float().mean().item() == pytest.approx(model.aux_head.mask_ratio, abs=0.02)
    assert math.isfinite(loss.item()) and loss.item() > 0
    loss.backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.image_encoder.parameters())
    assert all(p.grad is None for p in model.flow_encoder.parameters()), "the aux task sees the image only"


def _as_video(clip) -> Video:
    frames = torch.from_numpy(clip.frames).permute(0, 3, 1, 2).float() / 255
    flow = torch.from_numpy(flow_to_rgb(clip.flow)).permute(0, 3, 1, 2).float() / 255
    return Video(clip.name, frames, torch.from_numpy(clip.masks), flow, torch.from_numpy(clip.depth),
                 [f"{t:05d}" for t in range(len(frames))])


@pytest.fixture(scope="module")
def data():
    s = resolve("ci")
    return {"train": [_as_video(generate_video("train", i, s)) for i in range(2)],
            "val": [_as_video(generate_video("val", 0, s))]}


@pytest.mark.parametrize("variant,task", [("rot", "rotation"), ("mae", "mae")])
def test_stage1_trains_the_aux_head_and_checkpoints_rebuild_it(tmp_path, monkeypatch, data, variant, task):
    monkeypatch.setenv("DATTT_RUNS", str(tmp_path))
    s = resolve("ci", train_steps=3, val_every=3, batch_size=2, decoder_dim=16)
    info = train(s, variant, data=data, progress=False)
    assert info["finished"] and len(info["history"]["aux"]) == 3 and all(math.isfinite(v) for v in info["history"]["aux"])
    assert all(t >= b for t, b in zip(info["history"]["total"], info["history"]["bce"])), "total = BCE + λ_aux · aux"
    ckpt = load_checkpoint(checkpoint_dir(s, variant) / "last.pt")
    assert ckpt["config"]["variant"] == variant and ckpt["config"]["aux"] == task and ckpt["config"]["modulation"] == "none"
    model, _ = load_model(checkpoint_dir(s, variant) / "best.pt")
    assert model.aux_head.task == task and model.depth_decoder is None
    assert same(state(model), load_checkpoint(checkpoint_dir(s, variant) / "best.pt")["model"])
    again, info2 = load_or_train(s, variant, data=data, progress=False)
    assert not info2["trained_now"] and same(state(again), state(model))
    assert math.isfinite(aux_loss(again, data["train"][0].frames[:2]).item())


def test_another_backbone_gets_its_own_checkpoint_folder():
    s = resolve("ci")
    assert checkpoint_dir(s, "none").parent.name == "none" and checkpoint_dir(s, "none").parents[1].name == "checkpoints"
    r18 = checkpoint_dir(resolve("ci", backbone="resnet18"), "none")
    assert r18.name.startswith("resnet18-32px-synthetic-seed0-") and r18 != checkpoint_dir(s, "none")
    # everything that shapes the weights has its own folder: a 64 px run never replaces a 32 px one
    others = [resolve("ci", image_size=64), resolve("ci", seed=1), resolve("ci", lr=1e-4), resolve("ci", dataset="real")]
    assert len({checkpoint_dir(o, "none", data={"train": [], "val": []}) for o in others} | {checkpoint_dir(s, "none")}) == 5
    assert checkpoint_dir(resolve("ci", ttt_epochs=5, device="cpu"), "none") == checkpoint_dir(s, "none")


@pytest.fixture(scope="module")
def resnet():
    torch.manual_seed(0)
    return build_model(CI, backbone="resnet18", modulation="none", decoder_dim=16).eval()


def test_bn_adaptation_changes_batchnorm_statistics_but_no_weight(resnet):
    assert not bn_layers(build_model(CI).image_encoder), "MiT/PVT's E_v normalises with LayerNorm only"
    assert bn_layers(resnet.image_encoder), "ResNet's E_v has BatchNorm"
    engine = TTTEngine(resnet, objective="bn", n_pairs=2)
    first = bn_layers(engine.model.image_encoder)[0]
    assert first.momentum is None and int(first.num_batches_tracked) == BN_PRIOR, "a cumulative average"
    trained_mean = first.running_mean.clone()
    seen = {}
    first.register_forward_pre_hook(lambda m, args: seen.setdefault("x", args[0].detach()))
    params = {k: v.clone() for k, v in engine.model.named_parameters()}
    info = engine.step(None, tiny_video(size=SIZE), 0)
    assert info.skipped and not info.nonfinite
    assert all(torch.equal(v, params[k]) for k, v in engine.model.named_parameters()), "no weight changes"
    batch_mean = seen["x"].mean(dim=(0, 2, 3))
    expected = (BN_PRIOR * trained_mean + batch_mean) / (BN_PRIOR + 1)
    assert torch.allclose(first.running_mean, expected, atol=1e-5), "running mean = average of prior and test batch"
    engine.begin_video()
    assert torch.equal(first.running_mean, trained_mean), "episodic reset restores the trained statistics"
    assert not any(isinstance(m, nn.BatchNorm2d) and m.momentum is None for m in resnet.modules()), \
        "the caller's model is untouched"


def test_tent_adapts_only_normalisation_affines_on_a_batchnorm_backbone(resnet):
    engine = TTTEngine(resnet, objective="tent", n_pairs=2, lr=1e-2)
    before = state(engine.model)
    info = engine.step(engine.optimizer(), tiny_video(size=SIZE), 0)  # deepest map is 1×1: needs a batch > 1
    assert not info.skipped and math.isfinite(info.loss)
    adapted = {id(p) for p in params_for("tent", engine.model)}
    for name, p in engine.model.named_parameters():
        if id(p) not in adapted:
            assert torch.equal(p, before[name]), f"{name} must stay frozen"
    assert any(not torch.equal(p, before[n]) for n, p in engine.model.named_parameters() if id(p) in adapted)
