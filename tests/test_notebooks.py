"""Committed notebooks are stripped pipeline steps: no outputs, one `parameters` cell naming PROFILE, kernel python3."""
from pathlib import Path

import nbformat
import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def test_series_is_numbered_in_order():
    numbers = [p.name[:2] for p in NOTEBOOKS]
    assert numbers and numbers[0] == "00"
    assert len(set(numbers)) == len(numbers), f"two notebooks share a number: {numbers}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_stripped(path):
    nb = nbformat.read(path, as_version=4)
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            assert not cell.outputs, f"{path.name} cell {i} has outputs: strip it (make strip)"
            assert cell.execution_count is None, f"{path.name} cell {i} has an execution count"
        assert "injected-parameters" not in cell.metadata.get("tags", []), f"{path.name}: papermill cell left in"
    assert "papermill" not in nb.metadata, f"{path.name} carries papermill metadata"
    assert nb.metadata["kernelspec"]["name"] == "python3"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_a_parameterised_lecture(path):
    nb = nbformat.read(path, as_version=4)
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1, f"{path.name} needs exactly one cell tagged 'parameters'"
    assert "PROFILE" in tagged[0].source and "DATTT_PROFILE" in tagged[0].source
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# "), "title first"
    assert any("assert " in c.source for c in nb.cells if c.cell_type == "code"), f"{path.name} asserts nothing"


def test_nbstripout_agrees():
    import shutil
    import subprocess
    import sys

    exe = shutil.which("nbstripout") or str(Path(sys.executable).parent / "nbstripout")
    if not Path(exe).exists():
        pytest.skip("nbstripout not installed")
    out = subprocess.run([exe, "--verify", *map(str, NOTEBOOKS)], capture_output=True, text=True)
    assert out.returncode == 0, f"run `make strip`: {out.stdout}{out.stderr}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_papermill_sees_every_parameter(path):
    """papermill silently drops a parameter line with a second '=' (e.g. in its comment): catch that here."""
    import papermill

    nb = nbformat.read(path, as_version=4)
    cell = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    declared = {line.split(":")[0].split("=")[0].strip() for line in cell.source.splitlines()
                if line and not line.startswith(("#", "import", "from", " ")) and "=" in line}
    seen = set(papermill.inspect_notebook(str(path)))
    assert declared <= seen, f"{path.name}: papermill does not see {sorted(declared - seen)}"
    assert "PROFILE" in seen
