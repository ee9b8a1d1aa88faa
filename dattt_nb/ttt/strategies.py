"""Video strategies (Fig. 4): in which order frames are adapted and when weights go back to the trained state.

Each strategy is a generator over :class:`Prediction` s, so the caller scores frames as they come (LTV yields
every pass, which gives the Fig. 5 curves). ``frames`` restricts a strategy to some frames (grouped variants).
"""
from __future__ import annotations

from dataclasses import dataclass
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


@dataclass(frozen=True)
class Strategy:
    """A TTT strategy as a record (Fig. 4), resolved once where a user names it; code below asks the record.

    ``run``: the generator; ``label``: the paper's name; ``short``: the command line's; ``aliases``: every other
    spelling accepted; ``adapts``: whether weights change at all; ``resets_per_frame``: trained weights back before
    every frame (TTT-N); ``loops``: several scored passes over the video (TTT-LTV, Fig. 5); ``groupable``: runs on
    interleaved groups of frames when ``frame_gap`` > 1 (the official release on DAVIS-16 and SegTrackV2).
    """

    name: str
    label: str
    short: str
    run: Callable
    adapts: bool = True
    resets_per_frame: bool = False
    loops: bool = False
    groupable: bool = False

    @property
    def aliases(self) -> tuple[str, ...]:
        return (self.name, self.short, self.label.lower(), self.label.lower().replace("-", ""))

    def runner(self, frame_gap: int = 1) -> Callable:
        """The generator to run, on ``frame_gap`` interleaved groups where the strategy allows it."""
        return grouped(self.run, frame_gap) if frame_gap > 1 and self.groupable else self.run


STRATEGY_RECORDS: dict[str, Strategy] = {s.name: s for s in (
    Strategy("none", "No TTT", "none", no_ttt, adapts=False),
    Strategy("naive", "TTT-N", "n", naive, resets_per_frame=True),
    Strategy("momentum", "TTT-MWI", "mwi", momentum, groupable=True),
    Strategy("loop", "TTT-LTV", "ltv", loop, loops=True, groupable=True),
)}
STRATEGIES = {name: s.run for name, s in STRATEGY_RECORDS.items()}
STRATEGY_LABELS = {name: s.label for name, s in STRATEGY_RECORDS.items()}
STRATEGY_ALIASES = {s.short: name for name, s in STRATEGY_RECORDS.items() if s.short != name}
ADAPTIVE = tuple(name for name, s in STRATEGY_RECORDS.items() if s.adapts)  # naive, momentum, loop
_BY_ALIAS = {alias: s for s in STRATEGY_RECORDS.values() for alias in s.aliases} | {"no ttt": STRATEGY_RECORDS["none"]}
STRATEGY_CHOICES = "none | n | mwi | ltv (also naive | momentum | loop, TTT-N | TTT-MWI | TTT-LTV)"


def resolve_strategy(name: "str | Strategy") -> Strategy:
    """The :class:`Strategy` for any of its spellings (``n``, ``naive``, ``TTT-N``, ...), else a clear error."""
    if isinstance(name, Strategy):
        return name
    key = str(name).strip().lower()
    if key not in _BY_ALIAS:
        raise ValueError(f"unknown TTT strategy {name!r}; choose one of {STRATEGY_CHOICES}")
    return _BY_ALIAS[key]


def strategy_name(name: "str | Strategy") -> str:
    """A strategy's canonical name (``naive`` / ``momentum`` / ``loop`` / ``none``) from any spelling."""
    return resolve_strategy(name).name


def get_strategy(name: "str | Strategy", frame_gap: int = 1) -> Callable:
    """The strategy's generator (any spelling); MWI and LTV on ``frame_gap`` > 1 interleaved groups when asked."""
    return resolve_strategy(name).runner(frame_gap)


# --- the schedule, read off the strategies themselves ---------------------------------------------

class Event(NamedTuple):
    """One thing a strategy does: ``reset`` (trained weights back), ``step`` on frame ``t`` (``epoch``: earlier
    steps on that frame) or ``predict`` frame ``t`` during pass ``pass_``."""

    kind: str
    t: int | None = None
    epoch: int | None = None
    pass_: int | str | None = None


class _Recorder:
    """An engine stand-in that logs what a strategy asks of it, so the schedule is never written twice."""

    def __init__(self):
        self.events: list[Event] = []
        self._steps: dict[int, int] = {}

    def reset(self) -> None:
        self.events.append(Event("reset"))

    def optimizer(self) -> None:
        return None

    def step(self, optimizer, video, t: int) -> None:
        self.events.append(Event("step", t, self._steps.get(t, 0)))
        self._steps[t] = self._steps.get(t, 0) + 1

    def predict(self, video, frames: list[int]) -> tuple[list, None]:
        return [None] * len(frames), None


def schedule(name: str, n_frames: int, epochs: int, frame_gap: int = 1) -> list[Event]:
    """Everything strategy ``name`` does on a video of ``n_frames`` frames, in order (Fig. 4), by running it on a
    recording engine: resets, steps and predictions."""
    recorder = _Recorder()
    for p in get_strategy(name, frame_gap)(recorder, range(n_frames), epochs):
        recorder.events.append(Event("predict", p.t, pass_=p.pass_))
    return recorder.events


def n_predictions(name: str, n_frames: int, epochs: int, frame_gap: int = 1) -> int:
    """How many predictions a strategy yields for a video (for progress bars)."""
    return sum(e.kind == "predict" for e in schedule(name, n_frames, epochs, frame_gap))


def step_epochs(name: str, n_frames: int, epochs: int, frame_gap: int = 1):
    """Epoch index of every step in the order the strategy takes them: the step within a frame (N, MWI) or the
    pass over the video (LTV)."""
    import numpy as np

    return np.asarray([e.epoch for e in schedule(name, n_frames, epochs, frame_gap) if e.kind == "step"], dtype=int)
