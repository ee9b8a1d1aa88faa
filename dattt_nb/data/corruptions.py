"""Corruptions at severity 1–5 (ImageNet-C style): the synthetic benchmark's photometric shifts plus JPEG, and
content shifts at graded strength, for the shift-severity study (notebook 10; paper §5.4 on Table 4).

**Photometric kinds** change the frames only (masks, depth and flow untouched). Each is a :class:`Corruption` record
in :data:`CORRUPTIONS` with a fixed parameter table for severities 1–5 and the physical model of
:mod:`dattt_nb.data.synthetic`'s shift of the same name (its ``_apply_shift``), driven by the table's parameter
instead of the benchmark's [0, 1] severity, so that severity 5 can go past the benchmark's strongest shift.
A corruption draws its random numbers from a stream of ``(seed, kind, video)``, the same at every severity:

* **per video** (``draw="video"``): colour cast, fog, illumination drift — one physical cause (a tinted lens, a haze,
  the light of a scene) is one draw, the same on every frame;
* **per frame** (``draw="frame"``): noise, low light's shot noise — the sensor draws anew every frame, from a
  stream of ``(seed, kind, video, frame)``, so frame t's noise does not depend on the clip's length;
* **deterministic** (``draw="none"``): blur, low contrast, low resolution, JPEG.

Severity 0 is the clean frame. Tables (calibrated on the tiny profile's alpha+beta model, 600 steps, on the 8 clean
synthetic test clips with flow recomputed from the corrupted frames; re-measure with
``benchmarks/corruption_calibration.py``; no-TTT J ×100 drop at severity 1 / 5 in each record's ``calibration``):
see :data:`CORRUPTIONS`. The model is still changing (decoder dropout removed on main), so the drops are a guide.

**Content shifts** (:data:`CONTENT_SHIFTS`) cannot be painted on a frame: they render new synthetic clips with the
generator's own scene knobs at graded strength (more and crossing distractors, faster motion and deformation, a
lower rendering resolution, longer clips). Severity 0 is the clean ``davis`` test clip itself; severity s renders
the same clip index from the same random stream with the stronger scene.
"""
from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from typing import Callable

import cv2
import numpy as np

SEVERITIES = (1, 2, 3, 4, 5)


# --- photometric corruptions: one pure function per kind -----------------------------------------------
# Each takes float32 frames (T, H, W, 3) in [0, 1], the severity's parameter, a per-video generator, a per-frame
# generator factory and optional depth (T, H, W) in (0, 1], and returns float32 frames in [0, 1].

def gaussian_noise(frames, sigma, video_rng, frame_rng, depth=None):
    """Additive Gaussian sensor noise of std ``sigma`` (fraction of the range), drawn anew every frame."""
    noise = np.stack([frame_rng(t).standard_normal(f.shape, dtype=np.float32) for t, f in enumerate(frames)])
    return frames + np.float32(sigma) * noise


def gaussian_blur(frames, sigma, video_rng, frame_rng, depth=None):
    """Defocus-like Gaussian blur of std ``sigma`` × the frame's shorter side (so it scales with resolution)."""
    px = float(sigma) * min(frames.shape[1:3])
    return np.stack([cv2.GaussianBlur(f, (0, 0), px) for f in frames])


def low_light(frames, param, video_rng, frame_rng, depth=None):
    """Darker, gamma-crushed frames with signal-dependent shot noise: ``param = (gain, gamma, shot)``; the shot
    noise is drawn per frame (synthetic.py's ``low_light``)."""
    gain, gamma, shot = param
    dark = np.float32(gain) * frames ** np.float32(gamma)
    noise = np.stack([frame_rng(t).standard_normal(f.shape, dtype=np.float32) for t, f in enumerate(frames)])
    return dark + np.sqrt(np.maximum(dark, 0)) * np.float32(shot) * noise


def fog(frames, param, video_rng, frame_rng, depth=None):
    """Depth-dependent haze (synthetic.py's ``fog``): ``param = (amount, density)``; farther pixels fade more
    towards one fog colour drawn per video. Without depth the haze is uniform (depth 0.8 everywhere)."""
    amount, density = param
    d = depth if depth is not None else np.full(frames.shape[:3], 0.8, np.float32)
    haze = (1 - np.exp(-density * d)) / (1 - np.exp(-density))
    colour = np.float32(video_rng.uniform(0.7, 0.95)) * np.array([1.0, 1.0, video_rng.uniform(1.0, 1.08)],
                                                                  np.float32)
    a = (np.float32(amount) * haze)[..., None]
    return frames * (1 - a) + a * colour


def color_cast(frames, strength, video_rng, frame_rng, depth=None):
    """A colour cast along one random unit direction in RGB, drawn per video (synthetic.py's ``color_cast``)."""
    cast = video_rng.standard_normal(3).astype(np.float32)
    cast /= np.linalg.norm(cast)
    return frames * (1 + np.float32(strength) * cast) + np.float32(0.16 * strength) * cast


def low_contrast(frames, factor, video_rng, frame_rng, depth=None):
    """Contrast scaled by ``factor`` around each frame's mean (synthetic.py's ``low_contrast``)."""
    mean = frames.mean(axis=(1, 2, 3), keepdims=True)
    return mean + (frames - mean) * np.float32(factor)


def low_resolution(frames, factor, video_rng, frame_rng, depth=None):
    """Down-sampled by ``factor`` (area) and up-sampled back (bilinear): a low-resolution sensor."""
    h, w = frames.shape[1:3]
    small = (max(4, round(w / factor)), max(4, round(h / factor)))
    return np.stack([cv2.resize(cv2.resize(f, small, interpolation=cv2.INTER_AREA), (w, h),
                                interpolation=cv2.INTER_LINEAR) for f in frames])


def illumination_drift(frames, strength, video_rng, frame_rng, depth=None):
    """Slow illumination and colour drift over the clip (synthetic.py's ``drift``): one drift per video."""
    t_count = len(frames)
    ramp = np.linspace(0, 1, t_count, dtype=np.float32)[:, None, None, None]
    end_gain = 1 + strength * video_rng.uniform(-0.5, 0.5, 3).astype(np.float32)
    light = 1 + strength * (video_rng.uniform(-0.6, -0.3) * ramp
                            + 0.1 * np.sin(2 * np.pi * ramp * video_rng.uniform(0.5, 1.5) + video_rng.uniform(0, 6.3)))
    return frames * (1 + (end_gain - 1) * ramp) * light


def jpeg_roundtrip(frame: np.ndarray, quality: int) -> np.ndarray:
    """An RGB uint8 frame through OpenCV's JPEG encoder at ``quality`` (4:2:0 chroma subsampling) and back."""
    ok, buf = cv2.imencode(".jpg", frame[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    return cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1].copy()


def jpeg(frames, quality, video_rng, frame_rng, depth=None):
    """JPEG compression at ``quality`` (:func:`jpeg_roundtrip`)."""
    return np.stack([jpeg_roundtrip(np.clip(np.rint(f * 255), 0, 255).astype(np.uint8), quality)
                     .astype(np.float32) / 255 for f in frames])


@dataclass(frozen=True)
class Corruption:
    """One photometric corruption: its function, the parameter at severities 1–5, what the parameter means, how
    its random numbers are drawn (``"video"``, ``"frame"`` or ``"none"``) and the measured calibration."""

    name: str
    apply: Callable
    table: tuple  # parameter at severity 1..5
    param: str  # what the parameter is, in words
    draw: str  # "video" | "frame" | "none"
    calibration: str = ""  # measured no-TTT J drop (x100) at severity 1 / 5 (tiny model; see the table comment)

    def parameter(self, severity: int):
        return self.table[check_severity(severity) - 1]


# Calibration (measured 2026-12-06, benchmarks/corruption_calibration.py): tiny profile, alpha+beta model (600 steps,
# with the decoder dropout that main has since removed), the 8 clean synthetic test clips, flow re-estimated (DIS) from
# the corrupted frames. Clean no-TTT J x100 = 63.5; J at severity 1..5 per kind:
#   noise 60.4 56.7 52.4 48.3 38.4 | blur 62.5 58.7 54.3 50.1 44.7 | low_light 60.5 56.8 52.1 46.1 39.3
#   fog 67.1 67.5 65.5 57.4 45.2 | color_cast 62.5 58.1 59.0 55.3 48.7 | low_contrast 63.6 63.4 62.1 57.7 41.9
#   low_res 62.8 61.4 57.2 52.2 40.3 | drift 63.3 64.9 59.1 54.6 50.7 | jpeg 61.8 60.9 55.2 50.4 46.3
# Content shifts: distractors 58.8 49.3 51.5 49.6 40.1 | motion 60.7 54.9 48.7 47.2 48.1 | long 63.4 61.9 61.6 60.1
# 54.8 | render_res 68.1 67.8 61.9 64.4 64.4 (a lower rendering resolution does not hurt this model).
# Severity 5 costs >= 15 J for every kind but colour cast (14.8) and drift (12.7); mild fog (s1-2) *raises* J.
# J is not always monotone in severity (colour cast s2/s3, drift s1/s2) though PSNR is (tests/test_corruptions.py).
CORRUPTIONS: dict[str, Corruption] = {c.name: c for c in (
    Corruption("noise", gaussian_noise, (0.03, 0.08, 0.14, 0.22, 0.32), "noise std (fraction of the range)", "frame",
               "3.0 / 25.1"),
    Corruption("blur", gaussian_blur, (0.015, 0.035, 0.055, 0.08, 0.12), "Gaussian std (× shorter side)", "none",
               "1.0 / 18.7"),
    Corruption("low_light", low_light, ((0.75, 1.15, 0.04), (0.5, 1.5, 0.09), (0.3, 1.9, 0.14), (0.2, 2.2, 0.2),
                                        (0.12, 2.6, 0.28)), "(gain, gamma, shot-noise scale)", "frame", "3.0 / 24.1"),
    Corruption("fog", fog, ((0.4, 1.5), (0.55, 2.0), (0.7, 2.5), (0.82, 3.0), (0.92, 3.5)),
               "(haze amount at the far plane, density)", "video", "-3.6 / 18.2"),
    Corruption("color_cast", color_cast, (0.12, 0.3, 0.8, 1.8, 4.0), "cast strength along a random RGB direction",
               "video", "1.0 / 14.8"),
    Corruption("low_contrast", low_contrast, (0.4, 0.2, 0.1, 0.05, 0.025), "contrast factor", "none", "-0.1 / 21.5"),
    Corruption("low_res", low_resolution, (1.5, 2.5, 4, 6, 10), "down-sampling factor", "none", "0.7 / 23.1"),
    Corruption("drift", illumination_drift, (0.6, 1.2, 1.8, 2.8, 4.0), "drift strength over the clip", "video",
               "0.1 / 12.7"),
    Corruption("jpeg", jpeg, (40, 20, 12, 8, 5), "JPEG quality", "none", "1.7 / 17.2"),
)}


def check_severity(severity: int) -> int:
    s = int(severity)
    if s != severity or not 0 <= s <= 5:
        raise ValueError(f"severity must be an integer 0-5 (0 = clean), got {severity!r}")
    return s


def get_corruption(kind: str) -> Corruption:
    """The registered photometric corruption ``kind``, else a clear error listing the choices."""
    if kind not in CORRUPTIONS:
        raise ValueError(f"unknown corruption {kind!r}; choose one of {sorted(CORRUPTIONS)}")
    return CORRUPTIONS[kind]


def _stream(seed: int, kind: str, video: str, *more: int) -> np.random.Generator:
    """The random stream of (seed, kind, video[, frame]): the same at every severity, so a stronger severity is the
    same cast, haze or noise pattern made stronger (PSNR falls with severity)."""
    key = [int(seed), zlib.crc32(kind.encode()), zlib.crc32(video.encode()), *map(int, more)]
    return np.random.default_rng(np.random.SeedSequence(key))


def corrupt_frames(frames: np.ndarray, kind: str, severity: int, seed: int = 0, video: str = "",
                   depth: np.ndarray | None = None) -> np.ndarray:
    """``kind`` at ``severity`` (0 = unchanged) on one video's (T, H, W, 3) uint8 frames → uint8 frames.

    Deterministic in ``(seed, kind, severity, video)``; per-video corruptions draw once per video, per-frame ones
    once per frame index. ``depth`` (T, H, W) in (0, 1] makes fog depth-dependent."""
    record = get_corruption(kind)
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"frames must be (T, H, W, 3) uint8, got {frames.shape} {frames.dtype}")
    if check_severity(severity) == 0:
        return frames.copy()
    video_rng = _stream(seed, kind, video)
    frame_rng = lambda t: _stream(seed, kind, video, t)  # noqa: E731
    x = frames.astype(np.float32) / 255
    d = None if depth is None else np.asarray(depth, np.float32)
    out = record.apply(x, record.parameter(severity), video_rng, frame_rng, d)
    return np.clip(np.rint(np.clip(out, 0, 1) * 255), 0, 255).astype(np.uint8)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """Peak signal-to-noise ratio in dB of uint8 images ``a`` against ``b`` (inf when equal)."""
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(255.0 ** 2 / mse)


# --- content shifts: the generator's scene knobs at graded strength --------------------------------------------

@dataclass(frozen=True)
class ContentShift:
    """A shift in what the clip shows: ``scene(s)`` gives the scene overrides at severity 1–5 (applied on top of the
    clean ``davis`` scene), ``render_scale(s)`` the rendering resolution factor, ``frames(s, n)`` the clip length."""

    name: str
    description: str
    scenes: tuple = ()  # scene overrides per severity 1..5 (dicts)
    render_scale: tuple = (1, 1, 1, 1, 1)  # rendering size = image_size / factor, then up-sampled
    length: tuple = (1, 1, 1, 1, 1)  # clip length multiplier
    extra: dict = field(default_factory=dict)


CONTENT_SHIFTS: dict[str, ContentShift] = {c.name: c for c in (
    ContentShift("distractors", "more moving distractors, more often crossing in front of the object",
                 scenes=(dict(movers=(0, 1), p_cross=0.1), dict(movers=(1, 1), p_cross=0.3),
                         dict(movers=(1, 2), p_cross=0.5), dict(movers=(2, 3), p_cross=0.7),
                         dict(movers=(3, 4), p_cross=1.0))),
    ContentShift("motion", "faster object and camera motion, spin and non-rigid deformation",
                 scenes=tuple(dict(speed=(0.012 + 0.012 * s, 0.035 + 0.015 * s), camera=(0.004 + 0.003 * s,
                                   0.02 + 0.004 * s), spin=0.03 + 0.025 * s, deform=(0.05 + 0.025 * s, 0.13 + 0.02 * s),
                                   deform_rate=(0.02 + 0.025 * s, 0.06 + 0.03 * s), p_pause=0.4 - 0.06 * s)
                              for s in SEVERITIES)),
    ContentShift("render_res", "rendered at a lower resolution and up-sampled (masks at the network's size)",
                 scenes=({},) * 5, render_scale=(1.5, 2, 3, 4, 5)),
    ContentShift("long", "longer clips (more frames for the object to change and for TTT to drift)",
                 scenes=({},) * 5, length=(1.5, 2, 3, 4, 6)),
)}


def get_content_shift(kind: str) -> ContentShift:
    if kind not in CONTENT_SHIFTS:
        raise ValueError(f"unknown content shift {kind!r}; choose one of {sorted(CONTENT_SHIFTS)}")
    return CONTENT_SHIFTS[kind]


def content_video(kind: str, severity: int, index: int, settings):
    """Clean test clip ``index`` (the ``davis`` split) with content shift ``kind`` at ``severity``: a
    :class:`~dattt_nb.data.synthetic.SyntheticVideo` with true masks, depth and flow (0 = the clean clip itself)."""
    from dattt_nb.data import synthetic as syn

    shift = get_content_shift(kind)
    if check_severity(severity) == 0:
        return syn.generate_video("davis", index, settings)
    i = severity - 1
    size = int(settings.image_size)
    render = max(16, round(size / shift.render_scale[i]))
    n = max(2, round(int(settings.frames_per_video) * shift.length[i]))
    rng = syn._rng(settings.seed, "davis", index)
    scene = {**syn._BASE_SCENE, **syn._SCENES["davis"], **shift.scenes[i]}
    frames, masks, depth, flow, meta = syn._render_scene(rng, scene, n, render)
    if render != size:
        frames = np.stack([cv2.resize(f, (size, size), interpolation=cv2.INTER_LINEAR) for f in frames])
        masks = np.stack([cv2.resize(m.astype(np.uint8), (size, size), interpolation=cv2.INTER_NEAREST) > 0
                          for m in masks])
        depth = np.stack([cv2.resize(d, (size, size), interpolation=cv2.INTER_NEAREST) for d in depth])
        flow = np.stack([cv2.resize(f, (size, size), interpolation=cv2.INTER_LINEAR) for f in flow]) * (size / render)
    meta = dict(meta, split="davis", index=int(index), seed=int(settings.seed), size=size, n_frames=n,
                content_shift=kind, severity=int(severity), render_size=render)
    return syn.SyntheticVideo(name=f"davis_{int(index):03d}", frames=np.clip(np.rint(frames * 255), 0, 255)
                              .astype(np.uint8), masks=masks, depth=depth.astype(np.float32),
                              flow=flow.astype(np.float32), meta=meta)
