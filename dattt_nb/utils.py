"""Small shared helpers: seeding, atomic writes, environment summary."""
from __future__ import annotations

import contextlib
import json
import os
import random
import subprocess
import tempfile
from pathlib import Path
from typing import Any, Iterator


def progress_disabled() -> bool:
    """Whether ``$TQDM_DISABLE`` asks for no progress bars (tqdm ignores it when ``disable=`` is passed)."""
    return os.environ.get("TQDM_DISABLE", "").strip().lower() not in ("", "0", "false", "no")


def progress(iterable=None, enabled: bool = True, **kwargs):
    """``tqdm.auto`` progress bar that also honours ``$TQDM_DISABLE`` (as tests and CI set it)."""
    from tqdm.auto import tqdm

    return tqdm(iterable, disable=not enabled or progress_disabled(), **kwargs)


class DatttWarning(UserWarning):
    """Something the user should know about their input or result (the command line prints it as one line)."""


def warn(message: str) -> None:
    """Warn about the input or result (a :class:`DatttWarning`, pointing at the caller's caller)."""
    import warnings

    warnings.warn(message, DatttWarning, stacklevel=3)


def seed_everything(seed: int, deterministic: bool = True) -> None:
    """Seed Python, NumPy and torch; on CPU also ask torch for deterministic kernels."""
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")


def autocast(device) -> contextlib.AbstractContextManager:
    """The one mixed-precision policy of training, TTT and prediction: bf16 autocast on CUDA (fp16 where bf16 is
    unsupported), full precision elsewhere (CPU numbers are those of fp32)."""
    import torch

    device = torch.device(device)
    if device.type != "cuda":
        return contextlib.nullcontext()
    return torch.autocast("cuda", dtype=torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16)


def nonfinite_tensors(tensors) -> list[str]:
    """Names of the floating-point tensors of a mapping (a state dict) that hold NaN or inf (one device sync)."""
    import torch

    named = [(k, v) for k, v in tensors.items() if isinstance(v, torch.Tensor) and v.is_floating_point()]
    if not named:
        return []
    flags = [torch.isfinite(v).all() for _, v in named]
    ok = torch.stack(flags).tolist() if len({f.device for f in flags}) == 1 else [bool(f) for f in flags]
    return [k for (k, _), good in zip(named, ok) if not good]


def check_finite(state, source: str) -> None:
    """Raise when a floating-point tensor of ``state`` (a state dict) holds NaN or inf, naming the tensor."""
    bad = nonfinite_tensors(state)
    if bad:
        more = f" (and {len(bad) - 1} more tensors)" if len(bad) > 1 else ""
        raise ValueError(f"{source}: weight tensor {bad[0]!r} has NaN or inf values{more}; the weights are "
                         "unusable: retrain, or use another checkpoint")


_UMASK = os.umask(0)
os.umask(_UMASK)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` only if the block succeeds.

    An interrupted write therefore never leaves a half-written file that a later run would trust.
    """
    from dattt_nb.guards import disk_errors

    path = Path(path)
    with disk_errors(path):  # a full disk or read-only folder: one line naming the path and the free space
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix or path.suffix)
        os.close(fd)
        tmp = Path(tmp)
        try:
            yield tmp
            os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; give the file the usual permissions
            os.replace(tmp, path)
        finally:
            if tmp.exists():
                tmp.unlink()


def remove_stale_temporaries(path: str | os.PathLike) -> list[Path]:
    """Delete the temporary files that an interrupted :func:`atomic_path` write to ``path`` left behind (named
    ``.<name>.<random><suffix>`` beside it); returns what was removed. Call it when nothing else writes ``path``."""
    from glob import escape

    path = Path(path)
    if not path.parent.is_dir():
        return []
    stale = [p for p in path.parent.glob(f".{escape(path.name)}.*{escape(path.suffix)}") if p.is_file()]
    for p in stale:
        p.unlink(missing_ok=True)
    return stale


def check_output(path: str | os.PathLike, folder: bool = False, what: str = "output") -> Path:
    """Fail before any work when ``path`` cannot be written: a file where a folder is wanted (or the reverse), a
    file on the way to it, or no write permission. Missing folders are fine (writers create them)."""
    path = Path(path)
    if folder and path.exists() and not path.is_dir():
        raise NotADirectoryError(f"{what} {path} is a file; expected a folder (created when missing)")
    if not folder and path.is_dir():
        raise IsADirectoryError(f"{what} {path} is a folder; expected a file name")
    up = path if folder and path.is_dir() else path.parent
    while not up.exists() and up != up.parent:
        up = up.parent
    if not up.is_dir():
        raise NotADirectoryError(f"{what} {path} cannot be created: {up} is a file, not a folder")
    if not os.access(up, os.W_OK | os.X_OK):
        raise PermissionError(f"{what} {path} cannot be written: no permission to write in {up}")
    return path


@contextlib.contextmanager
def file_lock(path: str | os.PathLike, timeout: float = -1) -> Iterator[None]:
    """Hold an inter-process lock on ``path`` (a small lock file; waits ``timeout`` seconds, -1: for ever) so that a
    read-modify-write by one process (notebook, worker) is not interleaved with another's."""
    from filelock import FileLock

    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(path), timeout=timeout):
        yield


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def atomic_write_json(path: str | os.PathLike, obj: Any) -> None:
    atomic_write_bytes(path, json.dumps(obj, indent=2, sort_keys=True, default=str).encode())


def atomic_torch_save(obj: Any, path: str | os.PathLike) -> None:
    import torch

    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def git_commit(cwd: str | os.PathLike | None = None) -> str:
    """The current commit (with ``+dirty`` when the tree has changes), or ``unknown``."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=10)
        if out.returncode != 0:
            return "unknown"
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=cwd,
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return out.stdout.strip() + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def package_versions() -> dict[str, str]:
    """Versions of the packages that decide the numbers (for the run manifest)."""
    import importlib.metadata as md
    import platform

    names = ["dattt-nb", "torch", "torchvision", "timm", "kornia", "numpy", "opencv-python-headless",
             "scikit-image", "papermill", "nbval"]
    versions = {"python": platform.python_version()}
    for n in names:
        try:
            versions[n] = md.version(n)
        except md.PackageNotFoundError:
            versions[n] = "not installed"
    return versions


def sha1_hex(*chunks: bytes) -> str:
    """SHA-1 of the concatenated byte strings, hex (cache keys, not security)."""
    import hashlib

    digest = hashlib.sha1()
    for chunk in chunks:
        digest.update(chunk)
    return digest.hexdigest()


def sha256_file(path: str | os.PathLike) -> str:
    """SHA-256 of a file's bytes, hex, read in 1 MiB chunks."""
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def distributed_env(backend: str | None = None) -> tuple[int, int, int]:
    """(rank, world_size, local_rank) under torchrun, initialising the process group once (``backend`` default:
    nccl with CUDA, else gloo); (0, 1, 0) outside torchrun."""
    import torch
    import torch.distributed as dist

    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return 0, 1, 0
    if not dist.is_initialized():
        dist.init_process_group(backend or ("nccl" if torch.cuda.is_available() else "gloo"))
    return dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0"))


def run_distributed(run, args) -> int:
    """``run(args)``, then tear down the ``torch.distributed`` process group if the run started one (torchrun)."""
    import torch.distributed as dist

    try:
        return run(args)
    finally:
        if dist.is_available() and dist.is_initialized():
            dist.destroy_process_group()
