"""Tables of TTT results (notebooks' TTT sections, Table 3, Fig. 5): per split, per video, per step, per pass.

Every function takes :class:`~dattt_nb.ttt.records.TTTResult` s (usually ``{split: result}``, from
:func:`dattt_nb.ttt.cache.run_splits`) and returns a pandas DataFrame of scores ×100; :func:`trace_passes` replays
one video to keep the masks of every pass.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from dattt_nb.config import pick_device
from dattt_nb.splits import CLEAN_SPLIT, shifted, split_label
from dattt_nb.stats import Interval, paired_delta_ci
from dattt_nb.ttt.engine import TTTEngine
from dattt_nb.ttt.records import TTTResult
from dattt_nb.ttt.runner import seeded_run
from dattt_nb.ttt.spec import TTTRun
from dattt_nb.ttt.strategies import ADAPTIVE, STRATEGY_LABELS, resolve_strategy, step_epochs


def merge_splits(results: dict[str, TTTResult]) -> TTTResult:
    """One TTTResult holding the videos of every split (for figures over all test videos)."""
    first = next(iter(results.values()))
    return TTTResult(first.run, [v for res in results.values() for v in res.videos])


def most_changed(base: dict[str, TTTResult], adapted: dict[str, TTTResult], n: int = 3,
                 splits=None) -> list[tuple[str, str]]:
    """(split, video) of the ``n`` videos whose J changed most with TTT, either way (what the figures show)."""
    changes = [(abs(v.J - b.J), split, v.name) for split, res in adapted.items() if splits is None or split in splits
               for v, b in zip(res.videos, base[split].videos)]
    return [(split, name) for _, split, name in sorted(changes, key=lambda c: -c[0])[:n]]


# --- tables --------------------------------------------------------------------------------------

def split_scores(results: dict[str, TTTResult], final: bool = False) -> pd.DataFrame:
    """Rows = split; J and F ×100, mean over videos (DAVIS protocol); ``final``: LTV's re-prediction."""
    rows = []
    for split, res in results.items():
        J = [v.final_J if final else v.J for v in res.videos]
        F = [v.final_F if final else v.F for v in res.videos]
        rows.append(dict(split=split, dataset=split_label(split), J=100 * np.nanmean(J), F=100 * np.nanmean(F),
                         videos=len(res.videos)))
    return pd.DataFrame(rows).set_index("split")


def video_deltas(base: dict[str, TTTResult], adapted: dict[str, TTTResult], splits=None,
                 measure: str = "J") -> Interval:
    """The mean per-video change of ``measure`` ×100 over the videos of ``splits`` (default: all) with its 95 %
    bootstrap interval over those videos (:func:`dattt_nb.stats.paired_delta_ci`)."""
    splits = list(adapted) if splits is None else list(splits)
    after = [100 * getattr(v, measure) for s in splits for v in adapted[s].videos]
    before = [100 * getattr(v, measure) for s in splits for v in base[s].videos]
    return paired_delta_ci(after, before)


def compare_splits(base: dict[str, TTTResult], adapted: dict[str, TTTResult]) -> pd.DataFrame:
    """Per split: J and F ×100 without TTT and with the strategy, and the change (dJ, dF) with the 95 % bootstrap
    interval of dJ over the split's videos (``dJ_lo``, ``dJ_hi``); mean rows at the end (their interval resamples
    the pooled videos of the splits they average)."""
    b, a = split_scores(base), split_scores(adapted)
    df = pd.DataFrame({"dataset": b["dataset"], "J_none": b["J"], "J": a["J"], "dJ": a["J"] - b["J"],
                       "F_none": b["F"], "F": a["F"], "dF": a["F"] - b["F"], "videos": a["videos"]})
    values = ["J_none", "J", "dJ", "F_none", "F", "dF"]
    groups = {"mean": list(df.index)}
    if 0 < len(shifted(df.index)) < len(df):
        groups["mean_shifted"] = shifted(df.index)
    intervals = {split: video_deltas(base, adapted, [split]) for split in df.index}
    for name, splits in groups.items():
        df.loc[name] = {**df.loc[splits, values].mean().to_dict(), "dataset": name.replace("_", " "),
                        "videos": df.loc[splits, "videos"].sum()}
        intervals[name] = video_deltas(base, adapted, splits)
    df["videos"] = df["videos"].astype(int)
    df.insert(df.columns.get_loc("dJ") + 1, "dJ_lo", [intervals[s].lo for s in df.index])
    df.insert(df.columns.get_loc("dJ_lo") + 1, "dJ_hi", [intervals[s].hi for s in df.index])
    return df


def row_interval(row) -> Interval:
    """The dJ interval of one row of :func:`compare_splits` (or any row with ``dJ``, ``dJ_lo``, ``dJ_hi``)."""
    return Interval(float(row["dJ"]), float(row["dJ_lo"]), float(row["dJ_hi"]), int(row.get("videos", 0) or 0))


def per_video_from_results(base: dict[str, TTTResult], adapted: dict[str, TTTResult]) -> pd.DataFrame:
    """One row per (split, video): J, F ×100 without and with TTT, their change, steps, skips, seconds."""
    rows = []
    for split, res in adapted.items():
        none = {v.name: v for v in base[split].videos}
        for v in res.videos:
            n = none[v.name]
            rows.append(dict(split=split, video=v.name, J_none=100 * n.J, J=100 * v.J, dJ=100 * (v.J - n.J),
                             F_none=100 * n.F, F=100 * v.F, dF=100 * (v.F - n.F), J_final=100 * v.final_J,
                             frames=len(v.J_frames), steps=v.steps, skipped=v.skipped, nonfinite=v.nonfinite,
                             depth_std_none=float(np.nanmean(n.depth_std_frames)),
                             depth_std=float(np.nanmean(v.depth_std_frames)), seconds=v.seconds))
    return pd.DataFrame(rows).set_index(["split", "video"])


def table3_from_results(results: dict[str, dict[str, TTTResult]]) -> pd.DataFrame:
    """Table 3 analogue: rows none / naive / momentum / loop (absolute ×100) and ``<strategy>_delta`` rows (change
    from No TTT ×100); columns ``<split>_J``, ``<split>_F``, and the means over all and over the shifted splits."""
    rows = {}
    for strategy, by_split in results.items():
        s = split_scores(by_split)
        row = {"label": STRATEGY_LABELS.get(strategy, strategy), "value_kind": "absolute"}
        for split in s.index:
            row[f"{split}_J"], row[f"{split}_F"] = s.loc[split, "J"], s.loc[split, "F"]
        sh = shifted(s.index)
        row["shifted_J"], row["shifted_F"] = s.loc[sh, "J"].mean(), s.loc[sh, "F"].mean()
        row["mean_J"], row["mean_F"] = s["J"].mean(), s["F"].mean()
        rows[strategy] = row
    df = pd.DataFrame.from_dict(rows, orient="index")
    base = next((s for s in results if not resolve_strategy(s).adapts), None)  # No TTT: the changes are from it
    if base is not None:
        values = df.columns[2:]
        adapted = [s for s in results if resolve_strategy(s).adapts]
        for strategy in adapted:
            delta = df.loc[strategy, values].astype(float) - df.loc[base, values].astype(float)
            df.loc[f"{strategy}_delta"] = {"label": df.loc[strategy, "label"], "value_kind": "delta", **delta.to_dict()}
        add_intervals(df, {f"{s}_delta": (results[base], results[s]) for s in adapted})
    df.index.name = "strategy"
    return df


def delta_bounds(base: dict[str, TTTResult], adapted: dict[str, TTTResult], measure: str = "J") -> dict[str, float]:
    """``<split>_<measure>_lo`` / ``_hi`` (and ``shifted_…``, ``mean_…``): the 95 % bootstrap interval over videos
    of the change ×100 from ``base`` to ``adapted``, per split and pooled over the shifted splits and all splits."""
    groups = {split: [split] for split in adapted}
    if shifted(list(adapted)):
        groups["shifted"] = shifted(list(adapted))
    groups["mean"] = list(adapted)
    out = {}
    for name, splits in groups.items():
        iv = video_deltas(base, adapted, splits, measure)
        out[f"{name}_{measure}_lo"], out[f"{name}_{measure}_hi"] = iv.lo, iv.hi
        out[f"{name}_{measure}_n"] = iv.n
    return out


def stored_interval(row, col: str) -> Interval | None:
    """The interval a table row stores for ``col`` (``<col>_lo``, ``<col>_hi`` and, when saved, the number of
    videos ``<col>_n``), or ``None`` when the row has none (an absolute row)."""
    lo, hi = row.get(f"{col}_lo"), row.get(f"{col}_hi")
    if lo is None or hi is None or pd.isna(lo) or pd.isna(hi):
        return None
    n = row.get(f"{col}_n")
    return Interval(float(row[col]), float(lo), float(hi), int(n) if n is not None and pd.notna(n) else None)


def add_intervals(table: pd.DataFrame, pairs: dict, measure: str = "J") -> pd.DataFrame:
    """Write :func:`delta_bounds` into the rows of ``table`` named in ``pairs`` (row: (base, adapted)), in place."""
    for row, (base, adapted) in pairs.items():
        for col, value in delta_bounds(base, adapted, measure).items():
            table.loc[row, col] = value
    return table


def interval_layout(table: pd.DataFrame, rows=None, measure: str = "J", digits: int = 2) -> pd.DataFrame:
    """The ``<x>_<measure>`` columns of ``table`` as text: ``+0.14 [-0.18, +0.68]`` where the row holds a 95 %
    interval (``<x>_<measure>_lo``/``_hi``), the plain value otherwise (absolute rows); columns named by dataset."""
    rows = list(table.index) if rows is None else list(rows)
    cols = [c for c in table.columns if c.endswith(f"_{measure}")]
    out = pd.DataFrame(index=rows)
    for col in cols:
        key = col[: -len(measure) - 1]
        name = split_label(key)  # the means: "shifted (mean)", "all (mean)"
        lo, hi = f"{col}_lo", f"{col}_hi"
        cells = []
        for r in rows:
            v = table.loc[r, col]
            iv = stored_interval(table.loc[r], col) if lo in table.columns and hi in table.columns else None
            cells.append(iv.format(digits=digits) if iv is not None else "" if pd.isna(v) else f"{float(v):.{digits}f}")
        out[name] = cells
    return out


def table3_deltas(table: pd.DataFrame, measure: str = "J") -> pd.DataFrame:
    """The paper's layout of Table 3 from :func:`table3_from_results`: No TTT absolute, the strategies as +/- deltas;
    one measure."""
    cols = [c for c in table.columns if c.endswith(f"_{measure}")]
    rows = [r for r in table.index if r.endswith("_delta") or r not in ADAPTIVE]  # No TTT and the changes
    out = table.loc[rows, ["label"] + cols].set_index("label")
    out.columns = [split_label(c[: -len(measure) - 1]) for c in cols]
    return out.astype(float).round(2)


def fig5_rows(strategy: str, by_split: dict[str, TTTResult], epochs: int | None = None,
              base: dict[str, TTTResult] | None = None) -> list[dict]:
    """Fig. 5 rows (strategy, epoch, split, J ×100): LTV gives one row per pass; N / MWI one row at ``epochs``.
    With ``base`` (No TTT on the same videos) each row also holds the change ``dJ`` and its 95 % bootstrap interval
    over the split's videos (``dJ_lo``, ``dJ_hi``)."""
    from dattt_nb.stats import paired_delta_ci

    rows = []
    for split, res in by_split.items():
        before = None if base is None else [100 * v.J for v in base[split].videos]

        def row(epoch, per_video):
            out = dict(strategy=strategy, epoch=epoch, split=split, J=float(np.nanmean(per_video)))
            if before is not None and len(before) == len(per_video):
                iv = paired_delta_ci(per_video, before)
                out.update(dJ=iv.mean, dJ_lo=iv.lo, dJ_hi=iv.hi)
            return out

        record = resolve_strategy(strategy)
        if record.loops:
            passes = np.stack([np.nanmean(v.pass_J, axis=1) for v in res.videos])  # (videos, passes)
            for e in range(passes.shape[1]):
                rows.append(row(e + 1, 100 * passes[:, e]))
        else:
            e = res.epochs if epochs is None else epochs
            rows.append(row(e if record.adapts else 0, [100 * v.J for v in res.videos]))
    return rows


def fig5_table(rows: list[dict], none_rows: list[dict] | None = None) -> pd.DataFrame:
    """Long format (strategy, label, epoch, split, J ×100), plus the means over all and shifted splits per epoch;
    the No TTT rows become epoch 0 of every strategy."""
    df = pd.DataFrame(rows)
    if none_rows:
        base = pd.DataFrame(none_rows)
        df = pd.concat([df] + [base.assign(strategy=s, epoch=0) for s in df["strategy"].unique()], ignore_index=True)
    means = []
    for (strategy, epoch), g in df.groupby(["strategy", "epoch"]):
        means.append(dict(strategy=strategy, epoch=epoch, split="mean", J=g["J"].mean()))
        sh = g[g["split"].isin(shifted(g["split"]))]
        if len(sh):
            means.append(dict(strategy=strategy, epoch=epoch, split="mean_shifted", J=sh["J"].mean()))
    df = pd.concat([df, pd.DataFrame(means)], ignore_index=True)
    df["label"] = df["strategy"].map(STRATEGY_LABELS)
    extra = [c for c in ("dJ", "dJ_lo", "dJ_hi") if c in df.columns]  # intervals when the rows carry them
    return df.sort_values(["strategy", "split", "epoch"]).reset_index(drop=True)[["strategy", "label", "epoch",
                                                                                   "split", "J"] + extra]


# --- the schedule of steps -----------------------------------------------------------------------

def steps_long(result: TTTResult) -> pd.DataFrame:
    """Every TTT step of every video: video, step, epoch index, loss, depth std of the views (collapse watch)."""
    rows = []
    for v in result.videos:
        ep = step_epochs(result.strategy, len(v.J_frames), result.epochs, result.frame_gap)
        if len(ep) != len(v.losses):
            raise ValueError(f"{v.name}: {len(v.losses)} steps logged, the {result.strategy} schedule has {len(ep)}")
        rows += [dict(video=v.name, step=i, epoch=int(e) + 1, loss=l, depth_std=s)
                 for i, (e, l, s) in enumerate(zip(ep, v.losses, v.step_depth_std))]
    return pd.DataFrame(rows, columns=["video", "step", "epoch", "loss", "depth_std"])


# --- masks over the passes -----------------------------------------------------------------------

def trace_passes(model, video, settings, run: TTTRun | str | None = None, device=None, **overrides) -> dict:
    """{pass: (T, H, W) bool masks} of one video, exactly as :func:`~dattt_nb.ttt.runner.run_video` makes them
    (same reset and seeds); LTV gives one entry per pass and ``"final"``, N / MWI one entry (pass 0). ``run``: a
    :class:`~dattt_nb.ttt.spec.TTTRun` or a strategy name, with ``overrides`` as in ``run_ttt``."""
    run = TTTRun.resolve(settings, run, **overrides)
    device = torch.device(device) if device is not None else pick_device(settings)
    engine = TTTEngine.for_run(model, run).to(device)
    out = {}
    for p in seeded_run(engine, video, run):
        if p.pass_ not in out:
            out[p.pass_] = torch.zeros(len(video), *video.frames.shape[-2:], dtype=torch.bool)
        out[p.pass_][p.t] = (p.mask > 0.5).cpu()
    return out


# --- sentences computed from results --------------------------------------------------------------------------

def change_word(interval: Interval) -> str:
    """"improves" / "lowers" / "does not clearly change", read off the 95 % interval of the change over videos
    (:meth:`dattt_nb.stats.Interval.verdict`): "improves" only when the whole interval lies above zero."""
    return interval.verdict("improves", "lowers", "does not clearly change")


def extremes_phrase(changes: pd.Series, unit: str = "J") -> str:
    """The largest gain and the largest loss among ``changes`` (index: names), worded by their signs: a split
    that moved the least upward is "the smallest gain", never a "loss" with a plus sign."""
    changes = changes.astype(float).dropna()
    if changes.empty:
        return "no splits"
    top, bottom = changes.idxmax(), changes.idxmin()
    hi, lo = changes[top], changes[bottom]
    if lo >= 0:  # nothing lost
        return (f"every split gained or held: largest gain {hi:+.2f} {unit} ({top}), smallest {lo:+.2f} {unit} "
                f"({bottom})")
    if hi <= 0:  # nothing gained
        return (f"every split lost or held: largest loss {lo:+.2f} {unit} ({bottom}), smallest {hi:+.2f} {unit} "
                f"({top})")
    return f"largest gain {hi:+.2f} {unit} ({top}), largest loss {lo:+.2f} {unit} ({bottom})"


def summary_sentence(label: str, by_split: pd.DataFrame, shifted_splits, std_none: float, std_ttt: float) -> str:
    """The one-line summary of a strategy's run that notebooks 04–06 print (J changes ×100 from
    :func:`compare_splits`, the predicted depth's spatial std before and after)."""
    measured = list(shifted_splits) or [s for s in by_split.index if s != "mean_shifted"]  # real: maybe clean only

    def change(row: str) -> str:
        if row not in by_split.index:
            return "not measured"
        iv = row_interval(by_split.loc[row]) if "dJ_lo" in by_split else None
        return (f"{iv.format()} J (95 % interval{f' over {iv.n} videos' if iv.n else ''}: {iv.verdict('a gain', 'a loss', 'no clear change')})"
                if iv is not None else f"{float(by_split.loc[row, 'dJ']):+.2f} J")
    return (f"{label}: mean change over the shifted splits {change('mean_shifted')}, "
            f"clean split {change(CLEAN_SPLIT)}; "
            f"{extremes_phrase(by_split.loc[measured, 'dJ'])}; "
            f"depth std {std_none:.3f} → {std_ttt:.3f}.")

