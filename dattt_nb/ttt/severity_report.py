"""Intervals, figures and the closing verdicts of the shift-severity study (rows from
:func:`dattt_nb.ttt.severity.run_study`).

Every change ΔJ is paired per video against No TTT on the same corrupted clip, averaged over the seeds of the TTT
views first, and its 95 % interval bootstraps the videos (:func:`dattt_nb.stats.bootstrap_ci`); a verdict reads the
interval, never a threshold.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from dattt_nb.stats import bootstrap_ci

DEPTH_AWARE = ("TTT-N", "TTT-MWI", "TTT-LTV")
NORMALISATION = ("BN", "TENT")
KEYS = ["kind", "family", "severity", "flow"]


def per_video_by_condition(rows: pd.DataFrame) -> pd.DataFrame:
    """One row per (condition, method, video): J ×100 (mean over seeds), ΔJ ×100 against No TTT on the same clip,
    the change of the self-supervised loss (last epoch − first, mean over seeds) and the seeds' spread of J."""
    g = rows.groupby(KEYS + ["method", "video"], sort=False)
    out = g.agg(J=("J", "mean"), J_seed_std=("J", "std"), loss_first=("loss_first", "mean"),
                loss_last=("loss_last", "mean"), seeds=("seed", "nunique")).reset_index()
    out["J"] *= 100
    out["J_seed_std"] = 100 * out["J_seed_std"].fillna(0)
    none = out[out.method == "No TTT"].set_index(KEYS + ["video"])["J"]
    out["J_none"] = none.reindex(pd.MultiIndex.from_frame(out[KEYS + ["video"]])).to_numpy()
    out["dJ"] = out["J"] - out["J_none"]
    out["d_loss"] = out["loss_last"] - out["loss_first"]
    return out


def delta_table(pv: pd.DataFrame, flow: str = "estimated") -> pd.DataFrame:
    """Per (method, kind, severity): mean ΔJ ×100 with its bootstrap interval over videos, n and the verdict; No TTT
    gets its absolute J instead (``J_none``)."""
    rows = []
    groups = pv[pv.flow == flow].groupby(["method", "kind", "family", "severity"], sort=False)
    for (method, kind, family, severity), d in groups:
        ci = bootstrap_ci(d["dJ"])
        rows.append(dict(method=method, kind=kind, family=family, severity=severity, J_none=d["J_none"].mean(),
                         J=d["J"].mean(), dJ=ci.mean, lo=ci.lo, hi=ci.hi, n=ci.n, verdict=ci.verdict()))
    return pd.DataFrame(rows)


def with_clean_severity(pv: pd.DataFrame, kinds) -> pd.DataFrame:
    """The clean clips' rows (severity 0, cached once) repeated under every kind, so each kind's curve starts at 0."""
    clean = pv[pv.severity == 0]
    if clean.empty:
        return pv
    rest = pv[pv.severity > 0]
    copies = [clean.assign(kind=k, family="content" if k in _content() else "photometric") for k in kinds]
    return pd.concat([rest, *copies], ignore_index=True)


def _content():
    from dattt_nb.data.corruptions import CONTENT_SHIFTS

    return CONTENT_SHIFTS


def over_kinds(pv: pd.DataFrame, family: str | None = None, flow: str = "estimated") -> pd.DataFrame:
    """Method × severity: ΔJ ×100 averaged over the kinds per video, with its bootstrap interval over videos (the
    closing table). ``family`` "photometric" / "content" / None (all)."""
    d = pv[(pv.flow == flow) & (pv.method != "No TTT")]
    if family:
        d = d[d.family == family]
    per = d.groupby(["method", "severity", "video"], sort=False)["dJ"].mean().reset_index()
    rows = []
    for (method, severity), x in per.groupby(["method", "severity"], sort=False):
        ci = bootstrap_ci(x["dJ"])
        rows.append(dict(method=method, severity=severity, dJ=ci.mean, lo=ci.lo, hi=ci.hi, n=ci.n,
                         cell=ci.format(), verdict=ci.verdict()))
    return pd.DataFrame(rows)


def flow_effect(pv: pd.DataFrame) -> pd.DataFrame:
    """No-TTT J ×100 with the flow estimated on the corrupted frames and on the clean ones, per photometric kind and
    severity where both ran, and what the corrupted flow costs (interval over videos)."""
    none = pv[(pv.method == "No TTT") & (pv.family == "photometric") & (pv.severity > 0)]
    both = none.pivot_table(index=["kind", "severity", "video"], columns="flow", values="J")
    if not {"clean", "estimated"} <= set(both.columns):
        return pd.DataFrame()
    both = both.dropna()
    rows = []
    for (kind, severity), d in both.groupby(level=["kind", "severity"], sort=False):
        ci = bootstrap_ci(d["estimated"] - d["clean"])
        rows.append(dict(kind=kind, severity=severity, J_clean_flow=d["clean"].mean(),
                         J_estimated_flow=d["estimated"].mean(), cost=ci.format(), verdict=ci.verdict(
                             "corrupted flow helps", "corrupted flow hurts")))
    return pd.DataFrame(rows)


# --- figures ------------------------------------------------------------------------------------------------------

METHOD_COLORS = {"BN": "tab:gray", "TENT": "tab:purple", "TTT-N": "tab:orange", "TTT-MWI": "tab:green",
                 "TTT-LTV": "tab:red"}


def plot_delta_vs_severity(table: pd.DataFrame, kinds, axes=None):
    """One panel per kind: ΔJ ×100 against severity for every method, with its 95 % interval as a band."""
    import matplotlib.pyplot as plt

    kinds = list(kinds)
    if axes is None:
        cols = min(3, len(kinds))
        _, axes = plt.subplots(int(np.ceil(len(kinds) / cols)), cols, figsize=(4.2 * cols, 3.0 *
                               int(np.ceil(len(kinds) / cols))), squeeze=False, sharey=True)
    axes = np.ravel(axes)
    for ax, kind in zip(axes, kinds):
        d = table[(table.kind == kind) & (table.method != "No TTT")]
        for method, m in d.groupby("method", sort=False):
            m = m.sort_values("severity")
            ax.plot(m.severity, m.dJ, "o-", color=METHOD_COLORS.get(method), label=method, ms=3)
            ax.fill_between(m.severity, m.lo, m.hi, color=METHOD_COLORS.get(method), alpha=0.12)
        ax.axhline(0, color="k", lw=0.7)
        none = table[(table.kind == kind) & (table.method == "No TTT")].sort_values("severity")
        ax.set_title(f"{kind} (no-TTT J " + " → ".join(f"{j:.0f}" for j in none.J_none) + ")", fontsize=9)
        ax.set_xlabel("severity")
    for ax in axes[len(kinds):]:
        ax.axis("off")
    axes[0].set_ylabel("ΔJ vs No TTT (×100)")
    axes[0].legend(fontsize=7)
    return axes


def plot_waterfall(pv: pd.DataFrame, methods, severity: int, flow: str = "estimated", ax=None):
    """Per-video ΔJ ×100 of each method at ``severity`` over every kind, sorted: how many videos gain, how many
    lose."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(8, 3.2))
    for method in methods:
        d = np.sort(pv[(pv.method == method) & (pv.severity == severity) & (pv.flow == flow)]["dJ"].to_numpy())[::-1]
        ax.step(np.arange(len(d)), d, where="mid", color=METHOD_COLORS.get(method), label=f"{method} ({len(d)})")
    ax.axhline(0, color="k", lw=0.7)
    ax.set_xlabel("(kind, video), sorted by ΔJ")
    ax.set_ylabel("ΔJ vs No TTT (×100)")
    ax.set_title(f"per-video change at severity {severity}, every kind")
    ax.legend(fontsize=7)
    return ax


def loss_vs_delta(pv: pd.DataFrame, methods=("TTT-LTV", "TENT")) -> pd.DataFrame:
    """Per method: Spearman correlation of the change of its self-supervised loss with ΔJ over (condition, video),
    and how often "the loss fell" and "J rose" agree."""
    rows = []
    for method in methods:
        d = pv[(pv.method == method) & (pv.severity > 0)].dropna(subset=["d_loss", "dJ"])
        if len(d) < 3:
            continue
        rho = d["d_loss"].rank().corr(d["dJ"].rank())
        agree = float(np.mean((d["d_loss"] < 0) == (d["dJ"] > 0)))
        rows.append(dict(method=method, pairs=len(d), spearman=rho, loss_fell=float(np.mean(d["d_loss"] < 0)),
                         J_rose=float(np.mean(d["dJ"] > 0)), agree=agree))
    return pd.DataFrame(rows)


def plot_loss_vs_delta(pv: pd.DataFrame, methods=("TTT-LTV", "TENT"), ax=None):
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(4.6, 3.4))
    for method in methods:
        d = pv[(pv.method == method) & (pv.severity > 0)]
        ax.scatter(d["d_loss"], d["dJ"], s=12, color=METHOD_COLORS.get(method), label=method, alpha=0.7)
    ax.axhline(0, color="k", lw=0.6)
    ax.axvline(0, color="k", lw=0.6)
    ax.set_xlabel("change of the self-supervised loss (last epoch − first)")
    ax.set_ylabel("ΔJ vs No TTT (×100)")
    ax.legend(fontsize=7)
    return ax


# --- a label-free stopping rule -----------------------------------------------------------------------------------

def stop_epoch(losses) -> int:
    """Label-free rule: the last pass before the mean loss stopped falling (1-based); every pass if it kept falling."""
    losses = list(losses)
    for e in range(1, len(losses)):
        if not losses[e] < losses[e - 1]:
            return e
    return len(losses)


def stopping_rule(rows: pd.DataFrame, fixed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per (condition, video, seed) of multi-pass TTT-LTV runs: the rule's epoch, the oracle epoch (best J, which needs
    labels) and J ×100 at each and at the profile's ``fixed`` number of passes; and a summary with the intervals of
    (rule − fixed) and (oracle − rule) over the runs."""
    out = []
    for r in rows.itertuples():
        js, ls = list(r.epoch_J), list(r.epoch_loss)
        if len(js) < 2 or len(ls) != len(js):
            continue
        rule = stop_epoch(ls)
        oracle = int(np.nanargmax(js)) + 1
        out.append(dict(kind=r.kind, severity=r.severity, video=r.video, seed=r.seed, rule_epoch=rule,
                        oracle_epoch=oracle, J_rule=100 * js[rule - 1], J_oracle=100 * js[oracle - 1],
                        J_fixed=100 * js[min(fixed, len(js)) - 1], J_first=100 * js[0]))
    per = pd.DataFrame(out)
    if per.empty:
        return per, per
    summary = []
    for name, a, b in (("rule − fixed", "J_rule", "J_fixed"), ("oracle − rule", "J_oracle", "J_rule"),
                       ("rule − first pass", "J_rule", "J_first")):
        ci = bootstrap_ci(per[a] / 100 - per[b] / 100)
        summary.append(dict(comparison=name, dJ=ci.format(100), verdict=ci.verdict("higher", "lower")))
    hit = np.mean(per.rule_epoch == per.oracle_epoch)
    summary.append(dict(comparison="rule picks the oracle epoch", dJ=f"{hit:.0%} of runs",
                        verdict=f"mean epoch: rule {per.rule_epoch.mean():.2f}, oracle {per.oracle_epoch.mean():.2f}"))
    return per, pd.DataFrame(summary)


# --- the closing verdicts -----------------------------------------------------------------------------------------

def _where(table: pd.DataFrame, methods, verdict: str) -> list[str]:
    d = table[table.method.isin(methods) & (table.verdict == verdict) & (table.severity > 0)]
    return [f"{r.method} on {r.kind} s{r.severity} ({r.dJ:+.2f} [{r.lo:+.2f}, {r.hi:+.2f}])"
            for r in d.sort_values(["kind", "severity", "method"]).itertuples()]


def _best(t: pd.DataFrame, severity: int, methods) -> tuple[str, float, str]:
    d = t[(t.severity == severity) & t.method.isin(methods)].sort_values("dJ")
    r = d.iloc[-1]
    return r.method, float(r.dJ), r.cell


def conclusions(table: pd.DataFrame, closing: dict) -> list[str]:
    """Sentences stating, from the numbers, where depth-aware TTT and BN/TENT help and hurt (intervals of the
    per-kind table), and whether §5.4's explanation holds in this run: under the severe photometric shifts the best
    normalisation method beats the best depth-aware one, and under the shifts in content (and, when the grid has
    them, the mild photometric ones) the depth-aware one wins. ``closing``: {family: :func:`over_kinds` table}."""
    lines = []
    for group, methods in (("depth-aware TTT (N/MWI/LTV)", DEPTH_AWARE), ("BN/TENT", NORMALISATION)):
        cells = int((table.method.isin(methods) & (table.severity > 0)).sum())
        for verdict, side in (("helps", "above"), ("hurts", "below")):
            found = _where(table, methods, verdict)
            lines.append(f"{group} {verdict} (95 % interval {side} 0) in {len(found)} of {cells} (method, kind, "
                         f"severity) cells" + (": " + "; ".join(found[:8]) + (" …" if len(found) > 8 else "")
                                               if found else "."))
    checks = []
    photo, content = closing.get("photometric"), closing.get("content")
    if photo is not None and not photo.empty:
        sev = sorted(s for s in photo.severity.unique() if s > 0)
        top = sev[-1]
        n, d = _best(photo, top, NORMALISATION), _best(photo, top, DEPTH_AWARE)
        checks.append((f"severe photometric shifts (severity {top}): best BN/TENT {n[0]} {n[2]} vs best depth-aware "
                       f"{d[0]} {d[2]}", n[1] > d[1], "normalisation wins"))
        if len(sev) > 1:
            n, d = _best(photo, sev[0], NORMALISATION), _best(photo, sev[0], DEPTH_AWARE)
            checks.append((f"mild photometric shifts (severity {sev[0]}): best depth-aware {d[0]} {d[2]} vs best "
                           f"BN/TENT {n[0]} {n[2]}", d[1] > n[1], "depth cues win"))
    if content is not None and not content.empty:
        top = max(content.severity)
        n, d = _best(content, top, NORMALISATION), _best(content, top, DEPTH_AWARE)
        checks.append((f"shifts in content (severity {top}): best depth-aware {d[0]} {d[2]} vs best BN/TENT {n[0]} "
                       f"{n[2]}", d[1] > n[1], "depth cues win"))
    for text, ok, claim in checks:
        verdict = claim if ok else f"it does not: {claim} is not what we see"
        lines.append(f"{text} (ΔJ x100, mean over kinds [95 % interval over clips]): {verdict}.")
    if checks:
        held = sum(ok for _, ok, _ in checks)
        lines.append("§5.4's explanation " + ("holds at this scale." if held == len(checks) else
                     "does not hold at this scale." if held == 0 else
                     f"holds only in part at this scale ({held} of {len(checks)} comparisons; compare the intervals: "
                     "overlapping ones are no evidence either way)."))
    return lines
