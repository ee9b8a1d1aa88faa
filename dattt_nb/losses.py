"""Training losses of eq. 2: BCE for the mask + λ · scale-invariant log loss (SILog) for the depth."""
from __future__ import annotations

import torch
import torch.nn.functional as F


def bce_loss(mask_logits: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy of the mask decoder's logits against the ground-truth mask (eq. 2, first term)."""
    return F.binary_cross_entropy_with_logits(mask_logits.float(), _like(mask, mask_logits).float())


def silog_loss(pred: torch.Tensor, target: torch.Tensor, eps: float = 1e-3,
               variance_focus: float = 0.15) -> torch.Tensor:
    """SILog = sqrt(Var(g) + 0.15·mean(g)²), g = log(pred+ε) − log(target+ε) over pixels with target > 0.

    The official (AdaBins/ZoeDepth) form: the variance runs over all valid pixels of the batch. The square root
    is guarded, so the loss is exactly 0 with finite (zero) gradients when prediction and target agree.
    """
    pred, target = pred.float(), _like(target, pred).float()
    valid = target > 0
    if not valid.any():
        return pred.sum() * 0.0
    g = torch.log(pred[valid] + eps) - torch.log(target[valid] + eps)
    var = g.var() if g.numel() > 1 else g.new_zeros(())
    dg = var + variance_focus * g.mean() ** 2
    tiny = 1e-12
    return torch.where(dg > tiny, dg.clamp_min(tiny).sqrt(), dg.new_zeros(()))


def joint_loss(mask_logits: torch.Tensor, depth_logits: torch.Tensor | None, mask: torch.Tensor,
               depth: torch.Tensor | None, lambda_depth: float = 0.1):
    """Eq. 2: BCE(D_m(E_v(v) + E_f(f)), mask) + λ · SILog(sigmoid(D_d(E_v(v))), d) → (total, parts).

    ``depth_logits=None`` (the two-stream baseline) gives the BCE alone. ``parts`` holds detached
    ``bce``, ``silog`` and ``total`` tensors for logging.
    """
    bce = bce_loss(mask_logits, mask)
    if depth_logits is None or depth is None:
        silog = bce.new_zeros(())
    else:
        silog = silog_loss(torch.sigmoid(depth_logits.float()), depth)
    total = bce + lambda_depth * silog
    return total, {"bce": bce.detach(), "silog": silog.detach(), "total": total.detach()}


def _like(target: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    """Bring a (B, H, W) target to the (B, 1, H, W) shape of the prediction."""
    if target.ndim == ref.ndim - 1:
        target = target.unsqueeze(1)
    if target.shape != ref.shape:
        raise ValueError(f"target shape {tuple(target.shape)} does not match prediction {tuple(ref.shape)}")
    return target
