"""The series as a book (dattt_nb.course.book): built strictly from a ci run's executed notebook, badge, order, errors."""
import re

import nbformat
import pytest

from dattt_nb.course import book


def test_book_of_a_ci_run_builds_with_warnings_as_errors(ci_book):
    html = ci_book.parent
    page = (html / "00_overview.html").read_text()
    assert "colab.research.google.com/github/" in page and "/blob/main/notebooks/00_overview.ipynb" in page
    assert len(re.findall(r"<img[^>]+_images/", page)) >= 2, "the notebook's figures are on its page"
    assert 'class="output traceback' not in page
    index = (html / "intro.html").read_text() if (html / "intro.html").is_file() else ci_book.read_text()
    assert "00_overview.html" in index and "Not in this run" in index, "the index lists what the run lacks"


def test_series_order_guide_and_badges(tmp_path, monkeypatch):
    runs = tmp_path / "runs"
    folder = runs / "tiny" / "notebooks"
    folder.mkdir(parents=True)
    for name in ("02_b", "00_a", "10_c"):
        nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(f"# Title {name}"),
                                             nbformat.v4.new_code_cell("1", execution_count=1)])
        nbformat.write(nb, folder / f"{name}.ipynb")
    monkeypatch.setenv("DATTT_REPOSITORY", "https://github.com/someone/fork.git")
    chapters = book.write_source("tiny", tmp_path / "src", runs)
    assert [c for c in chapters if c != "teaching"] == ["00_a", "02_b", "10_c"]
    staged = nbformat.read(tmp_path / "src" / "02_b.ipynb", as_version=4)
    assert staged.cells[0].source == "# Title 02_b" and book.BADGE_MARK in staged.cells[1].source
    assert "github/someone/fork/blob/main/notebooks/02_b.ipynb" in staged.cells[1].source
    book.add_badge(staged, "02_b.ipynb")
    assert sum(book.BADGE_MARK in c.source for c in staged.cells) == 1, "one badge"


def test_refuses_missing_failed_or_unexecuted_runs(tmp_path, monkeypatch):
    with pytest.raises(FileNotFoundError, match="dattt-nb run --profile tiny"):
        book.executed_notebooks("tiny", tmp_path)
    failed = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1/0", execution_count=1, outputs=[
        nbformat.v4.new_output("error", ename="ZeroDivisionError", evalue="division by zero", traceback=[])])])
    with pytest.raises(ValueError, match="ZeroDivisionError"):
        book.check_executed(failed, tmp_path / "x.ipynb")
    with pytest.raises(ValueError, match="never executed"):
        book.check_executed(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1")]), tmp_path / "y.ipynb")
    monkeypatch.setenv("DATTT_REPOSITORY", "not a repository")
    with pytest.raises(ValueError, match="owner"):
        book.repository()


def test_the_repository_comes_from_the_environment_or_origin_and_stamps_the_install_cell(tmp_path, monkeypatch):
    monkeypatch.delenv("DATTT_REPOSITORY", raising=False)
    monkeypatch.setattr(book, "_origin", lambda: "https://github.com/teacher/dattt-nb.git")
    assert book.repository() == ("teacher/dattt-nb", "main") and not book.is_placeholder()
    monkeypatch.setattr(book, "_origin", lambda: None)
    assert book.is_placeholder()
    monkeypatch.setenv("DATTT_REPOSITORY", "someone/fork")
    setup = ('if "google.colab" in sys.modules:\n    subprocess.run([sys.executable, "-m", "pip", "install", '
             '"git+https://github.com/OWNER/dattt-nb"], check=True)')
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# T"), nbformat.v4.new_code_cell(setup)])
    folder = tmp_path / "notebooks"
    folder.mkdir()
    nbformat.write(nb, folder / "00_t.ipynb")
    assert book.stamp_notebooks(folder) == [folder / "00_t.ipynb"]
    stamped = nbformat.read(folder / "00_t.ipynb", as_version=4).cells[1].source
    assert '"git+https://github.com/someone/fork"], check=True)' in stamped and "OWNER" not in stamped
    assert book.stamp_notebooks(folder) == [], "stamping twice changes nothing"
