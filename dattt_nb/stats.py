"""Uncertainty of an effect measured over videos: percentile-bootstrap intervals and interval-based verdicts.

A change of J measured on a handful of videos is only as good as its spread: every ΔJ the series reports comes
with a 95 % interval from resampling the videos with replacement (Efron & Tibshirani 1993, percentile method),
and a verdict reads that interval ("helps" only when the whole interval is above zero), never a fixed threshold.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# below this many videos a bootstrap interval cannot tell anything (two videos give three distinct resample means)
MIN_VIDEOS = 4


@dataclass(frozen=True)
class Interval:
    """The mean of per-video values with its bootstrap interval (``lo``, ``hi``) at ``level``, over ``n`` videos
    (``None``: not recorded, e.g. a table saved before counts were kept)."""

    mean: float
    lo: float
    hi: float
    n: int | None
    level: float = 0.95

    def verdict(self, better: str = "helps", worse: str = "hurts", same: str = "no clear change",
                few: str = "too few videos to tell") -> str:
        """``better`` when the interval lies above 0, ``worse`` when below, else ``same``; ``few`` when it rests on
        fewer than :data:`MIN_VIDEOS` videos, whatever its bounds."""
        if self.n is not None and 0 < self.n < MIN_VIDEOS:
            return few
        if self.n != 0 and self.lo > 0:
            return better
        if self.n != 0 and self.hi < 0:
            return worse
        return same

    def format(self, scale: float = 1.0, digits: int = 2) -> str:
        """``+0.26 [-0.18, +0.68]`` (values multiplied by ``scale``, e.g. 100 for J points)."""
        f = f"{{:+.{digits}f}}"
        return f"{f.format(self.mean * scale)} [{f.format(self.lo * scale)}, {f.format(self.hi * scale)}]"

    def to_dict(self) -> dict:
        return dict(mean=self.mean, lo=self.lo, hi=self.hi, n=self.n, level=self.level)


def bootstrap_ci(values, level: float = 0.95, n_boot: int = 4000, seed: int = 0) -> Interval:
    """Mean of ``values`` (one per video) and its percentile-bootstrap interval; NaNs are dropped.

    Deterministic for a given ``seed``. One value gives a zero-width interval; none gives NaNs with ``n = 0``.
    """
    x = np.asarray(values, dtype=float).ravel()
    x = x[np.isfinite(x)]
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    if x.size == 0:
        return Interval(float("nan"), float("nan"), float("nan"), 0, level)
    if x.size == 1:
        return Interval(float(x[0]), float(x[0]), float(x[0]), 1, level)
    rng = np.random.default_rng(seed)
    means = x[rng.integers(0, x.size, size=(n_boot, x.size))].mean(axis=1)
    alpha = (1 - level) / 2
    lo, hi = np.quantile(means, [alpha, 1 - alpha])
    return Interval(float(x.mean()), float(lo), float(hi), int(x.size), level)


def paired_delta_ci(after, before, **kwargs) -> Interval:
    """Interval of the mean change ``after - before`` over paired per-video scores (same videos, same order)."""
    a, b = np.asarray(after, dtype=float), np.asarray(before, dtype=float)
    if a.shape != b.shape:
        raise ValueError(f"paired scores need the same videos: {a.shape} vs {b.shape}")
    return bootstrap_ci(a - b, **kwargs)
