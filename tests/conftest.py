"""Test defaults: the fast ``ci`` profile, no progress bars, no network, headless plots; shared fixtures."""
import os
from pathlib import Path

import pytest

os.environ.setdefault("DATTT_PROFILE", "ci")
os.environ.setdefault("TQDM_DISABLE", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("OMP_NUM_THREADS", "2")

NBVAL_OUTPUT_TIMEOUT = 120  # seconds; nbval's 5 s default fails on a busy 2-core box

DAVIS_MINI = Path(os.environ["DATTT_DAVIS_MINI"]) if os.environ.get("DATTT_DAVIS_MINI") else None


def pytest_collection_modifyitems(config, items):
    """Give nbval cells time to deliver their output messages."""
    for item in items:
        if hasattr(item, "output_timeout"):
            item.output_timeout = max(item.output_timeout, NBVAL_OUTPUT_TIMEOUT)


@pytest.fixture
def file_urls_only(monkeypatch) -> list:
    """Downloads in tests open only file:// URLs (never the network); returns the list of URLs opened."""
    import urllib.request

    from dattt_nb.data import real

    opened = []

    def opener(url, *a, **kw):
        assert url.startswith("file://"), f"tests must not touch the network: {url}"
        opened.append(url)
        return urllib.request.urlopen(url, *a, **kw)

    monkeypatch.setattr(real, "_urlopen", opener)
    return opened


@pytest.fixture
def davis_mini() -> Path:
    """Three real DAVIS-16 validation videos in DAVIS layout, found through ``$DATTT_DAVIS_MINI`` (``make test`` sets
    it when the sample is available); skip when absent."""
    if DAVIS_MINI is None or not DAVIS_MINI.is_dir():
        pytest.skip(f"DAVIS sample not available (DATTT_DAVIS_MINI={os.environ.get('DATTT_DAVIS_MINI', '')!r})")
    return DAVIS_MINI


@pytest.fixture(scope="session")
def ci_book(tmp_path_factory) -> Path:
    """The book (``dattt_nb.course.book``, Sphinx warnings as errors) of a ``ci`` run of the series' first notebook executed
    with papermill into a temporary runs/ folder; returns its index.html. Shared by the book and browser tests."""
    from dattt_nb.course.book import build_book
    from dattt_nb.run.pipeline import run_pipeline

    runs = tmp_path_factory.mktemp("ci-run") / "runs"
    run_pipeline("ci", only=["00"], runs_root=runs)
    return build_book("ci", strict=True, runs=runs)
