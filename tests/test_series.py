"""The series' scheduler: which models and notebooks wait for which, critical path first, and a parallel run."""
import json
import os

import pytest

from dattt_nb.run import scheduler as series
from dattt_nb.config import resolve
from dattt_nb.run.pipeline import PipelineError, run_pipeline
from test_pipeline import write_notebook

STEMS = ["00_overview", "01_data", "02_joint", "03_modulation", "04_naive", "05_momentum", "06_loop", "07_baselines",
         "08_evaluation", "09_real", "10_when"]


def test_series_models_follow_the_notebook_parameters():
    labels = [s.label for s in series.series_models()]
    assert sorted(labels) == sorted(["alpha+beta", "none", "head", "rot", "mae", "none@resnet18"])
    assert labels[0] == "none@resnet18", "most expensive first"
    specs = series.series_models({"BN_BACKBONE": "", "BASELINE_TRAIN_STEPS": 7})
    assert "none@resnet18" not in [s.label for s in specs]
    assert {s.label: s.train_steps for s in specs} == {"mae": 7, "rot": 7, "head": None, "none": None,
                                                       "alpha+beta": None}
    cfg = series.series_settings("ci", {"SETTINGS": {"image_size": 96}, "SEED": 3, "TRAIN_STEPS": 11})
    assert (cfg.image_size, cfg.seed, cfg.train_steps) == (96, 3, 11)


def test_plan_waits_for_models_and_results_and_starts_the_critical_path_first():
    cfg = resolve("tiny")
    tasks = series.plan_tasks(STEMS, series.series_models(), cfg)
    assert tasks["00_overview"].needs == set() and tasks["01_data"].needs == set()
    assert tasks["04_naive"].needs == {"model:alpha+beta"}
    assert tasks["03_modulation"].needs == {"model:alpha+beta", "model:none", "model:head"}
    assert tasks["06_loop"].needs == {"model:alpha+beta", "04_naive", "05_momentum"}
    assert {"model:rot", "model:mae", "model:none@resnet18", "03_modulation"} <= tasks["07_baselines"].needs
    assert tasks["08_evaluation"].needs >= {"02_joint", "07_baselines"}
    # the critical path: a model that 07 waits for outranks a short notebook with nothing after it
    assert tasks["model:none@resnet18"].priority > tasks["00_overview"].priority
    first = series.next_tasks(tasks, set(), set(), 2)
    assert all(k.startswith("model:") for k in first)
    # nothing runs before what it needs, and a finished model releases its notebooks
    started = {k for k in tasks if k.startswith("model:")}
    ready = series.next_tasks(tasks, {"model:alpha+beta"}, started, 10)
    assert "04_naive" in ready and "07_baselines" not in ready and "06_loop" not in ready
    # a measured time from an earlier run replaces the built-in estimate
    again = series.plan_tasks(STEMS, [], cfg, previous={"06_loop": {"seconds": 5.0}})
    assert again["06_loop"].seconds == 5.0 and again["04_naive"].needs == set()


def test_a_dependency_outside_the_run_counts_as_done():
    tasks = series.plan_tasks(["07_baselines", "08_evaluation"], [], resolve("ci"))
    assert tasks["07_baselines"].needs == set() and tasks["08_evaluation"].needs == {"07_baselines"}


SLEEP_AND_STAMP = """\
import json, os, time
from pathlib import Path
start = time.time()
time.sleep(3)
out = Path(os.environ["DATTT_RUNS"]) / PROFILE / "stamps"
out.mkdir(parents=True, exist_ok=True)
(out / "{name}.json").write_text(json.dumps(dict(start=start, end=time.time(), threads=os.environ.get("OMP_NUM_THREADS"))))
"""


def test_two_jobs_run_notebooks_side_by_side_and_stop_at_a_failure(tmp_path, monkeypatch):
    nbs = tmp_path / "nbs"
    nbs.mkdir()
    for name in ("00_a", "01_b"):
        write_notebook(nbs, name, 'PROFILE: str = "tiny"', SLEEP_AND_STAMP.format(name=name))
    write_notebook(nbs, "02_fail", 'PROFILE: str = "tiny"\nFAIL: bool = False', 'if FAIL:\n    raise ValueError("boom")')
    monkeypatch.setattr(series, "series_models", lambda params=None: [])  # no models to train for these notebooks
    manifest = run_pipeline("ci", only=["00", "01"], runs_root=tmp_path / "runs", notebooks_dir=nbs, jobs=2)
    stamps = {n: json.loads((tmp_path / "runs" / "ci" / "stamps" / f"{n}.json").read_text()) for n in ("00_a", "01_b")}
    assert stamps["00_a"]["start"] < stamps["01_b"]["end"] and stamps["01_b"]["start"] < stamps["00_a"]["end"], \
        "the two notebooks overlapped"
    assert all(s["threads"] == str(max(1, os.cpu_count() // 2)) for s in stamps.values()), "each its share of the cores"
    assert manifest["jobs"] == 2 and all(e["status"] == "ok" for e in manifest["notebooks"].values())
    with pytest.raises(PipelineError, match=r"02_fail.*ValueError: boom"):
        run_pipeline("ci", only=["02"], params={"FAIL": True}, runs_root=tmp_path / "runs", notebooks_dir=nbs, jobs=2)
    saved = json.loads((tmp_path / "runs" / "ci" / "manifest.json").read_text())
    assert saved["status"] == "failed" and saved["notebooks"]["02_fail"]["status"] == "failed"
    with pytest.raises(PipelineError, match="jobs must be"):
        run_pipeline("ci", only=["00"], runs_root=tmp_path / "runs", notebooks_dir=nbs, jobs=0)


def test_severity_notebook_needs_only_the_main_model():
    tasks = series.plan_tasks(STEMS, series.series_models(), resolve("tiny"))
    assert tasks["10_when"].needs == {"model:alpha+beta"}
