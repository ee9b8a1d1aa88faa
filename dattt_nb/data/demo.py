"""Inputs for a first try of segmentation: a synthetic clip on disk when no real video is at hand (the real DAVIS-16
root, when there is one, comes from :func:`dattt_nb.config.davis_root`)."""
from __future__ import annotations

import dataclasses
from pathlib import Path

from dattt_nb.config import Settings
from dattt_nb.data.layout import FRAMES, write_frames, write_masks


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
