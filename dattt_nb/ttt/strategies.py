"""Video strategies (Fig. 4): in which order frames are adapted and when weights go back to the trained state.

Each strategy is a generator over :class:`Prediction` s, so the caller scores frames as they come (LTV yields
every pass, which gives the Fig. 5 curves). ``frames`` restricts a strategy to some frames (grouped variants).
"""
from __future__ import annotations

from typing import Callable, Iterator, NamedTuple

from torch import Tensor

from dattt_nb.ttt.engine import TTTEngine


class Prediction(NamedTuple):
    """Frame ``t`` predicted during pass ``pass_`` (0, 1, ... or "final"): mask probability and depth (H, W)."""

    pass_: int | str
    t: int
    mask: Tensor
    depth: Tensor | None


def _frames(video, frames) -> list[int]:
    return list(range(len(video))) if frames is None else list(frames)


def predict_frames(engine: TTTEngine, video, frames: list[int], pass_, chunk: int = 16) -> Iterator[Prediction]:
    """Predict ``frames`` with the current weights, ``chunk`` frames per forward pass."""
    for i in range(0, len(frames), chunk):
        ts = frames[i:i + chunk]
        mask, depth = engine.predict(video, ts)
        for j, t in enumerate(ts):
            yield Prediction(pass_, t, mask[j], None if depth is None else depth[j])


def no_ttt(engine: TTTEngine, video, epochs: int = 0, frames=None) -> Iterator[Prediction]:
    """No TTT: the trained model applied to every frame."""
    engine.reset()
    yield from predict_frames(engine, video, _frames(video, frames), 0)


def naive(engine: TTTEngine, video, epochs: int, frames=None) -> Iterator[Prediction]:
    """TTT-N (Fig. 4a): every frame adapted on its own from the trained weights, ``epochs`` steps, then predicted."""
    for t in _frames(video, frames):
        engine.reset()
        optimizer = engine.optimizer()
        for _ in range(epochs):
            engine.step(optimizer, video, t)
        yield from predict_frames(engine, video, [t], 0)


def momentum(engine: TTTEngine, video, epochs: int, frames=None) -> Iterator[Prediction]:
    """TTT-MWI (Fig. 4b): frames in temporal order, each starting from the weights adapted on the previous one."""
    engine.reset()
    optimizer = engine.optimizer()  # one Adam for the whole video
    for t in _frames(video, frames):
        for _ in range(epochs):
            engine.step(optimizer, video, t)
        yield from predict_frames(engine, video, [t], 0)


def loop(engine: TTTEngine, video, epochs: int, frames=None) -> Iterator[Prediction]:
    """TTT-LTV (Fig. 4c): ``epochs`` passes over the video, one step per frame, each frame predicted right after
    its step (the last pass is the result); then every frame is predicted again with the final weights."""
    frames = _frames(video, frames)
    engine.reset()
    optimizer = engine.optimizer()  # one Adam for the whole video
    for pass_ in range(epochs):
        for t in frames:
            engine.step(optimizer, video, t)
            yield from predict_frames(engine, video, [t], pass_)
    yield from predict_frames(engine, video, frames, "final")


def grouped(base: Callable, gap: int) -> Callable:
    """Official release (DAVIS-16, SegTrackV2): frame i joins group i mod ``gap``; each group runs ``base``
    (MWI or LTV) from the trained weights."""
    if gap < 1:
        raise ValueError(f"frame_gap must be >= 1, got {gap}")

    def run(engine: TTTEngine, video, epochs: int, frames=None) -> Iterator[Prediction]:
        frames = _frames(video, frames)
        for g in range(gap):
            yield from base(engine, video, epochs, frames[g::gap])

    run.__name__ = f"{base.__name__}_gap{gap}"
    run.__doc__ = f"{base.__name__} on {gap} interleaved groups of frames, each from the trained weights."
    return run


STRATEGIES = {"none": no_ttt, "naive": naive, "momentum": momentum, "loop": loop}
STRATEGY_LABELS = {"none": "No TTT", "naive": "TTT-N", "momentum": "TTT-MWI", "loop": "TTT-LTV"}


def get_strategy(name: str, frame_gap: int = 1) -> Callable:
    """The strategy called ``name``; MWI and LTV on ``frame_gap`` > 1 interleaved groups when asked."""
    if name not in STRATEGIES:
        raise ValueError(f"unknown TTT strategy {name!r}; choose one of {sorted(STRATEGIES)} "
                         f"({', '.join(f'{k} = {v}' for k, v in STRATEGY_LABELS.items())})")
    if frame_gap > 1 and name in ("momentum", "loop"):
        return grouped(STRATEGIES[name], frame_gap)
    return STRATEGIES[name]


def n_predictions(name: str, n_frames: int, epochs: int) -> int:
    """How many predictions a strategy yields for a video (for progress bars)."""
    return n_frames * (epochs + 1) if name == "loop" else n_frames
