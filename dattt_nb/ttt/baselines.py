"""Table 4: TENT, BN, TTT-Rot and TTT-MAE against depth-aware TTT, and the TTT columns of Table 1.

Each row of the paper's Table 4 is a (trained model, TTT objective) pair run with the same strategy and budget:
:data:`METHODS` lists them. :func:`table4_from_results` lays the scores out like the paper (no-TTT rows absolute,
TTT rows as changes from their own model's no-TTT row, ×100); :func:`plot_delta_j` draws the changes.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from dattt_nb.models import get_variant
from dattt_nb.splits import shifted, split_label
from dattt_nb.ttt.report import delta_bounds, split_scores
from dattt_nb.ttt.records import TTTResult

BACKBONE_LABELS = {"mit_b0": "MiT-b0", "mit_b1": "MiT-b1", "swin_tiny": "Swin-T", "resnet18": "ResNet-18",
                   "resnet50": "ResNet-50"}
DEFAULT_VIDEOS = {"tiny": 2}  # test videos per split in notebook 07 by profile (others: all)
# At tiny, all 8 videos per split made notebook 07 take ~95 min on 2 CPU cores (README: time per notebook).


def videos_per_split(profile: str, requested: int = -1) -> int:
    """Test videos per split for the Table 4 runs: ``requested`` when ≥ 0 (0 means all), else the profile's default."""
    return requested if requested >= 0 else DEFAULT_VIDEOS.get(profile, 0)


@dataclass(frozen=True)
class Method:
    """A TTT row of Table 4: the paper's label, the trained model it adapts (variant, backbone) and its objective."""

    label: str
    variant: str  # load_or_train variant: "none" (Baseline), "rot", "mae", "alpha+beta" (DATTT)
    objective: str  # dattt_nb.ttt.objectives name
    backbone: str | None = None  # None: the profile's backbone

    @property
    def own_model(self) -> bool:
        """Whether the method has its own trained model (TTT-Rot, TTT-MAE, DATTT) or adapts the Baseline (TENT, BN)."""
        return self.variant != "none"

    @property
    def model(self) -> str:
        return model_key(self.variant, self.backbone)


METHODS = (Method("TENT", "none", "tent"), Method("BN", "none", "bn"), Method("TTT-Rot", "rot", "rotation"),
           Method("TTT-MAE", "mae", "mae"), Method("DATTT", "alpha+beta", "depth"))


def model_key(variant: str, backbone: str | None = None) -> str:
    """``variant`` on the profile's backbone, ``variant@backbone`` on another one."""
    return variant if not backbone else f"{variant}@{backbone}"


def methods(bn_backbone: str | None = "resnet18", backbone: str = "mit_b0") -> list[Method]:
    """Table 4's methods on the profile's ``backbone``, then TENT and BN on a BatchNorm backbone (MiT and Swin
    normalise with LayerNorm, which has no statistics to re-estimate); no extra rows when it is the same backbone."""
    if not bn_backbone or bn_backbone == backbone:
        return list(METHODS)
    return list(METHODS) + [Method("TENT", "none", "tent", bn_backbone), Method("BN", "none", "bn", bn_backbone)]


def _values(results: dict[str, TTTResult]) -> dict[str, float]:
    s = split_scores(results)
    row = {}
    for split in s.index:
        row[f"{split}_J"], row[f"{split}_F"] = s.loc[split, "J"], s.loc[split, "F"]
    sh = shifted(s.index)
    row["shifted_J"], row["shifted_F"] = s.loc[sh, "J"].mean(), s.loc[sh, "F"].mean()
    row["mean_J"], row["mean_F"] = s["J"].mean(), s["F"].mean()
    return row


def table4_from_results(no_ttt: dict[str, dict[str, TTTResult]], ttt: dict[Method, dict[str, TTTResult]],
                        backbone: str = "mit_b0") -> pd.DataFrame:
    """The Table 4 analogue, ×100: per backbone, Baseline (absolute), then each method — its own model's no-TTT row
    (absolute) when it has one, and its TTT row as the change from that no-TTT row (``value_kind`` delta).

    ``no_ttt`` maps :func:`model_key` to No TTT results per split, ``ttt`` maps a :class:`Method` to its results.
    Columns: backbone, method, ttt, value_kind, objective, ``<split>_J``, ``<split>_F``, shifted and mean."""
    rows, names = [], []
    backbones = list(dict.fromkeys(m.backbone or backbone for m in ttt))
    for bb in backbones:
        suffix = "" if bb == backbone else f" · {BACKBONE_LABELS.get(bb, bb)}"
        key = model_key("none", None if bb == backbone else bb)

        def add(name, method, ttt_flag, kind, objective, values):
            names.append(name + suffix)
            rows.append(dict(backbone=BACKBONE_LABELS.get(bb, bb), method=method, ttt=ttt_flag, value_kind=kind,
                             objective=objective, **values))

        if key in no_ttt:
            add("Baseline", "Baseline", "no", "absolute", "", _values(no_ttt[key]))
        for m, results in ttt.items():
            if (m.backbone or backbone) != bb:
                continue
            base = _values(no_ttt[m.model])
            if m.own_model:
                add(f"{m.label} (no TTT)", m.label, "no", "absolute", "", base)
            adapted = _values(results)
            add(m.label, m.label, "yes", "delta", m.objective, {**{k: adapted[k] - base[k] for k in adapted},
                                                               **delta_bounds(no_ttt[m.model], results)})
    df = pd.DataFrame(rows, index=pd.Index(names, name="row"))
    if df.index.duplicated().any():
        raise ValueError(f"two Table 4 rows share a name: {list(df.index[df.index.duplicated()])}")
    return df


def table4_layout(table: pd.DataFrame, measure: str = "J") -> pd.DataFrame:
    """The paper's layout for one measure: rows as in :func:`table4_from_results`, columns the datasets (+ shifted /
    all means)."""
    cols = [c for c in table.columns if c.endswith(f"_{measure}")]
    out = table[cols].astype(float).copy()
    out.columns = [split_label(c[:-len(measure) - 1]) for c in cols]  # the means: "shifted (mean)", "all (mean)"
    out.insert(0, "value", table["value_kind"].map({"absolute": "no TTT", "delta": "Δ with TTT"}))
    return out.round(2)


def plot_delta_j(table: pd.DataFrame, measure: str = "J", ax=None):
    """Grouped bars: the change made by each method's TTT (×100) on every test split and the shifted splits' mean,
    with the 95 % bootstrap interval over the split's videos as an error bar (when the table holds it)."""
    import matplotlib.pyplot as plt

    deltas = table[table["value_kind"] == "delta"]
    cols = [c for c in table.columns if c.endswith(f"_{measure}") and not c.startswith("mean")]
    if ax is None:
        _, ax = plt.subplots(figsize=(max(7.0, 1.3 * len(cols) + 3), 3.4))
    x = np.arange(len(cols))
    width = 0.8 / max(1, len(deltas))
    colors = plt.get_cmap("tab10")
    for i, (name, row) in enumerate(deltas.iterrows()):
        hatch = "//" if row["backbone"] != deltas["backbone"].iloc[0] else None
        xs, ys = x + (i - (len(deltas) - 1) / 2) * width, row[cols].astype(float).to_numpy()
        ax.bar(xs, ys, width, label=name, color=colors(i), hatch=hatch, edgecolor="white" if hatch else None)
        if all(f"{c}_lo" in row.index for c in cols):
            lo, hi = (row[[f"{c}_{b}" for c in cols]].astype(float).to_numpy() for b in ("lo", "hi"))
            ax.errorbar(xs, ys, yerr=[ys - lo, hi - ys], fmt="none", ecolor="#263238", lw=0.8, capsize=2)
    ax.axhline(0, color="#37474f", lw=0.8)
    ax.set_xticks(x, [split_label(c[:-len(measure) - 1]) for c in cols])
    ax.set_ylabel(f"Δ{measure} × 100 (TTT − no TTT)")
    ax.set_title(f"Table 4 analogue: change of {measure} made by each TTT method (TTT-LTV, same budget)", fontsize=10)
    ax.grid(alpha=0.3, axis="y")
    ax.legend(fontsize=7, ncol=2)
    return ax.figure


def table1_ttt(no_ttt: dict[str, dict[str, TTTResult]], ttt: dict[str, dict[str, TTTResult]]) -> pd.DataFrame:
    """Table 1 with TTT, ×100: per variant (none / head / alpha+beta) J per split without TTT, with depth-aware TTT
    and the change with its 95 % bootstrap interval over the split's videos (``<split>_dJ_lo`` / ``_hi``); a variant
    without a depth decoder has no depth-aware TTT (empty cells)."""
    rows = {}
    for variant, results in no_ttt.items():
        base = split_scores(results)["J"]
        record = get_variant(variant)
        row = {"depth_decoder": "yes" if record.has_depth_decoder else "no",
               "modulation": variant if record.modulates else "no"}
        adapted = split_scores(ttt[variant])["J"] if variant in ttt else None
        bounds = delta_bounds(results, ttt[variant]) if variant in ttt else {}
        for split in base.index:
            row[f"{split}_J"] = base[split]
            row[f"{split}_J_ttt"] = np.nan if adapted is None else adapted[split]
            row[f"{split}_dJ"] = np.nan if adapted is None else adapted[split] - base[split]
            row[f"{split}_dJ_lo"] = bounds.get(f"{split}_J_lo", np.nan)  # 95 % interval over the split's videos
            row[f"{split}_dJ_hi"] = bounds.get(f"{split}_J_hi", np.nan)
            row[f"{split}_dJ_n"] = bounds.get(f"{split}_J_n", np.nan)
        rows[variant] = row
    df = pd.DataFrame.from_dict(rows, orient="index")
    df.index.name = "variant"
    return df


def merge_table1(existing: pd.DataFrame | None, new: pd.DataFrame) -> pd.DataFrame:
    """``new``'s columns written into ``existing`` (notebook 03's no-TTT table, if saved) row by row; other columns
    of ``existing`` are kept."""
    if existing is None:
        return new
    out = existing.copy()
    out.index = out.index.astype(str)
    out.index.name = new.index.name
    for variant in new.index:
        for col in new.columns:
            out.loc[variant, col] = new.loc[variant, col]
    return out


# --- do the baselines work? (their pretext task, BN's prior on validation) -----------------------------------

BN_PRIORS = (1, 8, 64)  # BN adaptation: candidate weights of the training statistics, in test batches


def pretext_check(models: dict, data: dict[str, list], seed: int = 0) -> pd.DataFrame:
    """Whether TTT-Rot's and TTT-MAE's self-supervised task was learned in stage 1, on the test frames of ``data``.

    TTT-Rot: accuracy at telling the four rotations apart (chance 0.25). TTT-MAE: the share of the hidden pixels'
    error removed by the head's reconstruction against filling them with the mean colour the encoder sees there
    (chance 0). Each with its 95 % bootstrap interval over the videos; ``learned`` only when the whole interval is
    above chance — a head that fails this has no useful gradient at test time (Sun et al. 2020), so its Table 4 row
    is not ranked. ``models`` maps "rot" / "mae" to the trained models (missing keys are skipped)."""
    import torch

    from dattt_nb.models.aux_heads import masked_mse, patch_mask
    from dattt_nb.stats import bootstrap_ci

    rows = []
    videos = [v for vs in data.values() for v in vs]
    if "rot" in models:
        net = models["rot"]
        with torch.no_grad():
            acc = [float(np.mean([(net.aux_head(net.image_features(torch.rot90(v.frames, k, dims=(-2, -1))))
                                   .argmax(1) == k).float().mean().item() for k in range(4)])) for v in videos]
        rows.append(("TTT-Rot", "rotation accuracy", 0.25, bootstrap_ci(acc)))
    if "mae" in models:
        net, head = models["mae"], models["mae"].aux_head
        g = torch.Generator().manual_seed(seed)
        gains = []
        with torch.no_grad():
            for v in videos:
                x = v.frames
                mask = patch_mask(len(x), tuple(x.shape[-2:]), head.patch_size(x.shape[-1]), head.mask_ratio, g)
                fill = getattr(net.image_encoder, "mean", None)
                fill = x.new_tensor(0.5) if fill is None else fill
                masked = x * (1 - mask) + fill * mask
                err_head = float(masked_mse(head(net.image_features(masked)), x, mask))
                err_fill = float(masked_mse(masked, x, mask))
                gains.append(1 - err_head / max(err_fill, 1e-12))
        rows.append(("TTT-MAE", "hidden-pixel error removed vs mean-colour fill", 0.0, bootstrap_ci(gains)))
    out = pd.DataFrame([dict(method=m, pretext=what, chance=chance, value=iv.mean, lo=iv.lo, hi=iv.hi, videos=iv.n,
                             learned=bool(iv.lo > chance)) for m, what, chance, iv in rows])
    return out.set_index("method") if len(out) else out


def choose_bn_prior(model, settings, videos: list, priors=BN_PRIORS) -> tuple[int, pd.DataFrame]:
    """BN's prior strength (:func:`dattt_nb.ttt.objectives.prepare_bn`) chosen on the **validation** ``videos``:
    the prior whose BN adaptation (profile's strategy and epochs) gives the highest mean validation J; ties go to
    the stronger prior (fewer changes). Returns (prior, table of validation J and ΔJ ×100 with intervals)."""
    from dattt_nb.stats import paired_delta_ci
    from dattt_nb.ttt.cache import cached_ttt

    base = cached_ttt(model, videos, settings, "val", "none", objective="bn", progress=False)
    rows = []
    for prior in priors:
        res = cached_ttt(model, videos, settings, "val", objective=f"bn:{prior}", progress=False)
        iv = paired_delta_ci([100 * v.J for v in res.videos], [100 * v.J for v in base.videos])
        rows.append(dict(prior=int(prior), val_J=100 * float(np.mean([v.J for v in res.videos])), dJ=iv.mean,
                         dJ_lo=iv.lo, dJ_hi=iv.hi, videos=iv.n))
    table = pd.DataFrame(rows).set_index("prior")
    best = table["val_J"].round(6)
    return int(best[best == best.max()].index.max()), table
