"""Self-checks for the exercises at the end of notebooks 01–09.

Each ``check_*`` runs a student's function against the library on a few small inputs and returns a
:class:`Feedback` that says what is wrong (shape, sign, scale, a factor, the wrong strategy …), not a bare assert.
A stub that raises ``NotImplementedError`` or returns ``None`` / ``...`` reads as "not attempted yet", so the
notebooks still run top to bottom. Reference solutions for instructors: :mod:`dattt_nb.course.solutions`.
Every check is cheap (tiny tensors, a 32 px model, a few TTT steps): seconds on a CPU.
"""
from __future__ import annotations

import contextlib
import functools
import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch

NOT_ATTEMPTED = "not attempted yet"


@dataclass
class Feedback:
    """What a check found: ``status`` is "correct", "wrong" or "not attempted yet"; ``problems`` say why."""

    exercise: str
    status: str
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def correct(self) -> bool:
        return self.status == "correct"

    @property
    def attempted(self) -> bool:
        return self.status != NOT_ATTEMPTED

    def __bool__(self) -> bool:
        return self.correct

    def __repr__(self) -> str:
        mark = {"correct": "✔", "wrong": "✘"}.get(self.status, "…")
        lines = [f"{mark} {self.exercise}: {self.status}"]
        lines += [f"  - {p}" for p in self.problems] + [f"  · {n}" for n in self.notes]
        if self.status == NOT_ATTEMPTED:
            lines.append("  (fill in the function above, then run this cell again)")
        return "\n".join(lines)


class _NotAttempted(Exception):
    pass


class _Crashed(Exception):
    pass


# --- hidden checks: the library's reference may not run while the student's function does --------------------

_MARK = "dattt-exercise: reference called"
_FORBIDDEN: list = []  # the references of the check now running (set by _run)


def _stub_code(name: str):
    """The code of a function that raises at once, naming ``name`` (swapped into a reference while it is forbidden)."""
    scope: dict = {}
    exec(f"def _stub(*args, **kwargs):\n    raise RuntimeError({(_MARK + ' ' + name)!r})\n", scope)  # noqa: S102
    return scope["_stub"].__code__


@contextlib.contextmanager
def forbidden(*references: Callable):
    """While the block runs, every call of one of ``references`` raises — however the caller got hold of it
    (``import``, ``from … import``, an alias, a method): the function's code object is swapped, then put back."""
    swapped = []
    for ref in references:
        fn = getattr(ref, "__func__", ref)
        code = getattr(fn, "__code__", None)
        if code is None or code.co_freevars:  # a closure's code cannot be swapped; no library reference is one
            continue
        swapped.append((fn, code))
        fn.__code__ = _stub_code(fn.__name__)
    try:
        yield
    finally:
        for fn, code in swapped:
            fn.__code__ = code


def _reference_used(err: BaseException) -> str | None:
    text = str(err)
    return text.split(_MARK, 1)[1].strip() if _MARK in text else None


def _call(fn: Callable | None, *args, **kwargs):
    """Call a student's function with the check's references forbidden; a stub (NotImplementedError, None, ...)
    raises _NotAttempted."""
    if fn is None or fn is Ellipsis:
        raise _NotAttempted
    try:
        with forbidden(*_FORBIDDEN):
            out = fn(*args, **kwargs)
    except NotImplementedError:
        raise _NotAttempted from None
    except Exception as err:  # the student's code failed: say how, do not crash the notebook
        used = _reference_used(err)
        if used:
            raise _Crashed(f"your function calls the library's `{used}`: the exercise is to write it yourself "
                           "(the check forbids the reference while your code runs)") from None
        raise _Crashed(f"your function raised {type(err).__name__}: {err}") from None
    if out is Ellipsis:
        raise _NotAttempted
    return out


def _run(name: str, body: Callable[[], tuple[list[str], list[str]]], forbid=()) -> Feedback:
    """Run a check body that returns (problems, notes); stubs and crashes become feedback. ``forbid``: the library
    functions that answer the exercise, made to raise whenever the student's function runs (:func:`forbidden`)."""
    saved = list(_FORBIDDEN)
    _FORBIDDEN[:] = list(forbid)
    try:
        problems, notes = body()
    except _NotAttempted:
        return Feedback(name, NOT_ATTEMPTED)
    except _Crashed as err:
        return Feedback(name, "wrong", [str(err)])
    finally:
        _FORBIDDEN[:] = saved
    return Feedback(name, "wrong" if problems else "correct", problems, notes)


def _scalar(x, what: str = "the result") -> float:
    """A Python float from a 0-d tensor / number; _Crashed with a clear message otherwise."""
    if x is None:
        raise _NotAttempted
    if isinstance(x, torch.Tensor):
        if x.numel() != 1:
            raise _Crashed(f"{what} should be one number (a 0-d tensor), got shape {tuple(x.shape)}: "
                           f"average over the pixels")
        return float(x.detach())
    try:
        return float(x)
    except (TypeError, ValueError):
        raise _Crashed(f"{what} should be a number, got {type(x).__name__}") from None


def _ratio_problem(got: float, want: float, what: str) -> str | None:
    """Name a sign, square / square-root or constant-factor error between two numbers, or a plain mismatch;
    None when they agree."""
    if math.isclose(got, want, rel_tol=1e-4, abs_tol=1e-6):
        return None
    if want != 0 and math.isclose(got, -want, rel_tol=1e-4):
        return f"{what}: the sign is flipped ({got:.4g} instead of {want:.4g})"
    if want > 0 and got > 0:
        if math.isclose(got, want ** 2, rel_tol=1e-4):
            return f"{what}: you return the square of the answer ({got:.4g} vs {want:.4g}) — a missing sqrt?"
        if math.isclose(got ** 2, want, rel_tol=1e-4):
            return f"{what}: you return the square root of the answer ({got:.4g} vs {want:.4g})"
        for factor in (2, 0.5, 10, 0.1):
            if math.isclose(got / want, factor, rel_tol=1e-3):
                return f"{what}: off by a factor {factor:g} ({got:.4g} vs the expected {want:.4g})"
    return f"{what}: got {got:.4g}, expected {want:.4g}"


def _diagnose(got: float, want: float, what: str, guesses=()) -> str | None:
    """None when ``got`` ≈ ``want``; else the hint of the first typical wrong answer ``got`` equals (``guesses``:
    (value, hint) pairs), else what :func:`_ratio_problem` makes of it."""
    if math.isclose(got, want, rel_tol=1e-4, abs_tol=1e-6):
        return None
    for value, hint in guesses:
        if math.isclose(got, float(value), rel_tol=1e-4, abs_tol=1e-6):
            return hint
    return _ratio_problem(got, want, what)


# --- notebook 01: flow and depth -------------------------------------------------------------------------------

def check_endpoint_error(fn: Callable) -> Feedback:
    """Exercise 01.1: mean end-point error ‖pred − true‖₂ of two (H, W, 2) flow fields, in pixels."""
    from dattt_nb.data.flow import endpoint_error

    def body():
        rng = np.random.default_rng(0)
        problems = []
        for shape in ((4, 5, 2), (8, 3, 2)):
            pred, true = rng.normal(size=shape).astype(np.float32), rng.normal(size=shape).astype(np.float32)
            got, want = _scalar(_call(fn, pred.copy(), true.copy())), endpoint_error(pred, true)
            diff = pred - true
            p = _diagnose(got, want, f"flow of shape {shape}", [
                ((np.linalg.norm(diff, axis=-1) ** 2).mean(),
                 "you average the squared distance: take the Euclidean norm per pixel, then the mean"),
                (np.abs(diff).sum(-1).mean(), "you use |du| + |dv| (L1); the end-point error is sqrt(du² + dv²)"),
                (np.abs(diff).mean(), "you average |du| and |dv| separately; combine them per pixel: sqrt(du² + dv²)"),
            ])
            if p:
                problems.append(p)
                break
        zero = np.zeros((3, 3, 2), np.float32)
        if not problems and _scalar(_call(fn, zero, zero)) != 0:
            problems.append("identical flows must have error 0")
        return problems, []

    return _run("01.1 end-point error", body, forbid=(endpoint_error,))


def check_normalize_depth(fn: Callable) -> Feedback:
    """Exercise 01.2: a video's depth → (eps, 1] by its maximum, 0 where invalid (≤ 0 or not finite)."""
    from dattt_nb.data.depth import EPS, normalize_depth

    def body():
        d = np.array([[[2.0, 4.0], [0.0, np.nan]], [[8.0, 1e-6], [-1.0, np.inf]]], dtype=np.float32)
        got = _call(fn, d.copy())
        got = np.asarray(got.numpy() if isinstance(got, torch.Tensor) else got, dtype=np.float32)
        want = normalize_depth(d)
        problems = []
        if got.shape != want.shape:
            return [f"shape {got.shape}, expected {want.shape} (same as the input)"], []
        if not np.isfinite(got).all():
            problems.append("non-finite depths must become 0 (invalid), not stay NaN/inf")
        valid = np.isfinite(d) & (d > 0)
        if np.isfinite(got).all() and not np.allclose(got[~valid], 0):
            problems.append("invalid pixels (≤ 0, NaN, inf) must be 0")
        if not np.isclose(got[valid].max(), 1.0):
            problems.append(f"the largest valid depth should map to 1, got {got[valid].max():.3g}")
        elif np.isclose(got[valid].min(), 0.0):
            problems.append("the nearest pixel maps to 0: divide by the maximum (min-max scaling would make the "
                            f"nearest pixel 'invalid'); valid depths stay ≥ eps = {EPS:g}")
        if not problems and not np.allclose(got, want, atol=1e-6):
            problems.append("valid depths should be depth / max, clipped to [eps, 1]")
        return problems, []

    return _run("01.2 depth normalisation", body, forbid=(normalize_depth,))


# --- notebook 02: the losses of eq. 2 --------------------------------------------------------------------------

def _depth_pairs():
    g = torch.Generator().manual_seed(0)
    pred = torch.rand(2, 1, 6, 6, generator=g) * 0.8 + 0.1
    target = torch.rand(2, 1, 6, 6, generator=g) * 0.8 + 0.1
    target_holes = target.clone()
    target_holes[0, 0, :2] = 0  # invalid pixels: target == 0
    return pred, target, target_holes


def check_silog(fn: Callable) -> Feedback:
    """Exercise 02.1: SILog of eq. 2, sqrt(Var(g) + 0.15·mean(g)²) with g = log(pred+ε) − log(target+ε), ε = 1e-3,
    over the pixels where target > 0, compared with :func:`dattt_nb.losses.silog_loss`."""
    from dattt_nb.losses import silog_loss

    def body():
        pred, target, holes = _depth_pairs()
        problems, notes = [], []
        got = _call(fn, pred.clone(), target.clone())
        got_v = _scalar(got, "SILog")
        g = torch.log(pred + 1e-3) - torch.log(target + 1e-3)
        p = _diagnose(got_v, float(silog_loss(pred, target)), "SILog on random maps", [
            (torch.sqrt(g.var() + g.mean() ** 2), "the mean term needs the weight 0.15: sqrt(Var(g) + 0.15·mean(g)²)"),
            (torch.sqrt(g.var()), "the 0.15·mean(g)² term is missing"),
            (g.abs().mean(), "that is the mean absolute log error, not SILog (variance + 0.15·mean², then sqrt)"),
        ])
        if p:
            problems.append(p)
        scaled = _scalar(_call(fn, 2 * pred, pred), "SILog")
        want_scaled = float(silog_loss(2 * pred, pred))
        if not math.isclose(scaled, want_scaled, rel_tol=1e-3, abs_tol=1e-5):
            problems.append(f"scale invariance: SILog(2·d, d) should be only the mean term, sqrt(0.15)·log 2 ≈ "
                            f"{want_scaled:.4f}; got {scaled:.4f}")
        same = _scalar(_call(fn, pred, pred), "SILog")
        if abs(same) > 1e-4:
            problems.append(f"SILog(d, d) must be 0, got {same:.4g}")
        with_holes = _scalar(_call(fn, pred, holes), "SILog")
        if not math.isclose(with_holes, float(silog_loss(pred, holes)), rel_tol=1e-3):
            problems.append("pixels where the target is 0 (invalid) must be left out")
        if isinstance(got, torch.Tensor) and not got.requires_grad:
            x = pred.clone().requires_grad_(True)
            out = _call(fn, x, target)
            if not (isinstance(out, torch.Tensor) and out.requires_grad):
                problems.append("the loss must stay a torch tensor connected to pred (no .item()/numpy): "
                                "training needs its gradient")
        return problems, notes

    return _run("02.1 SILog (eq. 2)", body, forbid=(silog_loss,))


def check_joint_loss(fn: Callable) -> Feedback:
    """Exercise 02.2: eq. 2, BCE(mask_logits, mask) + λ·SILog(sigmoid(depth_logits), depth)."""
    from dattt_nb.losses import bce_loss, joint_loss, silog_loss

    def body():
        g = torch.Generator().manual_seed(1)
        mask_logits, depth_logits = torch.randn(2, 1, 6, 6, generator=g), torch.randn(2, 1, 6, 6, generator=g)
        mask = torch.rand(2, 6, 6, generator=g) > 0.5
        depth = torch.rand(2, 6, 6, generator=g) * 0.9 + 0.05
        problems = []
        for lam in (0.1, 1.0):
            got = _scalar(_call(fn, mask_logits, depth_logits, mask, depth, lam), "the joint loss")
            bce = float(bce_loss(mask_logits, mask))
            sil = float(silog_loss(torch.sigmoid(depth_logits), depth))
            logits_hint = "the depth decoder outputs logits: take sigmoid(depth_logits) before SILog"
            p = logits_hint if math.isnan(got) else _diagnose(
                got, float(joint_loss(mask_logits, depth_logits, mask, depth, lam)[0]), f"λ = {lam}", [
                    (bce + sil, "λ is not applied: the depth term is λ·SILog"),
                    (lam * bce + sil, "λ multiplies the BCE; it weighs the depth term: BCE + λ·SILog"),
                    (bce + lam * float(silog_loss(depth_logits, depth)), logits_hint),
                    (bce, "the depth term is missing"),
                ])
            if p:
                problems.append(p)
                break
        return problems, []

    return _run("02.2 joint loss (eq. 2)", body, forbid=(joint_loss,))


# --- notebook 03: the modulation layer (eq. 3) -----------------------------------------------------------------

def _modulation_layer(seed: int = 0, dim: int = 4):
    from dattt_nb.models.modulation import ScaleModulation

    torch.manual_seed(seed)
    layer = ScaleModulation(dim)
    with torch.no_grad():  # away from the identity start, so every term matters
        for conv in (layer.alpha, layer.beta):
            conv.weight.normal_(0, 0.5)
            conv.bias.normal_(0, 0.5)
    g = torch.Generator().manual_seed(seed + 1)
    return layer, torch.randn(2, dim, 3, 3, generator=g), torch.randn(2, dim, 3, 3, generator=g)


def check_modulation(fn: Callable) -> Feedback:
    """Exercise 03.1: eq. 3 with a trained layer's parts: s = ReLU(conv([D_d, D_m])), α = conv_α(s), β = conv_β(s),
    D_m ← α ⊙ D_m + β; compared with :class:`~dattt_nb.models.modulation.ScaleModulation`."""
    from dattt_nb.models.modulation import ScaleModulation

    def body():
        layer, depth_embed, mask_embed = _modulation_layer()
        with torch.no_grad():
            got = _call(fn, layer, depth_embed.clone(), mask_embed.clone())
            want = layer(depth_embed, mask_embed)
            if not isinstance(got, torch.Tensor):
                return [f"return a tensor, got {type(got).__name__}"], []
            if got.shape != want.shape:
                return [f"shape {tuple(got.shape)}, expected {tuple(want.shape)} (that of D_m)"], []
            if torch.allclose(got, want, atol=1e-5):
                return [], []
            alpha, beta = layer.coefficients(depth_embed, mask_embed)
            swapped = layer.alpha(layer.shared(torch.cat([mask_embed, depth_embed], 1)))
            guesses = [
                (mask_embed, "you return D_m unchanged: apply α ⊙ D_m + β"),
                (alpha * mask_embed, "β is missing: D_m ← α ⊙ D_m + β"),
                (mask_embed + beta, "α is missing: D_m ← α ⊙ D_m + β"),
                (alpha + mask_embed + beta, "α should multiply D_m (element-wise), not be added"),
                (beta * mask_embed + alpha, "α and β are swapped: α scales, β shifts"),
                (swapped * mask_embed + layer.beta(layer.shared(torch.cat([mask_embed, depth_embed], 1))),
                 "concatenate [D_d, D_m] in that order (depth first), as the layer's shared conv was trained"),
            ]
            for guess, hint in guesses:
                if torch.allclose(got, guess, atol=1e-5):
                    return [hint], []
            return [f"values differ from the layer's output (max |diff| {float((got - want).abs().max()):.3g})"], []

    return _run("03.1 depth-aware modulation (eq. 3)", body,
                forbid=(ScaleModulation.forward, ScaleModulation.coefficients))


def check_identity_init(fn: Callable) -> Feedback:
    """Exercise 03.2: initialise a :class:`ScaleModulation` so that it starts as the identity (α ≡ 1, β ≡ 0) while
    α and β can still learn from depth (their convolutions must get gradients)."""

    def body():
        layer, depth_embed, mask_embed = _modulation_layer(seed=3)
        _call(fn, layer)
        problems = []
        with torch.no_grad():
            out = layer(depth_embed, mask_embed)
        if not torch.allclose(out, mask_embed, atol=1e-6):
            with torch.no_grad():
                alpha, beta = layer.coefficients(depth_embed, mask_embed)
            problems.append(f"the layer is not the identity: α ranges {float(alpha.min()):.3g}…"
                            f"{float(alpha.max()):.3g} (want 1), β {float(beta.min()):.3g}…{float(beta.max()):.3g} "
                            "(want 0)")
        if any(p.requires_grad is False for p in layer.parameters()):
            problems.append("keep every parameter trainable (requires_grad=True)")
        x = mask_embed.clone()
        loss = (layer(depth_embed, x) * torch.randn_like(x)).sum()
        loss.backward()
        if layer.alpha.weight.grad is None or float(layer.alpha.weight.grad.abs().sum()) == 0:
            problems.append("α's convolution gets no gradient: the shared features must not be all zero "
                            "(zero the α/β convolutions' weights, not the shared conv)")
        return problems, []

    return _run("03.2 modulation starts as the identity", body)


# --- notebooks 04–06: strategies on the engine -----------------------------------------------------------------

@functools.lru_cache(maxsize=1)
def _ttt_setup():
    """A seeded ci-size model and a 3-frame 32 px video: enough to tell the strategies apart in a second."""
    from dattt_nb.config import resolve
    from dattt_nb.data.layout import Video
    from dattt_nb.models import build_model

    cfg = resolve("ci", device="cpu")
    torch.manual_seed(0)
    model = build_model(cfg).eval()
    g = torch.Generator().manual_seed(0)
    size, frames = 32, 3
    masks = torch.zeros(frames, size, size, dtype=torch.bool)
    masks[:, 8:20, 10:22] = True
    video = Video(name="exercise", frames=torch.rand(frames, 3, size, size, generator=g), masks=masks,
                  flow=torch.rand(frames, 3, size, size, generator=g), depth=None,
                  frame_names=[f"{t:05d}" for t in range(frames)])
    return model, video


def _engine(lr: float = 1e-2):
    from dattt_nb.ttt.engine import TTTEngine

    model, _ = _ttt_setup()
    engine = TTTEngine(model, objective="depth", lr=lr, n_pairs=2, seed=0)
    engine.begin_video()
    return engine


def _strategy_run(strategy: Callable, epochs: int, student: bool = True):
    """(predictions as [(pass, t, mask)], number of steps) of a strategy on the exercise video; a ``student``'s
    strategy runs with the library's strategies forbidden."""
    _, video = _ttt_setup()
    engine = _engine()
    with torch.random.fork_rng(devices=[]):  # stochastic depth draws from the global stream, as in run_video
        torch.manual_seed(engine.seed)
        try:
            with forbidden(*(_FORBIDDEN if student else ())):
                out = strategy(engine, video, epochs)
                if out is None:
                    raise _NotAttempted
                preds = [(p[0], int(p[1]), p[2].detach().float()) for p in out]
        except NotImplementedError:
            raise _NotAttempted from None
        except _NotAttempted:
            raise
        except Exception as err:
            used = _reference_used(err)
            if used:
                raise _Crashed(f"your strategy calls the library's `{used}`: the exercise is to write the schedule "
                               "yourself on the engine (engine.reset, engine.optimizer, engine.step, "
                               "engine.predict)") from None
            raise _Crashed(f"your strategy raised {type(err).__name__}: {err}") from None
    return preds, len(engine.steps)


@functools.lru_cache(maxsize=8)
def _library_run(name: str, epochs: int):
    from dattt_nb.ttt.strategies import STRATEGIES

    return _strategy_run(STRATEGIES[name], epochs, student=False)


def _same_predictions(a, b) -> bool:
    return len(a) == len(b) and all(pa[0] == pb[0] and pa[1] == pb[1] and torch.allclose(pa[2], pb[2], atol=1e-5)
                                    for pa, pb in zip(a, b))


STRATEGY_HINTS = {
    "none": "no step was taken: call engine.step(optimizer, video, t)",
    "naive": "that is TTT-N: every frame restarts from the trained weights (engine.reset() per frame)",
    "momentum": "that is TTT-MWI: weights carried from frame to frame, `epochs` steps on each frame in order",
    "loop": "that is TTT-LTV: `epochs` passes over the whole video, one step per frame",
}


def _check_strategy(name: str, label: str, fn: Callable, rules: str) -> Feedback:
    from dattt_nb.ttt.strategies import STRATEGIES, STRATEGY_RECORDS, n_predictions

    for other in STRATEGIES:  # the library's runs are computed before the student's, with nothing forbidden
        _library_run(other, 2)

    def body():
        _, video = _ttt_setup()
        T, epochs = len(video), 2
        preds, steps = _strategy_run(fn, epochs)
        want_preds, want_steps = _library_run(name, epochs)
        if _same_predictions(preds, want_preds) and steps == want_steps:
            return [], [f"{steps} steps, {len(preds)} predictions, masks equal the library's {label}"]
        problems = []
        if steps != want_steps:
            problems.append(f"{steps} adaptation steps for {T} frames × {epochs} epochs; {label} takes {want_steps}")
        if len(preds) != n_predictions(name, T, epochs):
            problems.append(f"{len(preds)} predictions; {label} yields {n_predictions(name, T, epochs)} ({rules})")
        order = [(p, t) for p, t, _ in preds]
        if order != [(p, t) for p, t, _ in want_preds] and len(preds) == len(want_preds):
            problems.append(f"predictions come in the order {order[:6]}…; {rules}")
        for other in STRATEGY_RECORDS:
            if other != name:
                other_preds, other_steps = _library_run(other, epochs)
                masks = [m for *_, m in preds]
                if len(masks) == len(other_preds) and all(torch.allclose(m, o[2], atol=1e-5)
                                                          for m, o in zip(masks, other_preds)):
                    problems.append(STRATEGY_HINTS[other])
                    break
        if not problems:
            problems.append("the masks differ from the library's: check when you reset the weights "
                            "(engine.reset()) and when you create the optimizer (engine.optimizer())")
        return problems, []

    return _run(f"{label} on the engine", body, forbid=tuple(STRATEGIES.values()))


def check_naive(fn: Callable) -> Feedback:
    """Exercise 04.1: TTT-N (Fig. 4a) as a generator ``fn(engine, video, epochs)`` of Predictions."""
    return _check_strategy("naive", "TTT-N", fn, "each frame: reset, new optimizer, `epochs` steps, predict it")


def check_momentum(fn: Callable) -> Feedback:
    """Exercise 05.1: TTT-MWI (Fig. 4b) as a generator ``fn(engine, video, epochs)`` of Predictions."""
    return _check_strategy("momentum", "TTT-MWI", fn,
                           "one reset and one optimizer per video; frames in order, `epochs` steps each, then predict")


def check_loop(fn: Callable) -> Feedback:
    """Exercise 06.1: TTT-LTV (Fig. 4c) as a generator ``fn(engine, video, epochs)`` of Predictions."""
    return _check_strategy("loop", "TTT-LTV", fn,
                           "passes 0…epochs-1, each frame predicted right after its step, then every frame "
                           "again with pass 'final'")


def check_consistency(fn: Callable) -> Feedback:
    """Exercise 04.2: eq. 4 from the two views' predicted depths, ``fn(depth1, depth2) -> loss``:
    SILog(d², d¹), with gradients through both views (the official release stops none)."""
    from dattt_nb.losses import silog_loss

    def body():
        g = torch.Generator().manual_seed(2)
        d1 = (torch.rand(2, 1, 5, 5, generator=g) * 0.8 + 0.1).requires_grad_(True)
        d2 = (torch.rand(2, 1, 5, 5, generator=g) * 0.8 + 0.1).requires_grad_(True)
        got = _call(fn, d1, d2)
        problems = []
        value = _scalar(got, "the consistency loss")
        want = float(silog_loss(d2, d1))
        p = _ratio_problem(value, want, "eq. 4")
        if p:
            problems.append(p)
        if not isinstance(got, torch.Tensor) or not got.requires_grad:
            problems.append("return a tensor connected to both depths (no .item(), no torch.no_grad())")
        else:
            g1, g2 = torch.autograd.grad(got, (d1, d2), allow_unused=True)
            if g1 is None or float(g1.abs().sum()) == 0:
                problems.append("no gradient reaches view 1's depth: do not detach it (the release lets gradients "
                                "flow through both views)")
            if g2 is None or float(g2.abs().sum()) == 0:
                problems.append("no gradient reaches view 2's depth")
        flat = _scalar(_call(fn, torch.full((1, 1, 4, 4), 0.5), torch.full((1, 1, 4, 4), 0.5)))
        if abs(flat) > 1e-6:
            problems.append(f"two identical (e.g. flat) maps must cost 0 — that is the trivial solution; got {flat:.3g}")
        return problems, []

    return _run("04.2 depth consistency (eq. 4)", body)  # SILog of notebook 02 is a building block here


def check_photometric_shift(fn: Callable) -> Feedback:
    """Exercise 05.2: a photometric shift ``fn(frames) -> frames`` for (T, 3, H, W) in [0, 1]: same shape, still in
    [0, 1], clearly different colours, the same geometry (edges stay where they were)."""

    def body():
        _, video = _ttt_setup()
        frames = video.frames.clone()
        out = _call(fn, frames.clone())
        if not isinstance(out, torch.Tensor):
            return [f"return a tensor, got {type(out).__name__}"], []
        problems = []
        if out.shape != frames.shape:
            return [f"shape {tuple(out.shape)}, expected {tuple(frames.shape)}: a photometric shift keeps the "
                    "geometry and the size"], []
        if not torch.isfinite(out).all() or out.min() < 0 or out.max() > 1:
            problems.append(f"values must stay in [0, 1] (got {float(out.min()):.3g}…{float(out.max()):.3g}): clamp")
        change = float((out - frames).abs().mean())
        if change < 0.02:
            problems.append(f"the frames barely change (mean |Δ| {change:.3f}): make the shift visible")
        gx = lambda x: (x[..., 1:] - x[..., :-1]).mean(1).flatten()  # noqa: E731  horizontal edges, grey
        a, b = gx(frames), gx(out)
        corr = float(torch.corrcoef(torch.stack([a, b]))[0, 1]) if b.std() > 0 else 0.0
        if corr < 0.5:
            problems.append(f"edges moved (correlation {corr:.2f} with the original's): change colours, not "
                            "positions — no flips, crops or shuffles")
        return problems, [f"mean |Δ| {change:.3f}, edge correlation {corr:.2f}"]

    return _run("05.2 photometric shift", body)


def strategies_on_shift(model, video, shift: Callable, settings, strategies=("none", "naive", "momentum"),
                        epochs: int | None = None):
    """J ×100 of each strategy on ``video`` and on ``shift(video.frames)`` (flow kept): who copes with the shift?"""
    import dataclasses

    import pandas as pd

    from dattt_nb.ttt.engine import TTTEngine
    from dattt_nb.ttt.runner import run_video
    from dattt_nb.ttt.spec import TTTRun

    shifted = dataclasses.replace(video, frames=shift(video.frames.clone()).clamp(0, 1))
    rows = []
    for name in strategies:
        row = {"strategy": name}
        spec = TTTRun.from_settings(settings, strategy=name, epochs=epochs or None)
        for label, v in (("original", video), ("shifted", shifted)):
            res = run_video(TTTEngine.for_run(model, spec), v, spec)
            row[f"J {label}"] = 100 * res.J
        rows.append(row)
    table = pd.DataFrame(rows).set_index("strategy")
    table["shift costs"] = table["J shifted"] - table["J original"]
    return table.round(2)


# --- notebook 06: reading the collapse monitor -----------------------------------------------------------------

COLLAPSE_RUNS = {  # spatial std of the views' depth per TTT step, three made-up runs (for the quiz)
    "A": np.r_[np.linspace(0.165, 0.160, 24)],
    "B": np.r_[np.linspace(0.165, 0.08, 12), np.linspace(0.08, 0.02, 12)],
    "C": 0.165 + 0.004 * np.sin(np.arange(24)),
}


def plot_collapse_quiz():
    """Three depth-std traces as the monitor of notebooks 04–06 draws them; one run collapsed."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 2.8))
    for name, trace in COLLAPSE_RUNS.items():
        ax.plot(trace, marker=".", label=f"run {name}")
    ax.set_xlabel("TTT step")
    ax.set_ylabel("spatial std of depth")
    ax.set_ylim(0, 0.2)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def check_collapse_reading(run: str | None, cause: str | None) -> Feedback:
    """Exercise 06.2: which run collapsed (``run``: "A" | "B" | "C") and what would you change first (``cause``:
    "lr" lower the learning rate | "epochs" fewer passes | "pairs" more view pairs | "nothing")?"""

    def body():
        if run in (None, "", Ellipsis) or cause in (None, "", Ellipsis):
            raise _NotAttempted
        problems = []
        r = str(run).strip().upper()
        if r != "B":
            problems.append(f"run {r} keeps its depth std near 0.16: a collapse shows as the std falling toward 0 "
                            "(a flat map, which two views trivially agree on)")
        c = str(cause).strip().lower()
        if c not in ("lr", "epochs", "pairs", "nothing"):
            problems.append("cause: one of 'lr', 'epochs', 'pairs', 'nothing'")
        elif c == "nothing":
            problems.append("a collapsing run loses J; change something: the drift is fastest with a large lr")
        elif c == "pairs":
            problems.append("more pairs average the gradient but do not slow the drift; the early study saw the "
                            "collapse grow with the learning rate — lower it first")
        elif c == "epochs":
            problems.append("fewer passes shorten the drift but do not slow it; the first knob is the learning rate, "
                            "which sets how fast each step pulls the depth map flat")
        return problems, []

    return _run("06.2 reading the collapse monitor", body)


# --- notebook 07: other TTT objectives -------------------------------------------------------------------------

def check_binary_entropy(fn: Callable) -> Feedback:
    """Exercise 07.1: TENT's objective for a mask, the mean per-pixel entropy of Bernoulli(sigmoid(logits)), in nats."""
    from dattt_nb.ttt.objectives import binary_entropy

    def body():
        g = torch.Generator().manual_seed(4)
        logits = torch.randn(2, 1, 5, 5, generator=g) * 3
        got = _scalar(_call(fn, logits.clone()), "the entropy")
        want = float(binary_entropy(logits))
        prob = torch.sigmoid(logits)
        p = _diagnose(got, want, "entropy", [
            (-(prob * torch.log(prob)).mean(), "only the foreground term: a Bernoulli entropy is −p·log p − (1−p)·log(1−p)"),
            (want / math.log(2), "you use log2 (bits); the loss uses the natural log (nats)"),
        ])
        problems = [p] if p else []
        big = _scalar(_call(fn, torch.full((1, 1, 2, 2), 50.0)), "the entropy")
        if not math.isfinite(big) or abs(big) > 1e-6:
            problems.append(f"confident logits (50) must give entropy ≈ 0, got {big:.3g}: use log-sigmoid "
                            "(F.logsigmoid) for numerical stability")
        zero = _scalar(_call(fn, torch.zeros(1, 1, 2, 2)), "the entropy")
        if not math.isclose(zero, math.log(2), rel_tol=1e-4) and not problems:
            problems.append(f"logit 0 (p = 0.5) is the most uncertain: ln 2 ≈ 0.693, got {zero:.4g}")
        return problems, []

    return _run("07.1 TENT's entropy", body, forbid=(binary_entropy,))


def check_rotate_batch(fn: Callable) -> Feedback:
    """Exercise 07.2: TTT-Rot's self-supervised batch: image k turned by (k mod 4) × 90°, labels k mod 4."""
    from dattt_nb.models.aux_heads import rotate_batch

    def body():
        g = torch.Generator().manual_seed(5)
        images = torch.rand(6, 3, 4, 4, generator=g)
        out = _call(fn, images.clone())
        if not (isinstance(out, tuple) and len(out) == 2):
            return ["return (rotated images, labels)"], []
        rotated, labels = out
        want_r, want_l = rotate_batch(images)
        problems = []
        if not torch.equal(torch.as_tensor(labels).long().cpu(), want_l):
            problems.append(f"labels {torch.as_tensor(labels).tolist()}, expected {want_l.tolist()} (k mod 4)")
        if not isinstance(rotated, torch.Tensor) or rotated.shape != images.shape:
            problems.append("rotated images must have the input's shape (square images)")
        elif not torch.allclose(rotated, want_r):
            k1 = torch.rot90(images[1], -1, dims=(-2, -1))
            if torch.allclose(rotated[1], k1):
                problems.append("rotation goes the wrong way: torch.rot90(x, k, dims=(-2, -1)) turns "
                                "counter-clockwise")
            elif torch.allclose(rotated, images):
                problems.append("the images are not rotated")
            else:
                problems.append("rotated images differ: rotate the spatial dims (-2, -1) by k × 90°")
        return problems, []

    return _run("07.2 rotation batch (TTT-Rot)", body, forbid=(rotate_batch,))


# --- notebook 08: the DAVIS measures ---------------------------------------------------------------------------

def check_jaccard(fn: Callable) -> Feedback:
    """Exercise 08.1: region similarity J = |gt ∩ pred| / |gt ∪ pred| of two (H, W) boolean masks; both empty → 1."""
    from dattt_nb.metrics import jaccard

    def body():
        rng = np.random.default_rng(6)
        problems = []
        cases = [(rng.random((6, 7)) > 0.5, rng.random((6, 7)) > 0.5) for _ in range(3)]
        empty = np.zeros((4, 4), bool)
        cases += [(empty, empty), (empty, ~empty)]
        for gt, pred in cases:
            got = _scalar(_call(fn, gt.copy(), pred.copy()), "J")
            empty_hint = f"both masks empty: the DAVIS convention is J = 1 (perfect), got {got}"
            p = _diagnose(got, float(jaccard(gt, pred)), "J", [
                (2 * (gt & pred).sum() / max(1, gt.sum() + pred.sum()),
                 "that is the Dice coefficient 2|A∩B|/(|A|+|B|); J divides by the union"),
                ((gt == pred).mean(), "that is pixel accuracy; J = intersection / union of the foregrounds"),
            ])
            if p:
                problems.append(empty_hint if not gt.any() and not pred.any() else p)
                break
        return problems, []

    return _run("08.1 region similarity J", body, forbid=(jaccard,))


def check_recall_decay(fn: Callable) -> Feedback:
    """Exercise 08.2: DAVIS statistics of per-frame scores: dict(mean, recall = fraction > 0.5, decay = mean of the
    first quarter − mean of the last quarter, the official bins)."""
    from dattt_nb.metrics import db_statistics

    def body():
        problems = []
        for values in (np.linspace(0.9, 0.3, 12), np.r_[0.8, 0.7, 0.4, 0.6, 0.2, 0.9, 0.55, 0.5]):
            got = _call(fn, values.copy())
            if not isinstance(got, dict) or not {"mean", "recall", "decay"} <= set(got):
                return ["return a dict with keys 'mean', 'recall', 'decay'"], []
            want = db_statistics(values)
            for key in ("mean", "recall", "decay"):
                g = float(got[key])
                if not math.isclose(g, want[key], abs_tol=1e-6):
                    if key == "recall" and math.isclose(g, float((values >= 0.5).mean()), abs_tol=1e-6):
                        problems.append("recall counts frames with a score strictly above 0.5")
                    elif key == "decay" and math.isclose(g, -want[key], abs_tol=1e-6):
                        problems.append("decay is first quarter − last quarter (positive when scores fall)")
                    elif key == "decay":
                        problems.append(f"decay {g:.4g}, expected {want[key]:.4g}: bins are "
                                        "round(linspace(1, T, 5)) − 1, each including its right bound")
                    else:
                        problems.append(_ratio_problem(g, want[key], key))
            if problems:
                break
        return problems, []

    return _run("08.2 mean, recall, decay", body, forbid=(db_statistics,))


# --- notebook 09: a real video ---------------------------------------------------------------------------------

def check_natural_sort(fn: Callable) -> Feedback:
    """Exercise 09.1: order frame file names as a person would (``frame10`` after ``frame9``)."""
    from dattt_nb.data.layout import natural_key

    def body():
        cases = [["frame10.jpg", "frame9.jpg", "frame1.jpg", "frame100.jpg", "frame2.jpg", "frame11.jpg"],
                 ["b2.png", "a10.png", "a9.png"],  # the name comes first: a sort on (length, name) fails here
                 ["shot2_f10.png", "shot10_f1.png", "shot2_f9.png", "shot1_f20.png"],  # several numbers per name
                 ["x.jpg"], []]
        for names in cases:
            got = list(_call(fn, list(names)))
            want = sorted(names, key=natural_key)
            if got == want:
                continue
            if got == sorted(names):
                return ["that is plain string order (frame10 before frame9): compare the numbers as numbers"], []
            if got == sorted(names, key=lambda n: (len(n), n)):
                return [f"sorting by (length, name) only works when every name has the same prefix: {names} "
                        f"should give {want}, got {got}; split each name into text and numbers"], []
            return [f"{names}: got {got}, expected {want}"], []
        return [], []

    return _run("09.1 natural frame order", body, forbid=(natural_key,))


def check_temporal_iou(fn: Callable) -> Feedback:
    """Exercise 09.2: without ground truth, how stable are the masks? Mean J between consecutive masks (T, H, W)."""
    from dattt_nb.metrics import jaccard

    def body():
        rng = np.random.default_rng(7)
        masks = rng.random((5, 6, 6)) > 0.4
        got = _scalar(_call(fn, masks.copy()), "the stability")
        want = float(np.mean(jaccard(masks[1:], masks[:-1])))
        problems = []
        if not math.isclose(got, want, abs_tol=1e-6):
            first = float(np.mean(jaccard(np.repeat(masks[:1], 4, 0), masks[1:])))
            if math.isclose(got, first, abs_tol=1e-6):
                problems.append("compare each mask with the previous one, not with the first")
            else:
                problems.append(_ratio_problem(got, want, "mean consecutive J"))
        still = np.repeat(masks[:1], 3, 0)
        if not problems and not math.isclose(_scalar(_call(fn, still)), 1.0):
            problems.append("a mask that never changes must score 1")
        return problems, []

    return _run("09.2 temporal stability", body)  # J of notebook 08 is a building block here


# --- reading this run's results (notebooks 04–07): graded against the run's own numbers ------------------------

def _shifted_rows(by_split) -> list[str]:
    from dattt_nb.splits import shifted

    return shifted([s for s in by_split.index if s not in ("mean", "mean_shifted")])


def check_splits_improved(answer, by_split) -> Feedback:
    """Exercise 04.3: on how many test splits did the strategy raise mean J (``dJ`` > 0 in the per-split table)?"""

    def body():
        if answer in (None, "", Ellipsis):
            raise _NotAttempted
        splits = [s for s in by_split.index if s not in ("mean", "mean_shifted")]
        truth = int((by_split.loc[splits, "dJ"].astype(float) > 0).sum())
        try:
            got = int(answer)
        except (TypeError, ValueError):
            return [f"answer with a whole number of splits (0–{len(splits)})"], []
        if got != truth:
            return [f"count the rows of the per-split table (not the mean rows) whose `dJ` is above zero: "
                    f"{got} is not what this run printed"], []
        return [], [f"{truth} of {len(splits)} splits; whether that means anything is what the interval says"]

    return _run("04.3 reading the per-split table", body)


def check_interval_reading(answer, by_split) -> Feedback:
    """Exercise 05.3: does the 95 % interval of the change on the shifted splits (``mean_shifted``: ``dJ_lo`` …
    ``dJ_hi``) contain zero — "yes" or "no"?"""

    def body():
        if answer in (None, "", Ellipsis):
            raise _NotAttempted
        row = "mean_shifted" if "mean_shifted" in by_split.index else "mean"
        lo, hi = float(by_split.loc[row, "dJ_lo"]), float(by_split.loc[row, "dJ_hi"])
        truth = "yes" if lo <= 0 <= hi else "no"
        got = str(answer).strip().lower()
        if got not in ("yes", "no"):
            return ['answer "yes" or "no"'], []
        if got != truth:
            return [f"read the `{row}` row: is zero between `dJ_lo` and `dJ_hi`?"], []
        return [], ["an interval that contains zero means this run cannot tell a gain from a loss"
                    if truth == "yes" else "the whole interval is on one side of zero: a measured effect"]

    return _run("05.3 reading an interval", body)


def check_verdict_choice(answer, by_split) -> Feedback:
    """Exercise 06.3: which statement does this run support about TTT-LTV on the shifted splits? "a" it improves
    J (interval above 0), "b" no measured change (interval contains 0), "c" it lowers J (interval below 0)."""

    def body():
        if answer in (None, "", Ellipsis):
            raise _NotAttempted
        row = "mean_shifted" if "mean_shifted" in by_split.index else "mean"
        lo, hi = float(by_split.loc[row, "dJ_lo"]), float(by_split.loc[row, "dJ_hi"])
        truth = "a" if lo > 0 else "c" if hi < 0 else "b"
        got = str(answer).strip().lower()[:1]
        if got not in ("a", "b", "c"):
            return ['answer "a", "b" or "c"'], []
        if got != truth:
            return ["the verdict reads the interval, not the mean: where do `dJ_lo` and `dJ_hi` of the shifted "
                    "splits lie relative to zero?"], []
        return [], []

    return _run("06.3 what the run supports", body)


def check_pretext_reading(answer, pretext) -> Feedback:
    """Exercise 07.3: which of TTT-Rot / TTT-MAE learned its pretext task in this run (a list, maybe empty)?"""

    def body():
        if answer is None or answer is Ellipsis:
            raise _NotAttempted
        names = [answer] if isinstance(answer, str) else list(answer)
        got = {str(n).strip().lower() for n in names if str(n).strip()}
        truth = {str(m).lower() for m in pretext.index if bool(pretext.loc[m, "learned"])}
        unknown = got - {str(m).lower() for m in pretext.index}
        if unknown:
            return [f"name methods of the pretext table ({', '.join(pretext.index)}), not {sorted(unknown)}"], []
        if got != truth:
            return ["a task is learned only when the whole interval (`lo` … `hi`) is above `chance`"], []
        return [], ["a method whose task was not learned gets no rank: its gradient says nothing about the frame"]

    return _run("07.3 which pretext task was learned", body)
