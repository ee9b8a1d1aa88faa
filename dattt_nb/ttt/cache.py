"""Cached TTT runs: each video's result is stored under a key of everything that decides its numbers.

Runs live in ``runs/<profile>/ttt/cache/<strategy>/<key>/<split>.{csv,json,npz}`` (written with
:func:`~dattt_nb.ttt.records.save_split`); the key holds strategy, objective, epochs, lr, pairs, zoom range,
frame gap, seed, device type, the trained weights, the video data and the TTT code. Videos are adapted
independently (episodic reset, reseeded per video), so a cached video is the same whether it was run alone or
with its split, and one strategy's runs serve every notebook that asks for them. Saving merges under a file lock,
so notebooks that run at the same time (``dattt-nb run --jobs 2``, two JupyterLab tabs) add to a split's cache
without dropping each other's videos.
"""
from __future__ import annotations

import functools
import json
from pathlib import Path

import torch

from dattt_nb.config import pick_device, run_dir
from dattt_nb.ttt.records import TTTResult, load_split_results, save_split
from dattt_nb.ttt.runner import run_ttt
from dattt_nb.ttt.spec import TTTRun
from dattt_nb.utils import sha1_hex

# the code that computes a TTT run's numbers (metrics are tested against the DAVIS reference and left out)
_CODE = ("ttt/engine.py", "ttt/strategies.py", "ttt/objectives.py", "ttt/views.py", "ttt/runner.py", "ttt/spec.py",
         "ttt/records.py", "losses.py",
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


def cache_dir(model, settings, run: TTTRun, device=None) -> Path:
    """``runs/<profile>/ttt/cache/<strategy>/<objective>_e<E>_lr<lr>_p<P>_g<gap>_seed<S>_<hash>``: the folder of
    ``run`` (:meth:`~dattt_nb.ttt.spec.TTTRun.folder_name`) on these weights, this code and this device type."""
    device = torch.device(device) if device is not None else pick_device(settings)
    key = sha1_hex(json.dumps([model_fingerprint(model), code_fingerprint(), list(run.key().scale), device.type],
                              sort_keys=True).encode())[:10]
    return run_dir(settings) / "ttt" / "cache" / run.strategy / f"{run.folder_name()}_{key}"


# --- running with the cache ----------------------------------------------------------------------

def cached_ttt(model, videos, settings, split: str, run: TTTRun | str | None = None, refresh: bool = False,
               progress: bool = True, device=None, **overrides) -> TTTResult:
    """:func:`~dattt_nb.ttt.runner.run_ttt` on ``videos`` of ``split``, reusing every video already computed
    with an identical run, weights, data and code (``refresh=True`` recomputes); new videos are added.
    ``run``: a :class:`~dattt_nb.ttt.spec.TTTRun` or a strategy name, with ``overrides`` as in ``run_ttt``."""
    run = TTTRun.resolve(settings, run, **overrides)
    folder = cache_dir(model, settings, run, device)
    _, done, fps = (None, {}, {}) if refresh else load_split_results(folder, split)
    want = {v.name: video_fingerprint(v) for v in videos}
    missing = [v for v in videos if v.name not in done or fps.get(v.name) != want[v.name]]
    if missing:
        from dattt_nb.utils import file_lock, progress_disabled

        progress = progress and not progress_disabled()
        new = run_ttt(model, missing, settings, run, progress=progress, device=device)
        folder.mkdir(parents=True, exist_ok=True)
        with file_lock(folder / f".{split}.lock"):  # another notebook may have saved this split meanwhile
            _, done, fps = (None, {}, {}) if refresh else load_split_results(folder, split)
            for v in new.videos:  # a video someone else saved with the same data first stays as it is
                if v.name not in done or fps.get(v.name) != want[v.name]:
                    done[v.name], fps[v.name] = v, want[v.name]
            # cached ones first, then the new ones
            save_split(folder, split, TTTResult(run, list(done.values())), fps, settings)
    return TTTResult(run, [done[v.name] for v in videos])


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


def run_splits(model, data: dict[str, list], settings, run: TTTRun | str | None = None,
               **kw) -> dict[str, TTTResult]:
    """{split: TTTResult} of one TTT run on every split of ``data`` (cached, see :func:`cached_ttt`)."""
    return {split: cached_ttt(model, videos, settings, split, run, **kw)
            for split, videos in data.items()}
