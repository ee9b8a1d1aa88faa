"""The otter-grader assignments build (otter assign) and grade without Docker (otter run): the solutions get full
marks, the untouched student notebooks get zero without crashing the grader."""
import contextlib
import io
import os
from pathlib import Path

import pytest

otter_assign = pytest.importorskip("otter.assign")
otter_run = pytest.importorskip("otter.run")

ASSIGNMENTS = sorted((Path(__file__).resolve().parents[1] / "notebooks" / "assignments").glob("*.ipynb"))


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """{name: (autograder zip, solution notebook, student notebook)} built by otter assign into a tmp folder."""
    out, builds = tmp_path_factory.mktemp("assignments"), {}
    for master in ASSIGNMENTS:
        dist = out / master.stem
        with contextlib.redirect_stdout(io.StringIO()):
            otter_assign.main(str(master), str(dist), no_run_tests=True, no_pdfs=True)
        (zip_,) = (dist / "autograder").glob("*.zip")
        builds[master.stem] = (zip_, dist / "autograder" / master.name, dist / "student" / master.name)
    return builds


def _grade(autograder: Path, notebook: Path, out: Path):
    out.mkdir(parents=True, exist_ok=True)
    with contextlib.redirect_stdout(io.StringIO()):
        return otter_run.main(str(notebook), autograder=str(autograder), output_dir=str(out), no_logo=True)


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
def test_solution_gets_full_marks_and_student_version_zero(built, name, tmp_path, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", os.environ.get("OMP_NUM_THREADS", "1"))
    autograder, solution, student = built[name]
    assert "# BEGIN SOLUTION" not in student.read_text() and "..." in student.read_text()
    full = _grade(autograder, solution, tmp_path / "solution")
    assert full.possible > 0 and full.total == full.possible, full.summary()
    zero = _grade(autograder, student, tmp_path / "student")
    assert zero.possible == full.possible and zero.total == 0, zero.summary()
