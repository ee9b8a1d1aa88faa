"""The papermill driver on throwaway notebooks: outputs, manifest, reuse, --force, parameter checks, failures."""
import json

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from dattt_nb.run.pipeline import PipelineError, plan_parameters, run_pipeline, select_notebooks, write_report

WRITE_RESULT = """\
import os
from pathlib import Path
assert os.environ["MPLBACKEND"].endswith("backend_inline") and os.environ["DATTT_PROFILE"] == PROFILE
assert os.environ["TQDM_DISABLE"] == "1"  # no progress bars in executed notebooks
assert Path.cwd().name == "nbs", Path.cwd()  # the kernel runs in the notebooks' folder
out = Path(os.environ["DATTT_RUNS"]) / PROFILE / "results"
out.mkdir(parents=True, exist_ok=True)
(out / "{name}.csv").write_text("name,value\\n{name},%d\\n" % {var})
"""


def write_notebook(folder, name, parameters, body):
    nb = new_notebook(cells=[
        new_markdown_cell(f"# {name}"),
        new_code_cell(parameters, metadata={"tags": ["parameters"]}),
        new_code_cell(body),
    ])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, folder / f"{name}.ipynb")


@pytest.fixture(scope="module")
def series(tmp_path_factory):
    """00 declares X, 01 declares Y, 02 fails when FAIL is true, 03 is plain; plus a notebook outside the series."""
    root = tmp_path_factory.mktemp("pipeline")
    nbs = root / "nbs"
    nbs.mkdir()
    write_notebook(nbs, "00_first", 'PROFILE: str = "tiny"\nX: int = 1  # a number',
                   WRITE_RESULT.format(name="first", var="X"))
    write_notebook(nbs, "01_second", 'PROFILE: str = "tiny"\nY: int = 2',
                   WRITE_RESULT.format(name="second", var="Y"))
    write_notebook(nbs, "02_fail", 'PROFILE: str = "tiny"\nFAIL: bool = False',
                   'x = 1\nif FAIL:\n    raise ValueError("boom")')
    write_notebook(nbs, "03_after", 'PROFILE: str = "tiny"', "x = 3")
    write_notebook(nbs, "scratch", 'PROFILE: str = "tiny"', "raise SystemError('not part of the series')")
    return nbs, root / "runs"


@pytest.fixture(scope="module")
def first_run(series):
    nbs, runs = series
    manifest = run_pipeline("ci", only=["00", "01_second"], params={"X": 5}, runs_root=runs, notebooks_dir=nbs)
    return manifest, runs / "ci"


def test_run_writes_notebooks_results_manifest_and_report(first_run):
    manifest, run_dir = first_run
    assert all((run_dir / "notebooks" / f"{n}.ipynb").is_file() for n in ("00_first", "01_second"))
    assert (run_dir / "results" / "first.csv").read_text().splitlines()[1] == "first,5"
    assert (run_dir / "results" / "second.csv").read_text().splitlines()[1] == "second,2"  # Y keeps its default

    saved = json.loads((run_dir / "manifest.json").read_text())
    assert saved["status"] == "ok" and saved["profile"] == "ci" and saved["settings"]["image_size"] == 32
    assert saved["seed"] == 0 and saved["versions"]["papermill"] != "not installed"
    assert {"git_commit", "started", "finished"} <= set(saved)
    first, second = saved["notebooks"]["00_first"], saved["notebooks"]["01_second"]
    assert first["parameters"] == {"PROFILE": "ci", "X": 5} and second["parameters"] == {"PROFILE": "ci"}
    assert first["status"] == "ok" and first["seconds"] > 0 and len(first["source_sha256"]) == 64
    assert "02_fail" not in saved["notebooks"] and saved == json.loads(json.dumps(manifest, default=str))

    executed = nbformat.read(run_dir / "notebooks" / "00_first.ipynb", as_version=4)
    injected = [c for c in executed.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert injected and "X = 5" in injected[0].source

    report = (run_dir / "report.md").read_text()
    assert "[00_first](notebooks/00_first.ipynb) | ok" in report
    assert "results/first.csv" in report and "first" in report.split("results/first.csv")[1]


def test_rerun_reuses_identical_runs_and_reruns_changed_or_forced(series, first_run):
    nbs, runs = series
    _, run_dir = first_run
    before = json.loads((run_dir / "manifest.json").read_text())["notebooks"]

    again = run_pipeline("ci", only=["00", "01"], params={"X": 5}, runs_root=runs, notebooks_dir=nbs)
    assert all(again["notebooks"][n]["reused"] for n in ("00_first", "01_second"))
    assert again["notebooks"]["00_first"]["started"] == before["00_first"]["started"]

    changed = run_pipeline("ci", only=["00", "01"], params={"X": 6}, runs_root=runs, notebooks_dir=nbs)
    assert not changed["notebooks"]["00_first"]["reused"] and changed["notebooks"]["01_second"]["reused"]
    assert (run_dir / "results" / "first.csv").read_text().splitlines()[1] == "first,6"

    forced = run_pipeline("ci", only=["01"], force=True, runs_root=runs, notebooks_dir=nbs)
    assert not forced["notebooks"]["01_second"]["reused"]
    assert forced["notebooks"]["01_second"]["started"] != before["01_second"]["started"] or \
        forced["notebooks"]["01_second"]["finished"] != before["01_second"]["finished"]
    assert forced["notebooks"]["00_first"]["parameters"]["X"] == 6  # entries of other notebooks are kept


def test_unknown_parameters_and_notebooks_are_refused(series, tmp_path):
    nbs, _ = series
    with pytest.raises(PipelineError, match=r"unknown parameter\(s\) \['Z'\].*00_first: PROFILE, X"):
        run_pipeline("ci", params={"Z": 1}, runs_root=tmp_path, notebooks_dir=nbs)
    with pytest.raises(PipelineError, match="no selected notebook"):  # Y exists, but only in 01
        run_pipeline("ci", only=["00"], params={"Y": 1}, runs_root=tmp_path, notebooks_dir=nbs)
    with pytest.raises(PipelineError, match="no notebook matches"):
        run_pipeline("ci", only=["07"], runs_root=tmp_path, notebooks_dir=nbs)
    with pytest.raises(ValueError, match="unknown profile"):
        run_pipeline("huge", runs_root=tmp_path, notebooks_dir=nbs)
    assert not (tmp_path / "ci").exists()  # refused before anything ran


def test_failing_notebook_stops_with_notebook_and_cell(series, tmp_path):
    nbs, _ = series
    with pytest.raises(PipelineError) as info:
        run_pipeline("ci", only=["03", "02"], params={"FAIL": True}, runs_root=tmp_path, notebooks_dir=nbs)
    message = str(info.value)
    assert "02_fail" in message and "cell 3" in message and "ValueError: boom" in message
    assert str(tmp_path / "ci" / "notebooks" / "02_fail.ipynb") in message
    saved = json.loads((tmp_path / "ci" / "manifest.json").read_text())
    assert saved["status"] == "failed" and saved["notebooks"]["02_fail"]["status"] == "failed"
    assert "03_after" not in saved["notebooks"]  # the series stopped at the first failure
    assert "| failed |" in (tmp_path / "ci" / "report.md").read_text()


def test_select_and_plan_without_kernels(tmp_path):
    paths = [tmp_path / f"{n}.ipynb" for n in ("00_a", "01_b", "02_c")]
    assert [p.stem for p in select_notebooks(paths, ["02", "00_a"])] == ["00_a", "02_c"]
    plan = plan_parameters({"00_a": {"X": {}}, "01_b": {}}, {"X": 3}, "tiny")
    assert plan == {"00_a": {"PROFILE": "tiny", "X": 3}, "01_b": {"PROFILE": "tiny"}}
    with pytest.raises(PipelineError, match="profile="):
        plan_parameters({"00_a": {"PROFILE": {}}}, {"PROFILE": "ci"}, "tiny")


def test_report_renders_tables_and_figures(tmp_path):
    (tmp_path / "results" / "figs").mkdir(parents=True)
    (tmp_path / "results" / "table.csv").write_text("method,J\nbaseline,0.5\n")
    (tmp_path / "results" / "figs" / "curve.png").write_bytes(b"\x89PNG")
    (tmp_path / "results" / "notes.json").write_text("{}")
    report = write_report(tmp_path).read_text()
    assert "baseline" in report and "0.5" in report
    assert "![curve](results/figs/curve.png)" in report and "[results/notes.json](results/notes.json)" in report


def test_report_groups_results_by_notebook_and_shows_meta(tmp_path):
    results = tmp_path / "ci" / "results"
    results.mkdir(parents=True)
    (tmp_path / "ci" / "manifest.json").write_text(json.dumps({"profile": "ci", "notebooks": {
        "08_evaluation": {"status": "ok", "seconds": 12.5, "output": "notebooks/08_evaluation.ipynb"}}}))
    (results / "table3_strategies.csv").write_text("strategy,davis_J\nnone,77.123456\nloop,\n")
    (results / "table3_strategies.json").write_text(json.dumps({"meta": {"units": "x100"}, "rows": []}))
    (results / "08_fig6.png").write_bytes(b"\x89PNG")
    (results / "08_long.csv").write_text("i,v\n" + "".join(f"{i},{i}\n" for i in range(30)))
    report = write_report(tmp_path / "ci").read_text()
    assert "| total | | 12.5 |" in report
    shared, notebook = report.index("## Tables shared across the series"), report.index("## Notebook 08")
    assert shared < report.index("### table3_strategies") < notebook < report.index("![08_fig6](results/08_fig6.png)")
    assert "[08_evaluation](notebooks/08_evaluation.ipynb)" in report[notebook:]
    assert "*units: x100*" in report and "77.12" in report and "77.123456" not in report and "—" in report
    assert "[table3_strategies.json](results/table3_strategies.json)" in report, "the JSON twin is linked"
    assert "<details><summary>30 rows</summary>" in report


def test_executed_notebooks_carry_no_kernel_transport_warning(tmp_path, capfd):
    """ipykernel warns "running over TCP without encryption" on TCP; the driver talks to its kernels over IPC."""
    nbs = tmp_path / "nbs"
    nbs.mkdir()
    write_notebook(nbs, "00_quiet", 'PROFILE: str = "tiny"', "import sys\nprint('out'); print('err', file=sys.stderr)")
    run_pipeline("ci", runs_root=tmp_path / "runs", notebooks_dir=nbs)
    executed = (tmp_path / "runs" / "ci" / "notebooks" / "00_quiet.ipynb").read_text()
    assert "out" in executed and "err" in executed  # the kernel's own streams still reach the notebook
    captured = capfd.readouterr()
    for text in (executed, captured.out, captured.err):
        assert "without encryption" not in text
