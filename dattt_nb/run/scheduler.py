"""The notebook series as one pipeline: the models its notebooks train, and which notebook needs another's work.

``dattt-nb run --jobs 2`` (``make tutorial`` on a CPU) schedules both as one list of tasks: train each model of the
series (:func:`series_models`) and run each notebook, ``jobs`` at a time in worker processes that share the CPU's
cores, a notebook starting once its models and the notebooks it builds on (:data:`READS_RESULTS_OF`) are done,
the longest remaining chain of work first (:func:`plan_tasks`). A notebook run on its own still trains what it needs.

On two cores, two one-thread jobs do 1.6× the work per second of one two-thread job (tiny profile, 64 px: a
training step takes 0.29 s with two threads, 0.35 s with one), because these small layers leave a second thread
idle much of the time.
"""
from __future__ import annotations

import contextlib
import dataclasses
import io
import time
from typing import Any

# Notebooks that use another notebook's results, so they start after it: 06's Table 3 and Fig. 5 reuse the TTT-N
# and TTT-MWI runs of 04 and 05 (from the run cache; started together, both would compute them); 07 adds its TTT
# columns to notebook 03's Table 1; 08 gathers every table of 02–07. Trained models are handled separately.
READS_RESULTS_OF: dict[str, tuple[str, ...]] = {
    "06": ("04", "05"),
    "07": ("03",),
    "08": ("02", "03", "04", "05", "06", "07"),
}
# Notebook 10 (the shift-severity study) reads no notebook's results: it needs only the main model (alpha+beta, see
# needs_model) and makes its own cached runs, so it may run beside 03–09.


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """One trained model of the series: what :func:`~dattt_nb.train.load_or_train` is asked for, and by whom."""

    variant: str  # Table 1 architecture ("none", "head", "alpha+beta") or a Table 4 baseline ("rot", "mae")
    backbone: str | None = None  # None: the profile's backbone
    train_steps: int | None = None  # None: the profile's (or TRAIN_STEPS's) value
    notebook: str = ""  # the notebook that trains it when run on its own
    cost: float = 1.0  # seconds per step relative to the alpha+beta model (measured at tiny, one thread)

    @property
    def label(self) -> str:
        return self.variant + (f"@{self.backbone}" if self.backbone else "")


def series_models(params: dict[str, Any] | None = None) -> list[ModelSpec]:
    """The models notebooks 02, 03 and 07 train with the notebook parameters ``params`` (their defaults otherwise):
    the three Table 1 architectures, the TTT-Rot and TTT-MAE baselines and the BatchNorm-backbone baseline
    (``BN_BACKBONE``), most expensive first so that two workers finish close together."""
    params = params or {}
    steps = params.get("BASELINE_TRAIN_STEPS") or None  # notebook 07: 0 keeps the series' steps
    bn_backbone = params.get("BN_BACKBONE", "resnet18")
    specs = [ModelSpec("mae", None, steps, "07", 1.50), ModelSpec("rot", None, steps, "07", 1.25),
             ModelSpec("head", None, None, "03", 1.04), ModelSpec("none", None, None, "03", 1.03),
             ModelSpec("alpha+beta", None, None, "02", 1.0)]
    if bn_backbone:
        specs.append(ModelSpec("none", bn_backbone, steps, "07", 1.84))
    return sorted(specs, key=lambda s: -s.cost)


def series_settings(profile: str, params: dict[str, Any] | None = None):
    """The settings notebooks 02, 03 and 07 resolve from the same parameters (``SETTINGS``, ``SEED``, ``TRAIN_STEPS``)."""
    from dattt_nb.config import resolve

    params = params or {}
    return resolve(profile, params.get("SETTINGS") or {}, seed=params.get("SEED"), train_steps=params.get("TRAIN_STEPS"))


def train_model(settings, spec: ModelSpec, threads: int) -> dict[str, Any]:
    """Train (or find already trained) one model of the series with ``threads`` torch threads, as a worker of
    ``dattt-nb run --jobs N`` does; returns a summary, with ``error`` (one line naming the model) if it failed."""
    import torch

    from dattt_nb.train import load_or_train

    torch.set_num_threads(threads)
    start = time.perf_counter()
    log = io.StringIO()  # data summaries and loading bars, which the notebooks show anyway; the run has its own bar
    try:
        with contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
            _, info = load_or_train(settings, variant=spec.variant, backbone=spec.backbone,
                                    train_steps=spec.train_steps, progress=False)
    except Exception as err:  # reported by the scheduler, which stops the run
        return dict(model=spec.label, notebook=spec.notebook, error=f"training the series' model {spec.label} "
                    f"(notebook {spec.notebook}) failed: {type(err).__name__}: {err}")
    return dict(model=spec.label, notebook=spec.notebook, steps=info["step"], trained_now=info["trained_now"],
                seconds=round(time.perf_counter() - start, 1), best_val_J=round(float(info["best_val_J"]), 4),
                threads=threads)


# Seconds each notebook took at the tiny profile with one thread and its models trained (a run with --jobs 2); only
# their ratios matter: they order the work when no earlier run of the profile recorded its own times.
NOTEBOOK_SECONDS = {"00": 15, "01": 30, "02": 60, "03": 90, "04": 240, "05": 240, "06": 530, "07": 600, "08": 35,
                    "09": 35, "10": 300}
STEP_SECONDS = 0.35  # one training step of the alpha+beta model at tiny (64 px, batch 16), one thread


@dataclasses.dataclass
class Task:
    """A unit of the series' work for the scheduler: a model to train or a notebook to run."""

    key: str  # "model:<label>" or the notebook's stem
    seconds: float  # estimated duration (only ratios matter)
    needs: set = dataclasses.field(default_factory=set)  # keys that must finish first
    priority: float = 0.0  # the longest chain of estimated work from this task to the end (set by plan_tasks)


def needs_model(spec: ModelSpec, notebook: str) -> bool:
    """Whether ``notebook`` (a stem) loads ``spec``'s model: the models it trains itself, and the main model from 02
    on (it is what notebooks 02–09 adapt and evaluate)."""
    return spec.notebook == notebook[:2] or (spec.label == "alpha+beta" and notebook[:2] >= "02")


def plan_tasks(notebooks: list[str], specs: list[ModelSpec], settings, previous: dict | None = None) -> dict[str, Task]:
    """The tasks of a parallel run: train ``specs``, then run ``notebooks`` (stems, series order). A notebook needs
    the models it loads (:func:`needs_model`) and the notebooks whose results it reads. Each task's priority is its
    critical path, so that list scheduling starts the work that holds most of the rest up first. ``previous``: the
    last manifest's notebook entries (measured times)."""
    previous = previous or {}
    per_step = STEP_SECONDS * (settings.batch_size / 16) * (settings.image_size / 64) ** 2
    tasks = {f"model:{s.label}": Task(f"model:{s.label}", s.cost * per_step * (s.train_steps or settings.train_steps))
             for s in specs}
    chosen = {stem[:2]: stem for stem in notebooks}
    for stem in notebooks:
        measured = (previous.get(stem) or {}).get("seconds")
        needs = {f"model:{s.label}" for s in specs if needs_model(s, stem)}
        needs |= {chosen[n] for n in READS_RESULTS_OF.get(stem[:2], ()) if n in chosen}
        tasks[stem] = Task(stem, float(measured or NOTEBOOK_SECONDS.get(stem[:2], 60)), needs)

    def chain(key: str) -> float:
        after = [k for k, t in tasks.items() if key in t.needs]
        return tasks[key].seconds + max((chain(k) for k in after), default=0.0)

    for key, task in tasks.items():
        task.priority = chain(key)
    return tasks


def next_tasks(tasks: dict[str, Task], finished: set[str], started: set[str], free: int) -> list[str]:
    """Up to ``free`` tasks to start now: those not started whose needs have finished, highest priority first."""
    ready = [t for k, t in tasks.items() if k not in started and t.needs <= finished]
    return [t.key for t in sorted(ready, key=lambda t: -t.priority)[:max(0, free)]]
