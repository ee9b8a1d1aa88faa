"""The series as a static book: the executed notebooks of a run (``runs/<profile>/notebooks/``, written by
``dattt-nb run``) built with jupyter-book v1 (Sphinx) into ``runs/<profile>/book/_build/html``.

The table of contents follows the series order; the instructor guide ``docs/teaching.md`` comes first when it
exists; every notebook page opens with an "Open in Colab" badge pointing at the notebook in the repository (whose
first code cell installs the package on Colab). Notebooks are never executed here. ``python -m dattt_nb.course.book
--profile tiny`` (``make book``); ``--strict`` turns Sphinx warnings into errors (``make test``).
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat

from dattt_nb.config import project_root, runs_root

# the repository the Colab badges and the notebooks' Colab set-up cell install from, when neither $DATTT_REPOSITORY
# nor a GitHub "origin" remote of this clone names it (a placeholder until the project is published)
REPOSITORY = "https://github.com/OWNER/dattt-nb"
BRANCH = "main"
BADGE_MARK = "colab-badge.svg"
COLAB_BADGE = "https://colab.research.google.com/assets/colab-badge.svg"
INSTALL_PREFIX = "git+https://github.com/"  # how the Colab set-up cell names the repository it installs from


def _origin() -> str | None:
    """This clone's ``origin`` remote when it is on GitHub (``git@github.com:o/n.git`` or an https URL), else None."""
    try:
        url = subprocess.run(["git", "-C", str(project_root()), "remote", "get-url", "origin"], capture_output=True,
                             text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    url = url.replace("git@github.com:", "https://github.com/")
    return url if url.startswith("https://github.com/") else None


def repository() -> tuple[str, str]:
    """(``owner/name`` on GitHub, branch) of the badges and install cells: ``$DATTT_REPOSITORY`` (URL or
    owner/name), else this clone's GitHub ``origin``, else :data:`REPOSITORY`."""
    url = os.environ.get("DATTT_REPOSITORY") or _origin() or REPOSITORY
    slug = url.removeprefix("https://github.com/").removesuffix(".git").strip("/")
    if slug.count("/") != 1:
        raise ValueError(f"repository {url!r}: expected https://github.com/<owner>/<name> or <owner>/<name>")
    return slug, os.environ.get("DATTT_BRANCH", BRANCH)


def is_placeholder() -> bool:
    return repository()[0] == REPOSITORY.removeprefix("https://github.com/")


def stamp_install_cell(nb) -> bool:
    """Point the notebook's Colab set-up cell at :func:`repository`; True when it changed."""
    slug = repository()[0]
    changed = False
    for cell in nb.cells:
        if cell.cell_type == "code" and "google.colab" in cell.source and INSTALL_PREFIX in cell.source:
            head, _, rest = cell.source.partition(INSTALL_PREFIX)
            end = min((i for i in (rest.find('"'), rest.find("'")) if i >= 0), default=len(rest))
            new = f"{head}{INSTALL_PREFIX}{slug}{rest[end:]}"
            changed |= new != cell.source
            cell.source = new
    return changed


def stamp_notebooks(folder: Path | None = None) -> list[Path]:
    """Rewrite the Colab set-up cell of ``notebooks/*.ipynb`` to install from :func:`repository` (once, when the
    project is published: ``python -m dattt_nb.course.book --stamp-notebooks``); returns the notebooks changed."""
    folder = Path(folder) if folder is not None else project_root() / "notebooks"
    changed = []
    for path in sorted(folder.glob("[0-9][0-9]_*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        if stamp_install_cell(nb):
            nbformat.write(nb, path)
            changed.append(path)
    return changed


def colab_url(notebook: str) -> str:
    """Colab's address of ``notebooks/<notebook>`` in the repository."""
    slug, branch = repository()
    return f"https://colab.research.google.com/github/{slug}/blob/{branch}/notebooks/{notebook}"


def executed_notebooks(profile: str, runs: Path | None = None) -> list[Path]:
    """``runs/<profile>/notebooks/NN_*.ipynb`` in series order; a clear error when the run has none."""
    folder = Path(runs or runs_root()) / profile / "notebooks"
    found = sorted(folder.glob("[0-9][0-9]_*.ipynb"))
    if not found:
        raise FileNotFoundError(f"no executed notebooks in {folder}: run `dattt-nb run --profile {profile}` "
                                f"(or `make tutorial PROFILE={profile}`) first")
    return found


def add_badge(nb, name: str) -> None:
    """Put an "Open in Colab" badge under the notebook's title (once)."""
    if any(BADGE_MARK in c.source for c in nb.cells if c.cell_type == "markdown"):
        return
    badge = nbformat.v4.new_markdown_cell(f"[![Open in Colab]({COLAB_BADGE})]({colab_url(name)})")
    at = 1 if nb.cells and nb.cells[0].cell_type == "markdown" else 0
    nb.cells.insert(at, badge)


def check_executed(nb, path: Path) -> None:
    """A page must show a finished run: no error output, at least one executed code cell."""
    code = [c for c in nb.cells if c.cell_type == "code" and c.source.strip()]
    for c in code:
        for out in c.get("outputs", []):
            if out.get("output_type") == "error":
                raise ValueError(f"{path}: a cell ended with {out.get('ename')}: {out.get('evalue')}; "
                                 "re-run the series before building the book")
    if code and not any(c.get("execution_count") for c in code):
        raise ValueError(f"{path} was never executed (no execution counts): build from runs/<profile>/notebooks")


def _title(nb, fallback: str) -> str:
    for c in nb.cells:
        if c.cell_type == "markdown" and c.source.lstrip().startswith("# "):
            return c.source.lstrip()[2:].splitlines()[0].strip()
    return fallback


def write_source(profile: str, src: Path, runs: Path | None = None) -> list[str]:
    """Stage the book's sources in ``src``: _config.yml, _toc.yml, intro.md, the guide and badged notebooks."""
    import yaml

    from dattt_nb.run.pipeline import list_notebooks

    if src.exists():
        shutil.rmtree(src)
    src.mkdir(parents=True)
    executed = executed_notebooks(profile, runs)
    chapters, titles = [], []
    guide = project_root() / "docs" / "teaching.md"
    if guide.is_file():
        shutil.copyfile(guide, src / "teaching.md")
        chapters.append({"file": "teaching"})
    for path in executed:
        nb = nbformat.read(path, as_version=4)
        check_executed(nb, path)
        add_badge(nb, path.name)
        stamp_install_cell(nb)  # the badge and the install cell name the same repository
        for cell in nb.cells:  # papermill's injected values are in the parameters cell's story, not the page's
            if "injected-parameters" in cell.metadata.get("tags", []):
                cell.metadata["tags"] = [*cell.metadata["tags"], "remove-cell"]
        nbformat.write(nb, src / path.name)
        chapters.append({"file": path.stem})
        titles.append(f"* [{_title(nb, path.stem)}]({path.stem}.ipynb)")
    series = [p.name for p in list_notebooks(project_root() / "notebooks")] if (project_root() / "notebooks").is_dir() \
        else []
    missing = [n for n in series if n not in {p.name for p in executed}]
    intro = [f"# dattt-nb: Depth-aware Test-Time Training, the notebooks ({profile} profile)", "",
             "The notebooks of the tutorial series as executed by `dattt-nb run --profile " + profile + "`, in "
             "series order. Every page has an *Open in Colab* badge: its first code cell installs the package "
             "there and uses a GPU when Colab gives one.", ""]
    if guide.is_file():
        intro += ["Instructors: see the [teaching guide](teaching.md).", ""]
    intro += titles
    if missing:
        intro += ["", "Not in this run: " + ", ".join(f"`{n}`" for n in missing) + "."]
    (src / "intro.md").write_text("\n".join(intro) + "\n")
    toc = {"format": "jb-book", "root": "intro", "chapters": chapters}
    config = {
        "title": f"dattt-nb ({profile})", "author": "dattt-nb",
        "execute": {"execute_notebooks": "off"},
        "only_build_toc_files": True,
        "html": {"use_repository_button": False},
        "sphinx": {"config": {"nb_merge_streams": True, "html_show_copyright": False,
                              "suppress_warnings": ["mystnb.unknown_mime_type"]}},
    }
    (src / "_toc.yml").write_text(yaml.safe_dump(toc, sort_keys=False))
    (src / "_config.yml").write_text(yaml.safe_dump(config, sort_keys=False))
    return [c["file"] for c in chapters]


def build_book(profile: str, out: str | Path | None = None, strict: bool = False, runs: Path | None = None,
               quiet: bool = True) -> Path:
    """Build the book of a run; returns ``<out>/_build/html/index.html`` (``out`` default ``runs/<profile>/book``)."""
    runs = Path(runs or runs_root())
    out = Path(out) if out is not None else runs / profile / "book"
    src = out / "src"
    write_source(profile, src, runs)
    exe = Path(sys.executable).with_name("jupyter-book")
    cmd = [str(exe) if exe.is_file() else "jupyter-book", "build", str(src), "--path-output", str(out), "--all"]
    if strict:
        cmd += ["-W", "-n", "--keep-going"]
    if quiet:
        cmd += ["-q"]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"jupyter-book failed on {src} (exit {proc.returncode}):\n{proc.stdout[-3000:]}"
                           f"\n{proc.stderr[-3000:]}")
    index = out / "_build" / "html" / "index.html"
    if not index.is_file():
        raise RuntimeError(f"jupyter-book wrote no {index}")
    return index


def book_main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m dattt_nb.course.book", description=__doc__.split("\n\n")[0])
    p.add_argument("--profile", default=os.environ.get("DATTT_PROFILE", "tiny"), help="run to publish (default tiny)")
    p.add_argument("--out", help="output folder (default runs/<profile>/book)")
    p.add_argument("--strict", action="store_true", help="Sphinx warnings are errors")
    p.add_argument("--stamp-notebooks", action="store_true",
                   help="point the Colab set-up cell of notebooks/*.ipynb at the repository ($DATTT_REPOSITORY or the "
                        "GitHub origin remote) and exit")
    args = p.parse_args(argv)
    try:
        if args.stamp_notebooks:
            if is_placeholder():
                raise ValueError("no repository to stamp: set DATTT_REPOSITORY=<owner>/<name> or add a GitHub "
                                 "'origin' remote")
            changed = stamp_notebooks()
            print(f"Colab set-up cells now install from github.com/{repository()[0]}: {len(changed)} notebook(s) "
                  "changed")
            return 0
        if is_placeholder():
            print(f"dattt-nb book: warning: the Colab badges and install cells point at the placeholder {REPOSITORY}; "
                  "set DATTT_REPOSITORY=<owner>/<name> or add a GitHub 'origin' remote", file=sys.stderr)
        index = build_book(args.profile, args.out, strict=args.strict, quiet=False)
    except (FileNotFoundError, ValueError, RuntimeError) as err:
        print(f"dattt-nb book: error: {err}", file=sys.stderr)
        return 2
    print(f"book: {index}")
    return 0


if __name__ == "__main__":
    sys.exit(book_main())
