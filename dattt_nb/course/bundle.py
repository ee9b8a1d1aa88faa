"""Course bundle: what the series trains for a profile (checkpoints, TTT result caches, saved tables) in one
verified archive, so a class downloads the trained models instead of training them (the uvadlc pattern).

A bundle is a gzipped tar holding ``bundle.json`` (format, profile, package version, git commit and the sha256 and
size of every file) and ``files/<path under runs/<profile>/>``. :func:`import_bundle` checks the whole file against
an expected sha256, refuses unsafe members, extracts into a temporary folder beside the run folder, checks every
file against the manifest and only then moves the files in: a bad bundle unpacks nothing.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import tarfile
import tempfile
import time
import urllib.parse
import urllib.request
import zlib
from pathlib import Path, PurePosixPath

from dattt_nb import __version__
from dattt_nb.config import default_profile, project_root, runs_root
from dattt_nb.guards import check_separate, disk_error, output_lock
from dattt_nb.utils import atomic_path, atomic_write_json, git_commit, sha256_file

FORMAT = 1
MANIFEST = "bundle.json"
FILES = "files"
# what the notebooks train or cache under runs/<profile>/ (executed notebooks and the run report are not shipped)
PARTS = ("checkpoints", "ttt/cache", "results")
IMPORT_RECORD = "imported-bundle.json"
_CHUNK = 1 << 20


# --- export --------------------------------------------------------------------------------------

def bundle_files(run_dir: Path, parts=PARTS) -> list[str]:
    """Paths (POSIX, relative to ``run_dir``) of the files under ``parts``; hidden and temporary files skipped."""
    found = []
    for part in parts:
        root = run_dir / part
        if root.is_dir():
            for path in sorted(root.rglob("*")):
                rel = path.relative_to(run_dir)
                if path.is_file() and not path.is_symlink() and not any(p.startswith(".") for p in rel.parts):
                    found.append(rel.as_posix())
    return found


def make_manifest(sources: dict[str, Path], profile: str) -> dict:
    """The bundle's record: profile, package version, commit, and {path: {sha256, size}} of every file
    (``sources``: bundle path → the file that goes in under it)."""
    return {"format": FORMAT, "profile": profile, "version": __version__, "git_commit": git_commit(project_root()),
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "parts": list(PARTS),
            "files": {rel: {"sha256": sha256_file(src), "size": src.stat().st_size} for rel, src in sources.items()}}


def slim_record(last: Path, out: Path) -> bool:
    """Write to ``out`` the part of a *finished* run's ``last.pt`` that loading needs — settings, step, history,
    validation curve, ``finished`` — without the weights (``best.pt`` holds the ones the notebooks load) and the
    optimizer state (two thirds of the file); False (nothing written) for an unfinished run."""
    import torch

    try:
        ckpt = torch.load(last, map_location="cpu", weights_only=True)
    except Exception:  # not a checkpoint this can read: it travels as it is
        return False
    if not (isinstance(ckpt, dict) and ckpt.get("finished") and "config" in ckpt and "model" in ckpt):
        return False
    keep = {k: v for k, v in ckpt.items() if k not in ("model", "optimizer", "scheduler", "scaler", "rng")}
    torch.save({**keep, "slim": True}, out)
    return True


def export_bundle(path: str | os.PathLike, profile: str | None = None, root: str | os.PathLike | None = None) -> dict:
    """Pack ``runs/<profile>/{checkpoints,ttt/cache,results}`` into ``path`` (atomically) and write
    ``<path>.sha256`` beside it; returns the manifest plus the bundle's ``sha256`` and ``bytes``. A finished run's
    ``last.pt`` travels as its slim record (:func:`slim_record`): a student loads the model, nobody resumes it."""
    profile = profile or default_profile()
    run_dir = Path(root if root is not None else runs_root()) / profile
    files = bundle_files(run_dir)
    if not any(f.startswith("checkpoints/") for f in files):
        raise FileNotFoundError(f"nothing trained for profile {profile!r} in {run_dir / 'checkpoints'}; run the "
                                f"notebooks first (dattt-nb run --profile {profile})")
    path = Path(path)
    for part in PARTS:  # a bundle written into what it packs would pack itself next time
        check_separate(run_dir / part, path, "bundled folder", "bundle file")
    with tempfile.TemporaryDirectory(dir=path.parent, prefix=".bundle-export-") as slim_dir:
        sources = {rel: run_dir / rel for rel in files}
        for k, rel in enumerate(files):
            if rel.startswith("checkpoints/") and rel.endswith("/last.pt"):
                slim = Path(slim_dir) / f"{k}.pt"
                if slim_record(run_dir / rel, slim):
                    sources[rel] = slim
        manifest = make_manifest(sources, profile)
        with atomic_path(path, suffix=".tmp") as tmp:
            with tarfile.open(tmp, "w:gz", compresslevel=1) as tar:  # weights barely compress: favour speed
                data = json.dumps(manifest, indent=2, sort_keys=True).encode()
                info = tarfile.TarInfo(MANIFEST)
                info.size, info.mtime, info.mode = len(data), int(time.time()), 0o644
                tar.addfile(info, _BytesReader(data))
                for rel, source in sources.items():
                    tar.add(source, arcname=f"{FILES}/{rel}", recursive=False)
    digest = sha256_file(path)
    with atomic_path(path.with_name(path.name + ".sha256")) as tmp:
        tmp.write_text(f"{digest}  {path.name}\n")
    return {**manifest, "sha256": digest, "bytes": path.stat().st_size, "path": str(path)}


class _BytesReader:
    """A minimal file object over bytes for ``TarFile.addfile``."""

    def __init__(self, data: bytes):
        self._data, self._pos = data, 0

    def read(self, n: int = -1) -> bytes:
        end = len(self._data) if n < 0 else self._pos + n
        out, self._pos = self._data[self._pos:end], min(end, len(self._data))
        return out


# --- import --------------------------------------------------------------------------------------

def fetch(source: str, folder: Path) -> tuple[Path, bool]:
    """(local path of the bundle, whether it is a downloaded temporary copy): a path as is, a URL (``file://``,
    ``https://``, ...) through ``urllib`` into ``folder``."""
    scheme = urllib.parse.urlparse(str(source)).scheme
    if len(scheme) <= 1:  # no scheme, or a Windows drive letter
        path = Path(source)
        if not path.is_file():
            raise FileNotFoundError(f"bundle {source} does not exist")
        return path, False
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".bundle-download-", suffix=".tar.gz")
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(source, timeout=60) as response:
            shutil.copyfileobj(response, out, _CHUNK)
    except OSError as err:  # URLError is an OSError
        Path(tmp).unlink(missing_ok=True)
        full = disk_error(err, tmp)
        if full is not None:
            raise full from err
        raise FileNotFoundError(f"bundle {source} could not be read ({err})") from err
    return Path(tmp), True


def _safe_member(member: tarfile.TarInfo, source: str) -> str:
    """The member's path under ``files/``; a path that could leave the target folder or a non-regular file is an
    error."""
    name = PurePosixPath(member.name)
    if name.is_absolute() or ".." in name.parts or "\\" in member.name or ":" in member.name:
        raise ValueError(f"bundle {source}: unsafe member path {member.name!r}; nothing unpacked")
    if not (member.isfile() or member.isdir()):
        raise ValueError(f"bundle {source}: member {member.name!r} is not a regular file; nothing unpacked")
    inside = name.parts[1:]
    if member.isfile() and member.name != MANIFEST and not (
            name.parts[0] == FILES and any(inside[:len(PurePosixPath(part).parts)] == PurePosixPath(part).parts
                                           and len(inside) > len(PurePosixPath(part).parts) for part in PARTS)):
        raise ValueError(f"bundle {source}: member {member.name!r} is outside the folders a bundle carries "
                         f"({', '.join(f'{FILES}/{p}/' for p in PARTS)}); nothing unpacked")
    return member.name


def read_bundle_manifest(tar: tarfile.TarFile, source: str) -> dict:
    """The bundle's ``bundle.json``, with a clear error when it is missing or not a dattt-nb bundle."""
    try:
        manifest = json.load(tar.extractfile(MANIFEST))
    except (KeyError, TypeError, json.JSONDecodeError) as err:
        raise ValueError(f"bundle {source} has no readable {MANIFEST}; not a dattt-nb bundle") from err
    files = manifest.get("files") if isinstance(manifest, dict) else None
    if not isinstance(files, dict) or manifest.get("format") != FORMAT or \
            not all(isinstance(v, dict) and "sha256" in v for v in files.values()):
        raise ValueError(f"bundle {source}: {MANIFEST} is not a format-{FORMAT} dattt-nb manifest")
    profile = manifest.get("profile")
    if not isinstance(profile, str) or not re.fullmatch(r"[A-Za-z0-9_-][A-Za-z0-9_.-]*", profile):
        raise ValueError(f"bundle {source}: profile {profile!r} is not a plain name; nothing unpacked")
    return manifest


def check_manifest(manifest: dict, source: str, profile: str | None, allow_version: bool) -> None:
    """Refuse a bundle of another profile or (unless ``allow_version``) another package version."""
    if profile is not None and manifest.get("profile") != profile:
        raise ValueError(f"bundle {source} holds profile {manifest.get('profile')!r}, not {profile!r}; nothing unpacked")
    if manifest.get("version") != __version__ and not allow_version:
        raise ValueError(f"bundle {source} was made by dattt-nb {manifest.get('version')}, this is {__version__} "
                         f"(--any-version to import anyway); nothing unpacked")


def verify_files(staged: Path, manifest: dict, source: str) -> list[str]:
    """Every file the manifest lists is present with its sha256, and nothing else; returns the paths."""
    listed = manifest["files"]
    present = sorted(p.relative_to(staged).as_posix() for p in staged.rglob("*") if p.is_file())
    extra, missing = sorted(set(present) - set(listed)), sorted(set(listed) - set(present))
    if extra or missing:
        what = f"not in its manifest: {extra[0]}" if extra else f"missing: {missing[0]}"
        raise ValueError(f"bundle {source}: file {what} ({len(extra)} extra, {len(missing)} missing); nothing unpacked")
    for rel in present:
        digest = sha256_file(staged / rel)
        if digest != listed[rel].get("sha256"):
            raise ValueError(f"bundle {source}: {rel} is corrupted (sha256 {digest[:12]}…, manifest "
                             f"{str(listed[rel].get('sha256'))[:12]}…); nothing unpacked")
    return present


def import_bundle(source: str, sha256: str | None = None, profile: str | None = None,
                  root: str | os.PathLike | None = None, overwrite: bool = False, allow_version: bool = False) -> dict:
    """Verify a bundle (path or URL) and unpack it into ``runs/<its profile>/``; returns a summary.

    Checks, in order, before anything is moved: the whole file's sha256 (when given), member paths (no absolute
    paths, ``..`` or links), the manifest's profile (against ``profile`` when given) and version, and every file's
    sha256. Files already present with other contents are an error unless ``overwrite``.
    """
    root = Path(root if root is not None else runs_root())
    root.mkdir(parents=True, exist_ok=True)
    path, downloaded = fetch(source, root)
    staging = Path(tempfile.mkdtemp(dir=root, prefix=".bundle-import-"))
    try:
        digest = sha256_file(path)
        if sha256 is not None and digest != sha256.strip().lower():
            raise ValueError(f"bundle {source}: sha256 is {digest}, expected {sha256.strip().lower()}; nothing unpacked")
        manifest = _extract(path, source, staging, profile, allow_version)
        files = verify_files(staging / FILES, manifest, source)
        run_dir = root / manifest["profile"]
        with output_lock(run_dir, "run folder"):
            placed, same = _place_verified(staging / FILES, run_dir, files, source, overwrite, staging / "replaced")
            atomic_write_json(run_dir / IMPORT_RECORD, {**manifest, "source": str(source), "sha256": digest,
                                                       "imported": time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                                                 time.gmtime())})
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        if downloaded:
            path.unlink(missing_ok=True)
    return {"profile": manifest["profile"], "version": manifest.get("version"), "git_commit": manifest.get("git_commit"),
            "run_dir": str(run_dir), "files": len(files), "placed": placed, "unchanged": same, "sha256": digest,
            "same_commit": manifest.get("git_commit") == git_commit(project_root())}


def _extract(path: Path, source: str, staging: Path, profile: str | None, allow_version: bool) -> dict:
    """Check the members and the manifest, then extract the files into ``staging``; returns the manifest."""
    try:
        with tarfile.open(path, "r:*") as tar:
            members = tar.getmembers()
            for member in members:
                _safe_member(member, source)
            manifest = read_bundle_manifest(tar, source)
            check_manifest(manifest, source, profile, allow_version)
            wanted = [m for m in members if m.isfile() and m.name.startswith(f"{FILES}/")]
            tar.extractall(staging, members=wanted, filter="data")
    except (tarfile.TarError, EOFError, OSError, zlib.error) as err:
        full = disk_error(err, staging) if isinstance(err, OSError) else None
        if full is not None:  # the disk, not the bundle
            raise full from err
        raise ValueError(f"bundle {source} is not a readable tar.gz ({type(err).__name__}: {err}); "
                         f"nothing unpacked") from err
    return manifest


def _meets_other_kind(run_dir: Path, rel: str) -> Path | None:
    """The path under ``run_dir`` that keeps bundle file ``rel`` from being placed: a folder where the file goes,
    or a file where one of its folders goes; None when it can be placed."""
    target = run_dir / rel
    if target.is_dir():
        return target
    for up in list(target.parents)[: len(PurePosixPath(rel).parts) - 1]:
        if up.exists() and not up.is_dir():
            return up
    return None


def _place_verified(staged: Path, run_dir: Path, files: list[str], source: str, overwrite: bool,
           backup: Path) -> tuple[int, int]:
    """Move verified files into ``run_dir``, all or nothing; (placed, already identical).

    Every obstacle (a differing file without ``overwrite``, a file meeting a folder of its name or the reverse)
    is found before the first move; should a move still fail, the files placed so far are taken back and the
    replaced ones restored (kept in ``backup`` meanwhile)."""
    blocked = [(rel, hit) for rel in files if (hit := _meets_other_kind(run_dir, rel)) is not None]
    if blocked:
        rel, hit = blocked[0]
        kind = "a folder" if hit.is_dir() else "a file"
        raise FileExistsError(f"bundle {source}: its file {rel} meets {kind} {hit} ({len(blocked)} such clash(es)); "
                              "move it away or import into an empty run folder; nothing unpacked")
    clashes = [rel for rel in files if (run_dir / rel).is_file()
               and sha256_file(run_dir / rel) != sha256_file(staged / rel)]
    if clashes and not overwrite:
        raise FileExistsError(f"bundle {source}: {len(clashes)} file(s) in {run_dir} differ from the bundle's (first: "
                              f"{clashes[0]}); pass --overwrite to replace them; nothing unpacked")
    moves = [rel for rel in files if not (run_dir / rel).is_file() or rel in clashes]
    done: list[str] = []
    try:
        for rel in moves:
            target = run_dir / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            if rel in clashes:
                (backup / rel).parent.mkdir(parents=True, exist_ok=True)
                os.replace(target, backup / rel)
            os.replace(staged / rel, target)
            done.append(rel)
    except BaseException as err:
        for rel in [*done, *([moves[len(done)]] if len(done) < len(moves) else [])]:
            target = run_dir / rel
            if rel in done:
                target.unlink(missing_ok=True)
            if (backup / rel).is_file():
                os.replace(backup / rel, target)
        full = disk_error(err, run_dir) if isinstance(err, OSError) else None
        if full is not None:
            raise full from err
        raise
    return len(moves), len(files) - len(moves)
