"""nbval settings for the notebooks: the ``ci`` profile, no progress bars, no network, a longer output wait."""
import os

os.environ.setdefault("DATTT_PROFILE", "ci")
os.environ.setdefault("TQDM_DISABLE", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("MPLBACKEND", "Agg")

# otter-grader assignment sources: solutions and test cells that otter assign turns into student and autograder
# notebooks (graded by tests/test_assignments.py), not lectures for nbval to run
collect_ignore = ["assignments"]

NBVAL_OUTPUT_TIMEOUT = 120  # seconds; nbval's 5 s default fails on a busy 2-core box


def pytest_collection_modifyitems(config, items):
    """Give nbval cells time to deliver their output messages."""
    for item in items:
        if hasattr(item, "output_timeout"):
            item.output_timeout = max(item.output_timeout, NBVAL_OUTPUT_TIMEOUT)
