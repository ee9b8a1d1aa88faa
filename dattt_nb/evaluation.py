"""This profile's versions of the paper's Tables 1, 3, 4 and Figs. 5–6 (§5), beside the published numbers.

One call per table: :func:`table1`, :func:`table3`, :func:`table4`, :func:`fig5`, :func:`per_video` return the
table an earlier notebook saved under ``runs/<profile>/results/`` or, when it is missing, compute it with the TTT
runner (whose per-video cache, ``dattt_nb.ttt.report``, makes runs done by notebooks 04–07 free) and save it.
:func:`collect` does all of them. All scores are ×100, as the paper prints them.
"""
from __future__ import annotations

import json
import math
import warnings
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from dattt_nb.config import Settings
from dattt_nb.data.synthetic import TEST_SPLIT_LABELS, TEST_SPLITS
from dattt_nb.metrics import db_statistics
from dattt_nb.paper import load_table as load_paper_table
from dattt_nb.results import load_table, results_dir, save_table
from dattt_nb.ttt.strategies import STRATEGY_LABELS

STRATEGIES = ["none", "naive", "momentum", "loop"]  # Table 3's rows, in the paper's order
PAPER_SPLITS = {"davis": "DAVIS-16", "fbms": "FBMS", "longvideos": "LongVideos", "mcl": "MCL", "stv2": "STV2"}
CLEAN_SPLIT = "davis"  # the synthetic DAVIS-16 stand-in carries no photometric shift

# Table 1: (depth decoder, modulation, TTT) per row, as in the paper; key = our row name.
TABLE1_ROWS = {"none": ("no", "no", "no"), "head": ("yes", "no", "no"), "head_ttt": ("yes", "no", "yes"),
               "alpha+beta": ("yes", "yes", "no"), "alpha+beta_ttt": ("yes", "yes", "yes")}
TABLE1_LABELS = {"none": "two-stream baseline", "head": "+ depth head", "head_ttt": "+ depth head, TTT",
                 "alpha+beta": "+ depth head + modulation", "alpha+beta_ttt": "+ depth head + modulation, TTT"}
# Table 4: row name → (method, TTT, model variant, objective, row its change is measured from).
TABLE4_ROWS = {
    "Baseline": ("Baseline", "no", "none", None, None),
    "TENT": ("TENT", "yes", "none", "tent", "Baseline"),
    "BN": ("BN", "yes", "none", "bn", "Baseline"),
    "TTT-Rot (no TTT)": ("TTT-Rot", "no", "rot", None, None),
    "TTT-Rot": ("TTT-Rot", "yes", "rot", "rotation", "TTT-Rot (no TTT)"),
    "TTT-MAE (no TTT)": ("TTT-MAE", "no", "mae", None, None),
    "TTT-MAE": ("TTT-MAE", "yes", "mae", "mae", "TTT-MAE (no TTT)"),
    "DATTT (no TTT)": ("DATTT", "no", "alpha+beta", None, None),
    "DATTT": ("DATTT", "yes", "alpha+beta", "depth", "DATTT (no TTT)"),
}
NOT_RUN = "not run"

NAMES = {"table1": "table1_architecture", "table3": "table3_strategies", "table4": "table4_methods",
         "fig5": "fig5_j_vs_epoch"}  # the series' shared result names (results contract)


# --- labels --------------------------------------------------------------------------------------

def split_label(split: str) -> str:
    """The paper's name of a test split ("davis" → "DAVIS-16"); means keep a readable name."""
    return TEST_SPLIT_LABELS.get(split, {"shifted": "shifted (mean)", "mean": "all (mean)"}.get(split, split))


def paper_label(backbone: str = "MiT-b1") -> str:
    """Caption of the paper's numbers: never shown without it."""
    return f"paper ({backbone}, 512 px, real data)"


def ours_label(settings: Settings) -> str:
    """Caption of this run's numbers: profile, backbone, input size, data."""
    data = "synthetic data" if settings.dataset == "synthetic" else "real data"
    return f"ours ({settings.profile}: {settings.backbone}, {settings.image_size} px, {data})"


def scale_table(settings: Settings) -> pd.DataFrame:
    """What separates this profile's run from the paper's (§5.2): data, resolution, encoders, training, TTT."""
    rows = {
        "training data": ("YouTube-VOS, 3,471 real videos",
                          f"{settings.n_train_videos} {settings.dataset} clips" if settings.dataset == "synthetic"
                          else "prepared real data"),
        "test data": ("DAVIS-16 (20), FBMS (30), Long-Videos (3), MCL (9), SegTrackV2 (14 videos)",
                      f"{settings.n_test_videos} {settings.dataset} clips per split, "
                      f"{settings.frames_per_video} frames ({settings.long_video_frames} in Long-Videos)"
                      if settings.dataset == "synthetic" else "prepared real splits"),
        "input size": ("512 × 512", f"{settings.image_size} × {settings.image_size}"),
        "encoders": ("MiT-b1 or Swin-T, ImageNet-pretrained",
                     f"{settings.backbone}, {'pretrained' if settings.pretrained else 'random init'}"),
        "decoder width": ("256", str(settings.decoder_dim)),
        "training": ("10 epochs, batch 8, Adam lr 6e-5", f"{settings.train_steps} steps, batch "
                                                         f"{settings.batch_size}, lr {settings.lr:g}"),
        "TTT": ("10 epochs, 8 view pairs, Adam lr 1e-5",
                f"{settings.ttt_epochs} epochs, {settings.ttt_pairs} view pairs, Adam lr {settings.ttt_lr:g}"),
        "flow / depth labels": ("RAFT / MonoDepth2", f"{settings.flow_method} / {settings.depth_source}"),
    }
    return pd.DataFrame(rows, index=["paper", ours_label(settings)]).T


# --- reading and writing the shared tables --------------------------------------------------------

def _table_meta(name: str, settings: Settings) -> dict:
    path = results_dir(settings) / f"{name}.json"
    try:
        return json.loads(path.read_text()).get("meta", {}) if path.is_file() else {}
    except json.JSONDecodeError:
        return {}


def saved_or_computed(name: str, settings: Settings, compute: Callable[[], pd.DataFrame],
                      check: Callable[[pd.DataFrame], str | None], refresh: bool = False,
                      meta: dict | None = None, convert: Callable[[pd.DataFrame], pd.DataFrame] | None = None
                      ) -> pd.DataFrame:
    """The table ``name`` saved by an earlier notebook (through ``convert`` when given) if ``check`` finds nothing
    wrong with it, else ``compute()`` and save it. A saved table in another layout is left alone: the computed one
    goes to ``08_<name>``. ``df.attrs`` says where the table came from (``source``, ``file``, ``meta``)."""
    saved = None if refresh else load_table(name, settings)
    if saved is not None and convert is not None:
        saved = convert(saved)
    problem = check(saved) if saved is not None else "missing"
    if problem is None:
        saved.attrs.update(source="saved by an earlier notebook", file=f"results/{name}.csv",
                           meta=_table_meta(name, settings))
        return saved
    if saved is not None:
        warnings.warn(f"results/{name}.csv does not have the expected layout ({problem}); notebook 08 computes "
                      f"its own and saves it as 08_{name}", stacklevel=2)
        name = f"08_{name}"
    df = compute()
    save_table(df, name, settings, meta=meta)
    df.attrs.update(source="computed by notebook 08 (cached TTT runs reused)", file=f"results/{name}.csv",
                    meta=meta or {})
    return df


def _missing_columns(df: pd.DataFrame, columns) -> str | None:
    missing = [c for c in columns if c not in df.columns]
    return f"columns {missing} missing" if missing else None


def _split_columns(measures=("J", "F")) -> list[str]:
    return [f"{s}_{m}" for s in TEST_SPLITS for m in measures]


def check_table1(df: pd.DataFrame) -> str | None:
    """None when ``df`` has Table 1's rows and per-split J columns (F optional: the paper's Table 1 is J only)."""
    missing = [r for r in TABLE1_ROWS if r not in df.index]
    return f"rows {missing} missing" if missing else _missing_columns(df, _split_columns(("J",)))


def check_table3(df: pd.DataFrame) -> str | None:
    """None when ``df`` has Table 3's rows (strategies and ``<strategy>_delta``) and per-split J/F columns."""
    want = STRATEGIES + [f"{s}_delta" for s in STRATEGIES[1:]]
    missing = [r for r in want if r not in df.index]
    return f"rows {missing} missing" if missing else _missing_columns(df, _split_columns())


def check_table4(df: pd.DataFrame) -> str | None:
    """None when ``df`` has Table 4's rows (others may follow) and per-split J/F columns."""
    missing = [r for r in TABLE4_ROWS if r not in df.index]
    return f"rows {missing} missing" if missing else _missing_columns(df, _split_columns())


def check_fig5(df: pd.DataFrame) -> str | None:
    """None when ``df`` is Fig. 5's long format with a curve for each of N, MWI and LTV."""
    problem = _missing_columns(df, ["strategy", "epoch", "split", "J"])
    if problem is None and not {"naive", "momentum", "loop"} <= set(df["strategy"]):
        problem = "a strategy's curve is missing"
    return problem


def check_per_video(df: pd.DataFrame) -> str | None:
    """None when ``df`` is a per-video table of 04–06 (split, video, J and F without and with TTT)."""
    df = df.reset_index()
    return _missing_columns(df, ["split", "video", "J_none", "J", "F_none", "F"])


# --- the trained models, the test videos and the TTT runs (cached) --------------------------------

_MODELS: dict = {}
_DATA: dict = {}


def _key(settings: Settings) -> str:
    return json.dumps(settings.to_dict(), sort_keys=True, default=str)


def _trainable_variants() -> tuple[str, ...]:
    """Model variants ``load_or_train`` accepts: Table 1's, plus Table 4's auxiliary-head baselines when present."""
    try:
        from dattt_nb.models import TRAIN_VARIANTS
    except ImportError:  # a library without the Table 4 baselines
        from dattt_nb.models import VARIANTS as TRAIN_VARIANTS
    return tuple(TRAIN_VARIANTS)


def load_model(settings: Settings, variant: str = "alpha+beta"):
    """The trained model of a variant (``load_or_train``: loaded, or trained once), kept in memory: Table 1's
    ``none`` / ``head`` / ``alpha+beta``, or Table 4's ``rot`` / ``mae`` (two-stream baseline + auxiliary head on
    E_v); ``None`` for a variant this library cannot train."""
    key = (_key(settings), variant)
    if key not in _MODELS:
        if variant not in _trainable_variants():
            return None
        from dattt_nb.train import load_or_train
        from dattt_nb.utils import progress_disabled

        _MODELS[key] = load_or_train(settings, variant=variant, progress=not progress_disabled())[0]
    return _MODELS[key]


def load_videos(settings: Settings) -> dict[str, list]:
    """{split: videos} of the five test splits (built when missing), kept in memory."""
    key = _key(settings)
    if key not in _DATA:
        from dattt_nb.ttt.report import load_test_splits

        _DATA[key] = load_test_splits(settings)
    return _DATA[key]


def run(settings: Settings, strategy: str | None = None, objective: str | None = None,
        variant: str = "alpha+beta", epochs: int | None = None, n_videos: int = 0, refresh: bool = False) -> dict:
    """{split: TTTResult} of one strategy × objective on a variant's model over the test splits, through the
    per-video cache (a run any notebook made with the same settings, weights, data and code is read back)."""
    from dattt_nb.ttt.report import run_splits
    from dattt_nb.utils import progress_disabled

    model = load_model(settings, variant)
    if model is None:
        raise ValueError(f"no trained model for {variant!r}")
    strategy = strategy or settings.ttt_strategy
    if strategy == "none" and getattr(model, "depth_decoder", None) is None and objective in (None, "depth"):
        objective = "bn"  # nothing adapts without TTT; the depth objective needs D_d even to be set up
    data = load_videos(settings)
    if n_videos:
        data = {split: videos[:n_videos] for split, videos in data.items()}
    return run_splits(model, data, settings, strategy, objective=objective, epochs=epochs,
                      refresh=refresh, progress=not progress_disabled())


# --- score columns ---------------------------------------------------------------------------

def score_columns(df: pd.DataFrame, measure: str | None = None) -> list[str]:
    """The per-split score columns of a table (``davis_J`` … ``shifted_F``, ``mean_F``), optionally one measure."""
    splits = list(TEST_SPLITS) + ["shifted", "mean"]
    return [f"{s}_{m}" for s in splits for m in ("J", "F") if f"{s}_{m}" in df.columns and measure in (None, m)]


# --- Table 1: architecture ablation with and without TTT ------------------------------------------

def compute_table1(settings: Settings) -> pd.DataFrame:
    """Notebook 07's layout (:func:`dattt_nb.ttt.baselines.table1_ttt`): per variant none / head / alpha+beta, J ×100
    per split without TTT, with the profile's strategy and the depth objective, and the change (the baseline without
    a depth decoder has nothing to adapt)."""
    from dattt_nb.ttt.baselines import table1_ttt

    variants = ("none", "head", "alpha+beta")
    return table1_ttt({v: run(settings, "none", None, v) for v in variants},
                      {v: run(settings, settings.ttt_strategy, "depth", v) for v in variants[1:]})


TABLE1_EFFECTS = {"depth head (no TTT)": ("head", "none"), "modulation (no TTT)": ("alpha+beta", "head"),
                  "TTT, depth head only": ("head_ttt", "head"),
                  "TTT, head + modulation": ("alpha+beta_ttt", "alpha+beta")}  # effect: (row, base row)


def table1_effects(table: pd.DataFrame, backbone: str = "MiT-b1",
                   splits=("davis", "fbms", "longvideos")) -> pd.DataFrame:
    """What each step of Table 1 adds, in J ×100 averaged over ``splits`` (the paper's three), ours and the paper's."""
    ours, paper, splits = ours_scores(table, "J"), paper_scores(1, backbone, "J"), list(splits)
    rows = {}
    for name, (row, base) in TABLE1_EFFECTS.items():
        rows[name] = {"ours": float((ours.loc[row, splits] - ours.loc[base, splits]).mean()),
                      paper_label(backbone): float((paper.loc[row, splits] - paper.loc[base, splits]).mean())}
    out = pd.DataFrame.from_dict(rows, orient="index")
    out.index.name = f"change in mean J x100 over {', '.join(split_label(s) for s in splits)}"
    return out


def table1_rows(by_variant: pd.DataFrame) -> pd.DataFrame:
    """Notebook 07's layout (one row per variant: ``<split>_J`` without TTT, ``<split>_J_ttt`` with it) → ours (one
    row per printed row of the paper's Table 1, J ×100); a table already in our layout is returned as it is."""
    if all(r in by_variant.index for r in TABLE1_ROWS) or f"{CLEAN_SPLIT}_J_ttt" not in by_variant.columns:
        return by_variant
    rows = {}
    for key, (depth_decoder, modulation, ttt) in TABLE1_ROWS.items():
        variant = key.removesuffix("_ttt")
        if variant not in by_variant.index:
            continue
        suffix = "_ttt" if ttt == "yes" else ""
        row = {f"{s}_J": float(by_variant.loc[variant, f"{s}_J{suffix}"]) for s in TEST_SPLITS
               if f"{s}_J{suffix}" in by_variant.columns}
        if row and all(math.isnan(v) for v in row.values()):
            continue
        shifted = [row[f"{s}_J"] for s in TEST_SPLITS if s != CLEAN_SPLIT and f"{s}_J" in row]
        row.update(shifted_J=float(np.mean(shifted)) if shifted else math.nan, mean_J=float(np.mean(list(
            row[f"{s}_J"] for s in TEST_SPLITS if f"{s}_J" in row))))
        rows[key] = dict(label=TABLE1_LABELS[key], variant=variant, depth_decoder=depth_decoder,
                         modulation=modulation, ttt=ttt, **row)
    df = pd.DataFrame.from_dict(rows, orient="index")
    df.index.name = "row"
    return df


def table1(settings: Settings, refresh: bool = False) -> pd.DataFrame:
    """Table 1 analogue, one row per printed row of the paper's (:func:`table1_rows`): ``table1_architecture`` as
    notebook 07 saved it, else computed now and saved in 07's layout."""
    meta = dict(units="J x100", ttt=f"depth-aware {STRATEGY_LABELS[settings.ttt_strategy]}",
                epochs=settings.ttt_epochs, lr=settings.ttt_lr, pairs=settings.ttt_pairs, seed=settings.seed)
    df = saved_or_computed(NAMES["table1"], settings, lambda: compute_table1(settings),
                           lambda t: check_table1(table1_rows(t)), refresh, meta)
    out = table1_rows(df)
    out.attrs.update(df.attrs)
    return out


# --- Table 3: TTT strategies ---------------------------------------------------------------------

def compute_table3(settings: Settings) -> pd.DataFrame:
    """:func:`dattt_nb.ttt.report.table3` on No TTT / TTT-N / TTT-MWI / TTT-LTV at the profile's epochs."""
    from dattt_nb.ttt.report import table3 as report_table3

    return report_table3({s: run(settings, s, "depth") for s in STRATEGIES})


def table3(settings: Settings, refresh: bool = False) -> pd.DataFrame:
    """Table 3 analogue (``table3_strategies``): saved by notebook 06, else computed now."""
    meta = dict(units="x100; rows <strategy>_delta are changes from none", epochs=settings.ttt_epochs,
                lr=settings.ttt_lr, pairs=settings.ttt_pairs, seed=settings.seed)
    return saved_or_computed(NAMES["table3"], settings, lambda: compute_table3(settings), check_table3, refresh,
                             meta)


# --- Table 4: TTT objectives ---------------------------------------------------------------------

def compute_table4(settings: Settings) -> pd.DataFrame:
    """Rows as the paper's Table 4 (:func:`dattt_nb.ttt.baselines.table4`, as notebook 07 makes it, on the profile's
    backbone): absolute no-TTT rows, TTT rows as changes (TENT and BN from the Baseline, the others from their own
    model), every TTT row with the profile's strategy. Rows whose model cannot be built are marked ``not run``."""
    from dattt_nb.ttt.baselines import methods, table4 as baselines_table4

    ok = [m for m in methods(None, settings.backbone) if load_model(settings, m.variant) is not None]
    no_ttt = {v: run(settings, "none", None, v) for v in dict.fromkeys(["none"] + [m.variant for m in ok])}
    ttt = {m: run(settings, settings.ttt_strategy, m.objective, m.variant) for m in ok}
    df = baselines_table4(no_ttt, ttt, backbone=settings.backbone).reindex(list(TABLE4_ROWS))
    for key, (method, flag, variant, objective, _) in TABLE4_ROWS.items():
        df.loc[key, ["method", "ttt", "value_kind"]] = [method, flag, "absolute" if flag == "no" else "delta"]
        df.loc[key, "model"] = variant
        df.loc[key, "objective"] = objective or ""
    df["status"] = [f"{NOT_RUN}: this library cannot train the {v!r} model" if load_model(settings, v) is None
                    else "measured" for v in df["model"]]
    df.index.name = "row"
    return df


def _with_status(table: pd.DataFrame) -> pd.DataFrame:
    """A saved Table 4 without a ``status`` column (notebook 07's): rows with scores are ``measured``."""
    if "status" not in table.columns:
        scored = table[score_columns(table)].notna().any(axis=1)
        table = table.assign(status=np.where(scored, "measured", NOT_RUN))
    return table


def table4(settings: Settings, refresh: bool = False) -> pd.DataFrame:
    """Table 4 analogue (``table4_methods``): saved by notebook 07, else computed now (rows that cannot be run
    are kept, marked ``not run``, with empty scores)."""
    meta = dict(units="x100; ttt=yes rows are changes from their base row", strategy=settings.ttt_strategy,
                epochs=settings.ttt_epochs, seed=settings.seed)
    return saved_or_computed(NAMES["table4"], settings, lambda: compute_table4(settings), check_table4, refresh,
                             meta, convert=_with_status)


# --- Fig. 5: J against TTT epochs ----------------------------------------------------------------

def fig5_epoch_counts(settings: Settings, epochs: str | list | None = None) -> list[int]:
    """Epoch counts of the N and MWI curves: given (list or "1,2,4"), else 1, 2 and the profile's epochs."""
    if isinstance(epochs, str):
        epochs = [int(e) for e in epochs.split(",") if e.strip()]
    return sorted(set(epochs or []) or {1, 2, settings.ttt_epochs})


def compute_fig5(settings: Settings, epochs=None, n_videos: int = 2) -> pd.DataFrame:
    """Fig. 5 long format as notebook 06 makes it: LTV from the J of every pass, N and MWI one run per epoch count,
    on the first ``n_videos`` of each split (0: all); epoch 0 is No TTT."""
    from dattt_nb.ttt import report

    rows = report.fig5_rows("loop", run(settings, "loop", "depth", n_videos=n_videos))
    for strategy in ("naive", "momentum"):
        for e in fig5_epoch_counts(settings, epochs):
            rows += report.fig5_rows(strategy, run(settings, strategy, "depth", epochs=e, n_videos=n_videos))
    return report.fig5_table(rows, report.fig5_rows("none", run(settings, "none", n_videos=n_videos)))


def fig5(settings: Settings, refresh: bool = False, epochs=None, n_videos: int = 2) -> pd.DataFrame:
    """Fig. 5 data (``fig5_j_vs_epoch``): saved by notebook 06, else computed now."""
    meta = dict(units="J x100", videos_per_split=n_videos or "all", epochs=fig5_epoch_counts(settings, epochs),
                ltv_passes=settings.ttt_epochs)
    return saved_or_computed(NAMES["fig5"], settings, lambda: compute_fig5(settings, epochs, n_videos), check_fig5,
                             refresh, meta)


# --- per video -----------------------------------------------------------------------------------

def per_video_strategy(settings: Settings, strategy: str, refresh: bool = False) -> pd.DataFrame:
    """``per_video_<strategy>`` of notebooks 04–06 (one row per split × video, ×100), saved or computed."""
    from dattt_nb.ttt.report import per_video as report_per_video

    def compute():
        return report_per_video(run(settings, "none"), run(settings, strategy, "depth"))

    df = saved_or_computed(f"per_video_{strategy}", settings, compute, check_per_video, refresh,
                           dict(strategy=strategy, label=STRATEGY_LABELS[strategy], epochs=settings.ttt_epochs,
                                units="J, F and changes x100"))
    return df.reset_index().set_index(["split", "video"])


def per_video(settings: Settings, refresh: bool = False) -> pd.DataFrame:
    """One row per test video: J and F ×100 without TTT and with each strategy, and the strategy that did best."""
    parts = {s: per_video_strategy(settings, s, refresh) for s in STRATEGIES[1:]}
    first = next(iter(parts.values()))
    out = pd.DataFrame({"dataset": [split_label(s) for s in first.index.get_level_values("split")],
                        "J_none": first["J_none"], "F_none": first["F_none"]}, index=first.index)
    for s, df in parts.items():
        out[f"J_{s}"] = df["J"]
        out[f"F_{s}"] = df["F"]
    for s in parts:
        out[f"dJ_{s}"] = out[f"J_{s}"] - out["J_none"]
    best = out[[f"J_{s}" for s in STRATEGIES]].astype(float).idxmax(axis=1).str[2:]
    out["best"] = best.map(STRATEGY_LABELS)
    out.attrs.update(source="; ".join(sorted({df.attrs.get("source", "") for df in parts.values()})),
                     file=", ".join(df.attrs.get("file", "") for df in parts.values()))
    return out


# --- J and F: mean, recall, decay (DAVIS) ---------------------------------------------------------

def video_statistics(values) -> dict[str, float]:
    """Mean, recall and decay (×100) of one video's per-frame scores, over its annotated (finite) frames."""
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    if values.size == 0:
        return dict(mean=math.nan, recall=math.nan, decay=math.nan)
    return {k: 100 * v for k, v in db_statistics(values).items()}


def split_statistics(results: dict) -> pd.DataFrame:
    """Per split: J and F mean / recall / decay (×100), each the mean over the split's videos (DAVIS protocol)."""
    rows = []
    for split, res in results.items():
        per = []
        for v in res.videos:
            j, f = video_statistics(v.J_frames), video_statistics(v.F_frames)
            per.append({**{f"J_{k}": x for k, x in j.items()}, **{f"F_{k}": x for k, x in f.items()}})
        rows.append(dict(split=split, dataset=split_label(split), **pd.DataFrame(per).mean().to_dict(),
                         videos=len(res.videos)))
    return pd.DataFrame(rows).set_index("split")


def mean_recall_decay(settings: Settings, strategies=("none", None)) -> pd.DataFrame:
    """J/F mean, recall, decay per split for No TTT and the profile's strategy (None), long format with a
    ``method`` column and a mean row per method; saved as ``08_mean_recall_decay``."""
    parts = []
    for strategy in strategies:
        strategy = strategy or settings.ttt_strategy
        stats = split_statistics(run(settings, strategy, "depth"))
        stats.loc["mean"] = {**stats.drop(columns=["dataset"]).mean().to_dict(), "dataset": "all (mean)",
                             "videos": stats["videos"].sum()}
        parts.append(stats.assign(method=STRATEGY_LABELS[strategy]))
    df = pd.concat(parts)
    df["videos"] = df["videos"].astype(int)
    df = df[["method", "dataset"] + [f"{m}_{k}" for m in ("J", "F") for k in ("mean", "recall", "decay")] +
            ["videos"]]
    save_table(df, "08_mean_recall_decay", settings, meta=dict(units="x100; recall: fraction of frames > 0.5; "
                                                                     "decay: first quarter minus last quarter"))
    df.attrs.update(source="computed by notebook 08 (cached TTT runs reused)", file="results/08_mean_recall_decay.csv")
    return df


# --- beside the paper ----------------------------------------------------------------------------

def paper_scores(n: int, backbone: str = "MiT-b1", measure: str = "J") -> pd.DataFrame:
    """The paper's Table ``n`` (1, 3 or 4) for one backbone, rows keyed like ours, columns = our split names."""
    paper = load_paper_table(n)
    paper = paper[paper["backbone"] == backbone]
    if paper.empty:
        raise ValueError(f"the paper's Table {n} has no rows for backbone {backbone!r}; use 'MiT-b1' or 'Swin-T'")
    if n == 1:
        keys = {v: k for k, v in TABLE1_ROWS.items()}
        index = [keys[(r.depth_decoder, r.modulation, r.ttt)] for r in paper.itertuples()]
    elif n == 3:
        keys = {v: k for k, v in STRATEGY_LABELS.items()} | {"none": "none"}
        index = [keys[s] if k == "absolute" else f"{keys[s]}_delta"
                 for s, k in zip(paper["strategy"], paper["value_kind"])]
    elif n == 4:
        index = [m if t == "yes" or m == "Baseline" else f"{m} (no TTT)" for m, t in zip(paper["method"], paper["ttt"])]
    else:
        raise ValueError(f"paper_scores covers Tables 1, 3 and 4, not {n!r}")
    out = pd.DataFrame(index=pd.Index(index, name="row"))
    for split, name in PAPER_SPLITS.items():
        col = f"{name}_{measure}"
        out[split] = pd.to_numeric(paper[col], errors="coerce").to_numpy() if col in paper.columns else np.nan
    out.attrs["source"] = paper_label(backbone)
    return out


def ours_scores(table: pd.DataFrame, measure: str = "J", rows=None) -> pd.DataFrame:
    """One of our tables as rows × our split names (one measure), like :func:`paper_scores`."""
    rows = list(table.index) if rows is None else [r for r in rows if r in table.index]
    out = pd.DataFrame({s: pd.to_numeric(table.loc[rows, f"{s}_{measure}"], errors="coerce") for s in TEST_SPLITS
                        if f"{s}_{measure}" in table.columns}, index=pd.Index(rows, name="row"))
    return out


def beside_paper(ours: pd.DataFrame, paper: pd.DataFrame, ours_caption: str, paper_caption: str,
                 labels: dict | None = None, splits=None) -> pd.DataFrame:
    """Ours and the paper's numbers side by side: rows in our order, columns (test split, source), every paper
    column labelled ``paper_caption``; splits the paper leaves blank everywhere are dropped."""
    splits = [s for s in (splits or TEST_SPLITS) if s in ours.columns and s in paper.columns
              and paper[s].notna().any()]
    rows = list(ours.index)
    parts = {}
    for s in splits:
        parts[(split_label(s), ours_caption)] = ours.loc[rows, s]
        parts[(split_label(s), paper_caption)] = paper[s].reindex(rows)
    out = pd.DataFrame(parts, index=pd.Index(rows, name="row"))
    out.columns = pd.MultiIndex.from_tuples(out.columns, names=["test split", "source"])
    if labels:
        out.index = [labels.get(r, r) for r in rows]
    return out


def flat(side: pd.DataFrame) -> pd.DataFrame:
    """A side-by-side table with one-level column names (``DAVIS-16 · paper (…)``) for CSV / JSON."""
    out = side.copy()
    out.columns = [" · ".join(c) for c in side.columns]
    return out


def table1_beside_paper(table: pd.DataFrame, settings: Settings, backbone: str = "MiT-b1") -> pd.DataFrame:
    """Table 1, J ×100: our five rows beside the paper's (DAVIS-16, FBMS, Long-Videos, the splits it reports)."""
    return beside_paper(ours_scores(table, "J", list(TABLE1_ROWS)), paper_scores(1, backbone, "J"),
                        ours_label(settings), paper_label(backbone), TABLE1_LABELS)


def table3_beside_paper(table: pd.DataFrame, settings: Settings, measure: str = "J",
                        backbone: str = "MiT-b1") -> pd.DataFrame:
    """Table 3 in the paper's layout (No TTT absolute, strategies as changes), ours beside the paper's."""
    rows = ["none", "naive_delta", "momentum_delta", "loop_delta"]
    labels = {"none": "No TTT", "naive_delta": "TTT-N (change)", "momentum_delta": "TTT-MWI (change)",
              "loop_delta": "TTT-LTV (change)"}
    return beside_paper(ours_scores(table, measure, rows), paper_scores(3, backbone, measure), ours_label(settings),
                        paper_label(backbone), labels)


def table4_beside_paper(table: pd.DataFrame, settings: Settings, measure: str = "J",
                        backbone: str = "MiT-b1") -> pd.DataFrame:
    """Table 4 in the paper's layout (no-TTT rows absolute, TTT rows as changes), ours beside the paper's."""
    labels = {k: k if v[1] == "no" else f"{k} (change)" for k, v in TABLE4_ROWS.items()}
    return beside_paper(ours_scores(table, measure, list(TABLE4_ROWS)), paper_scores(4, backbone, measure),
                        ours_label(settings), paper_label(backbone), labels)


def save_beside_paper(side: pd.DataFrame, name: str, settings: Settings, backbone: str = "MiT-b1") -> Path:
    """Save a side-by-side table (flat columns) with a meta note that the paper's columns are published numbers."""
    return save_table(flat(side), name, settings, meta=dict(
        units="x100", paper=f"{paper_label(backbone)}: published numbers (dattt_nb/paper_tables), not measured here",
        ours=ours_label(settings)))


# --- figures -------------------------------------------------------------------------------------

def plot_deltas_vs_paper(table: pd.DataFrame, settings: Settings, measure: str = "J", backbone: str = "MiT-b1"):
    """Table 3 as bars: the change made by TTT-N / MWI / LTV per test split, ours (left) and the paper's (right).

    Both panels share one vertical scale, and a grey band marks ±0.5 J (×100), the noise of a split of a few videos,
    so that our changes of a few tenths of a point are not drawn as large as the paper's of several points.
    """
    import matplotlib.pyplot as plt

    from dattt_nb.ttt.report import NOISE_J
    from dattt_nb.viz import noise_band

    rows = ["naive_delta", "momentum_delta", "loop_delta"]
    ours = ours_scores(table, measure, rows)
    paper = paper_scores(3, backbone, measure).reindex(rows)
    colors = {"naive_delta": "#42a5f5", "momentum_delta": "#ab47bc", "loop_delta": "#ef6c00"}
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.3), sharey=True)
    x = np.arange(len(TEST_SPLITS))
    for ax, df, title in ((axes[0], ours, ours_label(settings)), (axes[1], paper, paper_label(backbone))):
        for i, r in enumerate(rows):
            ax.bar(x + (i - 1) * 0.27, df.loc[r, list(TEST_SPLITS)].astype(float), 0.27, color=colors[r],
                   label=STRATEGY_LABELS[r.removesuffix("_delta")])
        ax.axhline(0, color="k", lw=0.8)
        noise_band(ax, NOISE_J, f"±{NOISE_J:g}: noise of a split")
        ax.set_xticks(x, [split_label(s) for s in TEST_SPLITS], fontsize=8)
        ax.set_ylabel(f"change in {measure} × 100 (vs No TTT)")
        ax.set_title(title, fontsize=9)
        ax.grid(alpha=0.3, axis="y")
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def plot_per_video(table: pd.DataFrame, strategy: str = "loop"):
    """Left: every test video's J without TTT (x) against J with ``strategy`` (y), above the diagonal = TTT helped.
    Right: each strategy's change in J per video (one dot per video, one colour per split)."""
    import matplotlib.pyplot as plt

    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(10, 4.0), gridspec_kw=dict(width_ratios=[1, 1.3]))
    splits = list(dict.fromkeys(table.index.get_level_values("split")))
    colors = {s: plt.cm.tab10(i) for i, s in enumerate(splits)}
    for split, g in table.groupby(level="split", sort=False):
        ax.scatter(g["J_none"], g[f"J_{strategy}"], s=22, color=colors[split], label=split_label(split), alpha=0.85)
    both = table[["J_none", f"J_{strategy}"]].astype(float).to_numpy()
    lo, hi = float(np.nanmin(both)) - 2, float(np.nanmax(both)) + 2
    ax.plot([lo, hi], [lo, hi], "k--", lw=0.8)
    ax.set_xlabel("J × 100, No TTT")
    ax.set_ylabel(f"J × 100, {STRATEGY_LABELS[strategy]}")
    ax.set_title("one dot per test video", fontsize=9)
    ax.legend(fontsize=7)
    rng = np.random.default_rng(0)
    for i, s in enumerate(STRATEGIES[1:]):
        for split, g in table.groupby(level="split", sort=False):
            ax2.scatter(i + rng.uniform(-0.25, 0.25, len(g)), g[f"dJ_{s}"], s=16, color=colors[split], alpha=0.8)
    ax2.axhline(0, color="k", lw=0.8)
    ax2.set_xticks(range(len(STRATEGIES) - 1), [STRATEGY_LABELS[s] for s in STRATEGIES[1:]])
    ax2.set_ylabel("change in J × 100 (vs No TTT)")
    ax2.set_title("per video: the change made by each strategy", fontsize=9)
    for a in (ax, ax2):
        a.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def fig6_video(videos: pd.DataFrame, choice: str = "") -> tuple[str, str]:
    """(split, video) for Fig. 6: ``choice`` ("split/video"), else the video TTT-LTV improved most."""
    if choice:
        if "/" not in choice:
            raise ValueError(f"FIG6_VIDEO must be 'split/video', got {choice!r}")
        split, name = choice.split("/", 1)
        if (split, name) not in videos.index:
            raise ValueError(f"no test video {choice!r}; choose one of {['/'.join(i) for i in videos.index][:10]}…")
        return split, name
    return tuple(videos["dJ_loop"].astype(float).idxmax())


def fig6(settings: Settings, split: str, name: str, epochs: int | None = None, n_frames: int = 4):
    """Fig. 6 analogue: one video's masks without TTT and after each TTT-LTV pass (the run repeated exactly, same
    reset and seeds); returns (figure, {column: J ×100 over the video's annotated frames})."""
    from dattt_nb.metrics import jaccard_torch
    from dattt_nb.ttt.report import plot_mask_grid, trace_passes

    video = next(v for v in load_videos(settings)[split] if v.name == name)
    model = load_model(settings)
    epochs = settings.ttt_epochs if epochs is None else epochs
    none = next(v for v in run(settings, "none")[split].videos if v.name == name)
    passes = trace_passes(model, video, settings, "loop", epochs=epochs)
    columns = {"No TTT": none.masks}
    columns.update({f"pass {p + 1}": m for p, m in passes.items() if p != "final"})
    columns["final"] = passes["final"]
    keep = video.annotated.bool() if video.annotated is not None else slice(None)
    gt = video.masks.cpu()
    scores = {k: 100 * float(jaccard_torch(gt[keep], m[keep]).mean()) for k, m in columns.items()}
    frames = np.linspace(0, len(video) - 1, min(n_frames, len(video))).round().astype(int)
    fig = plot_mask_grid(video, columns, frames=frames)
    fig.suptitle(f"{split_label(split)} / {name}: TTT-LTV pass by pass (red), ground truth in green", fontsize=9,
                 y=1.01)
    return fig, scores


# --- everything at once ----------------------------------------------------------------------------

def collect(settings: Settings, refresh: bool = False) -> dict[str, pd.DataFrame]:
    """Every table of notebook 08: saved ones loaded, missing ones computed (and saved)."""
    return {"table1": table1(settings, refresh), "table3": table3(settings, refresh),
            "table4": table4(settings, refresh), "fig5": fig5(settings, refresh),
            "per_video": per_video(settings, refresh), "mean_recall_decay": mean_recall_decay(settings)}


def on_all_videos(*tables: pd.DataFrame) -> bool:
    """Whether every table was measured on all test videos (its meta has no ``videos_per_split`` limit), so the
    tables' shared rows must agree."""
    return all(t.attrs.get("meta", {}).get("videos_per_split", "all") == "all" for t in tables)


def provenance(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Where each table came from (saved by an earlier notebook or computed now), its file and size."""
    rows = [dict(table=k, source=df.attrs.get("source", "computed by notebook 08"),
                 file=df.attrs.get("file", ""), rows=len(df), columns=df.shape[1]) for k, df in tables.items()]
    return pd.DataFrame(rows).set_index("table")


def results_files(settings: Settings) -> pd.DataFrame:
    """The files under ``runs/<profile>/results/``: name, kind, size."""
    folder = results_dir(settings)
    rows = [dict(file=p.name, kind=p.suffix.lstrip("."), kB=round(p.stat().st_size / 1024, 1))
            for p in sorted(folder.iterdir()) if p.is_file() and not p.name.startswith(".")]
    return pd.DataFrame(rows, columns=["file", "kind", "kB"])
