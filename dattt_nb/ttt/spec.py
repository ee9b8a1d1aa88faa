"""One TTT run's settings as a record (§4.2, §5.1): the strategy of Fig. 4, the objective, and the step settings.

:class:`TTTRun` is built from a profile's settings in exactly one place (:meth:`TTTRun.from_settings`, where a
``None`` keeps the profile's value) and then passed down as it is: the engine takes its objective, lr, view pairs,
zoom range and seed (:meth:`dattt_nb.ttt.engine.TTTEngine.for_run`), the runner its strategy, epochs and frame gap,
the cache makes its folder name from it (:meth:`TTTRun.key`), and the explorer and the studies hold one. Its
strategy is always the canonical name, whatever spelling the user gave (``n``, ``TTT-N`` and ``naive`` are one run).
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from dattt_nb.ttt.objectives import get_objective
from dattt_nb.ttt.strategies import Strategy, resolve_strategy

# Settings field → TTTRun field: the only place that reads a profile's TTT settings.
_FROM_SETTINGS = dict(strategy="ttt_strategy", objective="ttt_objective", epochs="ttt_epochs", lr="ttt_lr",
                      n_pairs="ttt_pairs", scale="ttt_scale", frame_gap="ttt_frame_gap", seed="seed")


@dataclass(frozen=True)
class TTTRun:
    """The settings that decide one TTT run's numbers.

    ``strategy``: TTT-N / MWI / LTV or No TTT (Fig. 4); ``objective``: eq. 4 (``depth``) or a Table 4 baseline;
    ``epochs``: steps per frame (N, MWI) or passes over the video (LTV); ``lr``: Adam's learning rate (paper 1e-5);
    ``n_pairs``: view pairs per step (paper 8); ``scale``: the zoom range of the views' shared geometry;
    ``frame_gap``: > 1 runs MWI / LTV on interleaved groups of frames (the official release on DAVIS-16 and
    SegTrackV2); ``seed``: the views' random stream, reset for every video.
    """

    strategy: str = "loop"
    objective: str = "depth"
    epochs: int = 1
    lr: float = 1e-5
    n_pairs: int = 8
    scale: tuple = (1.05, 1.5)
    frame_gap: int = 1
    seed: int = 0

    def __post_init__(self):
        object.__setattr__(self, "strategy", resolve_strategy(self.strategy).name)  # any spelling → one run
        object.__setattr__(self, "scale", tuple(float(s) for s in self.scale))

    @classmethod
    def from_settings(cls, settings, **overrides) -> "TTTRun":
        """The profile's TTT settings, with ``overrides`` (a ``None`` keeps the profile's value)."""
        kw = {field: getattr(settings, name) for field, name in _FROM_SETTINGS.items()}
        return cls(**kw).replace(**overrides)

    @classmethod
    def resolve(cls, settings, run: "TTTRun | str | None" = None, **overrides) -> "TTTRun":
        """What a caller asked for: a :class:`TTTRun` as given, or a strategy name (``None``: the profile's), each
        with ``overrides`` applied — the edge functions (``run_ttt``, ``cached_ttt``) accept either."""
        if isinstance(run, TTTRun):
            return run.replace(**overrides)
        if run is not None:
            if overrides.get("strategy") not in (None, run):
                raise ValueError(f"two strategies given: {run!r} and strategy={overrides['strategy']!r}")
            overrides = {**overrides, "strategy": run}
        return cls.from_settings(settings, **overrides)

    def replace(self, **changes) -> "TTTRun":
        """A copy with ``changes`` (``None`` values ignored); an unknown field is a clear error."""
        unknown = sorted(set(changes) - {f.name for f in dataclasses.fields(self)})
        if unknown:
            raise TypeError(f"unknown TTT run setting(s) {unknown}; expected some of {list(_FROM_SETTINGS)}")
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})

    @property
    def record(self) -> Strategy:
        """The strategy's record (what it does: adapts, resets, loops, groups)."""
        return resolve_strategy(self.strategy)

    @property
    def passes(self) -> int:
        """Scored passes over the video: ``epochs`` for LTV (Fig. 5), one for the others."""
        return self.epochs if self.record.loops else 1

    @property
    def label(self) -> str:
        """The paper's name: ``TTT-LTV``, ``TTT-N (TENT)``, ``TTT-MWI, gap 10``, ``No TTT``."""
        label = self.record.label
        if self.record.adapts and self.objective != "depth":
            label += f" ({get_objective(self.objective).label})"
        if self.frame_gap > 1 and self.record.groupable:
            label += f", gap {self.frame_gap}"
        return label

    def key(self) -> "TTTRun":
        """The run as far as it decides the numbers: a strategy that adapts nothing (No TTT) gives one run
        whatever the step settings, so they are zeroed."""
        if self.record.adapts:
            return self
        return dataclasses.replace(self, epochs=0, lr=0.0, n_pairs=0, frame_gap=1)

    def folder_name(self) -> str:
        """``<objective>_e<E>_lr<lr>_p<P>_g<gap>_seed<S>``: the readable part of the run's cache folder."""
        k = self.key()
        return f"{k.objective}_e{k.epochs}_lr{k.lr:g}_p{k.n_pairs}_g{k.frame_gap}_seed{k.seed}"

    def check(self) -> None:
        """A clear ValueError naming the setting that is out of range."""
        get_objective(self.objective)  # an unknown objective: an error listing the choices
        if self.record.adapts:
            if not (math.isfinite(self.lr) and self.lr > 0):
                raise ValueError(f"lr must be a positive number, got {self.lr}")
            for name in ("epochs", "n_pairs", "frame_gap"):
                if getattr(self, name) < 1:
                    raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")

    def to_dict(self) -> dict:
        return {**dataclasses.asdict(self), "scale": list(self.scale), "label": self.label}

    @classmethod
    def from_dict(cls, d: dict) -> "TTTRun":
        return cls(**{f.name: d[f.name] for f in dataclasses.fields(cls) if f.name in d})
