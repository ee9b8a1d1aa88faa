"""Run the notebook series in order with papermill and record what ran (the "reproduce everything" path).

Each notebook ``notebooks/NN_*.ipynb`` is executed into ``runs/<profile>/notebooks/`` with its ``parameters``
cell overridden; ``runs/<profile>/manifest.json`` records settings, versions, commit and per-notebook timings,
and ``runs/<profile>/report.md`` gathers the tables and figures the notebooks saved under ``results/``.
"""
from __future__ import annotations

import contextlib
import json
import os
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

from dattt_nb import config
from dattt_nb.utils import atomic_path, atomic_write_json, git_commit, package_versions, sha256_file

MANIFEST = "manifest.json"
REPORT = "report.md"


class PipelineError(RuntimeError):
    """A notebook of the series failed (or the request was invalid); the message says which and where."""


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def list_notebooks(notebooks_dir: str | Path | None = None) -> list[Path]:
    """The series, in order: ``notebooks/[0-9][0-9]_*.ipynb`` sorted by name."""
    folder = Path(notebooks_dir) if notebooks_dir is not None else config.project_root() / "notebooks"
    if not folder.is_dir():
        raise FileNotFoundError(f"notebook folder not found: {folder}")
    return sorted(folder.glob("[0-9][0-9]_*.ipynb"))


def select_notebooks(notebooks: list[Path], only: list[str] | None) -> list[Path]:
    """Keep the notebooks named in ``only`` by number (``"03"``) or stem (``"03_training"``), in series order."""
    if not only:
        return list(notebooks)
    wanted = [str(o).strip() for o in only if str(o).strip()]
    chosen = [nb for nb in notebooks if any(nb.stem == w or nb.stem[:2] == w for w in wanted)]
    unmatched = [w for w in wanted if not any(nb.stem == w or nb.stem[:2] == w for nb in notebooks)]
    if unmatched:
        raise PipelineError(f"no notebook matches {unmatched}; available: {[nb.stem for nb in notebooks]}")
    return chosen


def notebook_parameters(notebooks: list[Path]) -> dict[str, dict[str, Any]]:
    """``{stem: papermill.inspect_notebook(path)}``: the names, types, defaults and help of each ``parameters`` cell."""
    import papermill

    return {nb.stem: papermill.inspect_notebook(str(nb)) for nb in notebooks}


def plan_parameters(declared: dict[str, dict[str, Any]], params: dict[str, Any], profile: str) -> dict[str, dict]:
    """Parameters for each notebook: ``PROFILE`` plus the given ones that the notebook declares.

    A name that no selected notebook declares is refused (papermill itself would only warn and run on).
    """
    params = dict(params or {})
    if "PROFILE" in params:
        raise PipelineError("pass the profile with profile=... (--profile), not as the parameter PROFILE")
    known = {name for names in declared.values() for name in names}
    unknown = sorted(set(params) - known)
    if unknown:
        listing = "; ".join(f"{nb}: {', '.join(names) or '(none)'}" for nb, names in declared.items())
        raise PipelineError(f"unknown parameter(s) {unknown}: no selected notebook declares them. "
                            f"Parameters by notebook: {listing}")
    return {nb: {"PROFILE": profile, **{k: v for k, v in params.items() if k in names}}
            for nb, names in declared.items()}


def load_manifest(run_dir: str | Path) -> dict[str, Any]:
    """The manifest of a run folder, or an empty dict when there is none yet."""
    path = Path(run_dir) / MANIFEST
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise PipelineError(f"corrupt manifest {path}: {err}; delete it to start afresh") from err


def _is_fresh(entry: dict[str, Any] | None, parameters: dict, source_sha256: str, run_dir: Path) -> bool:
    """A previous successful run of the same source with the same parameters whose output is still there."""
    return bool(entry) and entry.get("status") == "ok" and entry.get("parameters") == parameters \
        and entry.get("source_sha256") == source_sha256 and (run_dir / entry.get("output", "")).is_file()


@contextlib.contextmanager
def _environment(**values: str) -> Iterator[None]:
    """Set environment variables for the kernels started inside the block, then restore them."""
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, old in saved.items():
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old


def _ipc_kernel_manager(stderr_log: Path | None = None):
    """A kernel manager that talks to the kernel over local IPC sockets instead of TCP.

    ipykernel warns "Kernel is running over TCP without encryption" whenever it listens on TCP, and that warning
    ends up in the output of an executed notebook; IPC sockets (files in Jupyter's runtime folder, readable only by
    the user) are the transport the warning itself recommends for a kernel on the same machine.

    ``stderr_log``: the kernel process's own stderr goes to this file (a cell's output still goes into the
    notebook), so that a kernel left behind by Ctrl-C logs its ``ZMQError`` there, not on the user's terminal.
    """
    from jupyter_client.manager import AsyncKernelManager

    class IPCKernelManager(AsyncKernelManager):
        async def _async_launch_kernel(self, kernel_cmd, **kw):
            if stderr_log is None:
                return await super()._async_launch_kernel(kernel_cmd, **kw)
            Path(stderr_log).parent.mkdir(parents=True, exist_ok=True)
            with open(stderr_log, "ab") as log:  # the kernel keeps its own copy of the descriptor
                return await super()._async_launch_kernel(kernel_cmd, stderr=log, **kw)

        def __init__(self, **kwargs):
            if os.name != "nt":
                import uuid

                from jupyter_core.paths import jupyter_runtime_dir

                kwargs.setdefault("transport", "ipc")
                # a socket prefix of its own in Jupyter's runtime folder (the default, "kernel-ipc" in the current
                # folder, makes kernels started side by side share sockets)
                Path(jupyter_runtime_dir()).mkdir(parents=True, exist_ok=True)
                kwargs.setdefault("ip", str(Path(jupyter_runtime_dir()) / f"dattt-{uuid.uuid4().hex[:12]}-ipc"))
            super().__init__(**kwargs)

    return IPCKernelManager


def _failure_message(name: str, err: Exception, output: Path) -> str:
    """One paragraph naming the notebook, the cell and the error, and where the executed notebook is."""
    import papermill

    if isinstance(err, papermill.PapermillExecutionError):
        first_line = (err.source or "").strip().splitlines()[:1]
        starts = f", starts {first_line[0][:60]!r}" if first_line else ""
        return (f"notebook {name} failed at cell {err.cell_index} of the executed notebook (execution count "
                f"{err.exec_count}{starts}) with {err.ename}: {err.evalue}; see {output}")
    return f"notebook {name} failed: {type(err).__name__}: {err}; executed notebook (partial): {output}"


def _execute(nb: str, output: str, parameters: dict, cwd: str, timeout: int | None, env: dict) -> str | None:
    """Execute one notebook with papermill in a kernel that sees ``env``; None when it succeeded, else the one
    paragraph that names the notebook, the cell and the error (run in a worker process by ``jobs`` > 1)."""
    import papermill

    os.environ.update(env)
    try:
        papermill.execute_notebook(
            nb, output, parameters=parameters, cwd=cwd, kernel_name="python3", progress_bar=False,
            request_save_on_cell_execute=True, execution_timeout=timeout,
            kernel_manager_class=_ipc_kernel_manager(Path(output).with_suffix(".kernel.log")),
        )
    except Exception as err:  # papermill errors, cell timeouts, dead kernels: all stop the series
        return _failure_message(Path(nb).stem, err, Path(output))
    return None


def run_pipeline(profile: str | None = None, only: list[str] | None = None, params: dict[str, Any] | None = None,
                 force: bool = False, runs_root: str | Path | None = None, notebooks_dir: str | Path | None = None,
                 timeout: int | None = None, jobs: int = 1) -> dict[str, Any]:
    """Execute the notebook series for a profile with papermill; return the manifest (also in manifest.json).

    A notebook whose last run succeeded with the same parameters and the same source is skipped unless
    ``force`` (library code is not hashed: force after changing it). The first failure stops the series with a
    :class:`PipelineError` naming the notebook and cell. ``timeout`` is the per-cell limit in seconds.

    ``jobs`` > 1 (a multi-core CPU): train the series' models and execute the notebooks ``jobs`` at a time in
    worker processes, each with ``cores // jobs`` threads, a notebook starting once its models and the notebooks it
    builds on are done (:mod:`dattt_nb.run.scheduler`); the manifest also records each model's training.
    """
    from tqdm.auto import tqdm

    profile = profile or config.default_profile()
    if jobs < 1:
        raise PipelineError(f"jobs must be an integer >= 1, got {jobs}")
    settings = config.resolve(profile).to_dict()
    from dattt_nb.run import scheduler as series

    series.series_settings(profile, params)  # a bad SETTINGS / SEED / TRAIN_STEPS stops here, for any --jobs
    root = Path(runs_root) if runs_root is not None else config.runs_root()
    run_dir = root / profile
    notebooks_dir = Path(notebooks_dir) if notebooks_dir is not None else config.project_root() / "notebooks"
    selected = select_notebooks(list_notebooks(notebooks_dir), only)
    if not selected:
        raise PipelineError(f"no notebooks NN_*.ipynb in {notebooks_dir}")
    plan = plan_parameters(notebook_parameters(selected), params or {}, profile)

    previous = load_manifest(run_dir).get("notebooks", {})
    manifest: dict[str, Any] = {
        "profile": profile,
        "run_dir": str(run_dir),
        "settings": settings,
        "seed": (params or {}).get("SEED", settings["seed"]),
        "parameters": dict(params or {}),
        "jobs": jobs,
        "versions": package_versions(),
        "git_commit": git_commit(notebooks_dir),
        "started": _now(),
        "finished": None,
        "status": "running",
        "notebooks": dict(previous),
    }
    manifest_path = run_dir / MANIFEST
    env = {"MPLBACKEND": "module://matplotlib_inline.backend_inline",  # figures stay in the executed notebooks
           "DATTT_RUNS": str(root), config.PROFILE_ENV: profile,
           "TQDM_DISABLE": "1"}  # executed notebooks are read by a class: no progress bars in their outputs
    if jobs > 1:  # each kernel its share of the cores (torch reads OMP_NUM_THREADS when it starts)
        env["OMP_NUM_THREADS"] = str(max(1, (os.cpu_count() or 1) // jobs))

    todo = []
    for nb in selected:
        name, parameters, sha = nb.stem, plan[nb.stem], sha256_file(nb)
        if not force and _is_fresh(previous.get(name), parameters, sha, run_dir):
            manifest["notebooks"][name] = {**previous[name], "reused": True}
        else:
            todo.append(nb)

    def start(nb: Path) -> tuple:
        output = run_dir / "notebooks" / nb.name
        output.parent.mkdir(parents=True, exist_ok=True)
        entry = {"parameters": plan[nb.stem], "source_sha256": sha256_file(nb),
                 "output": str(output.relative_to(run_dir)), "started": _now(), "status": "running", "reused": False}
        manifest["notebooks"][nb.stem] = entry
        atomic_write_json(manifest_path, manifest)
        return time.perf_counter(), entry, (str(nb), str(output), plan[nb.stem], str(notebooks_dir), timeout,
                                            dict(os.environ))

    failures: list[str] = []
    with _environment(**env):
        if jobs == 1:  # one at a time, in series order (a notebook trains what it needs)
            for nb in tqdm(todo, desc=f"notebooks ({profile})", unit="nb"):
                info = start(nb)
                _record_notebook(manifest, manifest_path, info, _execute(*info[2]), failures)
                if failures:
                    break
        else:
            _run_parallel(todo, jobs, params or {}, profile, start, manifest, manifest_path, previous, failures)

    if failures:
        manifest.update(status="failed", finished=_now())
        atomic_write_json(manifest_path, manifest)
        write_report(run_dir)
        raise PipelineError(failures[0] if len(failures) == 1 else " | ".join(failures))
    manifest.update(status="ok", finished=_now())
    atomic_write_json(manifest_path, manifest)
    write_report(run_dir)
    return manifest


def _run_parallel(todo: list[Path], jobs: int, params: dict, profile: str, start, manifest: dict,
                  manifest_path: Path, previous: dict, failures: list) -> None:
    """Train the series' models and run the notebooks ``jobs`` at a time, critical path first
    (:func:`dattt_nb.run.scheduler.plan_tasks`); after a failure nothing new starts and the running work finishes."""
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    from tqdm.auto import tqdm

    from dattt_nb.run import scheduler as series

    settings = series.series_settings(profile, params)
    stems = {nb.stem for nb in todo}
    specs = [s for s in series.series_models(params) if any(series.needs_model(s, n) for n in stems)]
    if specs and settings.dataset == "synthetic":  # built once here, so that the workers only read it
        from dattt_nb.data.prepare import ensure_benchmark

        ensure_benchmark(settings, verbose=False)
    tasks = series.plan_tasks([nb.stem for nb in todo], specs, settings, previous)
    by_key = {**{f"model:{s.label}": s for s in specs}, **{nb.stem: nb for nb in todo}}
    threads = max(1, (os.cpu_count() or 1) // jobs)
    manifest["models"] = {}
    finished, started, running = set(), set(), {}
    bar = tqdm(total=len(tasks), desc=f"models and notebooks ({profile}, {jobs} at a time)", unit="task")
    with ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
        while True:
            for key in ([] if failures else series.next_tasks(tasks, finished, started, jobs - len(running))):
                started.add(key)
                if key.startswith("model:"):
                    running[pool.submit(series.train_model, settings, by_key[key], threads)] = (key, None)
                else:
                    info = start(by_key[key])
                    running[pool.submit(_execute, *info[2])] = (key, info)
            if not running:
                break
            done, _ = wait(list(running), return_when=FIRST_COMPLETED)
            for future in done:
                key, info = running.pop(future)
                if info is None:  # a model: its summary, or the error
                    summary = future.result()
                    manifest["models"][key.split(":", 1)[1]] = summary
                    if summary.get("error"):
                        failures.append(summary["error"])
                    atomic_write_json(manifest_path, manifest)
                else:
                    _record_notebook(manifest, manifest_path, info, future.result(), failures)
                finished.add(key)
                bar.set_postfix_str(key, refresh=False)
                bar.update()
    bar.close()


def _record_notebook(manifest: dict, manifest_path: Path, info: tuple, error: str | None, failures: list) -> None:
    """Record one executed notebook in the manifest (ok, or failed with its message)."""
    t0, entry, _ = info
    entry.update(status="ok" if error is None else "failed", seconds=round(time.perf_counter() - t0, 2),
                 finished=_now())
    if error is not None:
        entry["error"] = error
        failures.append(error)
    atomic_write_json(manifest_path, manifest)


# --- report ----------------------------------------------------------------------------------------------------

REPORT_FOLD_ROWS = 20  # tables longer than this are folded (<details>) in the report
_IMAGES = (".png", ".jpg", ".jpeg", ".svg", ".gif")


def _csv_markdown(path: Path, max_rows: int = 50) -> str:
    """A CSV as a markdown table (needs ``tabulate``; 4 significant digits, blank cells as —), else verbatim."""
    import pandas as pd

    try:
        table = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        return f"(could not read {path.name}: {err})"
    rows = len(table)
    note = f"\n\n({rows} rows, first {max_rows} shown)" if rows > max_rows else ""
    table = table.head(max_rows)
    first = table.columns[0] if len(table.columns) else None
    if str(first).startswith("Unnamed: ") and table[first].tolist() == list(range(len(table))):
        table = table.drop(columns=first)  # a plain row number written by DataFrame.to_csv
    table.columns = ["" if str(c).startswith("Unnamed: ") else c for c in table.columns]  # an unnamed index
    try:
        text = table.astype(object).where(table.notna(), None).to_markdown(index=False, floatfmt=".4g",
                                                                            missingval="—") + note
    except ImportError:  # tabulate is optional
        text = "```csv\n" + table.to_csv(index=False).rstrip() + "\n```" + note
    if rows > REPORT_FOLD_ROWS:
        text = f"<details><summary>{rows} rows</summary>\n\n{text}\n\n</details>"
    return text


def _meta_line(path: Path) -> str:
    """The ``meta`` that :func:`dattt_nb.results.save_table` stored beside a CSV, as one italic line."""
    js = path.with_suffix(".json")
    try:
        meta = json.loads(js.read_text()).get("meta") if js.is_file() else None
    except (json.JSONDecodeError, AttributeError, UnicodeDecodeError):
        meta = None
    if not isinstance(meta, dict) or not meta:
        return ""
    return "*" + "; ".join(f"{k}: {v}" for k, v in meta.items()).replace("*", "\\*") + "*"


def _result_groups(results: Path, manifest: dict) -> list[tuple[str, list[Path]]]:
    """Files under results/ grouped by stem (``x.csv`` + ``x.json`` + ``x.png``) into sections: the series' shared
    tables first, then one section per notebook (files named ``NN_*``), linked to the executed notebook."""
    files = sorted(p for p in results.rglob("*") if p.is_file() and not p.name.startswith("."))
    outputs = {name[:2]: entry.get("output", "") for name, entry in manifest.get("notebooks", {}).items()}
    sections: dict[str, list[Path]] = {}
    for path in files:
        prefix = path.name[:3]
        if len(prefix) == 3 and prefix[:2].isdigit() and prefix[2] == "_":
            out = outputs.get(prefix[:2])
            title = f"Notebook {prefix[:2]}" + (f" ([{Path(out).stem}]({out}))" if out else "")
        else:
            title = "Tables shared across the series"
        sections.setdefault(title, []).append(path)
    def order(path: Path):  # shared: the paper's tables, then figures' data, then the rest; notebooks: as saved
        kind = 0 if path.name.startswith("table") else 1 if path.name.startswith("fig") else 2
        return (kind, path.name) if title_of[path].startswith("Tables") else (path.stat().st_mtime, path.name)

    title_of = {p: t for t, ps in sections.items() for p in ps}
    shared = [k for k in sections if not k.startswith("Notebook")]
    return [(k, sorted(sections[k], key=order)) for k in shared + sorted(k for k in sections
                                                                          if k.startswith("Notebook"))]


def _link(run_dir: Path, path: Path, text: str | None = None) -> str:
    rel = path.relative_to(run_dir).as_posix()
    return f"[{text or rel}]({rel})"


def _result_lines(run_dir: Path, files: list[Path]) -> list[str]:
    """Markdown for one section: per stem (``x.csv`` + its ``x.json`` + ``x.png``) a heading, the file links, the
    table with its meta and the figure; any other file as a link."""
    lines: list[str] = []
    stems: dict[Path, list[Path]] = {}
    for path in files:
        stems.setdefault(path.with_suffix(""), []).append(path)
    for stem, paths in stems.items():
        csv = next((p for p in paths if p.suffix.lower() == ".csv"), None)
        images = [p for p in paths if p.suffix.lower() in _IMAGES]
        twin = [p for p in paths if csv is not None and p.suffix.lower() == ".json"]  # save_table's JSON
        others = [p for p in paths if p is not csv and p not in images and p not in twin]
        if csv is not None or images:
            lines += [f"### {stem.name}", ""]
            if csv is not None:
                meta = _meta_line(csv)
                lines += [" · ".join(_link(run_dir, p, p.name) for p in [csv] + twin), ""] + ([meta, ""] if meta else [])
                lines += [_csv_markdown(csv), ""]
            lines += [line for img in images for line in (f"![{img.stem}]({img.relative_to(run_dir).as_posix()})", "")]
        if others:
            lines += [f"- {_link(run_dir, p)}" for p in others] + [""]
    return lines


def write_report(run_dir: str | Path) -> Path:
    """Write ``<run_dir>/report.md``: the notebooks' status and timings (linked to the executed notebooks), then
    every table (with its meta) and figure under results/, grouped by the notebook that saved it."""
    run_dir = Path(run_dir)
    manifest = load_manifest(run_dir)
    lines = [f"# dattt-nb run: {manifest.get('profile', run_dir.name)}", ""]
    if manifest:
        lines += [f"- status: {manifest.get('status')}", f"- commit: `{manifest.get('git_commit')}`",
                  f"- started {manifest.get('started')}, finished {manifest.get('finished')}",
                  f"- parameters: `{json.dumps(manifest.get('parameters', {}), sort_keys=True)}`", "",
                  "| notebook | status | seconds |", "|---|---|---:|"]
        total = 0.0
        for name, entry in sorted(manifest.get("notebooks", {}).items()):  # series order
            status = entry.get("status", "?") + (" (reused)" if entry.get("reused") else "")
            seconds = entry.get("seconds")
            total += seconds or 0.0
            lines.append(f"| [{name}]({entry.get('output', '')}) | {status} | "
                         f"{'' if seconds is None else f'{seconds:.1f}'} |")
        lines += [f"| total | | {total:.1f} |", ""]
    results = run_dir / "results"
    groups = _result_groups(results, manifest) if results.is_dir() else []
    if groups:
        lines += ["## Results", "",
                  "Every table is a CSV with a JSON twin (the same rows and the meta shown in italics). Columns "
                  "labelled *paper* hold the paper's published numbers, not measured here.", ""]
    for title, files in groups:
        lines += [f"## {title}", ""] + _result_lines(run_dir, files)
    report = run_dir / REPORT
    with atomic_path(report) as tmp:
        tmp.write_text("\n".join(lines).rstrip() + "\n")
    return report
