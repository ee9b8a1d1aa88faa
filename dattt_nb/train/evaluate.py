"""Predict masks and depth of videos chunk by chunk and score them with J and F, without test-time training (§5.1)."""
from __future__ import annotations

from typing import Iterator

import pandas as pd
import torch

from dattt_nb.data.stream import stream_split, video_chunks
from dattt_nb.native_scores import is_real, native_scores
from dattt_nb.utils import autocast


def predict_chunks(model, video, batch_size: int = 32, device=None) -> Iterator[tuple]:
    """(host chunk, mask probabilities (n, H, W), depth (n, H, W) or None) for consecutive chunks of a video, in eval
    mode: only a chunk's frames are on the device at a time (read from disk per chunk for ``VideoFrames``); the
    training autocast on CUDA."""
    device = torch.device(device) if device is not None else next(model.parameters()).device
    was_training = model.training
    model.eval()
    try:
        for chunk in video_chunks(video, batch_size, pin_memory=device.type == "cuda"):
            if chunk.flow is None:
                raise ValueError(f"video {video.name!r} has no flow; load it with with_flow=True")
            with torch.no_grad(), autocast(device):
                mask_logits, depth_logits = model(chunk.frames.to(device, non_blocking=True),
                                                  chunk.flow.to(device, non_blocking=True))
            check_finite_prediction(chunk, 0, mask_logits, depth_logits)
            depth = None if depth_logits is None else torch.sigmoid(depth_logits[:, 0].float()).cpu()
            yield chunk, torch.sigmoid(mask_logits[:, 0].float()).cpu(), depth
    finally:
        model.train(was_training)


def predict_video(model, video, batch_size: int = 32, device=None):
    """(mask probabilities (T, H, W), depth (T, H, W) or None) of every frame on the CPU, predicted in chunks."""
    masks, depths = [], []
    for _, mask, depth in predict_chunks(model, video, batch_size, device):
        masks.append(mask)
        if depth is not None:
            depths.append(depth)
    return torch.cat(masks), (torch.cat(depths) if depths else None)


def check_finite_prediction(video, start: int, mask_logits, depth_logits) -> None:
    """Mask or depth logits with NaN/inf (frames ``start``, ``start + 1``, ...) are an error naming the frames,
    never a silent empty mask."""
    finite = torch.isfinite(mask_logits).flatten(1).all(1)
    if depth_logits is not None:
        finite &= torch.isfinite(depth_logits).flatten(1).all(1)
    bad = (~finite).nonzero().flatten().tolist()
    if bad:
        names = ", ".join(video.frame_names[start + j] for j in bad[:10]) + (" …" if len(bad) > 10 else "")
        raise ValueError(f"video {video.name!r}: the model's mask or depth is not finite (NaN/inf) on frame(s) "
                         f"{names}; its weights or these frames' inputs are broken")


def _annotated_frame_scores(chunk, mask_prob: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-frame J and F of the annotated frames of a (chunk of a) video (DAVIS definitions)."""
    from dattt_nb.metrics import scores_torch

    if chunk.masks is None:
        raise ValueError(f"video {chunk.name!r} has no ground-truth masks to score against")
    keep = torch.ones(len(chunk), dtype=torch.bool) if chunk.annotated is None else chunk.annotated.bool().cpu()
    gt, pred = chunk.masks.cpu()[keep], (mask_prob.cpu() > 0.5)[keep]
    return scores_torch(gt, pred)


def _row(name: str, j: torch.Tensor, f: torch.Tensor) -> dict:
    return dict(video=name, J=float(j.mean()), F=float(f.mean()), frames=len(j))


def _native_row(video, mask_prob: torch.Tensor) -> dict:
    """Real data: masks upsampled to the frames' own size and scored there (§5.1), like ``dattt-nb eval``."""
    scores = native_scores(video.root, video.name, mask_prob.cpu() > 0.5)
    return dict(video=video.name, J=scores["J"], F=scores["F"], frames=scores["frames"])


def score_model_on_video(model, video, batch_size: int = 32) -> dict:
    """Mean J and F of one video (a ``Video`` or ``VideoFrames``), predicted and scored chunk by chunk (real data:
    at the frames' own size)."""
    if is_real(getattr(video, "root", None)):
        return _native_row(video, torch.cat([mask.cpu() for _, mask, _ in predict_chunks(model, video, batch_size)]))
    js, fs = [], []
    for chunk, mask, _ in predict_chunks(model, video, batch_size):
        j, f = _annotated_frame_scores(chunk, mask)
        js.append(j)
        fs.append(f)
    return _row(video.name, torch.cat(js), torch.cat(fs))


def evaluate_split(model, videos, batch_size: int = 32) -> pd.DataFrame:
    """Per-video J and F of ``model`` (no TTT) on decoded :class:`~dattt_nb.data.layout.Video` s or streamed
    :class:`~dattt_nb.data.stream.VideoFrames`."""
    rows = [score_model_on_video(model, v, batch_size) for v in videos]
    return pd.DataFrame(rows, columns=["video", "J", "F", "frames"])


def evaluate_benchmark(model, settings, splits=None, batch_size: int = 32) -> pd.DataFrame:
    """Mean J and F per test split (rows in the paper's order, labelled like the paper), without TTT."""
    from dattt_nb.data.prepare import ensure_benchmark
    from dattt_nb.splits import TEST_SPLIT_LABELS, TEST_SPLITS

    splits = list(splits or TEST_SPLITS)
    roots = ensure_benchmark(settings, splits=splits, verbose=False)
    splits = [s for s in splits if s in roots]  # real data: the test roots that exist
    rows = []
    for split in splits:
        per_video = evaluate_split(model, stream_split(roots[split], size=settings.image_size, with_depth=False),
                                   batch_size)
        rows.append(dict(split=split, dataset=TEST_SPLIT_LABELS.get(split, split), J=per_video["J"].mean(),
                         F=per_video["F"].mean(), videos=len(per_video)))
    return pd.DataFrame(rows).set_index("split")
