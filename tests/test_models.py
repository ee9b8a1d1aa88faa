"""The two-stream model (§4.1, Fig. 2a), its decoders and the modulation layer (eq. 3, Fig. 3)."""
import warnings

import pytest
import torch

from dattt_nb.config import resolve
from dattt_nb.models import (ARCHITECTURES, BACKBONES, DATTTNet, DepthModulation, Encoder, MLPDecoder, ScaleModulation,
                             build_model, timm_name)

SIZE = 32


def _model(variant="alpha+beta", **kw):
    torch.manual_seed(0)
    kw = {"backbone": "mit_b0", "decoder_dim": 16, "modulation": variant, **kw}
    return DATTTNet(**kw).eval()


def _inputs(b=2, size=SIZE):
    g = torch.Generator().manual_seed(1)
    return torch.rand(b, 3, size, size, generator=g), torch.rand(b, 3, size, size, generator=g)


@pytest.mark.parametrize("variant", ARCHITECTURES)
def test_forward_shapes_per_variant(variant):
    model = _model(variant)
    image, flow = _inputs()
    mask_logits, depth_logits = model(image, flow)
    assert mask_logits.shape == (2, 1, SIZE, SIZE)
    if variant == "none":
        assert depth_logits is None and model.depth_decoder is None and model.modulation is None
    else:
        assert depth_logits.shape == (2, 1, SIZE, SIZE)
        assert (model.modulation is None) == (variant == "head")


def test_depth_path_uses_image_only_and_matches_forward():
    model = _model()
    image, flow = _inputs()
    with torch.no_grad():
        _, d1 = model(image, flow)
        m1, _ = model(image, flow)
        m2, d2 = model(image, torch.rand_like(flow))
        d3 = model.depth(image)
    assert torch.allclose(d1, d2), "D_d must see E_v's features only (no flow)"
    assert torch.allclose(d1, d3, atol=1e-6), "depth(image) is the TTT path of forward's depth"
    assert not torch.allclose(m1, m2), "the mask must depend on the flow stream"


def test_depth_raises_without_depth_decoder():
    with pytest.raises(ValueError, match="no depth decoder"):
        _model("none").depth(_inputs()[0])


def test_image_features_four_scales():
    model = _model()
    feats = model.image_features(_inputs()[0])
    assert [f.shape[1] for f in feats] == [32, 64, 160, 256]
    assert [f.shape[-1] for f in feats] == [SIZE // r for r in (4, 8, 16, 32)]


def test_param_groups_partition_the_model():
    model = _model()
    groups = model.param_groups()
    assert list(groups) == ["image_encoder", "flow_encoder", "mask_decoder", "depth_decoder", "modulation"]
    ids = [id(p) for ps in groups.values() for p in ps]
    assert len(ids) == len(set(ids)) == len(list(model.parameters()))
    assert all(groups[k] for k in groups)
    assert _model("none").param_groups()["depth_decoder"] == []


def test_modulation_starts_as_identity_and_variants():
    torch.manual_seed(0)
    d, m = torch.randn(2, 8, 4, 4), torch.randn(2, 8, 4, 4)
    for variant in ("alpha", "beta", "alpha+beta"):
        layer = ScaleModulation(8, "alpha" in variant, "beta" in variant)
        assert torch.equal(layer(d, m), m), "α = 1, β = 0 at initialisation"
        alpha, beta = layer.coefficients(d, m)
        assert (alpha is None) == ("alpha" not in variant) and (beta is None) == ("beta" not in variant)
    with pytest.raises(ValueError, match="unknown modulation"):
        DepthModulation(8, variant="gamma")


def test_alpha_and_beta_variants_have_no_shared_layer():
    """As the official release: α (β) alone is one 1x1 convolution on [D_d^i, D_m^i]; α+β adds the shared layer."""
    torch.manual_seed(0)
    d, m = torch.randn(1, 4, 3, 3), torch.randn(1, 4, 3, 3)
    for variant in ("alpha", "beta"):
        layer = ScaleModulation(4, variant == "alpha", variant == "beta")
        assert layer.shared is None and getattr(layer, variant).in_channels == 8
        for p in layer.parameters():
            torch.nn.init.normal_(p)
        term = getattr(layer, variant)(torch.cat([d, m], 1))
        assert torch.allclose(layer(d, m), term * m if variant == "alpha" else m + term)
    assert ScaleModulation(4).shared is not None


def test_decoder_has_no_dropout_so_train_mode_steps_are_deterministic():
    dec = MLPDecoder([8, 16, 32, 64], dim=8).train()
    feats = [torch.rand(2, c, 8 // (2 ** i) or 1, 8 // (2 ** i) or 1) for i, c in enumerate([8, 16, 32, 64])]
    assert not any(isinstance(mod, (torch.nn.Dropout, torch.nn.Dropout2d)) for mod in dec.modules())
    assert torch.equal(dec(feats), dec(feats))


def test_modulation_applies_eq3():
    torch.manual_seed(0)
    layer = ScaleModulation(4)
    for p in layer.parameters():
        torch.nn.init.normal_(p)
    d, m = torch.randn(1, 4, 3, 3), torch.randn(1, 4, 3, 3)
    shared = torch.relu(layer.shared[0](torch.cat([d, m], 1)))
    expected = layer.alpha(shared) * m + layer.beta(shared)
    assert torch.allclose(layer(d, m), expected)


def test_depth_steers_mask_after_training_step():
    """After one optimiser step the modulation's α/β react to depth features: gradients reach D_d from the mask."""
    model = _model().train()
    image, flow = _inputs(4)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    mask_logits, _ = model(image, flow)
    mask_logits.mean().backward()
    grads = {k: sum(float(p.grad.abs().sum()) for p in ps if p.grad is not None) for k, ps in model.param_groups().items()}
    assert grads["modulation"] > 0 and grads["mask_decoder"] > 0
    opt.step()
    opt.zero_grad()
    mask_logits, _ = model(image, flow)
    mask_logits.mean().backward()
    assert sum(float(p.grad.abs().sum()) for p in model.depth_decoder.linear_c.parameters()) > 0


def test_mlp_decoder_embed_fuse():
    dec = MLPDecoder([8, 16, 32, 64], dim=12)
    feats = [torch.randn(2, c, 16 // 2 ** i, 16 // 2 ** i) for i, c in enumerate([8, 16, 32, 64])]
    embeds = dec.embed(feats)
    assert [e.shape[1] for e in embeds] == [12] * 4 and embeds[2].shape[-1] == 4
    assert dec.eval()(feats).shape == (2, 1, 16, 16)
    with pytest.raises(ValueError, match="4 feature scales"):
        dec.embed(feats[:3])


@pytest.mark.parametrize("backbone,channels", [("mit_b1", [64, 128, 320, 512]), ("swin_tiny", [96, 192, 384, 768]),
                                               ("resnet18", [64, 128, 256, 512])])
def test_backbones_give_nchw_features(backbone, channels):
    enc = Encoder(backbone, img_size=SIZE).eval()
    with torch.no_grad():
        feats = enc(torch.rand(1, 3, SIZE, SIZE))
    assert enc.channels == channels and enc.reductions == [4, 8, 16, 32]
    assert [tuple(f.shape) for f in feats] == [(1, c, SIZE // r, SIZE // r) for c, r in zip(channels, (4, 8, 16, 32))]


def test_backbone_names():
    assert timm_name("mit_b1") == "pvt_v2_b1" and timm_name("mit_b0") == "pvt_v2_b0"
    assert BACKBONES["mit_b1"][1]["mlp_ratios"] == (4, 4, 4, 4), "SegFormer's MiT, not PVTv2's 8, 8, 4, 4"
    assert set(BACKBONES) == {"mit_b0", "mit_b1", "swin_tiny", "pvt_v2_b0", "pvt_v2_b1", "resnet18", "resnet50"}
    with pytest.raises(ValueError, match="unknown backbone"):
        timm_name("vit_huge")


def test_pretrained_offline_without_weights_is_an_error(monkeypatch):
    """No silent fallback to random weights: offline with nothing cached, pretrained=True names pretrained_file."""
    import time

    from dattt_nb.models import backbones

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(backbones, "cached_weights", lambda name: None)
    start = time.perf_counter()
    with pytest.raises(FileNotFoundError, match="pretrained_file.*Hugging Face cache"):
        Encoder("mit_b0", pretrained=True)
    assert time.perf_counter() - start < 10, "offline is detected at once, without hub retries"
    assert Encoder("mit_b0", pretrained=False).weights_source == "random"


def test_pretrained_file(tmp_path):
    import timm

    ref = timm.create_model("pvt_v2_b0", pretrained=False, mlp_ratios=(4, 4, 4, 4))  # a MiT-b0 in timm's names
    path = tmp_path / "weights.pth"
    torch.save(ref.state_dict(), path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        enc = Encoder("mit_b0", pretrained=True, pretrained_file=str(path))
    assert enc.weights_source.startswith(f"file:{path} sha256:")
    norm = lambda sd: {k.replace("_", "."): v for k, v in sd.items()}  # noqa: E731 (stages_0 vs stages.0)
    ours, theirs = norm(enc.body.state_dict()), norm(ref.state_dict())
    common = [k for k in ours if k in theirs]
    assert len(common) > 20 and all(torch.equal(ours[k], theirs[k]) for k in common)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        Encoder("mit_b0", pretrained=True, pretrained_file=str(tmp_path / "missing.pth"))


def test_build_model_from_settings():
    s = resolve("ci")
    model = build_model(s)
    assert model.variant == s.modulation and model.mask_decoder.linear_fuse[1].num_features == s.decoder_dim
    assert build_model(s, modulation="head").modulation is None
    assert build_model(s, variant="none").depth_decoder is None
    with pytest.raises(TypeError, match="unknown model option"):
        build_model(s, lr=1.0)
    with pytest.raises(ValueError, match="unknown model variant"):
        build_model(s, modulation="gamma")


def test_mismatched_inputs_raise():
    model = _model()
    with pytest.raises(ValueError, match="same batch size"):
        model(torch.rand(2, 3, SIZE, SIZE), torch.rand(1, 3, SIZE, SIZE))
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\)"):
        model.image_features(torch.rand(2, 1, SIZE, SIZE))
