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


_UMASK = os.umask(0)
os.umask(_UMASK)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` only if the block succeeds.

    An interrupted write therefore never leaves a half-written file that a later run would trust.
    """
    path = Path(path)
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


def run_distributed(run, args) -> int:
    """``run(args)``, then tear down the ``torch.distributed`` process group if the run started one (torchrun)."""
    import torch.distributed as dist

    try:
        return run(args)
    finally:
        if dist.is_available() and dist.is_initialized():
            dist.destroy_process_group()
