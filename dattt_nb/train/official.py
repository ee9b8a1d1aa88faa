"""The official release's trained DATTT models as dattt-nb checkpoints (§5.2: MiT-b1 / Swin-T, alpha+beta).

:func:`import_official` reads an official ``model.pth`` (or an epoch file), maps every tensor by the explicit
table of :mod:`dattt_nb.models.convert`, checks the result loads strictly into the paper-shaped
:class:`~dattt_nb.models.DATTTNet`, and writes ``best.pt`` with the settings it needs — backbone, decoder width,
modulation, input normalisation (mean 0.5 / std 0.5), image size — and its provenance (file, sha256). The result
is accepted wherever a checkpoint is (``ttt --checkpoint``, ``segment --checkpoint``, notebooks' ``SETTINGS``).
"""
from __future__ import annotations

from pathlib import Path

from dattt_nb.config import resolve
from dattt_nb.models import build_model
from dattt_nb.models.backbones import family
from dattt_nb.models.convert import official_to_dattt, read_state_dict
from dattt_nb.utils import sha256_file

from .checkpoint import load_weights, save_checkpoint, train_config

OFFICIAL_BACKBONES = ("mit_b1", "swin_tiny")
SOURCE = "official release (NiFangBaAGe/DATTT)"


def decoder_width(state_dict: dict) -> int:
    """The SegFormer heads' embedding width of an official checkpoint (256 in the release)."""
    for key in ("decode_head.vos_head.linear_pred.weight", "decode_head.linear_pred.weight"):
        if key in state_dict:
            return int(state_dict[key].shape[1])
    raise ValueError("official checkpoint has no decode_head.vos_head.linear_pred.weight (is it a DATTT model.pth?)")


def official_settings(backbone: str, modulation: str, width: int, image_size: int = 512,
                      encoder_arch: dict | None = None, provenance: dict | None = None):
    """Settings of an imported official model: the paper profile with the checkpoint's shape and the official
    input normalisation ((x − 0.5) / 0.5); no ImageNet weights are loaded (the checkpoint carries them)."""
    from dattt_nb.models.convert import OFFICIAL_MODULATIONS

    extra = {"official": provenance or {}}
    if encoder_arch:
        extra["encoder_arch"] = dict(encoder_arch)
    return resolve("paper", backbone=backbone, modulation=OFFICIAL_MODULATIONS[modulation], decoder_dim=width,
                   image_size=image_size, input_norm="half", pretrained=False, extra=extra)


def import_official(path: str | Path, out_dir: str | Path, backbone: str = "mit_b1", modulation: str = "alpha+beta",
                    image_size: int = 512, encoder_arch: dict | None = None, force: bool = False) -> Path:
    """Convert an official DATTT checkpoint into ``out_dir/best.pt``; returns its path.

    ``encoder_arch``: a non-standard encoder shape (timm keyword arguments, e.g. a tiny MiT's ``embed_dims``);
    the official MiT-b1 / Swin-T need none. An existing ``best.pt`` is replaced only with ``force``.
    """
    path, out = Path(path), Path(out_dir) / "best.pt"
    if backbone not in OFFICIAL_BACKBONES and not encoder_arch:
        raise ValueError(f"--backbone {backbone!r}: the official release has {' | '.join(OFFICIAL_BACKBONES)}")
    if out.exists() and not force:
        raise FileExistsError(f"{out} already exists; pass --force to replace it")
    sd = read_state_dict(path)
    provenance = {"file": str(path.resolve()), "sha256": sha256_file(path), "source": SOURCE}
    settings = official_settings(backbone, modulation, decoder_width(sd), image_size, encoder_arch, provenance)
    state = official_to_dattt(sd, family(backbone), modulation)
    model = build_model(settings)
    load_weights(model, state, source=f"official checkpoint {path}")  # strict: every tensor, every shape
    config = {**train_config(settings, settings.modulation), "init_weights": f"{SOURCE}: {path.name}",
              "official": provenance}
    out.parent.mkdir(parents=True, exist_ok=True)
    n_params = sum(p.numel() for p in model.parameters())
    return save_checkpoint(out, config=config, model=model.state_dict(), step=None, finished=True,
                           metrics={}, history=[], parameters=n_params)


def describe_import(path: str | Path) -> str:
    """One line about an imported checkpoint: backbone, modulation, parameters, source and sha256."""
    from .checkpoint import load_checkpoint

    ckpt = load_checkpoint(path)
    c, o = ckpt.get("config", {}), ckpt.get("config", {}).get("official", {})
    return (f"{path}: {c.get('backbone')} {c.get('variant')} model, {ckpt.get('parameters'):,} parameters, "
            f"decoder width {c.get('decoder_dim')}, input (x - 0.5) / 0.5, {c.get('image_size')} px; from "
            f"{o.get('file')} (sha256 {str(o.get('sha256'))[:12]}…, {o.get('source')})")


__all__ = ["import_official", "official_settings", "decoder_width", "describe_import"]
