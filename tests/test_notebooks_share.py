"""The strategy notebooks 04–06 share their views through the library, not through copied cells.

What TTT-N, TTT-MWI and TTT-LTV have in common (the per-split table, the loss over the steps, the per-frame J, the
collapse watch, the masks, the explorer) is one call into :mod:`dattt_nb.ttt.study` or
:mod:`dattt_nb.course.widgets`; each notebook's code cells differ where its lesson differs (04: the reset, 05: the
drift of carried weights, 06: the passes, Fig. 5 and Table 3). Fast: it reads the committed notebooks' JSON and
executes nothing.
"""
from __future__ import annotations

import itertools
from pathlib import Path

import nbformat
import pytest

FOLDER = Path(__file__).resolve().parents[1] / "notebooks"
STRATEGY_NOTEBOOKS = ("04_ttt_naive", "05_ttt_momentum", "06_ttt_loop")
MAX_SHARED = 3  # identical code cells a pair may hold: the explorer, its snapshot, the closing summary
MAX_SHARED_LINES = 4  # ... and each of those is a call of a few lines, not a block of code


def _normalise(source: str) -> str:
    return "\n".join(line.rstrip() for line in source.strip().splitlines() if line.strip())


def own_code_cells(path: Path) -> list[str]:
    """A notebook's code cells, whitespace-normalised, without the cells every notebook has by design: the Colab
    set-up cell, the ``parameters`` cell and the ``exercise`` cells."""
    cells = []
    for cell in nbformat.read(path, as_version=4).cells:
        tags = set(cell.metadata.get("tags", []))
        if cell.cell_type != "code" or tags & {"parameters", "exercise"} or "google.colab" in cell.source:
            continue
        cells.append(_normalise(cell.source))
    return cells


def shared_cells(a: Path, b: Path) -> list[str]:
    """Code cells (as in :func:`own_code_cells`) whose source is identical in ``a`` and ``b``."""
    theirs = set(own_code_cells(b))
    return [source for source in own_code_cells(a) if source in theirs]


def test_the_counter_sees_a_copied_cell_and_ignores_set_up_parameters_and_exercises(tmp_path):
    def notebook(name, *cells):
        nb = nbformat.v4.new_notebook(cells=list(cells))
        nbformat.write(nb, tmp_path / name)
        return tmp_path / name

    def tagged(source, tag):
        cell = nbformat.v4.new_code_cell(source)
        cell.metadata["tags"] = [tag]
        return cell

    common = [nbformat.v4.new_code_cell('import sys\nif "google.colab" in sys.modules:\n    pass'),
              tagged("PROFILE = 'ci'", "parameters"), tagged("check(answer)", "exercise"),
              nbformat.v4.new_markdown_cell("same prose")]
    a = notebook("a.ipynb", *common, nbformat.v4.new_code_cell("x = 1\ny = 2  "), nbformat.v4.new_code_cell("a()"))
    b = notebook("b.ipynb", *common, nbformat.v4.new_code_cell("x = 1\n\ny = 2"), nbformat.v4.new_code_cell("b()"))
    assert shared_cells(a, b) == ["x = 1\ny = 2"]


@pytest.mark.parametrize("first, second", list(itertools.combinations(STRATEGY_NOTEBOOKS, 2)))
def test_strategy_notebooks_share_only_a_few_short_calls(first, second):
    a, b = FOLDER / f"{first}.ipynb", FOLDER / f"{second}.ipynb"
    assert a.exists() and b.exists(), f"expected the strategy notebooks {a.name} and {b.name} in {FOLDER.name}/"
    shared = shared_cells(a, b)
    assert len(shared) <= MAX_SHARED, (
        f"{first} and {second} hold {len(shared)} identical code cells (at most {MAX_SHARED}): move what they share "
        "into dattt_nb.ttt.study (or plots / widgets) and call it:\n\n" + "\n---\n".join(shared))
    long = [source for source in shared if len(source.splitlines()) > MAX_SHARED_LINES]
    assert not long, (f"{first} and {second} repeat a block of more than {MAX_SHARED_LINES} lines; make it one "
                      "library call:\n\n" + "\n---\n".join(long))
