"""What notebooks 04–06 measure about TTT: cached runs over the test splits, per-split / per-video tables, the
Table 3 analogue, the Fig. 5 long format, and the figures (per-frame J, loss, depth std, masks over the passes).

Runs are cached per video under ``runs/<profile>/ttt/cache/<strategy>/<key>/<split>.{csv,json,npz}`` (written
with :func:`~dattt_nb.ttt.runner.write_results`), keyed by everything that decides the numbers: strategy,
objective, epochs, lr, pairs, zoom range, frame gap, seed, device type, the trained weights, the video data and
the TTT code. Videos are adapted independently (episodic reset, reseeded per video), so a video's cached result
is the same whether it was run alone or with its split — notebook 06 reuses what 04 and 05 computed.
"""
from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from dattt_nb.config import pick_device, run_dir
from dattt_nb.ttt.engine import TTTEngine
from dattt_nb.ttt.runner import TTTResult, VideoResult, run_ttt, write_results
from dattt_nb.ttt.strategies import STRATEGY_LABELS, get_strategy

CLEAN_SPLIT = "davis"  # the synthetic DAVIS-16 stand-in: no photometric shift
# the code that computes a TTT run's numbers (metrics are tested against the DAVIS reference and left out)
_CODE = ("ttt/engine.py", "ttt/strategies.py", "ttt/objectives.py", "ttt/views.py", "ttt/runner.py", "losses.py",
         "models/dattt.py", "models/decoders.py", "models/modulation.py", "models/backbones.py",
         "models/aux_heads.py")


# --- cache keys ----------------------------------------------------------------------------------

def _sha(*chunks: bytes) -> str:
    h = hashlib.sha1()
    for c in chunks:
        h.update(c)
    return h.hexdigest()


def model_fingerprint(model: torch.nn.Module) -> str:
    """Hash of every parameter and buffer (the trained weights decide the numbers)."""
    return _sha(*(k.encode() + v.detach().cpu().contiguous().numpy().tobytes()
                  for k, v in model.state_dict().items()))[:12]


def video_fingerprint(video) -> str:
    """Hash of a video's frames, flow, masks and annotation flags."""
    parts = [video.name.encode()]
    for x in (video.frames, video.flow, video.masks, video.annotated):
        parts.append(b"-" if x is None else x.detach().cpu().contiguous().numpy().tobytes())
    return _sha(*parts)[:12]


def _code_text(path: Path) -> bytes:
    """A module's code without comments, docstrings and formatting (editing those keeps cached runs valid)."""
    import ast

    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr) and \
                isinstance(getattr(body[0], "value", None), ast.Constant) and isinstance(body[0].value.value, str):
            node.body = body[1:] or [ast.Pass()]
    return ast.dump(tree).encode()


def code_fingerprint() -> str:
    """Hash of the code that computes a TTT run (engine, strategies, objectives, views, runner, loss, model)."""
    root = Path(__file__).resolve().parents[1]
    return _sha(*(_code_text(root / p) for p in _CODE if (root / p).is_file()))[:12]


def cache_dir(model, settings, strategy: str, epochs: int | None = None, lr: float | None = None,
              n_pairs: int | None = None, objective: str | None = None, frame_gap: int | None = None,
              device=None) -> Path:
    """``runs/<profile>/ttt/cache/<strategy>/<objective>_e<E>_lr<lr>_p<P>_g<gap>_seed<S>_<hash>``."""
    epochs = settings.ttt_epochs if epochs is None else epochs
    lr = settings.ttt_lr if lr is None else lr
    n_pairs = settings.ttt_pairs if n_pairs is None else n_pairs
    objective = objective or settings.ttt_objective
    frame_gap = settings.ttt_frame_gap if frame_gap is None else frame_gap
    if strategy == "none":  # nothing adapts: one cache entry whatever the TTT settings
        epochs, lr, n_pairs, frame_gap = 0, 0.0, 0, 1
    device = torch.device(device) if device is not None else pick_device(settings)
    key = _sha(json.dumps([model_fingerprint(model), code_fingerprint(), list(settings.ttt_scale), device.type],
                          sort_keys=True).encode())[:10]
    name = f"{objective}_e{epochs}_lr{lr:g}_p{n_pairs}_g{frame_gap}_seed{settings.seed}_{key}"
    return run_dir(settings) / "ttt" / "cache" / strategy / name


# --- reading results back ------------------------------------------------------------------------

def _array(x) -> np.ndarray:
    return np.array([math.nan if v is None else v for v in np.ravel(x)] if x is not None else [],
                    dtype=float).reshape(np.shape(x) if x is not None else (0,))


def _nan(x) -> float:
    return math.nan if x is None else float(x)


def _video_from_summary(d: dict, masks: dict) -> VideoResult:
    pass_J = np.array([[_nan(v) for v in row] for row in d["pass_J"]], dtype=float)
    pass_F = np.array([[_nan(v) for v in row] for row in d["pass_F"]], dtype=float)
    return VideoResult(
        name=d["name"], masks=torch.from_numpy(masks[f"masks/{d['name']}"]),
        J_frames=_array(d["J_frames"]), F_frames=_array(d["F_frames"]), J=_nan(d["J"]), F=_nan(d["F"]),
        pass_J=pass_J, pass_F=pass_F, final_J=_nan(d.get("final_J")), final_F=_nan(d.get("final_F")),
        final_masks=torch.from_numpy(masks[f"final/{d['name']}"]) if f"final/{d['name']}" in masks else None,
        depth_std_frames=_array(d.get("depth_std_frames")), losses=[_nan(v) for v in d.get("losses", [])],
        step_depth_std=[_nan(v) for v in d.get("step_depth_std", [])], steps=int(d["steps"]),
        skipped=int(d["skipped"]), nonfinite=int(d["nonfinite"]), fallback=int(d.get("fallback", 0)),
        seconds=float(d["seconds"]))


def load_cached(folder: Path, split: str) -> tuple[dict | None, dict[str, VideoResult], dict[str, str]]:
    """(run record, {video: result}, {video: data fingerprint}) from a cache folder; empty when absent."""
    js, npz = folder / f"{split}.json", folder / f"{split}.npz"
    if not (js.is_file() and npz.is_file()):
        return None, {}, {}
    record = json.loads(js.read_text())
    with np.load(npz, allow_pickle=False) as f:
        arrays = {k: f[k] for k in f.files}
    fps = {k.split("/", 1)[1]: str(v) for k, v in arrays.items() if k.startswith("fp/")}
    videos = {d["name"]: _video_from_summary(d, arrays) for d in record["videos"] if f"masks/{d['name']}" in arrays}
    return record, videos, fps


def _save_cached(folder: Path, split: str, result: TTTResult, fps: dict[str, str], settings) -> None:
    from dattt_nb.utils import atomic_path

    folder.mkdir(parents=True, exist_ok=True)
    write_results(result, folder / split, settings)
    arrays = {}
    for v in result.videos:
        arrays[f"masks/{v.name}"] = v.masks.cpu().numpy().astype(bool)
        if v.final_masks is not None:
            arrays[f"final/{v.name}"] = v.final_masks.cpu().numpy().astype(bool)
        arrays[f"fp/{v.name}"] = np.array(fps[v.name])
    with atomic_path(folder / f"{split}.npz") as tmp:
        with open(tmp, "wb") as fh:
            np.savez_compressed(fh, **arrays)


# --- running with the cache ----------------------------------------------------------------------

def cached_ttt(model, videos, settings, split: str, strategy: str | None = None, epochs: int | None = None,
               lr: float | None = None, n_pairs: int | None = None, objective: str | None = None,
               frame_gap: int | None = None, refresh: bool = False, progress: bool = True,
               device=None) -> TTTResult:
    """:func:`~dattt_nb.ttt.runner.run_ttt` on ``videos`` of ``split``, reusing every video already computed
    with identical settings, weights, data and code (``refresh=True`` recomputes); new videos are added."""
    strategy = strategy or settings.ttt_strategy
    folder = cache_dir(model, settings, strategy, epochs, lr, n_pairs, objective, frame_gap, device)
    record, done, fps = (None, {}, {}) if refresh else load_cached(folder, split)
    want = {v.name: video_fingerprint(v) for v in videos}
    missing = [v for v in videos if v.name not in done or fps.get(v.name) != want[v.name]]
    if missing:
        from dattt_nb.utils import progress_disabled

        progress = progress and not progress_disabled()
        new = run_ttt(model, missing, settings, strategy=strategy, objective=objective, epochs=epochs, lr=lr,
                      frame_gap=frame_gap, n_pairs=n_pairs, progress=progress, device=device)
        done.update({v.name: v for v in new.videos})
        fps.update({v.name: want[v.name] for v in missing})
        meta = dict(strategy=new.strategy, objective=new.objective, epochs=new.epochs, lr=new.lr,
                    frame_gap=new.frame_gap)
        everything = TTTResult(**meta, videos=list(done.values()))  # cached ones first, then the new ones
        _save_cached(folder, split, everything, fps, settings)
    else:
        meta = {k: record[k] for k in ("strategy", "objective", "epochs", "lr", "frame_gap")}
    return TTTResult(**meta, videos=[done[v.name] for v in videos])


def load_test_splits(settings, splits=None, n_videos: int = 0) -> dict[str, list]:
    """{split: videos} of the test splits (built if missing), ``n_videos`` > 0 keeps the first few of each."""
    from dattt_nb.data.layout import list_videos, load_split
    from dattt_nb.data.prepare import TEST_SPLITS, ensure_benchmark

    splits = list(splits or TEST_SPLITS)
    roots = ensure_benchmark(settings, splits=splits, verbose=False)
    out = {}
    for split in [s for s in splits if s in roots]:  # real data: the test roots that exist
        names = list_videos(roots[split])
        out[split] = load_split(roots[split], size=settings.image_size, videos=names[:n_videos] if n_videos else names,
                                with_depth=False)
    return out


def merge_splits(results: dict[str, TTTResult]) -> TTTResult:
    """One TTTResult holding the videos of every split (for figures over all test videos)."""
    first = next(iter(results.values()))
    return TTTResult(first.strategy, first.objective, first.epochs, first.lr, first.frame_gap,
                     [v for res in results.values() for v in res.videos])


def most_changed(base: dict[str, TTTResult], adapted: dict[str, TTTResult], n: int = 3,
                 splits=None) -> list[tuple[str, str]]:
    """(split, video) of the ``n`` videos whose J changed most with TTT, either way (what the figures show)."""
    changes = [(abs(v.J - b.J), split, v.name) for split, res in adapted.items() if splits is None or split in splits
               for v, b in zip(res.videos, base[split].videos)]
    return [(split, name) for _, split, name in sorted(changes, key=lambda c: -c[0])[:n]]


def run_splits(model, data: dict[str, list], settings, strategy: str | None = None, **kw) -> dict[str, TTTResult]:
    """{split: TTTResult} of one strategy on every split of ``data`` (cached, see :func:`cached_ttt`)."""
    return {split: cached_ttt(model, videos, settings, split, strategy=strategy, **kw)
            for split, videos in data.items()}


# --- tables --------------------------------------------------------------------------------------

def split_label(split: str) -> str:
    from dattt_nb.data.prepare import TEST_SPLIT_LABELS

    return TEST_SPLIT_LABELS.get(split, split)


def shifted(splits) -> list[str]:
    """The test splits with a distribution shift (all but the clean DAVIS-16 stand-in)."""
    return [s for s in splits if s != CLEAN_SPLIT]


def split_scores(results: dict[str, TTTResult], final: bool = False) -> pd.DataFrame:
    """Rows = split; J and F ×100, mean over videos (DAVIS protocol); ``final``: LTV's re-prediction."""
    rows = []
    for split, res in results.items():
        J = [v.final_J if final else v.J for v in res.videos]
        F = [v.final_F if final else v.F for v in res.videos]
        rows.append(dict(split=split, dataset=split_label(split), J=100 * np.nanmean(J), F=100 * np.nanmean(F),
                         videos=len(res.videos)))
    return pd.DataFrame(rows).set_index("split")


def compare_splits(base: dict[str, TTTResult], adapted: dict[str, TTTResult]) -> pd.DataFrame:
    """Per split: J and F ×100 without TTT and with the strategy, and the change (dJ, dF); a mean row at the end."""
    b, a = split_scores(base), split_scores(adapted)
    df = pd.DataFrame({"dataset": b["dataset"], "J_none": b["J"], "J": a["J"], "dJ": a["J"] - b["J"],
                       "F_none": b["F"], "F": a["F"], "dF": a["F"] - b["F"], "videos": a["videos"]})
    values = ["J_none", "J", "dJ", "F_none", "F", "dF"]
    groups = {"mean": list(df.index)}
    if 0 < len(shifted(df.index)) < len(df):
        groups["mean_shifted"] = shifted(df.index)
    for name, splits in groups.items():
        df.loc[name] = {**df.loc[splits, values].mean().to_dict(), "dataset": name.replace("_", " "),
                        "videos": df.loc[splits, "videos"].sum()}
    df["videos"] = df["videos"].astype(int)
    return df


def per_video(base: dict[str, TTTResult], adapted: dict[str, TTTResult]) -> pd.DataFrame:
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


def table3(results: dict[str, dict[str, TTTResult]]) -> pd.DataFrame:
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
    if "none" in df.index:
        values = df.columns[2:]
        for strategy in [s for s in df.index if s != "none"]:
            delta = df.loc[strategy, values].astype(float) - df.loc["none", values].astype(float)
            df.loc[f"{strategy}_delta"] = {"label": df.loc[strategy, "label"], "value_kind": "delta", **delta.to_dict()}
    df.index.name = "strategy"
    return df


def table3_deltas(table: pd.DataFrame, measure: str = "J") -> pd.DataFrame:
    """The paper's layout of Table 3 from :func:`table3`: No TTT absolute, the strategies as +/- deltas; one measure."""
    cols = [c for c in table.columns if c.endswith(f"_{measure}")]
    rows = [r for r in table.index if r == "none" or r.endswith("_delta")]
    out = table.loc[rows, ["label"] + cols].set_index("label")
    out.columns = [split_label(c[: -len(measure) - 1]) if c[: -len(measure) - 1] not in ("shifted", "mean") else
                   f"{c[: -len(measure) - 1]} (mean)" for c in cols]
    return out.astype(float).round(2)


def fig5_rows(strategy: str, by_split: dict[str, TTTResult], epochs: int | None = None) -> list[dict]:
    """Fig. 5 rows (strategy, epoch, split, J ×100): LTV gives one row per pass; N / MWI one row at ``epochs``."""
    rows = []
    for split, res in by_split.items():
        if strategy == "loop":
            passes = np.stack([np.nanmean(v.pass_J, axis=1) for v in res.videos])  # (videos, passes)
            for e in range(passes.shape[1]):
                rows.append(dict(strategy=strategy, epoch=e + 1, split=split, J=100 * float(np.nanmean(passes[:, e]))))
        else:
            e = res.epochs if epochs is None else epochs
            rows.append(dict(strategy=strategy, epoch=0 if strategy == "none" else e, split=split,
                             J=100 * float(np.nanmean([v.J for v in res.videos]))))
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
    return df.sort_values(["strategy", "split", "epoch"]).reset_index(drop=True)[["strategy", "label", "epoch",
                                                                                   "split", "J"]]


# --- the schedule of steps -----------------------------------------------------------------------

def step_epochs(strategy: str, n_frames: int, epochs: int, frame_gap: int = 1) -> np.ndarray:
    """Epoch index of every step in the order a strategy takes them: the step within a frame (N, MWI) or the pass
    over the video (LTV); grouped variants take groups one after the other."""
    out = []
    for g in range(frame_gap if strategy in ("momentum", "loop") else 1):
        frames = list(range(n_frames))[g::frame_gap] if strategy in ("momentum", "loop") else list(range(n_frames))
        if strategy == "loop":
            out += [e for e in range(epochs) for _ in frames]
        elif strategy in ("naive", "momentum"):
            out += [e for _ in frames for e in range(epochs)]
    return np.asarray(out, dtype=int)


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

def trace_passes(model, video, settings, strategy: str | None = None, epochs: int | None = None,
                 lr: float | None = None, n_pairs: int | None = None, objective: str | None = None,
                 device=None) -> dict:
    """{pass: (T, H, W) bool masks} of one video, exactly as :func:`~dattt_nb.ttt.runner.run_video` makes them
    (same reset and seeds); LTV gives one entry per pass and ``"final"``, N / MWI one entry (pass 0)."""
    strategy = strategy or settings.ttt_strategy
    epochs = settings.ttt_epochs if epochs is None else epochs
    device = torch.device(device) if device is not None else pick_device(settings)
    engine = TTTEngine.from_settings(model, settings, objective=objective, lr=lr, n_pairs=n_pairs).to(device)
    out = {}
    devices = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(engine.seed)
        engine.begin_video()
        for p in get_strategy(strategy, 1)(engine, video, epochs):
            if p.pass_ not in out:
                out[p.pass_] = torch.zeros(len(video), *video.frames.shape[-2:], dtype=torch.bool)
            out[p.pass_][p.t] = (p.mask > 0.5).cpu()
    return out


# --- figures -------------------------------------------------------------------------------------

def plot_per_frame_j(base: TTTResult, adapted: TTTResult, names=None, n: int = 3, axes=None):
    """J per frame of a few videos: no TTT against the strategy (the last pass for LTV); returns the figure."""
    import matplotlib.pyplot as plt

    none = {v.name: v for v in base.videos}
    videos = [v for v in adapted.videos if names is None or v.name in names][:n]
    if axes is None:
        _, axes = plt.subplots(1, len(videos), figsize=(3.6 * len(videos), 2.8), squeeze=False, sharey=True)
        axes = axes[0]
    for ax, v in zip(axes, videos):
        t = np.arange(len(v.J_frames))
        ax.plot(t, none[v.name].J_frames, "o-", color="#90a4ae", label=f"No TTT (J {none[v.name].J:.2f})")
        ax.plot(t, v.J_frames, "o-", color="#ef6c00", label=f"{adapted.label} (J {v.J:.2f})")
        ax.set_title(v.name, fontsize=9)
        ax.set_xlabel("frame")
        ax.set_ylim(0, 1)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="lower left")
    axes[0].set_ylabel("J (IoU with ground truth)")
    fig = axes[0].figure
    fig.tight_layout()
    return fig


def plot_steps(result: TTTResult, column: str = "loss", axes=None, max_videos: int = 8):
    """Left: ``column`` (loss or depth_std) at every step of a few videos; right: its mean ± std per epoch index
    (steps within a frame for N / MWI, passes for LTV) over all videos of the result; returns the figure."""
    import matplotlib.pyplot as plt

    df = steps_long(result)
    if axes is None:
        _, axes = plt.subplots(1, 2, figsize=(11, 3.0))
    ylabel = {"loss": "TTT loss (SILog between views)", "depth_std": "spatial std of predicted depth"}.get(column,
                                                                                                          column)
    for name, g in list(df.groupby("video", sort=False))[:max_videos]:
        axes[0].plot(g["step"], g[column], lw=0.9, alpha=0.8, label=name)
    axes[0].set_xlabel("TTT step (in the order taken)")
    axes[0].set_ylabel(ylabel)
    axes[0].set_title(f"{result.label}: every step, {min(max_videos, df['video'].nunique())} videos", fontsize=9)
    axes[0].legend(fontsize=6, ncol=2)
    stats = df.groupby("epoch")[column].agg(["mean", "std"])
    axes[1].errorbar(stats.index, stats["mean"], yerr=stats["std"], fmt="o-", color="#ef6c00", capsize=3)
    axes[1].set_xlabel("pass over the video" if result.strategy == "loop" else "step on the same frame")
    axes[1].set_ylabel(ylabel)
    axes[1].set_title(f"mean ± std over {df['video'].nunique()} videos", fontsize=9)
    axes[1].set_xticks(stats.index)
    for ax in axes:
        ax.grid(alpha=0.3)
    fig = axes[0].figure
    fig.tight_layout()
    return fig


def plot_loss_curve(result: TTTResult, axes=None):
    """The TTT loss over the steps (eq. 4): does adaptation make the two views agree?"""
    return plot_steps(result, "loss", axes)


def plot_depth_std(result: TTTResult, axes=None):
    """Collapse watch: spatial std of the views' predicted depth over the steps (0 = a flat, trivial depth map)."""
    return plot_steps(result, "depth_std", axes)


FIG5_MIN_SPAN = 20.0  # J ×100: Fig. 5's vertical axis spans at least 0.2 J, so a few tenths of a point look small


def plot_j_vs_epoch(fig5: pd.DataFrame, splits=("mean_shifted", CLEAN_SPLIT), axes=None,
                    min_span: float = FIG5_MIN_SPAN):
    """Fig. 5: J against epochs for each strategy (epoch 0 = No TTT), one panel per split; returns the figure.

    Every panel's vertical axis spans at least ``min_span`` (J ×100), the same in every panel, so changes of a
    fraction of a point — within the noise of a split of a few videos — are not stretched into an effect.
    """
    import matplotlib.pyplot as plt

    from dattt_nb.viz import hold_span

    splits = [s for s in splits if s in set(fig5["split"])]
    if axes is None:
        _, axes = plt.subplots(1, len(splits), figsize=(4.6 * len(splits), 3.2), squeeze=False)
        axes = axes[0]
    style = {"naive": ("#42a5f5", "s", ":"), "momentum": ("#ab47bc", "^", "--"), "loop": ("#ef6c00", "o", "-")}
    for ax, split in zip(axes, splits):
        for strategy in ("naive", "momentum", "loop"):
            g = fig5[(fig5["split"] == split) & (fig5["strategy"] == strategy)].sort_values("epoch")
            if len(g):
                color, marker, line = style[strategy]
                ax.plot(g["epoch"], g["J"], marker=marker, ls=line, color=color, label=STRATEGY_LABELS[strategy])
        ax.set_xlabel("epochs (steps per frame for N / MWI, passes for LTV)")
        ax.set_ylabel("J × 100")
        title = {"mean_shifted": "mean of the shifted splits", "mean": "mean of all splits"}.get(split,
                                                                                             split_label(split))
        ax.set_title(title, fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        hold_span(ax, fig5.loc[fig5["split"] == split, "J"], min_span)
    fig = axes[0].figure
    fig.tight_layout()
    return fig


def plot_mask_grid(video, columns: dict, frames=None, color=(1.0, 0.2, 0.0)):
    """Fig. 1 / Fig. 6 style: one row per frame; columns frame, ground truth, then each named (T, H, W) mask set
    as an overlay titled with its J; returns the figure."""
    import matplotlib.pyplot as plt

    from dattt_nb.metrics import jaccard
    from dattt_nb.viz import overlay, to_hwc

    frames = list(range(len(video))) if frames is None else list(frames)
    ncol = 2 + len(columns)
    fig, axes = plt.subplots(len(frames), ncol, figsize=(1.7 * ncol, 1.8 * len(frames)), squeeze=False)
    gt = video.masks.cpu().numpy().astype(bool)
    for r, t in enumerate(frames):
        img = to_hwc(video.frames[t])
        panels = [(img, f"{video.name} t={t}"), (overlay(img, gt[t], (0.1, 0.8, 0.2)), "ground truth")]
        for title, masks in columns.items():
            m = masks[t].cpu().numpy().astype(bool) if hasattr(masks, "cpu") else np.asarray(masks[t], bool)
            panels.append((overlay(img, m, color), f"{title}\nJ {jaccard(gt[t], m):.2f}"))
        for ax, (im, title) in zip(axes[r], panels):
            ax.imshow(im, interpolation="nearest")
            ax.set_title(title, fontsize=7)
            ax.axis("off")
    fig.tight_layout()
    return fig


def plot_depth_std_before_after(base: dict[str, TTTResult], adapted: dict[str, TTTResult], ax=None):
    """Collapse watch on the predictions: mean spatial std of the predicted depth per split, without and with TTT."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(6.5, 3.0))
    splits = list(adapted)
    before = [np.nanmean([np.nanmean(v.depth_std_frames) for v in base[s].videos]) for s in splits]
    after = [np.nanmean([np.nanmean(v.depth_std_frames) for v in adapted[s].videos]) for s in splits]
    x = np.arange(len(splits))
    ax.bar(x - 0.2, before, 0.4, color="#90a4ae", label="No TTT")
    ax.bar(x + 0.2, after, 0.4, color="#ef6c00", label=next(iter(adapted.values())).label)
    ax.set_xticks(x, [split_label(s) for s in splits])
    ax.set_ylabel("spatial std of predicted depth")
    ax.set_title("collapse watch: a flat depth map has std 0", fontsize=10)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3, axis="y")
    return ax.figure


# --- sentences computed from results --------------------------------------------------------------------------

NOISE_J = 0.5  # J ×100: a split of a handful of short videos moves about this much by chance


def change_word(delta: float, noise: float = NOISE_J) -> str:
    """"improves" / "lowers" / "does not clearly change", by the sign of ``delta`` and the noise level."""
    return "improves" if delta > noise else "lowers" if delta < -noise else "does not clearly change"


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
    return (f"{label}: mean change over the shifted splits {by_split['dJ'].get('mean_shifted', float('nan')):+.2f} J, "
            f"clean split {by_split['dJ'].get(CLEAN_SPLIT, float('nan')):+.2f} J; "
            f"{extremes_phrase(by_split.loc[measured, 'dJ'])}; "
            f"depth std {std_none:.3f} → {std_ttt:.3f}.")

