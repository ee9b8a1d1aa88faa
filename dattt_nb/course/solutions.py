"""Reference solutions of the exercises in notebooks 01–09 (for instructors; tests/test_exercises.py checks each
against :mod:`dattt_nb.course.exercises`). Written the way a student would, from the equations, not by calling the
library function the exercise asks for. Each is named after the function the student writes in the notebook, with
``_solution`` added (the student's ``def jaccard`` is answered by :func:`jaccard_solution`), so no name here is also
a library function's."""
from __future__ import annotations

import re

import numpy as np
import torch
import torch.nn.functional as F

from dattt_nb.ttt.strategies import Prediction


# 01.1 — end-point error of two flow fields (H, W, 2)
def endpoint_error_solution(pred, true) -> float:
    diff = np.asarray(pred, np.float64) - np.asarray(true, np.float64)
    return float(np.sqrt((diff ** 2).sum(-1)).mean())


# 01.2 — depth → (eps, 1] by the maximum, 0 where invalid
def normalize_depth_solution(d, eps: float = 1e-3):
    d = np.asarray(d, np.float32)
    valid = np.isfinite(d) & (d > 0)
    out = np.zeros_like(d)
    if valid.any():
        out[valid] = np.clip(d[valid] / d[valid].max(), eps, 1.0)
    return out


# 02.1 — SILog of eq. 2
def silog_solution(pred, target, eps: float = 1e-3):
    valid = target > 0
    g = torch.log(pred[valid] + eps) - torch.log(target[valid] + eps)
    return torch.sqrt(g.var() + 0.15 * g.mean() ** 2 + 1e-12) if g.numel() > 1 else g.new_zeros(())


# 02.2 — eq. 2: BCE + λ·SILog
def joint_loss_solution(mask_logits, depth_logits, mask, depth, lambda_depth):
    bce = F.binary_cross_entropy_with_logits(mask_logits, mask.float().reshape(mask_logits.shape))
    return bce + lambda_depth * silog_solution(torch.sigmoid(depth_logits), depth.reshape(depth_logits.shape))


# 03.1 — eq. 3 with a layer's parts
def modulate_solution(layer, depth_embed, mask_embed):
    shared = layer.shared(torch.cat([depth_embed, mask_embed], dim=1))
    return layer.alpha(shared) * mask_embed + layer.beta(shared)


# 03.2 — start as the identity: α = 0·s + 1, β = 0·s + 0
def init_identity_solution(layer) -> None:
    with torch.no_grad():
        layer.alpha.weight.zero_()
        layer.alpha.bias.fill_(1.0)
        layer.beta.weight.zero_()
        layer.beta.bias.zero_()


# 04.1 — TTT-N (Fig. 4a)
def naive_solution(engine, video, epochs, frames=None):
    for t in range(len(video)) if frames is None else frames:
        engine.reset()
        optimizer = engine.optimizer()
        for _ in range(epochs):
            engine.step(optimizer, video, t)
        mask, depth = engine.predict(video, [t])
        yield Prediction(0, t, mask[0], None if depth is None else depth[0])


# 04.2 — eq. 4 from the two views' depths
def consistency_solution(depth1, depth2):
    return silog_solution(depth2, depth1)


# 05.1 — TTT-MWI (Fig. 4b)
def momentum_solution(engine, video, epochs, frames=None):
    engine.reset()
    optimizer = engine.optimizer()
    for t in range(len(video)) if frames is None else frames:
        for _ in range(epochs):
            engine.step(optimizer, video, t)
        mask, depth = engine.predict(video, [t])
        yield Prediction(0, t, mask[0], None if depth is None else depth[0])


# 05.2 — a photometric shift: low light with a blue cast
def low_light_solution(frames):
    return (frames * torch.tensor([0.45, 0.5, 0.65]).view(1, 3, 1, 1)).clamp(0, 1)


# 06.1 — TTT-LTV (Fig. 4c)
def loop_solution(engine, video, epochs, frames=None):
    frames = list(range(len(video))) if frames is None else list(frames)
    engine.reset()
    optimizer = engine.optimizer()
    for pass_ in range(epochs):
        for t in frames:
            engine.step(optimizer, video, t)
            mask, depth = engine.predict(video, [t])
            yield Prediction(pass_, t, mask[0], None if depth is None else depth[0])
    mask, depth = engine.predict(video, frames)
    for j, t in enumerate(frames):
        yield Prediction("final", t, mask[j], None if depth is None else depth[j])


# 06.2 — the collapse monitor
COLLAPSED_RUN, FIRST_FIX = "B", "lr"


# 07.1 — TENT's entropy
def binary_entropy_solution(logits):
    p = torch.sigmoid(logits)
    return -(p * F.logsigmoid(logits) + (1 - p) * F.logsigmoid(-logits)).mean()


# 07.2 — TTT-Rot's batch
def rotate_batch_solution(images):
    labels = torch.arange(len(images)) % 4
    rotated = torch.stack([torch.rot90(img, int(k), dims=(-2, -1)) for img, k in zip(images, labels)])
    return rotated, labels


# 08.1 — J
def jaccard_solution(gt, pred) -> float:
    gt, pred = np.asarray(gt, bool), np.asarray(pred, bool)
    union = (gt | pred).sum()
    return 1.0 if union == 0 else float((gt & pred).sum() / union)


# 08.2 — mean, recall, decay (DAVIS)
def recall_decay_solution(values) -> dict:
    values = np.asarray(values, float)
    bounds = (np.round(np.linspace(1, len(values), 5) + 1e-10) - 1).astype(int)
    bins = [values[bounds[i]:bounds[i + 1] + 1] for i in range(4)]
    return dict(mean=float(values.mean()), recall=float((values > 0.5).mean()),
                decay=float(bins[0].mean() - bins[3].mean()))


# 09.1 — natural frame order
def natural_sort_solution(names):
    return sorted(names, key=lambda n: [int(p) if p.isdigit() else p.lower() for p in re.split(r"(\d+)", n)])


# 09.2 — temporal stability without ground truth
def temporal_iou_solution(masks) -> float:
    masks = np.asarray(masks, bool)
    return float(np.mean([jaccard_solution(a, b) for a, b in zip(masks[:-1], masks[1:])]))
