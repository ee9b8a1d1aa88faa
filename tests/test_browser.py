"""The widgets and the book in a real browser: JupyterLab headless on localhost, driven in Chromium by Playwright.

Notebook 01 is run in JupyterLab and its frame slider moved; a small explorer notebook is run and *Run* pressed at
the ``ci`` profile; the rendered images must change. Then the book of a ci run (fixture ``ci_book``) is opened.
Screenshots go to ``$DATTT_BROWSER_ARTIFACTS`` (default ``runs/ci/browser/``). Skipped, with the reason, only when
no browser can be had (Debian's ``chromium`` package and Playwright for Python; no browser download).
"""
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest

from dattt_nb.config import project_root

CHROMIUM = os.environ.get("DATTT_CHROMIUM", "/usr/bin/chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
TOKEN = "dattt-browser-test"
DEADLINE = 170  # seconds for the whole test (the issue asks for under 3 minutes)

EXPLORER_NB = [
    "from dattt_nb.course import widgets\nfrom dattt_nb.config import resolve\nfrom dattt_nb.models import build_model\n"
    "from dattt_nb.ttt import cache\nimport torch\n\n"
    "cfg = resolve('ci', device='cpu')\ntorch.manual_seed(0)\nmodel = build_model(cfg).eval()  # untrained: the test "
    "looks at the widget, not at accuracy\ndata = cache.load_test_splits(cfg, splits=['fbms'])",
    "ui = widgets.ttt_explorer(model, cfg, data, split='fbms', strategy='loop', lr=1e-3, epochs=2)\nui",
]


@pytest.fixture(scope="module")
def playwright_or_skip():
    """Playwright's entry point, or a skip saying which piece is missing (checked before anything is started)."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("Playwright for Python is not installed (pip install playwright; it drives Debian's chromium)")
    if not (Path(CHROMIUM).is_file() and os.access(CHROMIUM, os.X_OK)):
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install -y chromium, or set DATTT_CHROMIUM)")
    return sync_playwright


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def artefacts() -> Path:
    folder = Path(os.environ.get("DATTT_BROWSER_ARTIFACTS") or project_root() / "runs" / "ci" / "browser")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """JupyterLab on a free localhost port with a token, serving a temporary folder with notebook 01 and the
    explorer notebook; kernels write runs/ to a temporary folder and draw figures inline."""
    root = tmp_path_factory.mktemp("lab")
    work = root / "notebooks"
    work.mkdir()
    shutil.copyfile(project_root() / "notebooks" / "01_data_preparation.ipynb", work / "01_data_preparation.ipynb")
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in EXPLORER_NB])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, work / "explorer.ipynb")
    settings = root / "settings" / "@jupyterlab"
    for plugin, values in (("notebook-extension/tracker", {"windowingMode": "none"}),  # every cell in the DOM
                           ("apputils-extension/notification", {"fetchNews": "false"})):
        (settings / plugin).parent.mkdir(parents=True, exist_ok=True)
        (settings / f"{plugin}.jupyterlab-settings").write_text(json.dumps(values))
    port = _free_port()
    env = {**os.environ, "DATTT_RUNS": str(root / "runs"), "DATTT_PROFILE": "ci", "TQDM_DISABLE": "1",
           "MPLBACKEND": "module://matplotlib_inline.backend_inline", "JUPYTER_CONFIG_DIR": str(root / "cfg"),
           "JUPYTER_DATA_DIR": str(root / "data"), "IPYTHONDIR": str(root / "ipython"),
           "JUPYTERLAB_SETTINGS_DIR": str(root / "settings"), "JUPYTERLAB_WORKSPACES_DIR": str(root / "ws"),
           "PYTHONPATH": os.pathsep.join(filter(None, [str(project_root()), os.environ.get("PYTHONPATH")]))}
    cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
           f"--IdentityProvider.token={TOKEN}", "--allow-root", f"--ServerApp.root_dir={work}", "--ServerApp.port_retries=0",
           "--LabApp.news_url=", "--LabServerApp.extra_labextensions_path=[]"]
    log = open(root / "lab.log", "w")
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=work)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):
            if proc.poll() is not None:
                pytest.fail(f"JupyterLab exited ({proc.returncode}):\n{(root / 'lab.log').read_text()[-2000:]}")
            try:
                urllib.request.urlopen(f"{url}/api/status?token={TOKEN}", timeout=2)
                break
            except OSError:
                time.sleep(0.5)
        else:
            pytest.fail(f"JupyterLab did not answer on {url}:\n{(root / 'lab.log').read_text()[-2000:]}")
        yield dict(url=url, work=work, log=root / "lab.log")
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def _local_only(route):
    """No request leaves the machine (CDN scripts, the Colab badge image): abort all but localhost and files."""
    url = route.request.url
    if url.startswith(("http://127.0.0.1", "file://", "data:", "blob:")):
        return route.continue_()
    return route.abort()


def _open_notebook(page, lab, name: str) -> None:
    page.goto(f"{lab['url']}/lab/tree/{name}?token={TOKEN}&reset", wait_until="domcontentloaded")
    page.wait_for_selector(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook", timeout=60_000)
    page.wait_for_function("() => document.body.innerText.includes('| Idle')", timeout=90_000)  # kernel ready


def _run_all(page, timeout_s: float) -> None:
    """Run > Run All Cells, then wait until every code cell has an execution count; fail on a traceback."""
    page.click(".lm-MenuBar-itemLabel:text-is('Run')")
    page.click(".lm-Menu-itemLabel:text-is('Run All Cells')")
    end = time.time() + timeout_s
    script = """() => {
        const panel = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden)');
        const prompts = [...panel.querySelectorAll('.jp-CodeCell .jp-InputArea-prompt')].map(p => p.innerText);
        const errors = [...panel.querySelectorAll('.jp-OutputArea-output')].map(o => o.innerText)
            .filter(t => t.includes('Traceback') || /^\\w+Error: /m.test(t));
        return {prompts, errors};
    }"""
    while True:
        state = page.evaluate(script)
        if state["errors"]:
            pytest.fail("a cell failed in JupyterLab:\n" + state["errors"][0][-1500:])
        if state["prompts"] and all(any(ch.isdigit() for ch in p) for p in state["prompts"]):
            return
        if time.time() > end:
            pytest.fail(f"cells did not finish in {timeout_s:.0f} s: prompts {state['prompts']}")
        time.sleep(1)


def _set_slider(page, scope: str, value: int) -> None:
    """Type a value into an ipywidgets IntSlider's readout (what a user does to jump to a frame)."""
    readout = page.locator(f"{scope} .widget-readout").first
    readout.click()
    page.keyboard.press("Control+A")
    page.keyboard.type(str(value))
    page.keyboard.press("Enter")


def _src(page, selector: str) -> str:
    return page.locator(selector).first.get_attribute("src") or ""


def _wait_src_change(page, selector: str, old: str, timeout_s: float) -> str:
    end = time.time() + timeout_s
    while time.time() < end:
        new = _src(page, selector)
        if new and new != old:
            return new
        time.sleep(0.5)
    pytest.fail(f"{selector} did not change in {timeout_s:.0f} s")


def _wait_done(page, timeout_s: float, expect: str = "") -> str:
    """Wait for the explorer's status line to report a finished run (``J a → b``) whose line holds ``expect``."""
    status = ".dattt-explorer-status"
    page.wait_for_function(f"""() => {{ const t = document.querySelector('{status}').innerText;
        return t.includes('→') && t.includes({json.dumps(expect)}) || t.includes('error'); }}""",
                           timeout=timeout_s * 1000)
    text = page.inner_text(status)
    assert "error" not in text, text
    return text


def test_widgets_and_book_in_chromium(playwright_or_skip, lab, ci_book, artefacts, capsys):
    sync_playwright = playwright_or_skip
    start = time.time()
    shots, phases = [], {}

    def phase(name):
        phases[name] = round(time.time() - start - sum(phases.values()), 1)

    def shot(locator, name):
        path = artefacts / f"{name}.png"
        locator.screenshot(path=str(path))
        shots.append(path)
        return path.read_bytes()

    with sync_playwright() as p:
        try:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        except Exception as err:  # a broken or incompatible browser install: say so and skip
            pytest.skip(f"Chromium at {CHROMIUM} could not be started by Playwright: {str(err).splitlines()[0]}")
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        context.route("**/*", _local_only)
        page = context.new_page()
        page.set_default_timeout(60_000)

        # notebook 01: run it, move the frame slider of widgets.browse_video
        _open_notebook(page, lab, "01_data_preparation.ipynb")
        _run_all(page, timeout_s=DEADLINE - (time.time() - start) - 60)
        interact = page.locator(".widget-interact").first
        interact.scroll_into_view_if_needed()
        image = ".widget-interact .jp-OutputArea-output img"
        page.wait_for_selector(image)
        first_src = _src(page, image)
        frame_a = shot(interact, "01_browse_frame_first")
        _set_slider(page, ".widget-interact", 3)
        _wait_src_change(page, image, first_src, 30)
        frame_b = shot(interact, "01_browse_frame_3")
        assert frame_a != frame_b, "moving the slider changes the picture"

        phase("notebook 01")

        # the explorer: press Run, then move its frame slider and Run again with another lr
        _open_notebook(page, lab, "explorer.ipynb")
        _run_all(page, timeout_s=60)
        box = page.locator(".dattt-explorer-run").first.locator("xpath=ancestor::div[contains(@class,'widget-vbox')][1]")
        box.scroll_into_view_if_needed()
        before = shot(box, "explorer_before_run")
        empty = _src(page, "img.dattt-explorer-curves"), _src(page, "img.dattt-explorer-panels")
        page.click(".dattt-explorer-run")
        _wait_done(page, 90)
        curves = _wait_src_change(page, "img.dattt-explorer-curves", empty[0], 10)
        panels = _wait_src_change(page, "img.dattt-explorer-panels", empty[1], 10)
        after = shot(box, "explorer_after_run")
        assert before != after, "Run draws the J plot, the curves and the panels"
        _set_slider(page, ".dattt-explorer-frame", 2)
        _wait_src_change(page, "img.dattt-explorer-panels", panels, 20)
        lr = page.locator(".widget-text:has(label:text-is('lr')) input").first
        lr.fill("0.01")
        lr.press("Enter")
        page.click(".dattt-explorer-run")
        assert "lr 0.01," in _wait_done(page, 90, expect="lr 0.01,")
        _wait_src_change(page, "img.dattt-explorer-curves", curves, 10)  # drawn after the panels
        rerun = shot(box, "explorer_after_second_run")
        assert rerun != after, "another lr gives another J plot and curves"

        phase("explorer")

        # the book of a ci run: index and one notebook page render, figures present, no error cells
        page.goto(ci_book.as_uri(), wait_until="load")
        page.wait_for_selector("a[href*='00_overview']")
        shot(page, "book_index")
        page.goto((ci_book.parent / "00_overview.html").as_uri(), wait_until="load")
        figures = page.evaluate("() => [...document.querySelectorAll('.cell_output img')]"
                                ".filter(i => i.complete && i.naturalWidth > 0).length")
        assert figures >= 2, "the notebook page shows its figures"
        assert page.locator(".cell_output .traceback, .output.traceback").count() == 0
        assert page.locator("a[href*='colab.research.google.com/github/']").count() >= 1
        shot(page, "book_00_overview")
        browser.close()
    phase("book pages")
    seconds = time.time() - start
    with capsys.disabled():
        print(f"\nbrowser test: {seconds:.0f} s in the browser {phases}; screenshots:\n  " + "\n  ".join(map(str, shots)))
    assert seconds < DEADLINE + 60
