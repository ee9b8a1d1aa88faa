"""The two augmented views of a test frame (§4.2, Fig. 2b, eq. 4), batched on the frame's device.

As in the official release: each pair shares one geometric augmentation (horizontal flip p=0.5, resize to
U[1.05, 1.5] × the input size, random crop back to it); then the whole view-1 batch gets one photometric
distortion and the whole view-2 batch another (mmseg ``PhotoMetricDistortion``). Every random number comes
from a CPU ``torch.Generator``, so views are reproducible on any device.
"""
from __future__ import annotations

import math

import kornia
import torch
import torch.nn.functional as F
from torch import Tensor


def sample_geometry(n: int, scale=(1.05, 1.5), generator=None) -> Tensor:
    """Shared geometry of ``n`` pairs as affine maps (n, 2, 3) from output to input, in normalised coordinates.

    Resizing by s ~ U[scale] and cropping the input size at a uniform offset reads the input window of width
    1/s centred at (1 − 1/s)(2c − 1), c ~ U[0, 1]; a horizontal flip (p = 0.5) negates the x scale.
    """
    s, cx, cy, flip = torch.rand(4, n, generator=generator)
    s = scale[0] + (scale[1] - scale[0]) * s
    if (s < 1).any():
        raise ValueError(f"scale must be >= 1 (zoom in, then crop back to the input size), got {scale}")
    sign = torch.where(flip < 0.5, -1.0, 1.0)
    zero = torch.zeros(n)
    return torch.stack([torch.stack([sign / s, zero, (1 - 1 / s) * (2 * cx - 1)], -1),
                        torch.stack([zero, 1 / s, (1 - 1 / s) * (2 * cy - 1)], -1)], dim=1)


def apply_geometry(frame: Tensor, theta: Tensor) -> Tensor:
    """Warp ``frame`` (3, H, W) or (B, 3, H, W) with ``theta`` (n, 2, 3), bilinear; pair k reads frame k mod B."""
    if frame.ndim == 3:
        frame = frame[None]
    if frame.ndim != 4 or frame.shape[1] != 3:
        raise ValueError(f"expected a frame (3, H, W) or frames (B, 3, H, W), got shape {tuple(frame.shape)}")
    n = len(theta)
    src = frame[torch.arange(n, device=frame.device) % len(frame)]
    grid = F.affine_grid(theta.to(frame.device, frame.dtype), [n, *frame.shape[1:]], align_corners=False)
    return F.grid_sample(src, grid, mode="bilinear", padding_mode="border", align_corners=False)


def photometric_distortion(images: Tensor, generator=None, brightness: float = 32 / 255,
                           contrast=(0.5, 1.5), saturation=(0.5, 1.5), hue_deg: float = 18.0) -> Tensor:
    """mmseg ``PhotoMetricDistortion`` with ONE draw for the whole batch (official TTT views), images in [0, 1].

    Brightness ±32/255, contrast ×U[0.5, 1.5] (before or after the HSV steps), saturation ×U[0.5, 1.5],
    hue ±``hue_deg``, each applied with probability 0.5, clipping to [0, 1] after each step as mmseg does.
    (mmseg's ``hue_delta=18`` counts OpenCV hue units, which are 2° on uint8 images: pass 36 for that reading.)
    """
    on = (torch.rand(5, generator=generator) < 0.5).tolist()  # brightness, contrast, saturation, hue, contrast-first
    u = torch.rand(4, generator=generator).tolist()
    x = images
    if on[0]:
        x = kornia.enhance.adjust_brightness(x, brightness * (2 * u[0] - 1))
    if on[1] and on[4]:
        x = kornia.enhance.adjust_contrast(x, contrast[0] + (contrast[1] - contrast[0]) * u[1])
    if on[2] or on[3]:
        hsv = kornia.color.rgb_to_hsv(x)
        if on[2]:
            hsv = kornia.enhance.adjust_saturation_raw(hsv, saturation[0] + (saturation[1] - saturation[0]) * u[2])
        if on[3]:
            hsv = kornia.enhance.adjust_hue_raw(hsv, math.radians(hue_deg * (2 * u[3] - 1)))
        x = kornia.color.hsv_to_rgb(hsv).clamp(0, 1)
    if on[1] and not on[4]:
        x = kornia.enhance.adjust_contrast(x, contrast[0] + (contrast[1] - contrast[0]) * u[1])
    return x


def make_views(frame: Tensor, n_pairs: int, scale=(1.05, 1.5), generator=None,
               photometric: bool = True) -> tuple[Tensor, Tensor]:
    """Two batches of views (n_pairs, 3, H, W) of ``frame``: shared geometry, independent photometry (eq. 4)."""
    if n_pairs < 1:
        raise ValueError(f"n_pairs must be >= 1, got {n_pairs}")
    if generator is not None and generator.device.type != "cpu":
        raise ValueError("make_views draws on the CPU: pass a CPU torch.Generator (torch.Generator())")
    warped = apply_geometry(frame, sample_geometry(n_pairs, scale, generator))
    if not photometric:
        return warped, warped.clone()
    return photometric_distortion(warped, generator), photometric_distortion(warped, generator)
