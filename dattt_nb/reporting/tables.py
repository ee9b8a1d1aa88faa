"""This profile's versions of the paper's Tables 1, 3, 4 and Figs. 5–6 (§5), saved once and read back.

One call per table: :func:`table1`, :func:`table3`, :func:`table4`, :func:`fig5`, :func:`per_video` return the
table saved under ``runs/<profile>/results/`` by an earlier run or, when it is missing, compute it with the TTT
runner (whose per-video cache, :mod:`dattt_nb.ttt.cache`, makes runs already done free) and save it.
:func:`collect` does all of them. All scores are ×100, as the paper prints them; :mod:`dattt_nb.reporting.paper` puts
them beside the published numbers.
"""
from __future__ import annotations

import json
import math
import warnings
from typing import Callable

import numpy as np
import pandas as pd

from dattt_nb.config import Settings
from dattt_nb.metrics import db_statistics
from dattt_nb.models import VARIANTS
from dattt_nb.reporting.paper import TABLE1_LABELS, TABLE1_ROWS, TABLE4_ROWS, ours_label
from dattt_nb.results import load_table, results_dir, save_table
from dattt_nb.splits import CLEAN_SPLIT, TEST_SPLITS, split_label
from dattt_nb.stats import Interval
from dattt_nb.ttt.strategies import ADAPTIVE, STRATEGIES as _STRATEGIES, STRATEGY_LABELS, resolve_strategy

STRATEGIES = list(_STRATEGIES)  # Table 3's rows, in the paper's order: none, naive, momentum, loop
NOT_RUN = "not run"

NAMES = {"table1": "table1_architecture", "table3": "table3_strategies", "table4": "table4_methods",
         "fig5": "fig5_j_vs_epoch"}  # the series' shared result names (results contract)


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
                      meta: dict | Callable[[], dict] | None = None,
                      convert: Callable[[pd.DataFrame], pd.DataFrame] | None = None) -> pd.DataFrame:
    """The table ``name`` saved by an earlier notebook (through ``convert`` when given) if ``check`` finds nothing
    wrong with it, else ``compute()`` and save it. A saved table in another layout is left alone: the computed one
    goes to ``08_<name>``. ``df.attrs`` says where the table came from (``source``, ``file``, ``meta``); ``meta``
    may be a function, called only when the table is computed."""
    saved = None if refresh else load_table(name, settings)
    if saved is not None and convert is not None:
        saved = convert(saved)
    problem = check(saved) if saved is not None else "missing"
    if problem is None:
        saved.attrs.update(source="saved by an earlier run", file=f"results/{name}.csv",
                           meta=_table_meta(name, settings))
        return saved
    if saved is not None:
        warnings.warn(f"results/{name}.csv does not have the expected layout ({problem}); a table in the expected "
                      f"layout is computed and saved as 08_{name}", stacklevel=2)
        name = f"08_{name}"
    df = compute()
    meta = meta() if callable(meta) else meta  # what describes a computed table is only worked out for one
    save_table(df, name, settings, meta=meta)
    df.attrs.update(source="computed now (cached TTT runs reused)", file=f"results/{name}.csv",
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
    if problem is None and not set(ADAPTIVE) <= set(df["strategy"]):
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


def trained_model(settings: Settings, variant: str = "alpha+beta"):
    """The trained model of a variant (``load_or_train``: loaded, or trained once), kept in memory: Table 1's
    ``none`` / ``head`` / ``alpha+beta``, or Table 4's ``rot`` / ``mae`` (two-stream baseline + auxiliary head on
    E_v); ``None`` for a variant this library cannot train."""
    key = (_key(settings), variant)
    if key not in _MODELS:
        if variant not in VARIANTS:
            return None
        from dattt_nb.train import load_or_train
        from dattt_nb.utils import progress_disabled

        _MODELS[key] = load_or_train(settings, variant=variant, progress=not progress_disabled())[0]
    return _MODELS[key]


def load_videos(settings: Settings) -> dict[str, list]:
    """{split: videos} of the five test splits (built when missing), kept in memory."""
    key = _key(settings)
    if key not in _DATA:
        from dattt_nb.ttt.cache import load_test_splits

        _DATA[key] = load_test_splits(settings)
    return _DATA[key]


def strategy_runs(settings: Settings, strategy: str | None = None, objective: str | None = None,
                  variant: str = "alpha+beta", epochs: int | None = None, n_videos: int = 0,
                  refresh: bool = False) -> dict:
    """{split: TTTResult} of one strategy × objective on a variant's model over the test splits, through the
    per-video cache (a run any notebook made with the same settings, weights, data and code is read back)."""
    from dattt_nb.ttt.cache import run_splits
    from dattt_nb.utils import progress_disabled

    from dattt_nb.ttt.spec import TTTRun

    model = trained_model(settings, variant)
    if model is None:
        raise ValueError(f"no trained model for {variant!r}")
    run = TTTRun.from_settings(settings, strategy=strategy, objective=objective, epochs=epochs)
    if not run.record.adapts and getattr(model, "depth_decoder", None) is None and objective in (None, "depth"):
        run = run.replace(objective="bn")  # nothing adapts without TTT; the depth objective needs D_d to be set up
    data = load_videos(settings)
    if n_videos:
        data = {split: videos[:n_videos] for split, videos in data.items()}
    return run_splits(model, data, settings, run, refresh=refresh, progress=not progress_disabled())


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
    return table1_ttt({v: strategy_runs(settings, "none", None, v) for v in variants},
                      {v: strategy_runs(settings, settings.ttt_strategy, "depth", v) for v in variants[1:]})


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
        if ttt == "yes":  # the change TTT made, with its 95 % interval over the videos (notebook 07)
            for s in TEST_SPLITS:
                for part in ("dJ", "dJ_lo", "dJ_hi", "dJ_n"):
                    if f"{s}_{part}" in by_variant.columns:
                        row[f"{s}_{part}"] = float(by_variant.loc[variant, f"{s}_{part}"])
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
    an earlier run saved it (one row per variant), else computed now and saved in that layout."""
    meta = dict(units="J x100", ttt=f"depth-aware {STRATEGY_LABELS[settings.ttt_strategy]}",
                epochs=settings.ttt_epochs, lr=settings.ttt_lr, pairs=settings.ttt_pairs, seed=settings.seed)
    df = saved_or_computed(NAMES["table1"], settings, lambda: compute_table1(settings),
                           lambda t: check_table1(table1_rows(t)), refresh, meta)
    out = table1_rows(df)
    out.attrs.update(df.attrs)
    return out


# --- Table 3: TTT strategies ---------------------------------------------------------------------

def table3_runs(settings: Settings, rerun: bool = False) -> dict[str, dict]:
    """{strategy: {split: TTTResult}} of No TTT / TTT-N / TTT-MWI / TTT-LTV at the profile's TTT run, on every test
    video (through the cache; ``rerun`` recomputes the TTT runs)."""
    return {s: strategy_runs(settings, s, "depth", refresh=rerun) for s in STRATEGIES}


def compute_table3(settings: Settings, runs: dict | None = None) -> pd.DataFrame:
    """:func:`dattt_nb.ttt.report.table3_from_results` on :func:`table3_runs` (or the ``runs`` given)."""
    from dattt_nb.ttt.report import table3_from_results

    return table3_from_results(runs or table3_runs(settings))


def table3(settings: Settings, refresh: bool = False, runs: dict | None = None) -> pd.DataFrame:
    """Table 3 analogue (``table3_strategies``): saved by an earlier run, else (or with ``refresh``) computed from
    :func:`table3_runs` — or from the ``runs`` the caller already has — and saved. Its only producer."""
    from dattt_nb.splits import shifted
    from dattt_nb.ttt.spec import TTTRun

    def meta() -> dict:  # the test splits are loaded only when the table is computed, never to read a saved one
        return dict(units="x100; rows <strategy>_delta are changes from none",
                    **TTTRun.from_settings(settings).to_dict(),
                    shifted=shifted(list(load_videos(settings) if runs is None else runs["none"])))

    return saved_or_computed(NAMES["table3"], settings, lambda: compute_table3(settings, runs), check_table3, refresh,
                             meta)


# --- Table 4: TTT objectives ---------------------------------------------------------------------

def compute_table4(settings: Settings) -> pd.DataFrame:
    """Rows as the paper's Table 4 (:func:`dattt_nb.ttt.baselines.table4_from_results`, on the profile's
    backbone): absolute no-TTT rows, TTT rows as changes (TENT and BN from the Baseline, the others from their own
    model), every TTT row with the profile's strategy. Rows whose model cannot be built are marked ``not run``."""
    from dattt_nb.ttt.baselines import methods, table4_from_results

    ok = [m for m in methods(None, settings.backbone) if trained_model(settings, m.variant) is not None]
    no_ttt = {v: strategy_runs(settings, "none", None, v) for v in dict.fromkeys(["none"] + [m.variant for m in ok])}
    ttt = {m: strategy_runs(settings, settings.ttt_strategy, m.objective, m.variant) for m in ok}
    df = table4_from_results(no_ttt, ttt, backbone=settings.backbone).reindex(list(TABLE4_ROWS))
    for key, (method, flag, variant, objective, _) in TABLE4_ROWS.items():
        df.loc[key, ["method", "ttt", "value_kind"]] = [method, flag, "absolute" if flag == "no" else "delta"]
        df.loc[key, "model"] = variant
        df.loc[key, "objective"] = objective or ""
    df["status"] = [f"{NOT_RUN}: this library cannot train the {v!r} model" if trained_model(settings, v) is None
                    else "measured" for v in df["model"]]
    df.index.name = "row"
    return df


def _with_status(table: pd.DataFrame) -> pd.DataFrame:
    """A saved Table 4 without a ``status`` column (as the baselines save it): rows with scores are ``measured``."""
    if "status" not in table.columns:
        scored = table[score_columns(table)].notna().any(axis=1)
        table = table.assign(status=np.where(scored, "measured", NOT_RUN))
    return table


def table4(settings: Settings, refresh: bool = False) -> pd.DataFrame:
    """Table 4 analogue (``table4_methods``): saved by an earlier run, else computed now (rows that cannot be run
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


def compute_fig5(settings: Settings, epochs=None, n_videos: int = 2, rerun: bool = False) -> pd.DataFrame:
    """Fig. 5 long format: LTV from the J of every pass, N and MWI one run per epoch count,
    on the first ``n_videos`` of each split (0: all); epoch 0 is No TTT. ``rerun`` recomputes the TTT runs."""
    from dattt_nb.ttt import report

    none = strategy_runs(settings, "none", n_videos=n_videos, refresh=rerun)
    ltv = strategy_runs(settings, "loop", "depth", n_videos=n_videos, refresh=rerun)
    rows = report.fig5_rows("loop", ltv, base=none)
    for strategy in (s for s in ADAPTIVE if not resolve_strategy(s).loops):  # N and MWI: one run per epoch count
        for e in fig5_epoch_counts(settings, epochs):
            runs = strategy_runs(settings, strategy, "depth", epochs=e, n_videos=n_videos, refresh=rerun)
            rows += report.fig5_rows(strategy, runs, base=none)
    return report.fig5_table(rows, report.fig5_rows("none", none))


def fig5(settings: Settings, refresh: bool = False, epochs=None, n_videos: int = 2,
         rerun: bool = False) -> pd.DataFrame:
    """Fig. 5 data (``fig5_j_vs_epoch``): saved by an earlier run, else (or with ``refresh``) computed from the
    cached TTT runs (``rerun``: recomputed) and saved. Its only producer."""
    meta = dict(units="J x100", videos_per_split=n_videos or "all", epochs=fig5_epoch_counts(settings, epochs),
                ltv_passes=settings.ttt_epochs)
    return saved_or_computed(NAMES["fig5"], settings, lambda: compute_fig5(settings, epochs, n_videos, rerun),
                             check_fig5, refresh, meta)


def fig5_subset_note(settings: Settings, n_videos: int) -> str:
    """What Fig. 5's videos are: the first ``n_videos`` of each split (a subset), or all test videos."""
    n_all = sum(len(v) for v in load_videos(settings).values())
    n_sub = sum(len(v[:n_videos] if n_videos else v) for v in load_videos(settings).values())
    return (f"Fig. 5 on a subset: the first {n_videos} videos of each split ({n_sub} of {n_all})"
            if n_sub < n_all else f"Fig. 5 on all {n_all} test videos")


def fig5_shifted_changes(settings: Settings, n_videos: int = 2) -> dict[str, Interval]:
    """{strategy: change of J ×100 on the shifted splits with its 95 % interval over the videos} of N, MWI and LTV
    at the profile's epochs, on Fig. 5's videos (from the cache)."""
    from dattt_nb.splits import shifted
    from dattt_nb.ttt.report import video_deltas

    none = strategy_runs(settings, "none", n_videos=n_videos)
    where = shifted(list(none)) or list(none)
    return {s: video_deltas(none, strategy_runs(settings, s, "depth", n_videos=n_videos), where) for s in ADAPTIVE}


# --- per video -----------------------------------------------------------------------------------

def per_video_strategy(settings: Settings, strategy: str, refresh: bool = False) -> pd.DataFrame:
    """``per_video_<strategy>`` of a strategy (one row per split × video, ×100), saved or computed."""
    from dattt_nb.ttt.report import per_video_from_results

    def compute():
        return per_video_from_results(strategy_runs(settings, "none"), strategy_runs(settings, strategy, "depth"))

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
        runs = strategy_runs(settings, strategy, "depth")  # None: the profile's strategy
        strategy = next(iter(runs.values())).strategy
        stats = split_statistics(runs)
        stats.loc["mean"] = {**stats.drop(columns=["dataset"]).mean().to_dict(), "dataset": "all (mean)",
                             "videos": stats["videos"].sum()}
        parts.append(stats.assign(method=STRATEGY_LABELS[strategy]))
    df = pd.concat(parts)
    df["videos"] = df["videos"].astype(int)
    df = df[["method", "dataset"] + [f"{m}_{k}" for m in ("J", "F") for k in ("mean", "recall", "decay")] +
            ["videos"]]
    save_table(df, "08_mean_recall_decay", settings, meta=dict(units="x100; recall: fraction of frames > 0.5; "
                                                                     "decay: first quarter minus last quarter"))
    df.attrs.update(source="computed now (cached TTT runs reused)", file="results/08_mean_recall_decay.csv")
    return df


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
    from dattt_nb.ttt.report import trace_passes
    from dattt_nb.viz import plot_mask_grid

    video = next(v for v in load_videos(settings)[split] if v.name == name)
    model = trained_model(settings)
    none = next(v for v in strategy_runs(settings, "none")[split].videos if v.name == name)
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
    """Every table of the evaluation: saved ones loaded, missing ones computed (and saved)."""
    return {"table1": table1(settings, refresh), "table3": table3(settings, refresh),
            "table4": table4(settings, refresh), "fig5": fig5(settings, refresh),
            "per_video": per_video(settings, refresh), "mean_recall_decay": mean_recall_decay(settings)}


def videos_note(table: pd.DataFrame) -> str:
    """Which test videos a saved table used, from its meta (``videos_per_split``): every table and figure of
    notebook 08 says it on its face, so that numbers from different subsets are never read as one."""
    per = (table.attrs.get("meta") or {}).get("videos_per_split", "all")
    if per in ("all", 0, "0", None):
        return "all test videos"
    return f"a subset: the first {per} videos of each split"


def table1_ttt_changes(t1: pd.DataFrame) -> pd.DataFrame:
    """Table 1's TTT rows as the change TTT made per split, ``+0.14 [-0.18, +0.68]`` (95 % interval over videos)."""
    from dattt_nb.ttt.report import stored_interval

    rows = [r for r in t1.index if str(r).endswith("_ttt")]
    out = {}
    for r in rows:
        out[t1.loc[r, "label"] if "label" in t1.columns else r] = {
            split_label(s): stored_interval(t1.loc[r], f"{s}_dJ").format()
            for s in TEST_SPLITS if f"{s}_dJ_lo" in t1.columns and pd.notna(t1.loc[r, f"{s}_dJ_lo"])}
    return pd.DataFrame.from_dict(out, orient="index")


def on_all_videos(*tables: pd.DataFrame) -> bool:
    """Whether every table was measured on all test videos (its meta has no ``videos_per_split`` limit), so the
    tables' shared rows must agree."""
    return all(t.attrs.get("meta", {}).get("videos_per_split", "all") == "all" for t in tables)


def provenance(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Where each table came from (saved by an earlier notebook or computed now), its file and size."""
    rows = [dict(table=k, source=df.attrs.get("source", "computed now"),
                 file=df.attrs.get("file", ""), rows=len(df), columns=df.shape[1]) for k, df in tables.items()]
    return pd.DataFrame(rows).set_index("table")


def results_files(settings: Settings) -> pd.DataFrame:
    """The files under ``runs/<profile>/results/``: name, kind, size."""
    folder = results_dir(settings)
    rows = [dict(file=p.name, kind=p.suffix.lstrip("."), kB=round(p.stat().st_size / 1024, 1))
            for p in sorted(folder.iterdir()) if p.is_file() and not p.name.startswith(".")]
    return pd.DataFrame(rows, columns=["file", "kind", "kB"])
