"""Checkpoints of stage 1: plain dicts of tensors/numbers/strings, written atomically, read with weights_only.

A training checkpoint holds ``config`` (the settings + variant), ``model``, ``optimizer``, ``scheduler``,
``step``, ``metrics``, ``history``, ``rng`` and ``finished``; ``best.pt`` (best validation J) keeps the weights
only. ``last.pt`` is what an interrupted run resumes from.
"""
from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import torch
from torch import nn

from dattt_nb.config import PROFILES, Settings, run_dir
from dattt_nb.utils import atomic_torch_save, check_finite

LAMBDA_AUX = 1.0  # weight of the auxiliary loss in stage 1 (TTT-Rot / TTT-MAE; Sun et al. 2020 sum them unweighted)

# settings that do not change what stage 1 computes: they never invalidate a trained checkpoint
IGNORED_KEYS = frozenset({
    "profile", "device", "num_workers", "extra", "n_test_videos", "long_video_frames",
    "ttt_strategy", "ttt_objective", "ttt_epochs", "ttt_lr", "ttt_pairs", "ttt_scale", "ttt_frame_gap",
})


def checkpoint_dir(settings: Settings, variant: str) -> Path:
    """``run_dir(settings)/checkpoints/<variant>/`` (holds ``best.pt`` and ``last.pt``); with a backbone other than
    the profile's, ``checkpoints/<backbone>/<variant>/``, so e.g. a ResNet-18 baseline never replaces the MiT one."""
    default = PROFILES.get(settings.profile, {}).get("backbone", Settings.backbone)
    base = run_dir(settings) / "checkpoints"
    return base / variant if settings.backbone == default else base / settings.backbone / variant


def train_config(settings: Settings, variant: str) -> dict:
    """What a checkpoint records about how it was made: every setting, the model variant and its auxiliary head
    (``aux``: None, or the Table 4 task "rotation" / "mae", with its weight ``lambda_aux``)."""
    from dattt_nb.models import variant_options

    config = _plain(settings.to_dict())
    config["variant"] = variant
    aux = variant_options(variant)["aux"]
    config["aux"] = aux
    config["lambda_aux"] = LAMBDA_AUX if aux is not None else None
    return config


def same_training(a: dict, b: dict) -> bool:
    """Whether two checkpoint configs describe the same stage-1 training (TTT and bookkeeping fields ignored)."""
    keys = (set(a) | set(b)) - IGNORED_KEYS
    return all(_plain(a.get(k)) == _plain(b.get(k)) for k in keys)


def config_diff(a: dict, b: dict) -> dict:
    """{key: (a, b)} for the stage-1 settings that differ."""
    keys = sorted((set(a) | set(b)) - IGNORED_KEYS)
    return {k: (a.get(k), b.get(k)) for k in keys if _plain(a.get(k)) != _plain(b.get(k))}


def settings_from_config(config: dict) -> Settings:
    """Rebuild :class:`Settings` from a checkpoint's config (unknown keys dropped, lists → tuples)."""
    valid = {f.name for f in fields(Settings)}
    values = {k: v for k, v in config.items() if k in valid}
    if isinstance(values.get("ttt_scale"), list):
        values["ttt_scale"] = tuple(values["ttt_scale"])
    return Settings(**values)


def save_checkpoint(path: str | Path, **state) -> Path:
    """Write ``state`` (a plain dict) atomically: an interrupted write never leaves a half file behind."""
    atomic_torch_save(_plain(state), path)
    return Path(path)


def load_checkpoint(path: str | Path, map_location="cpu") -> dict:
    """Read a checkpoint with ``torch.load(weights_only=True)``; clear errors for missing, foreign or corrupt
    files and for weights that are not finite (NaN/inf)."""
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"checkpoint {path} is a directory, expected a .pt file (e.g. {path}/best.pt)")
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist; train it with dattt_nb.train.load_or_train "
                                f"or `python -m dattt_nb.train`")
    if not _looks_like_torch(path):
        raise ValueError(f"{path} is not a torch checkpoint (no torch.save archive inside); expected a .pt file "
                         "written by dattt_nb.train")
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:
        first = (str(err).strip().splitlines() or [""])[0]
        raise ValueError(f"checkpoint {path} is damaged or not a dattt-nb checkpoint ({type(err).__name__}: "
                         f"{first}); if dattt-nb wrote it, delete it to retrain") from err
    if not isinstance(ckpt, dict) or "model" not in ckpt:
        raise ValueError(f"checkpoint {path} is not a dattt-nb checkpoint (expected a dict with 'model' and 'config')")
    check_finite(ckpt["model"], f"checkpoint {path}")
    return ckpt


def _looks_like_torch(path: Path) -> bool:
    """A ``torch.save`` file by its first bytes: a zip archive (torch ≥ 1.6) or a legacy pickle (0x80)."""
    with open(path, "rb") as f:
        head = f.read(4)
    return head == b"PK\x03\x04" or head[:1] == b"\x80"


def load_weights(model: nn.Module, state_dict: dict, source: str = "checkpoint") -> None:
    """Load weights strictly; a different architecture gives one error listing every mismatching key."""
    own = model.state_dict()
    missing = sorted(set(own) - set(state_dict))
    unexpected = sorted(set(state_dict) - set(own))
    shapes = sorted(f"{k}: checkpoint {tuple(state_dict[k].shape)} vs model {tuple(own[k].shape)}"
                    for k in set(own) & set(state_dict) if tuple(own[k].shape) != tuple(state_dict[k].shape))
    if missing or unexpected or shapes:
        lines = [f"{source} does not fit this model ({type(model).__name__}"
                 f"{', variant ' + repr(model.variant) if hasattr(model, 'variant') else ''}):"]
        for title, keys in (("missing keys", missing), ("unexpected keys", unexpected), ("shape mismatches", shapes)):
            if keys:
                shown = ", ".join(keys[:12]) + (f", … ({len(keys) - 12} more)" if len(keys) > 12 else "")
                lines.append(f"  {title} ({len(keys)}): {shown}")
        lines.append("  Build the model with the checkpoint's config (dattt_nb.train.load_model does this).")
        raise ValueError("\n".join(lines))
    model.load_state_dict(state_dict, strict=True)


def load_model(path: str | Path, device="cpu"):
    """(model, checkpoint): a :class:`~dattt_nb.models.DATTTNet` rebuilt from a checkpoint's config, in eval mode."""
    from dattt_nb.models import build_model

    ckpt = load_checkpoint(path)
    config = ckpt.get("config", {})
    settings = settings_from_config(config)
    model = build_model(settings, variant=config.get("variant", settings.modulation), pretrained=False)
    if (model.aux_head.task if model.aux_head is not None else None) != config.get("aux"):
        raise ValueError(f"checkpoint {path}: variant {config.get('variant')!r} does not match its recorded "
                         f"auxiliary head {config.get('aux')!r}")
    load_weights(model, ckpt["model"], source=f"checkpoint {path}")
    return model.to(device).eval(), ckpt


def _plain(obj):
    """Make ``obj`` loadable with ``weights_only=True``: NumPy scalars → Python numbers, Paths → str."""
    import numpy as np

    if isinstance(obj, dict):
        return {str(k) if isinstance(k, Path) else k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        out = [_plain(v) for v in obj]
        return out if isinstance(obj, list) else tuple(out)
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return torch.from_numpy(obj)
    if isinstance(obj, Path):
        return str(obj)
    return obj
