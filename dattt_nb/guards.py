"""Guards every writing command shares, so nothing a user already has is lost or silently wrong.

- :func:`check_separate`: a destination never equals, lies inside, or contains its source (resolved paths).
- :func:`output_lock`: one writer per output folder (a lock file; a second writer is told the holder's pid).
- :func:`fingerprint`: what a "done" marker is keyed by — the files an input holds (names, sizes, mtimes) and the
  options — so a rerun notices changed inputs instead of trusting stale output.
- :func:`claim_output`: write into an existing non-empty folder only when it holds the same job's output, else
  stop naming ``--force``; with force, replace the old output as a whole (no stale file survives).
- :func:`disk_errors`: a full disk or read-only target becomes one line naming the path and the free space.
"""
from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Iterable, Iterator

LOCK_NAME = ".dattt-writer.lock"
PID_NAME = ".dattt-writer.pid"
DISK_ERRNOS = {errno.ENOSPC, errno.EROFS, getattr(errno, "EDQUOT", errno.ENOSPC)}


class OutputError(ValueError):
    """An output the command must not write (its source, a folder in use, a full disk): one line, exit code 2."""


def check_separate(src: str | os.PathLike, dst: str | os.PathLike, src_what: str = "source",
                   dst_what: str = "destination") -> None:
    """Refuse ``dst`` equal to, inside, or containing ``src`` (symlinks resolved) before anything is written."""
    s, d = Path(src).resolve(), Path(dst).resolve()
    if s == d:
        how = "is"
    elif d.is_relative_to(s):
        how = "is inside"
    elif s.is_relative_to(d):
        how = "contains"
    else:
        return
    raise OutputError(f"{dst_what} {dst} {how} the {src_what} {src}; choose a {dst_what} outside it (the "
                      f"{src_what} is never written)")


@contextlib.contextmanager
def output_lock(folder: str | os.PathLike, what: str = "output folder") -> Iterator[None]:
    """Hold the one-writer lock of ``folder`` (created when missing) for the block; another process holding it
    is an :class:`OutputError` naming its pid."""
    from filelock import FileLock, Timeout

    folder = Path(folder)
    missing = [p for p in (folder, *folder.parents) if not p.exists()]
    with disk_errors(folder):
        folder.mkdir(parents=True, exist_ok=True)
    lock, pid_file = FileLock(str(folder / LOCK_NAME), timeout=0), folder / PID_NAME
    try:
        with disk_errors(folder):
            lock.acquire()
    except Timeout:
        try:
            holder = pid_file.read_text().strip() or "unknown"
        except OSError:
            holder = "unknown"
        raise OutputError(f"{what} {folder} is being written by another dattt-nb process (pid {holder}); wait "
                          "for it to finish or choose another folder") from None
    try:
        pid_file.write_text(str(os.getpid()))
        yield
    finally:
        pid_file.unlink(missing_ok=True)
        lock.release()
        if missing and not has_content(folder):  # a run that wrote nothing leaves no folder behind
            with contextlib.suppress(OSError):
                (folder / LOCK_NAME).unlink()
                for p in missing:
                    p.rmdir()


def _is_guard_file(path: Path) -> bool:
    return path.name in (LOCK_NAME, PID_NAME)


def files_state(paths: Iterable[str | os.PathLike]) -> list:
    """[(path, size, mtime_ns)] of the files under ``paths`` (folders walked, sorted; missing paths skipped)."""
    rows = []
    for top in paths:
        top = Path(top)
        if top.is_file():
            st = top.stat()
            rows.append((top.name, st.st_size, st.st_mtime_ns))
            continue
        for dirpath, dirs, names in os.walk(top, followlinks=True):
            dirs.sort()
            for name in sorted(names):
                full = Path(dirpath) / name
                with contextlib.suppress(OSError):
                    st = full.stat()
                    rows.append((full.relative_to(top).as_posix(), st.st_size, st.st_mtime_ns))
    return rows


def fingerprint(inputs: Iterable[str | os.PathLike] = (), **options) -> str:
    """Short hash of the files under ``inputs`` (names, sizes, mtimes) and the ``options`` (JSON): the key of a
    "done" marker."""
    blob = json.dumps({"files": [files_state([p]) for p in inputs], "options": options}, sort_keys=True,
                      default=str)
    return hashlib.sha1(blob.encode()).hexdigest()[:20]


def has_content(folder: str | os.PathLike) -> bool:
    """Whether ``folder`` holds anything besides the writer lock."""
    folder = Path(folder)
    return folder.is_dir() and any(not _is_guard_file(p) for p in folder.iterdir())


def clear_folder(folder: str | os.PathLike) -> None:
    """Delete everything in ``folder`` except the writer lock (the folder itself stays)."""
    for p in Path(folder).iterdir():
        if _is_guard_file(p):
            continue
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p)
        else:
            p.unlink()


def claim_output(folder: str | os.PathLike, same_job: bool, force: bool, what: str, holds: str,
                 flag: str = "--force") -> bool:
    """Make ``folder`` ready for writing: empty or ``same_job`` → keep (resume/skip, returns True when it holds
    output); ``force`` → clear it (returns False); otherwise an :class:`OutputError` naming ``flag``."""
    folder = Path(folder)
    if not has_content(folder):
        return False
    if force:
        with disk_errors(folder):
            clear_folder(folder)
        return False
    if same_job:
        return True
    raise OutputError(f"{what} {folder} already holds {holds}; pass {flag} to replace it (its old contents are "
                      "deleted), or choose another folder")


def _free_bytes(path: str | os.PathLike) -> int | None:
    """Free bytes on the disk holding ``path`` (its nearest existing folder); None when unknown."""
    up = Path(path).absolute()
    while not up.exists() and up != up.parent:
        up = up.parent
    try:
        return shutil.disk_usage(up).free
    except OSError:
        return None


def free_space(path: str | os.PathLike) -> str:
    """Free space on the disk holding ``path``, e.g. ``1.2 GiB``."""
    free = _free_bytes(path)
    return "unknown" if free is None else f"{free / 2**30:.1f} GiB"


def disk_error(err: BaseException, path: str | os.PathLike) -> OutputError | None:
    """The one-line error for a full disk or read-only target while writing ``path``, else None."""
    code = getattr(err, "errno", None)
    text = str(err)
    if code == errno.EROFS or (code is None and "Read-only file system" in text):
        return OutputError(f"cannot write {path}: the file system is read-only; choose a writable folder")
    full = code in DISK_ERRNOS or "No space left" in text or "unexpected pos" in text or "file write failed" in text
    if full or (code is None and isinstance(err, OSError) and _free_bytes(path) == 0):  # e.g. OpenCV's bare False
        return OutputError(f"cannot write {path}: no space left on its disk ({free_space(path)} free); free some "
                           "space or choose another folder")
    return None


@contextlib.contextmanager
def disk_errors(path: str | os.PathLike) -> Iterator[None]:
    """Turn a full disk / read-only file system inside the block into an :class:`OutputError` naming ``path``."""
    try:
        yield
    except (OSError, RuntimeError) as err:
        mapped = disk_error(err, path)
        if mapped is None:
            raise
        raise mapped from err
