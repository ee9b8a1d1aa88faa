"""Test defaults: the fast ``ci`` profile, no progress bars, no network, headless plots; shared fixtures."""
import os
from pathlib import Path

import pytest

os.environ.setdefault("DATTT_PROFILE", "ci")
os.environ.setdefault("TQDM_DISABLE", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("OMP_NUM_THREADS", "2")

NBVAL_OUTPUT_TIMEOUT = 120  # seconds; nbval's 5 s default fails on a busy 2-core box (NOTEBOOKS.md)

DAVIS_MINI = Path(os.environ.get("DATTT_DAVIS_MINI",
                                 Path(__file__).resolve().parents[1].parent / "shared" / "data" / "davis16-mini"))


def pytest_collection_modifyitems(config, items):
    """Give nbval cells time to deliver their output messages."""
    for item in items:
        if hasattr(item, "output_timeout"):
            item.output_timeout = max(item.output_timeout, NBVAL_OUTPUT_TIMEOUT)


@pytest.fixture
def davis_mini() -> Path:
    """Three real DAVIS-16 videos beside the project (../shared/data/davis16-mini); skip when absent."""
    if not DAVIS_MINI.is_dir():
        pytest.skip(f"davis16-mini not found at {DAVIS_MINI} (set DATTT_DAVIS_MINI)")
    return DAVIS_MINI
