"""The split vocabulary: split names, the labels people read, the clean split and the paper's column names.

Every module and notebook takes split names and labels from here (the synthetic benchmark plays the paper's
datasets under their names: ``davis`` plays DAVIS-16, ...).
"""
from __future__ import annotations

SPLITS = ["train", "val", "davis", "fbms", "longvideos", "mcl", "stv2"]
TEST_SPLITS = ["davis", "fbms", "longvideos", "mcl", "stv2"]
TEST_SPLIT_LABELS = {
    "davis": "DAVIS-16", "fbms": "FBMS", "longvideos": "Long-Videos", "mcl": "MCL", "stv2": "SegTrackV2",
}
PAPER_SPLITS = {"davis": "DAVIS-16", "fbms": "FBMS", "longvideos": "LongVideos", "mcl": "MCL", "stv2": "STV2"}
CLEAN_SPLIT = "davis"  # the synthetic DAVIS-16 stand-in carries no photometric shift
MEAN_LABELS = {"shifted": "shifted (mean)", "mean": "all (mean)"}  # rows and columns averaged over splits


def split_label(split: str) -> str:
    """The dataset a split plays (``davis`` → ``DAVIS-16``), the two mean rows' labels, else the name itself."""
    return TEST_SPLIT_LABELS.get(split, MEAN_LABELS.get(split, split))


def shifted(splits) -> list[str]:
    """The test splits with a distribution shift (all but the clean DAVIS-16 stand-in)."""
    return [s for s in splits if s != CLEAN_SPLIT]
