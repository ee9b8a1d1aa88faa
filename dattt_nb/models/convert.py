"""Weights from elsewhere, by explicit name tables: ImageNet backbones (§5.2) and the official DATTT checkpoints.

Two conversions, both strict (every tensor used, shapes checked, anything left over is an error that lists it):

- **backbone weights → timm feature-extractor names** — NVlabs' SegFormer ``mit_b*.pth``, a transformers
  ``nvidia/mit-b*`` file (``.safetensors`` / ``.bin``), Swin's ``swin_tiny_patch4_window7_224_22k.pth``, or a
  file already in timm's names;
- **an official DATTT checkpoint → a** :class:`~dattt_nb.models.DATTTNet` **state dict** — the release's
  ``model.pth`` (the ``Baseline`` state dict: ``encoder_image``, ``encoder_flow``, ``decode_head.vos_head``,
  ``decode_head.depth_head``, ``decode_head.shared{1..4}`` / ``alpha{1..4}`` / ``beta{1..4}``) or an epoch file
  ``{"model": {"sd": ...}}``.
"""
from __future__ import annotations

import re
from pathlib import Path

import torch

from dattt_nb.utils import sha256_file

# ---------------------------------------------------------------------------------------------------------------
# reading a weights file

def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """The tensors of a weights file: ``.safetensors``, or a torch file read with ``weights_only=True`` whose state
    dict may sit under ``model`` / ``state_dict`` / ``model.sd`` (the official epoch files)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"weights file {path} does not exist")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return dict(load_file(str(path)))
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        first = (str(err).strip().splitlines() or [""])[0]
        raise ValueError(f"{path} is not a readable weights file ({type(err).__name__}: {first[:160]}); expected a "
                         "torch state dict (.pth/.pt/.bin) or .safetensors") from err
    return unwrap_state_dict(obj, str(path))


def unwrap_state_dict(obj, source: str) -> dict[str, torch.Tensor]:
    """The flat name → tensor dict inside ``obj`` (plain, ``{"model": ...}``, ``{"state_dict": ...}`` or the
    official epoch file's ``{"model": {"sd": ...}}``)."""
    for key in ("model", "state_dict", "sd"):
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            return unwrap_state_dict(obj[key], source)
    if not isinstance(obj, dict) or not obj or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise ValueError(f"{source} holds no state dict (expected a dict of tensors, possibly under 'model', "
                         "'state_dict' or 'model'/'sd')")
    return obj


def state_dict_mismatch(own: dict, given: dict) -> tuple[list[str], list[str], list[str]]:
    """(missing, unexpected, shape-mismatched) names of ``given`` against a module's own state dict, sorted."""
    missing, extra = sorted(set(own) - set(given)), sorted(set(given) - set(own))
    shapes = sorted(k for k in set(own) & set(given) if tuple(own[k].shape) != tuple(given[k].shape))
    return missing, extra, shapes


def load_strict(module: torch.nn.Module, state_dict: dict[str, torch.Tensor], source: str) -> None:
    """Load ``state_dict`` into ``module`` with every tensor used on both sides and every shape equal, else one
    error listing the names (never a silent partial load)."""
    own = module.state_dict()
    missing, extra, mismatched = state_dict_mismatch(own, state_dict)
    shapes = [f"{k} {tuple(state_dict[k].shape)} vs {tuple(own[k].shape)}" for k in mismatched]
    if missing or extra or shapes:
        parts = [f"{title} ({len(keys)}): {', '.join(keys[:8])}{' …' if len(keys) > 8 else ''}"
                 for title, keys in (("missing", missing), ("unexpected", extra), ("shape mismatch", shapes)) if keys]
        raise ValueError(f"{source} does not fit {type(module).__name__}: " + "; ".join(parts))
    module.load_state_dict(state_dict, strict=True)


# ---------------------------------------------------------------------------------------------------------------
# backbones: MiT (SegFormer release and transformers), Swin (original release) → timm feature extractors

def _mit_release_to_timm(k: str) -> str:
    """NVlabs SegFormer MiT name → timm ``pvt_v2`` feature-extractor name (``stages_<i>`` after flattening)."""
    k = re.sub(r"^patch_embed1\.", "patch_embed.", k)
    k = re.sub(r"^patch_embed(\d)\.", lambda m: f"stages_{int(m.group(1)) - 1}.downsample.", k)
    k = re.sub(r"^block(\d)\.(\d+)\.", lambda m: f"stages_{int(m.group(1)) - 1}.blocks.{m.group(2)}.", k)
    k = re.sub(r"^norm(\d)\.", lambda m: f"stages_{int(m.group(1)) - 1}.norm.", k)
    return k.replace("mlp.dwconv.dwconv.", "mlp.dwconv.")


# transformers ``Segformer`` encoder name pieces → the SegFormer release's (key and value are fused afterwards)
_HF_MIT = ((r"^patch_embeddings\.(\d)\.layer_norm\.", lambda m: f"patch_embed{int(m.group(1)) + 1}.norm."),
           (r"^patch_embeddings\.(\d)\.proj\.", lambda m: f"patch_embed{int(m.group(1)) + 1}.proj."),
           (r"^block\.(\d)\.(\d+)\.", lambda m: f"block{int(m.group(1)) + 1}.{m.group(2)}."),
           (r"^layer_norm\.(\d)\.", lambda m: f"norm{int(m.group(1)) + 1}."))
_HF_MIT_PARTS = (("layer_norm_1.", "norm1."), ("layer_norm_2.", "norm2."), ("attention.self.query.", "attn.q."),
                 ("attention.self.sr.", "attn.sr."), ("attention.self.layer_norm.", "attn.norm."),
                 ("attention.output.dense.", "attn.proj."), ("mlp.dense1.", "mlp.fc1."), ("mlp.dense2.", "mlp.fc2."))


def _mit_transformers_to_release(sd: dict) -> dict:
    """transformers ``nvidia/mit-b*`` names → SegFormer release names; ``key`` and ``value`` become one ``kv``."""
    out, kv = {}, {}
    for name, v in sd.items():
        if not name.startswith(("segformer.encoder.", "encoder.")):
            continue  # the ImageNet classifier ("classifier.*") is not part of the encoder
        k = name.split("encoder.", 1)[1]
        for pattern, repl in _HF_MIT:
            k = re.sub(pattern, repl, k)
        for a, b in _HF_MIT_PARTS:
            k = k.replace(a, b)
        if m := re.match(r"(.*)attention\.self\.(key|value)\.(weight|bias)$", k):
            kv.setdefault((m.group(1), m.group(3)), {})[m.group(2)] = v
            continue
        out[k] = v
    for (prefix, kind), pair in kv.items():
        if set(pair) != {"key", "value"}:
            raise ValueError(f"transformers MiT file: {prefix}attention.self has {sorted(pair)} but needs key and value")
        out[f"{prefix}attn.kv.{kind}"] = torch.cat([pair["key"], pair["value"]], dim=0)  # MiT splits kv as (k, v)
    return out


def _swin_release_to_timm(sd: dict) -> dict:
    """Swin release names (downsample at the end of a stage) → timm feature-extractor names (at the start of the
    next stage, ``layers_<i>``); non-persistent buffers, the final norm and the classifier are dropped."""
    out, release = {}, "layers.0.downsample.reduction.weight" in sd  # timm's own files have no stage-0 downsample
    for k, v in sd.items():
        if k.startswith(("head.", "norm.")) or re.match(r"norm\d\.", k) or k.endswith(("relative_position_index",
                                                                                      "attn_mask")):
            continue
        if release:
            k = re.sub(r"^layers\.(\d)\.downsample\.", lambda m: f"layers.{int(m.group(1)) + 1}.downsample.", k)
        out[re.sub(r"^layers\.(\d)\.", r"layers_\1.", k)] = v
    return out


def backbone_to_timm(sd: dict, family: str) -> dict:
    """A backbone state dict in any supported format → timm feature-extractor names (``family``: mit | swin)."""
    if family == "mit":
        if any(k.startswith(("segformer.encoder.", "encoder.patch_embeddings")) for k in sd):
            sd = _mit_transformers_to_release(sd)
        if any(k.startswith(("patch_embed1.", "block1.")) for k in sd):
            sd = {_mit_release_to_timm(k): v for k, v in sd.items() if not k.startswith("head.")}
        return {re.sub(r"^stages\.(\d)\.", r"stages_\1.", k): v for k, v in sd.items()}  # a timm classifier file
    if family == "swin":
        if any(k.startswith("layers.") for k in sd):
            return _swin_release_to_timm(sd)
        return sd
    return sd


def load_backbone_weights(body: torch.nn.Module, family: str, path: str | Path) -> str:
    """Load ImageNet weights from ``path`` into a timm feature extractor ``body``, strictly; returns the sha256.
    Tensors the feature extractor has no use for (an ImageNet classifier, a final norm) are dropped first."""
    sd = backbone_to_timm(read_state_dict(path), family)
    own = body.state_dict()
    sd = {k: v for k, v in sd.items() if k in own or not k.startswith(("head", "fc.", "classifier", "norm.",
                                                                      "head_drop"))}
    # Swin's relative_position_index is a buffer timm rebuilds; take the model's own where the file has none
    sd.update({k: own[k] for k in own if k.endswith("relative_position_index") and k not in sd})
    load_strict(body, sd, f"weights file {path}")
    return sha256_file(path)


# ---------------------------------------------------------------------------------------------------------------
# the official DATTT checkpoint → DATTTNet

def _official_head(prefix: str, ours: str) -> list[tuple[str, str, bool]]:
    """(official, ours, is_linear) for one SegFormer head: ``linear_c{1..4}.proj`` (nn.Linear) → 1×1 convs,
    ``linear_fuse`` (mmcv ConvModule: conv, bn) → Sequential(conv, BN, ReLU), ``linear_pred``."""
    rows = []
    for i in range(4):
        for p in ("weight", "bias"):
            rows.append((f"{prefix}.linear_c{i + 1}.proj.{p}", f"{ours}.linear_c.{i}.{p}", p == "weight"))
    rows.append((f"{prefix}.linear_fuse.conv.weight", f"{ours}.linear_fuse.0.weight", False))
    for p in ("weight", "bias", "running_mean", "running_var", "num_batches_tracked"):
        rows.append((f"{prefix}.linear_fuse.bn.{p}", f"{ours}.linear_fuse.1.{p}", False))
    rows += [(f"{prefix}.linear_pred.{p}", f"{ours}.linear_pred.{p}", False) for p in ("weight", "bias")]
    return rows


OFFICIAL_MODULATIONS = {"alpha+beta": "alpha+beta", "alpha": "alpha", "beta": "beta", "basic": "head",
                        "none": "none", "head": "head"}


def official_name_table(modulation: str) -> list[tuple[str, str, bool]]:
    """The decoder part of the official → dattt-nb name table: (official name, our name, nn.Linear → 1×1 conv)."""
    if modulation == "none":  # no depth loss: the official decode_head is a bare SegformerHead
        return _official_head("decode_head", "mask_decoder")
    rows = _official_head("decode_head.vos_head", "mask_decoder") + _official_head("decode_head.depth_head",
                                                                                   "depth_decoder")
    for i in range(4):
        for p in ("weight", "bias"):
            if modulation == "alpha+beta":
                rows.append((f"decode_head.shared{i + 1}.0.{p}", f"modulation.scales.{i}.shared.0.{p}", False))
            for term in ("alpha", "beta"):
                if term in modulation:
                    rows.append((f"decode_head.{term}{i + 1}.{p}", f"modulation.scales.{i}.{term}.{p}", False))
    return rows


def official_to_dattt(sd: dict, family: str, modulation: str = "alpha+beta") -> dict:
    """Official ``Baseline`` state dict → :class:`DATTTNet` state dict (E_v, E_f, D_m, D_d, M), by explicit names.

    Raises one error listing every official tensor that no row of the table uses (a checkpoint of another
    variant or backbone) and every row whose tensor is missing."""
    if modulation not in OFFICIAL_MODULATIONS:
        raise ValueError(f"unknown modulation {modulation!r}; choose one of {sorted(OFFICIAL_MODULATIONS)}")
    modulation = OFFICIAL_MODULATIONS[modulation]
    out, used = {}, set()
    for side, ours in (("encoder_image", "image_encoder"), ("encoder_flow", "flow_encoder")):
        part = {k[len(side) + 1:]: v for k, v in sd.items() if k.startswith(side + ".")}
        if not part:
            raise ValueError(f"official checkpoint has no {side}.* tensors (is it a DATTT model.pth?)")
        used.update(f"{side}.{k}" for k in part)
        out.update({f"{ours}.body.{k}": v for k, v in backbone_to_timm(part, family).items()})
    missing = []
    for theirs, ours, linear in official_name_table(modulation):
        if theirs not in sd:
            missing.append(theirs)
            continue
        v = sd[theirs]
        out[ours] = v[:, :, None, None] if linear and v.ndim == 2 else v
        used.add(theirs)
    extra = sorted(set(sd) - used)
    if missing or extra:
        raise ValueError(f"official checkpoint does not match backbone family {family!r} / modulation {modulation!r}: "
                         f"missing ({len(missing)}): {', '.join(missing[:8])}{' …' if len(missing) > 8 else ''}; "
                         f"unused ({len(extra)}): {', '.join(extra[:8])}{' …' if len(extra) > 8 else ''}")
    return out
