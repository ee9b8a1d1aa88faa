"""Cached TTT runs: each video's result is stored under a key of everything that decides its numbers.

Runs live in ``runs/<profile>/ttt/cache/<strategy>/<key>/<split>.{csv,json,npz}`` (written with
:func:`~dattt_nb.ttt.runner.write_results`); the key holds strategy, objective, epochs, lr, pairs, zoom range,
frame gap, seed, device type, the trained weights, the video data and the TTT code. Videos are adapted
independently (episodic reset, reseeded per video), so a cached video is the same whether it was run alone or
with its split, and one strategy's runs serve every notebook that asks for them. Saving merges under a file lock,
so notebooks that run at the same time (``dattt-nb run --jobs 2``, two JupyterLab tabs) add to a split's cache
without dropping each other's videos.
"""
from __future__ import annotations

import functools
import json
import math
from pathlib import Path

import numpy as np
import torch

from dattt_nb.config import pick_device, run_dir
from dattt_nb.ttt.runner import TTTResult, VideoResult, run_ttt, write_results
from dattt_nb.ttt.strategies import resolve_strategy, strategy_name
from dattt_nb.utils import sha1_hex

# the code that computes a TTT run's numbers (metrics are tested against the DAVIS reference and left out)
_CODE = ("ttt/engine.py", "ttt/strategies.py", "ttt/objectives.py", "ttt/views.py", "ttt/runner.py", "losses.py",
         "models/dattt.py", "models/decoders.py", "models/modulation.py", "models/backbones.py",
         "models/aux_heads.py")


# --- cache keys ----------------------------------------------------------------------------------

def model_fingerprint(model: torch.nn.Module) -> str:
    """Hash of every parameter and buffer (the trained weights decide the numbers)."""
    return sha1_hex(*(k.encode() + v.detach().cpu().contiguous().numpy().tobytes()
                  for k, v in model.state_dict().items()))[:12]


def video_fingerprint(video) -> str:
    """Hash of a video's frames, flow, masks and annotation flags."""
    parts = [video.name.encode()]
    for x in (video.frames, video.flow, video.masks, video.annotated):
        parts.append(b"-" if x is None else x.detach().cpu().contiguous().numpy().tobytes())
    return sha1_hex(*parts)[:12]


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


@functools.lru_cache(maxsize=64)
def _code_text_of(path: str, mtime_ns: int, size: int) -> bytes:
    """:func:`_code_text` of a file version (parsing is slow; a study asks hundreds of times, an edit re-parses)."""
    return _code_text(Path(path))


def code_fingerprint() -> str:
    """Hash of the code that computes a TTT run (engine, strategies, objectives, views, runner, loss, model)."""
    root = Path(__file__).resolve().parents[1]
    parts = []
    for p in _CODE:
        if (root / p).is_file():
            st = (root / p).stat()
            parts.append(_code_text_of(str(root / p), st.st_mtime_ns, st.st_size))
    return sha1_hex(*parts)[:12]


def cache_dir(model, settings, strategy: str, epochs: int | None = None, lr: float | None = None,
              n_pairs: int | None = None, objective: str | None = None, frame_gap: int | None = None,
              device=None) -> Path:
    """``runs/<profile>/ttt/cache/<strategy>/<objective>_e<E>_lr<lr>_p<P>_g<gap>_seed<S>_<hash>``."""
    epochs = settings.ttt_epochs if epochs is None else epochs
    lr = settings.ttt_lr if lr is None else lr
    n_pairs = settings.ttt_pairs if n_pairs is None else n_pairs
    objective = objective or settings.ttt_objective
    frame_gap = settings.ttt_frame_gap if frame_gap is None else frame_gap
    strategy = strategy_name(strategy)  # one folder per strategy, whatever its spelling
    if not resolve_strategy(strategy).adapts:  # nothing adapts: one cache entry whatever the TTT settings
        epochs, lr, n_pairs, frame_gap = 0, 0.0, 0, 1
    device = torch.device(device) if device is not None else pick_device(settings)
    key = sha1_hex(json.dumps([model_fingerprint(model), code_fingerprint(), list(settings.ttt_scale), device.type],
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
    strategy = strategy_name(strategy or settings.ttt_strategy)
    folder = cache_dir(model, settings, strategy, epochs, lr, n_pairs, objective, frame_gap, device)
    record, done, fps = (None, {}, {}) if refresh else load_cached(folder, split)
    want = {v.name: video_fingerprint(v) for v in videos}
    missing = [v for v in videos if v.name not in done or fps.get(v.name) != want[v.name]]
    if missing:
        from dattt_nb.utils import file_lock, progress_disabled

        progress = progress and not progress_disabled()
        new = run_ttt(model, missing, settings, strategy=strategy, objective=objective, epochs=epochs, lr=lr,
                      frame_gap=frame_gap, n_pairs=n_pairs, progress=progress, device=device)
        meta = dict(strategy=new.strategy, objective=new.objective, epochs=new.epochs, lr=new.lr,
                    frame_gap=new.frame_gap)
        folder.mkdir(parents=True, exist_ok=True)
        with file_lock(folder / f".{split}.lock"):  # another notebook may have saved this split meanwhile
            _, done, fps = (None, {}, {}) if refresh else load_cached(folder, split)
            for v in new.videos:  # a video someone else saved with the same data first stays as it is
                if v.name not in done or fps.get(v.name) != want[v.name]:
                    done[v.name], fps[v.name] = v, want[v.name]
            everything = TTTResult(**meta, videos=list(done.values()))  # cached ones first, then the new ones
            _save_cached(folder, split, everything, fps, settings)
    else:
        meta = {k: record[k] for k in ("strategy", "objective", "epochs", "lr", "frame_gap")}
    return TTTResult(**meta, videos=[done[v.name] for v in videos])


def load_test_splits(settings, splits=None, n_videos: int = 0) -> dict[str, list]:
    """{split: videos} of the test splits (built if missing), ``n_videos`` > 0 keeps the first few of each."""
    from dattt_nb.data.layout import list_videos, load_split
    from dattt_nb.data.prepare import ensure_benchmark
    from dattt_nb.splits import TEST_SPLITS

    splits = list(splits or TEST_SPLITS)
    roots = ensure_benchmark(settings, splits=splits, verbose=False)
    out = {}
    for split in [s for s in splits if s in roots]:  # real data: the test roots that exist
        names = list_videos(roots[split])
        out[split] = load_split(roots[split], size=settings.image_size, videos=names[:n_videos] if n_videos else names,
                                with_depth=False)
    return out


def run_splits(model, data: dict[str, list], settings, strategy: str | None = None, **kw) -> dict[str, TTTResult]:
    """{split: TTTResult} of one strategy on every split of ``data`` (cached, see :func:`cached_ttt`)."""
    return {split: cached_ttt(model, videos, settings, split, strategy=strategy, **kw)
            for split, videos in data.items()}
