"""Inputs for a first try of segmentation: the real DAVIS-16 sample when present, else a synthetic clip on disk."""
from __future__ import annotations

import dataclasses
import os
from pathlib import Path

from dattt_nb.config import Settings, project_root
from dattt_nb.data.layout import FRAMES, write_frames, write_masks

DAVIS_MINI_ENV = "DATTT_DAVIS_MINI"


def davis_mini_root() -> Path | None:
    """The real DAVIS-16 sample (``$DATTT_DAVIS_MINI``, else the sample folder beside the project), or None."""
    root = Path(os.environ.get(DAVIS_MINI_ENV, project_root().parent / "shared" / "data" / "davis16-mini"))
    return root if (root / FRAMES).is_dir() else None


def write_demo_clip(root: str | Path, settings: Settings, n_frames: int | None = None, size: int | None = None,
                    split: str = "davis", index: int = 0) -> Path:
    """Write one synthetic clip (frames + masks) in the DAVIS layout under ``root``; returns its frame folder.

    The stand-in for a real video when none is at hand: ``<root>/JPEGImages/<name>/`` and
    ``<root>/Annotations/<name>/`` (so ``gt_root="auto"`` finds the masks).
    """
    from dattt_nb.data.synthetic import generate_video

    clip_settings = dataclasses.replace(settings, image_size=int(size or max(settings.image_size, 96)),
                                        frames_per_video=int(n_frames or settings.frames_per_video))
    clip = generate_video(split, index, clip_settings)
    names = write_frames(root, clip.name, clip.frames)
    write_masks(root, clip.name, clip.masks, names)
    return Path(root) / FRAMES / clip.name
