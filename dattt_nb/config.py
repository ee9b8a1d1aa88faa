"""Named profiles: one complete, documented set of parameters per scale (ci / tiny / paper).

Every notebook names a profile in its ``parameters`` cell and lets :func:`resolve` turn it into
:class:`Settings`; individual overrides win over the profile, ``None`` means "keep the profile's value".
"""
from __future__ import annotations

import dataclasses
import math
import os
import re
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

DEFAULT_PROFILE = "tiny"
PROFILE_ENV = "DATTT_PROFILE"


@dataclass(frozen=True)
class Settings:
    """All knobs of the series. Field comments are the documentation (``describe`` prints them)."""

    profile: str = "tiny"  # name of the profile these settings came from
    seed: int = 0  # model seed: initialisation, training batches and augmentation, TTT views
    data_seed: int = 0  # benchmark seed: which synthetic clips are drawn (another `seed` keeps the same videos)
    device: str = "auto"  # "auto" picks cuda when available, else cpu

    # --- data (dattt_nb.data) ---
    dataset: str = "synthetic"  # "synthetic" (built-in) or "real" (DAVIS-layout roots under data/)
    image_size: int = 64  # square network input side in pixels (paper: 512)
    frames_per_video: int = 8  # frames of a synthetic clip (the long-video split uses long_video_frames)
    long_video_frames: int = 24  # frames of a synthetic "Long-Videos" clip
    n_train_videos: int = 160  # synthetic training clips (plays YouTube-VOS)
    n_val_videos: int = 12  # synthetic validation clips (hyper-parameter choices only)
    n_test_videos: int = 8  # synthetic clips per test split
    flow_method: str = "dis"  # optical flow: dis | farneback | raft_small | raft_large | gt | precomputed (real roots)
    depth_source: str = "gt"  # depth pseudo-labels: gt | precomputed | transformers
    depth_model: str = "Intel/dpt-hybrid-midas"  # transformers depth-estimation model (depth_source="transformers")

    # --- model (dattt_nb.models), paper §4.1 ---
    backbone: str = "mit_b0"  # mit_b0 | mit_b1 (SegFormer's MiT) | swin_tiny | pvt_v2_b0/b1 | resnet18/50 (paper: mit_b1)
    pretrained: bool = False  # ImageNet weights when available locally/in timm's cache
    decoder_dim: int = 64  # SegFormer all-MLP decoder width (paper: 256)
    modulation: str = "alpha+beta"  # none | head | alpha | beta | alpha+beta (Table 1)
    drop_path_rate: float = 0.1  # stochastic depth in the encoders (MiT default)
    input_norm: str = "half"  # half: (x - 0.5) / 0.5, as the official release | imagenet: ImageNet mean/std
    checkpoint: str = ""  # a trained model to use instead of training one (e.g. from `dattt-nb import-official`)

    # --- stage 1: training-time training (dattt_nb.train), eq. 2 ---
    train_steps: int = 600  # optimiser steps (paper: 10 epochs of YouTube-VOS)
    batch_size: int = 16  # frames per batch (paper: 8)
    lr: float = 6e-4  # AdamW learning rate (paper: 6e-5)
    weight_decay: float = 0.01  # AdamW weight decay
    lambda_depth: float = 0.1  # λ, weight of the depth loss (paper §5.2)
    val_every: int = 100  # steps between validation J evaluations
    grad_clip: float = 1.0  # gradient-norm clip

    # --- stage 2: test-time training (dattt_nb.ttt), eq. 4 ---
    ttt_strategy: str = "loop"  # naive (TTT-N) | momentum (TTT-MWI) | loop (TTT-LTV)
    ttt_objective: str = "depth"  # depth (DATTT) | tent | bn | rotation | mae
    ttt_epochs: int = 2  # steps per frame (N, MWI) or passes over the video (LTV) (paper: 10)
    ttt_lr: float = 1e-5  # Adam learning rate (paper: 1e-5)
    ttt_pairs: int = 8  # view pairs per TTT step (paper: 8)
    ttt_scale: tuple = (1.05, 1.5)  # resize range of the shared geometric augmentation
    ttt_frame_gap: int = 1  # >1: interleaved groups of frames (official release: 10 on DAVIS/STV2)

    # --- bookkeeping ---
    num_workers: int = 0  # DataLoader workers
    extra: dict = field(default_factory=dict)  # free-form, recorded: pretrained_file (local ImageNet weights), roots

    def to_dict(self) -> dict:
        """Every setting; ``data_seed`` only when it differs from ``seed``, so that the records and keys of runs made
        before the two seeds were separated (where ``seed`` drew the clips too) stay the same."""
        out = dataclasses.asdict(self)
        if out["data_seed"] == out["seed"]:
            del out["data_seed"]
        return out


PROFILES: dict[str, dict[str, Any]] = {
    # The smallest setting that still runs every code path (nbval in CI).
    "ci": dict(
        image_size=32, frames_per_video=4, long_video_frames=6, n_train_videos=12, n_val_videos=2,
        n_test_videos=2, decoder_dim=32, train_steps=30, batch_size=4, val_every=15,
        ttt_epochs=1, ttt_pairs=2, lr=6e-4,
    ),
    # Shows the paper's effects on a 2-core CPU. Its TTT settings (lr 1e-5, 8 pairs, 2 epochs) were checked on the
    # validation split only (benchmarks/ttt_validation_study.py, docs/ttt-details.md): a larger lr or eval-mode steps
    # lowered validation J; pairs and passes at lr 1e-5 stayed within 0.3 J of No TTT (no setting improved it), so
    # the paper's 8 pairs and the smallest pass count with a pass curve (2) are kept.
    # Its 600 stage-1 steps are a time budget, not the validation plateau (benchmarks/stage1_budget_study.py, best
    # validation J of the alpha+beta model by run length: 600 steps 59.2, 900 60.1, 1,200 61.5; 600 steps at lr 1e-3
    # 58.0; batch 8 x 1,200 steps 59.6): the last 600 steps add 2.3 J and would double the series' training time.
    # Pass train_steps=1200 (TRAIN_STEPS in notebooks 02, 03, 07) for the stronger model.
    "tiny": dict(),
    # The paper's settings (§5.2): meant for a GPU with the real datasets.
    "paper": dict(
        dataset="real", image_size=512, backbone="mit_b1", pretrained=True, decoder_dim=256,
        flow_method="raft_large", depth_source="precomputed", train_steps=10 * 3471 * 4 // 8,
        batch_size=8, lr=6e-5, val_every=2000, ttt_epochs=10, ttt_lr=1e-5, ttt_pairs=8, num_workers=4,
    ),
}

PROFILE_DOCS = {
    "ci": "smallest setting that runs every code path (tests; ~seconds per notebook)",
    "tiny": "2-core CPU: synthetic benchmark at 64 px, 600 training steps; `make tutorial` in about 15 minutes",
    "paper": "the paper's settings (512 px, MiT-b1 alpha+beta: 28,406,658 parameters, batch 8, lr 6e-5, TTT 10 epochs "
             "at 1e-5); GPU + real data",
}


def default_profile() -> str:
    """The profile named by ``DATTT_PROFILE``, else ``tiny``."""
    return os.environ.get(PROFILE_ENV, DEFAULT_PROFILE) or DEFAULT_PROFILE


class SettingError(ValueError):
    """A setting with a value of the wrong type or outside its range (the message names the setting)."""


# Declared ranges, checked by :func:`parse_setting` for every override (command line, notebooks, code).
# Each entry: (check, what is expected). Types come from the annotations of :class:`Settings`.
RANGES: dict[str, tuple[Any, str]] = {
    "seed": (lambda v: v >= 0, "an integer >= 0"),
    "data_seed": (lambda v: v >= 0, "an integer >= 0"),
    "image_size": (lambda v: v >= 16, "an integer >= 16"),
    "frames_per_video": (lambda v: v >= 2, "an integer >= 2"),
    "long_video_frames": (lambda v: v >= 2, "an integer >= 2"),
    "n_train_videos": (lambda v: v >= 1, "an integer >= 1"),
    "n_val_videos": (lambda v: v >= 1, "an integer >= 1"),
    "n_test_videos": (lambda v: v >= 1, "an integer >= 1"),
    "decoder_dim": (lambda v: v >= 1, "an integer >= 1"),
    "drop_path_rate": (lambda v: 0 <= v < 1, "a number in [0, 1)"),
    "train_steps": (lambda v: v >= 1, "an integer >= 1"),
    "batch_size": (lambda v: v >= 1, "an integer >= 1"),
    "lr": (lambda v: 0 < v < 1, "a number in (0, 1)"),
    "weight_decay": (lambda v: 0 <= v < 1, "a number in [0, 1)"),
    "lambda_depth": (lambda v: v >= 0, "a number >= 0"),
    "val_every": (lambda v: v >= 1, "an integer >= 1"),
    "grad_clip": (lambda v: v > 0, "a number > 0"),
    "ttt_epochs": (lambda v: v >= 0, "an integer >= 0"),
    "ttt_lr": (lambda v: 0 < v < 1, "a number in (0, 1)"),
    "ttt_pairs": (lambda v: v >= 1, "an integer >= 1"),
    "ttt_scale": (lambda v: len(v) == 2 and 0 < v[0] <= v[1], "two numbers 0 < low <= high"),
    "ttt_frame_gap": (lambda v: v >= 1, "an integer >= 1"),
    "num_workers": (lambda v: v >= 0, "an integer >= 0"),
    "device": (lambda v: v in ("auto", "cpu", "mps") or v.startswith("cuda"), "auto | cpu | cuda[:N] | mps"),
    "dataset": (lambda v: v in ("synthetic", "real"), "synthetic | real"),
    "flow_method": (lambda v: v in ("dis", "farneback", "raft_small", "raft_large", "gt", "precomputed"),
                    "dis | farneback | raft_small | raft_large | gt | precomputed"),
    "depth_source": (lambda v: v in ("gt", "precomputed", "transformers"), "gt | precomputed | transformers"),
    "modulation": (lambda v: v in ("none", "head", "alpha", "beta", "alpha+beta"), "none | head | alpha | beta | alpha+beta"),
    "ttt_strategy": (lambda v: _strategy_or_none(v) is not None,
                     "none | n | mwi | ltv (or naive | momentum | loop, TTT-N | TTT-MWI | TTT-LTV)"),
    "ttt_objective": (lambda v: v in ("depth", "tent", "bn", "rotation", "mae", "depth_anchored"),
                      "depth | tent | bn | rotation | mae | depth_anchored"),
    "input_norm": (lambda v: v in ("half", "imagenet"), "half | imagenet"),
}

BACKBONE_STRIDE = 32  # every backbone's coarsest feature map is 1/32 of the input: image_size must be a multiple


def _field_types() -> dict[str, str]:
    return {f.name: (f.type if isinstance(f.type, str) else f.type.__name__) for f in fields(Settings)}


def _convert(name: str, value: Any, kind: str) -> Any:
    """``value`` (a Python value, or text from a command line) as the declared ``kind``; ValueError if it is not."""
    if isinstance(value, str) and kind != "str":
        text = value.strip()
        value = parse_parameter(text)
    if kind == "bool":
        if isinstance(value, bool):
            return value
        raise ValueError
    if kind == "int":
        if isinstance(value, bool) or not isinstance(value, (int, float)) or float(value) != int(value):
            raise ValueError
        return int(value)
    if kind == "float":
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ValueError
        return float(value)
    if kind == "str":
        if not isinstance(value, str) or not value:
            raise ValueError
        return value
    if kind == "tuple":
        if not isinstance(value, (list, tuple)) or not all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                                           for v in value):
            raise ValueError
        return tuple(float(v) for v in value)
    if kind == "dict":
        if not isinstance(value, dict):
            raise ValueError
        return value
    return value


_KIND_WORDS = {"int": "an integer", "float": "a number", "bool": "true or false", "str": "a non-empty string",
               "tuple": "a list of numbers, e.g. [1.05, 1.5]", "dict": "a mapping, e.g. {key: value}"}


def parse_setting(name: str, value: Any) -> Any:
    """One override → its declared type, checked against :data:`RANGES`.

    The single parser behind ``-p NAME VALUE`` of every command, notebook parameters and ``resolve``: text from a
    command line is read as YAML (``1e-5`` as a float), then converted; a wrong type or range raises
    :class:`SettingError` naming the setting and what was expected.
    """
    kinds = _field_types()
    if name not in kinds:
        raise SettingError(f"unknown setting {name!r}; valid settings: {', '.join(sorted(kinds))}")
    kind = kinds[name]
    try:
        typed = _convert(name, value, kind)
    except ValueError:
        raise SettingError(f"setting {name!r}: expected {_KIND_WORDS.get(kind, kind)}, got {value!r}") from None
    check = RANGES.get(name)
    if check is not None and not check[0](typed):
        raise SettingError(f"setting {name!r}: expected {check[1]}, got {value!r}")
    return _strategy_or_none(typed) if name == "ttt_strategy" else typed  # one spelling from here on


def _strategy_or_none(text: str) -> str | None:
    """The canonical name of a TTT strategy in any spelling (the record lives with the strategies), else None."""
    from dattt_nb.ttt.strategies import resolve_strategy  # lazy: the edge resolves, the record is the ttt package's

    try:
        return resolve_strategy(text).name
    except ValueError:
        return None


def parse_parameter(text: str) -> Any:
    """A notebook parameter given as text on a command line (``dattt-nb run -p NAME VALUE``): YAML, with ``1e-5``
    read as a float (YAML 1.1 reads it as a string). Values are typed later, when the notebook calls ``resolve``."""
    import yaml

    text = text.strip()
    if re.match(r"^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)$", text):
        return float(text)
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def parse_overrides(pairs) -> dict[str, Any]:
    """``[(name, text), ...]`` from ``-p NAME VALUE`` → typed overrides (see :func:`parse_setting`)."""
    return {name: parse_setting(name, value) for name, value in pairs}


def resolve(profile: str | None = None, settings: dict[str, Any] | None = None, **overrides: Any) -> Settings:
    """Profile name (or ``DATTT_PROFILE``, or ``tiny``) + overrides → :class:`Settings`.

    ``settings`` is a dict of overrides (a notebook's ``SETTINGS`` parameter); keyword overrides win over it.
    Overrides whose value is ``None`` are ignored, so notebook parameters can default to ``None``. Every value goes
    through :func:`parse_setting`: unknown names, wrong types and out-of-range values raise :class:`SettingError`.
    """
    name = profile or default_profile()
    if name not in PROFILES:
        raise SettingError(f"unknown profile {name!r}; choose one of {', '.join(sorted(PROFILES))}")
    if settings is not None and not isinstance(settings, dict):
        raise SettingError(f"SETTINGS: expected a mapping of setting overrides, got {settings!r}")
    # a keyword left at None keeps the SETTINGS value (and the profile's, without one); parse_setting types the rest
    given = {**(settings or {}), **{k: v for k, v in overrides.items() if v is not None}}
    typed = {k: parse_setting(k, v) for k, v in given.items() if v is not None and k != "profile"}
    result = Settings(**{**PROFILES[name], **typed, "profile": name})
    if result.image_size % BACKBONE_STRIDE:
        raise SettingError(f"setting 'image_size': expected a multiple of the backbone stride {BACKBONE_STRIDE}, "
                           f"got {result.image_size}")
    return result


def describe(settings: Settings):
    """Settings as a table (name, value, documentation) for notebooks to display."""
    import pandas as pd

    docs = _field_docs()
    rows = [(k, v, docs.get(k, "")) for k, v in settings.to_dict().items()]
    return pd.DataFrame(rows, columns=["setting", "value", "meaning"]).set_index("setting")


def _field_docs() -> dict[str, str]:
    """Parse the trailing comments of Settings' fields (single source of documentation)."""
    import inspect

    docs = {}
    for line in inspect.getsource(Settings).splitlines():
        line = line.strip()
        if ":" in line and "#" in line and not line.startswith(("#", '"')):
            name = line.split(":", 1)[0].strip()
            docs[name] = line.split("#", 1)[1].strip()
    return docs


# --- where things live -------------------------------------------------------------------------

def project_root() -> Path:
    """The checkout that holds ``notebooks/`` (editable install), else the current directory."""
    here = Path(__file__).resolve().parents[1]
    if (here / "notebooks").is_dir() or (here / "pyproject.toml").is_file():
        return here
    return Path.cwd()


def data_root() -> Path:
    """``$DATTT_DATA`` or ``<project>/data``: generated and downloaded datasets."""
    return Path(os.environ.get("DATTT_DATA", project_root() / "data"))


DAVIS_SAMPLE_ENV = "DATTT_DAVIS_MINI"  # a small DAVIS-layout sample for tests (``make test`` sets it when it has one)


def davis_root() -> Path | None:
    """The real DAVIS-16 root the notebooks use, or ``None`` when there is none (they then use a synthetic clip).

    ``$DATTT_DAVIS_MINI`` (tests point it at a few DAVIS videos) wins; else ``<data>/davis16``, written by
    ``dattt-nb download davis16``. A root counts only when it holds frames (``JPEGImages/``).
    """
    named = os.environ.get(DAVIS_SAMPLE_ENV)
    root = Path(named) if named else data_root() / "davis16"
    return root if (root / "JPEGImages").is_dir() else None


def runs_root() -> Path:
    """``$DATTT_RUNS`` or ``<project>/runs``: executed notebooks, checkpoints, results."""
    return Path(os.environ.get("DATTT_RUNS", project_root() / "runs"))


def run_dir(settings: Settings | str) -> Path:
    """``runs/<profile>/``, created on demand."""
    name = settings if isinstance(settings, str) else settings.profile
    path = runs_root() / name
    path.mkdir(parents=True, exist_ok=True)
    return path


def pick_device(settings: Settings | None = None):
    """``torch.device`` for ``settings.device`` ("auto" → cuda if available, else cpu)."""
    import torch

    want = settings.device if settings is not None else "auto"
    if want == "auto":
        want = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(want)
    if device.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0 or (device.index or 0) >= count:
            have = f"{count} CUDA device(s)" if count else "no CUDA device"
            raise SettingError(f"setting 'device': {want!r} was asked for but this machine has {have}; use "
                               "-p device auto (or --device auto) to run on what is there, or cpu")
    if device.type == "mps" and not (hasattr(torch.backends, "mps") and torch.backends.mps.is_available()):
        raise SettingError("setting 'device': 'mps' was asked for but this machine has no Apple GPU (MPS); use "
                           "-p device auto (or --device auto) to run on what is there, or cpu")
    return device


# --- the command lines' common options (dattt-nb and its train / ttt modules) -----------------------------------

PROFILE_HELP = "named profile: ci | tiny | paper (default: $DATTT_PROFILE or tiny)"


def add_profile_option(parser, help: str = PROFILE_HELP) -> None:
    """``--profile NAME``, as every command names it."""
    parser.add_argument("--profile", help=help)


def add_setting_options(parser, example: str = "ttt_lr 1e-4", what: str = "a setting") -> None:
    """``-p NAME VALUE`` (repeatable): overrides typed and range-checked by :func:`parse_setting`."""
    checked = " (typed and range-checked)" if what == "a setting" else ""
    parser.add_argument("-p", "--param", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                        help=f"override {what}, e.g. -p {example}{checked}; repeatable")
