"""Predict masks and depth for whole videos and score them with J and F, without test-time training (§5.1)."""
from __future__ import annotations

import pandas as pd
import torch


@torch.no_grad()
def predict_video(model, video, batch_size: int = 32, device=None):
    """(mask probabilities (T, H, W), depth (T, H, W) or None) for every frame, in eval mode, batched."""
    if video.flow is None:
        raise ValueError(f"video {video.name!r} has no flow; load it with with_flow=True")
    device = device or next(model.parameters()).device
    was_training = model.training
    model.eval()
    masks, depths = [], []
    try:
        for i in range(0, len(video), batch_size):
            frames = video.frames[i:i + batch_size].to(device)
            flow = video.flow[i:i + batch_size].to(device)
            mask_logits, depth_logits = model(frames, flow)
            check_finite_prediction(video, i, mask_logits, depth_logits)
            masks.append(torch.sigmoid(mask_logits[:, 0].float()).cpu())
            if depth_logits is not None:
                depths.append(torch.sigmoid(depth_logits[:, 0].float()).cpu())
    finally:
        model.train(was_training)
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


def score_video(video, mask_prob: torch.Tensor) -> dict:
    """Mean J and boundary F over the annotated frames of one video (DAVIS definitions); real data at the frames'
    own size."""
    from dattt_nb.metrics import boundary_f_torch, jaccard_torch

    if video.masks is None:
        raise ValueError(f"video {video.name!r} has no ground-truth masks to score against")
    from dattt_nb.native import is_real, native_scores

    if is_real(video.root):  # real data: masks upsampled to the frames' own size (§5.1), like `dattt-nb eval`
        scores = native_scores(video.root, video.name, mask_prob.cpu() > 0.5)
        return dict(video=video.name, J=scores["J"], F=scores["F"], frames=scores["frames"])
    keep = torch.ones(len(video), dtype=torch.bool) if video.annotated is None else video.annotated.bool().cpu()
    gt, pred = video.masks.cpu()[keep], (mask_prob.cpu() > 0.5)[keep]
    return dict(video=video.name, J=float(jaccard_torch(gt, pred).mean()), F=float(boundary_f_torch(gt, pred).mean()),
                frames=int(keep.sum()))


def evaluate_split(model, videos, settings=None, batch_size: int = 32) -> pd.DataFrame:
    """Per-video J and F of ``model`` on a list of :class:`~dattt_nb.data.layout.Video` (no TTT)."""
    rows = [score_video(v, predict_video(model, v, batch_size)[0]) for v in videos]
    return pd.DataFrame(rows, columns=["video", "J", "F", "frames"])


def evaluate_benchmark(model, settings, splits=None, batch_size: int = 32) -> pd.DataFrame:
    """Mean J and F per test split (rows in the paper's order, labelled like the paper), without TTT."""
    from dattt_nb.data.layout import load_split
    from dattt_nb.data.prepare import TEST_SPLIT_LABELS, TEST_SPLITS, ensure_benchmark

    splits = list(splits or TEST_SPLITS)
    roots = ensure_benchmark(settings, splits=splits, verbose=False)
    splits = [s for s in splits if s in roots]  # real data: the test roots that exist
    rows = []
    for split in splits:
        per_video = evaluate_split(model, load_split(roots[split], size=settings.image_size), settings, batch_size)
        rows.append(dict(split=split, dataset=TEST_SPLIT_LABELS.get(split, split), J=per_video["J"].mean(),
                         F=per_video["F"].mean(), videos=len(per_video)))
    return pd.DataFrame(rows).set_index("split")
