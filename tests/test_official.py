"""The paper's network and the official weights: conversions checked against outputs of the official model code.

``tests/fixtures/official_tiny*.pt`` were written by the official release's own model code (a random tiny MiT /
Swin alpha+beta model, saved as its ``train.py`` saves ``model.pth``, with two inputs and the official forward's
logits in eval mode); ``official_keys_*.json`` list every tensor of the published MiT-b1 and Swin-T checkpoints.
"""
import json
from pathlib import Path

import pytest
import torch

from dattt_nb.config import resolve
from dattt_nb.models import DATTTNet, Encoder, build_model
from dattt_nb.models.convert import official_to_dattt, read_state_dict
from dattt_nb.train.checkpoint import load_model
from dattt_nb.train.official import import_official

FIXTURES = Path(__file__).parent / "fixtures"
PAPER_PARAMETERS = 28_406_658  # the official MiT-b1 alpha+beta checkpoint (408 tensors)


def _tiny_arch(fixture: dict) -> dict:
    cfg = fixture["encoder_config"]
    if "embed_dims" in cfg:  # MiT
        return {k: cfg[k] for k in ("embed_dims", "num_heads", "mlp_ratios", "depths", "sr_ratios")}
    return {k: cfg[k] for k in ("embed_dim", "depths", "num_heads", "window_size")}


@pytest.mark.parametrize("name,backbone,size", [("official_tiny.pt", "mit_b0", 64),
                                                ("official_tiny_swin.pt", "swin_tiny", 224)])
def test_imported_official_model_reproduces_official_outputs(tmp_path, name, backbone, size):
    fixture = torch.load(FIXTURES / name, weights_only=True)
    assert fixture["input_norm"] == {"mean": 0.5, "std": 0.5}
    torch.save(fixture["state_dict"], tmp_path / "model.pth")  # exactly the official train.py's model.pth
    out = import_official(tmp_path / "model.pth", tmp_path / "imported", backbone=backbone,
                          modulation=fixture["modulation"], image_size=size, encoder_arch=_tiny_arch(fixture))
    model, ckpt = load_model(out)
    assert ckpt["config"]["input_norm"] == "half" and ckpt["config"]["official"]["sha256"]
    with torch.no_grad():
        mask, depth = model(fixture["image"], fixture["flow"], size=fixture["mask_logits"].shape[-2:])
    assert (mask - fixture["mask_logits"]).abs().max() <= 1e-5
    assert (depth - fixture["depth_logits"]).abs().max() <= 1e-5
    # an epoch file ({"model": {"sd": ...}}) imports to the same weights; an existing output needs --force
    torch.save({"model": {"sd": fixture["state_dict"]}, "epoch": 3}, tmp_path / "epoch-3.pth")
    with pytest.raises(FileExistsError, match="--force"):
        import_official(tmp_path / "epoch-3.pth", tmp_path / "imported", backbone=backbone,
                        modulation=fixture["modulation"], encoder_arch=_tiny_arch(fixture))
    again = import_official(tmp_path / "epoch-3.pth", tmp_path / "imported", backbone=backbone, force=True,
                            modulation=fixture["modulation"], image_size=size, encoder_arch=_tiny_arch(fixture))
    assert all(torch.equal(a, b) for a, b in zip(load_model(again)[0].state_dict().values(),
                                                  model.state_dict().values()))


def _random_state_dict(keys: dict, scale: float = 1.0) -> dict:
    """Random values with exactly these names and shapes (BatchNorm variances positive, like a trained model's)."""
    g = torch.Generator().manual_seed(0)
    out = {k: (torch.randint(0, 9, (), generator=g) if k.endswith("num_batches_tracked") or "index" in k
               else torch.randn(shape, generator=g) * scale) for k, shape in keys.items()}
    return {k: v.abs() + 1 if k.endswith("running_var") else v for k, v in out.items()}


@pytest.mark.parametrize("keys,backbone,parameters", [("official_keys_mit_b1.json", "mit_b1", PAPER_PARAMETERS),
                                                      ("official_keys_swin_tiny.json", "swin_tiny", 57_352_438)])
def test_every_official_tensor_lands_in_the_paper_model(keys, backbone, parameters):
    names = json.loads((FIXTURES / keys).read_text())
    official = _random_state_dict(names)
    ours = official_to_dattt(official, "mit" if backbone.startswith("mit") else "swin", "alpha+beta")
    model = build_model(resolve("paper", pretrained=False, backbone=backbone, image_size=224))
    own = model.state_dict()
    swin_index = {k for k in own if k.endswith("relative_position_index")}  # buffers timm rebuilds itself
    assert set(ours) - swin_index == set(own) - swin_index, "nothing left over on either side"
    assert all(tuple(ours[k].shape) == tuple(own[k].shape) for k in ours)
    # every official value is found, unchanged (linear layers as 1x1 convolutions), in exactly one of ours
    theirs = sorted(v.flatten()[:4].tolist() for k, v in official.items() if "index" not in k and v.ndim)
    mine = sorted(v.flatten()[:4].tolist() for k, v in ours.items() if "index" not in k and v.ndim)
    assert theirs == mine
    n_official = sum(v.numel() for k, v in official.items() if "index" not in k and v.ndim)
    n_ours = sum(p.numel() for p in model.parameters()) + sum(
        b.numel() for k, b in model.named_buffers() if "running" in k)
    assert n_official == n_ours and sum(p.numel() for p in model.parameters()) <= parameters


def test_paper_profile_builds_the_papers_network():
    model = build_model(resolve("paper", pretrained=False))
    assert sum(p.numel() for p in model.parameters()) == PAPER_PARAMETERS
    assert sum(p.numel() for p in model.image_encoder.parameters()) == 13_151_424  # SegFormer's MiT-b1
    assert model.image_encoder.std.flatten().tolist() == [0.5, 0.5, 0.5]  # the official data_norm


def test_a_foreign_or_partial_checkpoint_is_an_error_listing_names():
    names = json.loads((FIXTURES / "official_keys_mit_b1.json").read_text())
    official = _random_state_dict(names)
    with pytest.raises(ValueError, match=r"missing \(8\): decode_head.alpha1.weight"):
        official_to_dattt({k: v for k, v in official.items() if ".alpha" not in k}, "mit", "alpha+beta")
    with pytest.raises(ValueError, match=r"unused \(8\): decode_head.alpha1.bias"):
        official_to_dattt({k: v for k, v in official.items() if ".shared" not in k}, "mit", "beta")
    with pytest.raises(ValueError, match="no encoder_image"):
        official_to_dattt({"decode_head.linear_pred.weight": torch.zeros(1)}, "mit", "none")


# --- ImageNet weights in the formats the paper's authors used ------------------------------------------------------

def _mit_release(seed=0) -> dict:
    """A MiT-b1 state dict in NVlabs' SegFormer release names (the official encoder's names) with its classifier."""
    names = json.loads((FIXTURES / "official_keys_mit_b1.json").read_text())
    enc = {k[len("encoder_image."):]: shape for k, shape in names.items() if k.startswith("encoder_image.")}
    sd = _random_state_dict(enc)
    sd.update({"head.weight": torch.zeros(1000, 512), "head.bias": torch.zeros(1000)})
    return sd


def _to_transformers(sd: dict) -> dict:
    """The same weights under transformers' ``SegformerForImageClassification`` names (nvidia/mit-b1)."""
    import re

    out = {"classifier.weight": sd["head.weight"], "classifier.bias": sd["head.bias"]}
    pieces = {"norm1": "layer_norm_1", "norm2": "layer_norm_2", "attn.q": "attention.self.query",
              "attn.sr": "attention.self.sr", "attn.norm": "attention.self.layer_norm",
              "attn.proj": "attention.output.dense", "mlp.fc1": "mlp.dense1", "mlp.fc2": "mlp.dense2",
              "mlp.dwconv.dwconv": "mlp.dwconv.dwconv"}
    for k, v in sd.items():
        if m := re.match(r"patch_embed(\d)\.(proj|norm)\.(\w+)$", k):
            part = "proj" if m.group(2) == "proj" else "layer_norm"
            out[f"segformer.encoder.patch_embeddings.{int(m.group(1)) - 1}.{part}.{m.group(3)}"] = v
        elif m := re.match(r"norm(\d)\.(\w+)$", k):
            out[f"segformer.encoder.layer_norm.{int(m.group(1)) - 1}.{m.group(2)}"] = v
        elif m := re.match(r"block(\d)\.(\d+)\.(.+)\.(weight|bias)$", k):
            prefix = f"segformer.encoder.block.{int(m.group(1)) - 1}.{m.group(2)}."
            if m.group(3) == "attn.kv":
                half = v.shape[0] // 2
                out[prefix + f"attention.self.key.{m.group(4)}"] = v[:half]
                out[prefix + f"attention.self.value.{m.group(4)}"] = v[half:]
            else:
                out[prefix + f"{pieces[m.group(3)]}.{m.group(4)}"] = v
    return out


def test_mit_imagenet_weights_from_the_segformer_release_and_transformers(tmp_path):
    from safetensors.torch import save_file

    release = _mit_release()
    torch.save(release, tmp_path / "mit_b1.pth")
    save_file({k: v.contiguous() for k, v in _to_transformers(release).items()}, str(tmp_path / "model.safetensors"))
    a = Encoder("mit_b1", pretrained=True, pretrained_file=str(tmp_path / "mit_b1.pth")).eval()
    b = Encoder("mit_b1", pretrained=True, pretrained_file=str(tmp_path / "model.safetensors")).eval()
    assert "sha256:" in a.weights_source and a.weights_source.startswith(f"file:{tmp_path / 'mit_b1.pth'}")
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        assert all(torch.equal(f, g) for f, g in zip(a(x), b(x)))
    body = a.body.state_dict()
    assert torch.equal(body["stages_0.blocks.0.attn.kv.weight"], release["block1.0.attn.kv.weight"])
    assert torch.equal(body["stages_3.norm.weight"], release["norm4.weight"])
    torch.save({k: v for k, v in release.items() if "block2.1." not in k}, tmp_path / "partial.pth")
    with pytest.raises(ValueError, match=r"partial.pth does not fit.*missing \(\d+\): stages_1.blocks.1"):
        Encoder("mit_b1", pretrained=True, pretrained_file=str(tmp_path / "partial.pth"))


def test_swin_imagenet_22k_release_file(tmp_path):
    names = json.loads((FIXTURES / "official_keys_swin_tiny.json").read_text())
    enc = {k[len("encoder_image."):]: s for k, s in names.items() if k.startswith("encoder_image.")}
    sd = _random_state_dict(enc)
    sd.update({"norm.weight": torch.ones(768), "norm.bias": torch.zeros(768), "head.weight": torch.zeros(21841, 768),
               "head.bias": torch.zeros(21841)})
    torch.save({"model": sd}, tmp_path / "swin_tiny_patch4_window7_224_22k.pth")
    enc = Encoder("swin_tiny", pretrained=True, img_size=224,
                  pretrained_file=str(tmp_path / "swin_tiny_patch4_window7_224_22k.pth"))
    body = enc.body.state_dict()
    # the release merges patches at the end of stage i; timm at the start of stage i + 1
    assert torch.equal(body["layers_1.downsample.reduction.weight"], sd["layers.0.downsample.reduction.weight"])
    assert torch.equal(body["layers_2.blocks.5.mlp.fc2.bias"], sd["layers.2.blocks.5.mlp.fc2.bias"])


def test_read_state_dict_errors(tmp_path):
    (tmp_path / "x.pth").write_bytes(b"not a torch file")
    with pytest.raises(ValueError, match="x.pth is not a readable weights file"):
        read_state_dict(tmp_path / "x.pth")
    torch.save({"epoch": 1}, tmp_path / "y.pth")
    with pytest.raises(ValueError, match="y.pth holds no state dict"):
        read_state_dict(tmp_path / "y.pth")


def test_cli_import_official_then_segment_a_real_video(tmp_path, capsys, davis_mini):
    """`dattt-nb import-official` on the official MiT-b1 names/shapes, then `segment --checkpoint` at 64 px."""
    from dattt_nb.cli import main

    torch.save(_random_state_dict(json.loads((FIXTURES / "official_keys_mit_b1.json").read_text()), scale=0.02),
               tmp_path / "model.pth")
    assert main(["import-official", str(tmp_path / "model.pth"), "--backbone", "mit_b1", "--out",
                 str(tmp_path / "ckpt")]) == 0
    assert "28,406,658 parameters" in capsys.readouterr().out
    video = sorted((davis_mini / "JPEGImages" / "480p").iterdir())[0]
    assert main(["segment", str(video), "--checkpoint", str(tmp_path / "ckpt" / "best.pt"), "-p", "image_size", "64",
                 "--out", str(tmp_path / "seg"), "--max-frames", "3", "--ttt", "none", "--no-baseline",
                 "--quiet"]) == 0
    record = json.loads(next((tmp_path / "seg").rglob("segment.json")).read_text())
    assert len(list((tmp_path / "seg").rglob("*.png"))) == 3 and "official release" in json.dumps(record)
    assert DATTTNet  # the imported model is a DATTTNet (load_model above)


def test_checkpoint_setting_is_used_instead_of_training(tmp_path):
    """SETTINGS {checkpoint: PATH} (notebooks, explorer, ttt): the imported model is loaded, nothing is trained."""
    from dattt_nb.train import load_or_train
    from dattt_nb.train.checkpoint import find_checkpoint

    fixture = torch.load(FIXTURES / "official_tiny.pt", weights_only=True)
    torch.save(fixture["state_dict"], tmp_path / "model.pth")
    path = import_official(tmp_path / "model.pth", tmp_path / "imported", backbone="mit_b0",
                           encoder_arch=_tiny_arch(fixture))
    settings = resolve("ci", {"checkpoint": str(path)})
    model, info = load_or_train(settings)
    assert info["checkpoint"] == str(path) and not info["trained_now"] and "official release" in info["trained_on"]
    assert model.config["image_size"] == settings.image_size and model.image_encoder.channels == [8, 16, 32, 64]
    assert find_checkpoint(settings, "alpha+beta") == path
    with pytest.raises(FileNotFoundError, match="setting 'checkpoint'"):
        load_or_train(resolve("ci", {"checkpoint": str(tmp_path / "nope.pt")}))
