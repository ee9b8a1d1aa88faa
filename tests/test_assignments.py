"""The otter-grader assignments build (otter assign) and grade without Docker (otter run): the solutions get full
marks, the untouched student notebooks get zero without crashing the grader."""
import contextlib
import io
import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

otter_assign = pytest.importorskip("otter.assign")

ASSIGNMENTS = sorted((Path(__file__).resolve().parents[1] / "notebooks" / "assignments").glob("*.ipynb"))
OTTER = str(Path(sys.executable).parent / "otter")


def _grade(autograder: Path, notebook: Path, out: Path) -> dict:
    """``otter run`` (no Docker) on one notebook; {question: (score, max score)} from its results.json."""
    out.mkdir(parents=True)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run([OTTER, "run", "-a", str(autograder), "-o", str(out), "--no-logo", str(notebook)],
                          capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, f"otter run crashed on {notebook.name}: {done.stderr[-2000:]}"
    tests = json.loads((out / "results.json").read_text())["tests"]
    return {t["name"]: (t["score"], t["max_score"]) for t in tests if t.get("max_score") is not None}


def _cheat(solution: Path, out: Path) -> Path:
    """The solution of a1 with SILog answered by a call to the library (``return silog_loss(...)``)."""
    import nbformat

    nb = nbformat.read(solution, as_version=4)
    (cell,) = [c for c in nb.cells if c.cell_type == "code" and c.source.lstrip().startswith("def silog(")]
    cell.source = ("from dattt_nb.losses import silog_loss\n\n\ndef silog(pred, target):\n"
                   "    return silog_loss(pred, target)\n")
    path = out / "cheat" / solution.name
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """{(name, "solution" | "student"): scores}: every assignment built by otter assign (its solution tests not run
    there: grading the solution below checks them) and both versions graded, two kernels at a time."""
    out, jobs = tmp_path_factory.mktemp("assignments"), {}
    for master in ASSIGNMENTS:
        dist = out / master.stem
        with contextlib.redirect_stdout(io.StringIO()):
            otter_assign.main(str(master), str(dist), no_run_tests=True, no_pdfs=True)
        (autograder,) = (dist / "autograder").glob("*.zip")
        student = dist / "student" / master.name
        assert "# BEGIN SOLUTION" not in student.read_text() and "..." in student.read_text()
        for kind, notebook in (("solution", dist / "autograder" / master.name), ("student", student)):
            jobs[master.stem, kind] = (autograder, notebook, out / "graded" / master.stem / kind)
        if master.stem == "a1_losses":  # an answer that calls the library's reference instead of writing SILog
            jobs[master.stem, "cheat"] = (autograder, _cheat(dist / "autograder" / master.name, out), out / "graded"
                                          / master.stem / "cheat")
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = {key: pool.submit(_grade, *job) for key, job in jobs.items()}
        return {key: future.result() for key, future in futures.items()}


def test_three_assignments_with_public_and_hidden_tests():
    import nbformat

    assert [p.stem for p in ASSIGNMENTS] == ["a1_losses", "a2_ttt_strategy", "a3_davis_metrics"]
    for path in ASSIGNMENTS:
        cells = nbformat.read(path, as_version=4).cells
        assert cells[0].cell_type == "raw" and cells[0].source.startswith("# ASSIGNMENT CONFIG"), path.name
        tests = [c.source for c in cells if c.cell_type == "code" and "# BEGIN TEST CONFIG" in c.source]
        assert any("hidden: true" in t for t in tests) and any("hidden: false" in t for t in tests), path.name
        assert all(not c.get("outputs") for c in cells if c.cell_type == "code"), f"{path.name}: strip outputs"


@pytest.mark.parametrize("name", [p.stem for p in ASSIGNMENTS])
def test_solution_gets_full_marks_and_student_version_zero(graded, name):
    solution, student = graded[name, "solution"], graded[name, "student"]
    assert solution and all(score == most for score, most in solution.values()), f"solution of {name}: {solution}"
    assert student.keys() == solution.keys(), f"{name}: the student version has other questions"
    assert all(score == 0 for score, _ in student.values()), f"untouched student {name} scored: {student}"


def test_an_answer_that_calls_the_library_loses_the_hidden_points(graded):
    cheat, solution = graded["a1_losses", "cheat"], graded["a1_losses", "solution"]
    silog = [q for q in cheat if q.startswith("q1")]
    assert silog and all(cheat[q][0] < solution[q][0] for q in silog), f"calling silog_loss scored {cheat}"
