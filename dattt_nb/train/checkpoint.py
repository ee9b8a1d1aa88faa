"""Checkpoints of stage 1: plain dicts of tensors/numbers/strings, written atomically, read with weights_only.

A training checkpoint holds ``config`` (the settings + variant), ``model``, ``optimizer``, ``scheduler``,
``step``, ``metrics``, ``history``, ``rng`` and ``finished``; ``best.pt`` (best validation J) keeps the weights
only. ``last.pt`` is what an interrupted run resumes from.
"""
from __future__ import annotations

import dataclasses
from dataclasses import fields
from pathlib import Path

import torch
from torch import nn

from dattt_nb.config import PROFILES, Settings, run_dir
from dattt_nb.utils import atomic_torch_save, check_finite

LAMBDA_AUX = 1.0  # weight of the auxiliary loss in stage 1 (TTT-Rot / TTT-MAE; Sun et al. 2020 sum them unweighted)

# settings that do not change what stage 1 computes: they never invalidate a trained checkpoint
IGNORED_KEYS = frozenset({
    "profile", "device", "num_workers", "extra", "n_test_videos", "long_video_frames", "init_weights", "key",
    "checkpoint", "official",
    "ttt_strategy", "ttt_objective", "ttt_epochs", "ttt_lr", "ttt_pairs", "ttt_scale", "ttt_frame_gap",
})


def training_data(settings: Settings, roots: dict | None = None) -> dict | None:
    """The real training/validation roots a stage-1 run reads ({"train": [...], "val": [...]}, absolute paths),
    or None for the synthetic benchmark (a pure function of the settings)."""
    if roots is None:
        if settings.dataset != "real":
            return None
        from dattt_nb.data.prepare import real_roots

        roots = real_roots(settings, verbose=False)
    listed = {k: roots.get(k) for k in ("train", "val")}
    return {k: sorted(str(Path(p).resolve()) for p in ([v] if isinstance(v, (str, Path)) else v or []))
            for k, v in listed.items()}


def stage1_key(settings: Settings, variant: str, data: dict | None = None) -> str:
    """``<backbone>-<size>px-<dataset>-seed<S>-<hash>``: names everything that shapes the weights; the hash covers
    every stage-1 setting, the variant and the training roots (a 64 px run never replaces a 128 px one)."""
    import hashlib
    import json

    from dattt_nb.models import get_variant

    settings = dataclasses.replace(settings, modulation=get_variant(variant).modulation)  # as train() does
    config = {k: v for k, v in train_config(settings, variant, data).items() if k not in IGNORED_KEYS}
    digest = hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()[:8]
    return f"{settings.backbone}-{settings.image_size}px-{settings.dataset}-seed{settings.seed}-{digest}"


def checkpoint_dir(settings: Settings, variant: str, data: dict | None = None) -> Path:
    """``run_dir(settings)/checkpoints/<variant>/<stage1_key>/`` (holds ``best.pt`` and ``last.pt``); ``data`` are
    the real training roots (:func:`training_data`)."""
    return run_dir(settings) / "checkpoints" / variant / stage1_key(settings, variant, data)


def train_config(settings: Settings, variant: str, data: dict | None = None) -> dict:
    """What a checkpoint records about how it was made: every setting, the model variant and its auxiliary head
    (``aux``: None, or the Table 4 task "rotation" / "mae", with its weight ``lambda_aux``) and, for real data,
    the training roots (``train_data``)."""
    from dattt_nb.models import get_variant

    config = _plain(settings.to_dict())
    config["variant"] = variant
    aux = get_variant(variant).aux
    config["aux"] = aux
    config["lambda_aux"] = LAMBDA_AUX if aux is not None else None
    if data is not None:
        config["train_data"] = data
    return config


def trained_on(config: dict) -> str:
    """One line saying what a checkpoint's model was trained on (its ``train_data`` roots, or the synthetic clips)."""
    size, backbone = config.get("image_size"), config.get("backbone")
    if config.get("official"):
        o = config["official"]
        return (f"the paper's data by the official release ({backbone} {config.get('variant')} model imported from "
                f"{Path(str(o.get('file'))).name}, sha256 {str(o.get('sha256'))[:12]}…)")
    where = f"{config.get('variant')} model, {backbone}, {size} px, {config.get('train_steps')} steps, initial weights " \
            f"{config.get('init_weights', 'not recorded')}"
    data = config.get("train_data")
    if config.get("dataset", "synthetic") == "synthetic" or not data:
        return (f"the synthetic clips of profile {config.get('profile')!r} (not real video; {where})"
                if config.get("dataset", "synthetic") == "synthetic" else f"real data ({where})")
    val = ", ".join(Path(p).name for p in data.get("val") or []) or "none"
    return f"real data: train {', '.join(Path(p).name for p in data.get('train') or [])}, validation {val} ({where})"


def find_checkpoint(settings: Settings, variant: str, data: dict | None = None) -> Path:
    """``best.pt`` of the finished stage-1 run with exactly these settings; else FileNotFoundError listing how the
    closest existing run differs and the command that trains the matching one (never trains itself)."""
    from dattt_nb.models import get_variant

    if given := given_checkpoint(settings, variant):
        return given
    settings = dataclasses.replace(settings, modulation=get_variant(variant).modulation)  # as train() does
    want = train_config(settings, variant, data)
    out = checkpoint_dir(settings, variant, data)
    if (out / "last.pt").is_file() and (out / "best.pt").is_file():
        ckpt = load_checkpoint(out / "last.pt")
        if ckpt.get("finished") and same_training(ckpt.get("config", {}), want):
            return out / "best.pt"
    closest = None
    for last in sorted((run_dir(settings) / "checkpoints").glob("**/last.pt")):
        config = load_checkpoint(last).get("config", {})
        if config.get("variant", variant) == variant:
            diff = config_diff(config, want)
            if closest is None or len(diff) < len(closest[1]):
                closest = (last.parent / "best.pt", diff)
    profile = {**dataclasses.asdict(Settings()), **PROFILES.get(settings.profile, {})}
    flags = " ".join(f"-p {k} {_flag(v)}" for k, v in settings.to_dict().items()
                     if k not in IGNORED_KEYS | {"modulation"} and profile.get(k) != v)  # --variant sets it
    roots = "".join(f" --{k}-root {r}" for k, paths in (data or {}).items() for r in paths)
    seen = (f"; the closest, {closest[0]}, differs in " + ", ".join(f"{k} ({a!r} there, {b!r} here)"
                                                                     for k, (a, b) in closest[1].items())
            if closest else "")
    raise FileNotFoundError(f"no finished {variant} checkpoint for these settings in {out}{seen}. Train it with: "
                            f"dattt-nb train --profile {settings.profile} --variant {variant}"
                            f"{' ' + flags if flags else ''}{roots} (or pass --checkpoint PATH)")


def given_checkpoint(settings: Settings, variant: str) -> Path | None:
    """The ``checkpoint`` setting when it holds this ``variant`` (e.g. an official model imported with
    ``dattt-nb import-official``), else None; a setting naming a missing file is an error."""
    if not settings.checkpoint:
        return None
    path = Path(settings.checkpoint)
    if not path.is_file():
        raise FileNotFoundError(f"setting 'checkpoint': {path} does not exist (expected a best.pt written by dattt-nb "
                                f"train or import-official)")
    config = load_checkpoint(path).get("config", {})
    return path if config.get("variant", config.get("modulation")) == variant else None


def _flag(value) -> str:
    text = str(value).lower() if isinstance(value, bool) else str(list(value) if isinstance(value, tuple) else value)
    return f"'{text}'" if " " in text else text


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
    if isinstance(ckpt, dict) and ckpt.get("slim") and "config" in ckpt:  # a course bundle's record of a finished run
        return ckpt
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
    from dattt_nb.models.convert import state_dict_mismatch

    own = model.state_dict()
    missing, unexpected, mismatched = state_dict_mismatch(own, state_dict)
    shapes = [f"{k}: checkpoint {tuple(state_dict[k].shape)} vs model {tuple(own[k].shape)}" for k in mismatched]
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


def load_model(path: str | Path, device="cpu", image_size: int | None = None):
    """(model, checkpoint): a :class:`~dattt_nb.models.DATTTNet` rebuilt from a checkpoint's config, in eval mode.

    ``image_size`` replaces the recorded input side (the weights do not depend on it; Swin's windows are rebuilt)."""
    from dattt_nb.models import build_model

    ckpt = load_checkpoint(path)
    if ckpt.get("slim") or "model" not in ckpt:  # a course bundle's record of a finished run: no weights
        raise ValueError(f"checkpoint {path} holds no weights (a course bundle's record of a finished run: "
                         f"settings and history only); the weights are in {Path(path).with_name('best.pt')}: "
                         "pass that file")
    config = ckpt.get("config", {})
    settings = settings_from_config(config)
    if image_size is not None:
        settings = dataclasses.replace(settings, image_size=int(image_size))
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
