"""The built-in synthetic ZSVOS benchmark: seeded procedural clips with true masks, depth and flow.

Why it exists: the paper trains on YouTube-VOS and tests on five benchmarks (§5.1); a CPU tutorial needs a
stand-in that is small, deterministic and has the same *structure*, so that depth is a useful cue and the
test sets are shifted away from training in distinct ways.

How a clip is made (everything is NumPy/OpenCV, nothing touches the disk):

* **Layers.** A far background plane (depth 0.7–1.0, slanted, so depth varies across it), optionally a
  static mid-depth distractor shape (depth 0.5–0.7, *not* in the mask), the **primary object** (depth
  0.2–0.45, dome-shaped, so depth varies a little inside it) and, on some splits, extra moving distractor
  objects that can pass behind or in front of the primary object. Layers are composed with a z-buffer:
  the nearest layer wins, and the mask is where the primary object is *visible*.
* **Appearance.** Textures are random crops/rescales of the photographs bundled with scikit-image
  (astronaut, coffee, chelsea, brick, grass, gravel, hubble, ...; grey photos get a random tint) modulated
  by fractal noise, so frames look like photos, not flat cartoons. Objects get Lambertian shading from a
  dome normal map and a slowly moving light.
* **Shape and motion.** The object's outline is a blob whose radius is a sum of a few harmonics that change
  slowly over time (non-rigid), it translates, spins and approaches/recedes (its size follows its depth).
  The camera pans, so every layer moves by an amount inversely proportional to its depth (parallax): the
  background has flow too. The object sometimes *pauses*: then it moves exactly like the background behind
  it, so its relative flow is zero and only the image (and depth) can find it.
* **Ground truth.** ``masks`` = visible primary object, ``depth`` = composed true depth in (0, 1] (larger =
  farther), ``flow`` = true forward displacement t → t+1 of whatever is visible at each pixel (object motion
  + camera parallax; the last frame repeats the previous one).
* **Splits.** ``train`` plays YouTube-VOS (varied, mild photometric jitter); ``val`` mixes every test shift
  at jittered severity (for hyper-parameters only); five test splits each play one of the paper's benchmarks
  with a distinct shift (see :data:`SPLIT_DESCRIPTIONS`). Photometric shifts change the frames only, never
  mask, depth or flow.

Every clip is a pure function of ``(settings.seed, split, index)`` and the rendering size.
"""
from __future__ import annotations

import functools
import zlib
from dataclasses import dataclass, field
from typing import Iterator

import cv2
import numpy as np

from dattt_nb.splits import SPLITS, TEST_SPLITS

SPLIT_DESCRIPTIONS = {
    "train": "plays YouTube-VOS: varied clean clips, sometimes a moving distractor, mild photometric jitter",
    "val": "validation: a mix of every test shift at jittered severity (choose hyper-parameters here, never on test)",
    "davis": "plays DAVIS-16: clean short clips with one dominant moving object",
    "fbms": "plays FBMS: extra moving distractors that sometimes cross in front of (occlude) the primary object; "
            "mild colour cast / low contrast / blur / fog",
    "longvideos": "plays Long-Videos: long clips (long_video_frames) whose illumination and colour drift slowly",
    "mcl": "plays MCL: low resolution (rendered then down- and up-sampled by 2-3x), low light and sensor noise",
    "stv2": "plays SegTrackV2: fast motion, strong non-rigid deformation, blur and noise or colour cast",
}

# Scene parameters per split. Lengths/speeds are fractions of the frame side per frame.
_BASE_SCENE = dict(
    speed=(0.012, 0.035),   # primary object's own speed
    camera=(0.004, 0.02),   # camera pan speed (image shift of a depth-1 point)
    spin=0.03,              # max rotation per frame (rad)
    deform=(0.05, 0.13),    # amplitude of each outline harmonic
    deform_rate=(0.02, 0.06),  # temporal frequency of the outline change (cycles per frame)
    movers=(0, 0),          # number of extra moving distractor objects (min, max)
    p_cross=0.0,            # probability that one distractor crosses in front of the primary object
    p_mid=0.5,              # probability of a static mid-depth distractor shape
    p_pause=0.4,            # probability that the object pauses (zero relative motion) for a few frames
)
_SCENES = {
    "train": dict(movers=(0, 1), p_cross=0.2),
    "davis": dict(),
    "fbms": dict(movers=(1, 3), p_cross=0.7),
    "longvideos": dict(movers=(0, 1), deform_rate=(0.01, 0.03)),
    "mcl": dict(),
    "stv2": dict(speed=(0.045, 0.08), camera=(0.01, 0.03), spin=0.12, deform=(0.12, 0.2),
                 deform_rate=(0.08, 0.16)),
}
# Photometric shift kinds, in the order they are applied (resolution and blur first, sensor noise last).
SHIFT_KINDS = ["jitter", "low_res", "blur", "drift", "fog", "color_cast", "low_contrast", "low_light", "noise"]

_PHOTOS = ("astronaut", "coffee", "chelsea", "cat", "rocket", "hubble_deep_field", "immunohistochemistry",
           "brick", "grass", "gravel", "camera", "moon", "coins")


@dataclass
class SyntheticVideo:
    """One generated clip with its ground truth (frames, mask of the primary object, depth, flow)."""

    name: str
    frames: np.ndarray  # (T, H, W, 3) uint8
    masks: np.ndarray  # (T, H, W) bool, visible primary object
    depth: np.ndarray  # (T, H, W) float32 in (0, 1], larger = farther
    flow: np.ndarray  # (T, H, W, 2) float32 forward flow t→t+1 in pixels (x, y); last repeats previous
    meta: dict = field(default_factory=dict)  # split, seed, scene and shift parameters (JSON-serialisable)

    def __len__(self) -> int:
        return len(self.frames)


# --- public API ---------------------------------------------------------------------------------

def split_plan(settings) -> dict[str, dict]:
    """Per split: number of clips, frames per clip, frame size and what shift it plays."""
    counts = {"train": settings.n_train_videos, "val": settings.n_val_videos}
    plan = {}
    for split in SPLITS:
        plan[split] = dict(
            n_videos=int(counts.get(split, settings.n_test_videos)),
            n_frames=int(settings.long_video_frames if split == "longvideos" else settings.frames_per_video),
            size=int(settings.image_size),
            description=SPLIT_DESCRIPTIONS[split],
        )
    return plan


def generate_split(split: str, settings) -> Iterator[SyntheticVideo]:
    """All clips of one split, in index order, with a progress bar."""
    from tqdm.auto import tqdm

    n = split_plan(settings)[_check_split(split)]["n_videos"]
    for index in tqdm(range(n), desc=f"synthetic {split}", leave=False):
        yield generate_video(split, index, settings)


def generate_video(split: str, index: int, settings) -> SyntheticVideo:
    """Clip ``index`` of ``split``: a deterministic function of (settings.seed, split, index, image_size)."""
    _check_split(split)
    if int(index) < 0:
        raise ValueError(f"video index must be >= 0, got {index}")
    size = int(settings.image_size)
    if size < 16:
        raise ValueError(f"settings.image_size must be >= 16 pixels for synthetic clips, got {size}")
    n_frames = split_plan(settings)[split]["n_frames"]
    if n_frames < 2:
        raise ValueError(f"synthetic clips need at least 2 frames, got {n_frames} for split {split!r}")
    rng = _rng(settings.seed, split, index)
    style = split if split != "val" else str(rng.choice(TEST_SPLITS))
    scene = {**_BASE_SCENE, **_SCENES[style]}
    frames, masks, depth, flow, scene_meta = _render_scene(rng, scene, n_frames, size)
    shifts = _sample_shifts(rng, split, style)
    frames = _apply_shifts(frames, shifts, rng, depth)
    meta = dict(split=split, index=int(index), seed=int(settings.seed), size=size, n_frames=n_frames,
                style=style, shifts=[dict(kind=k, severity=round(float(s), 4)) for k, s in shifts],
                **scene_meta)
    return SyntheticVideo(
        name=f"{split}_{int(index):03d}",
        frames=np.clip(np.rint(frames * 255.0), 0, 255).astype(np.uint8),
        masks=masks, depth=depth, flow=flow, meta=meta,
    )


# --- randomness and textures ------------------------------------------------------------------

def _check_split(split: str) -> str:
    if split not in SPLITS:
        raise ValueError(f"unknown synthetic split {split!r}; expected one of {SPLITS}")
    return split


def _rng(seed: int, split: str, index: int) -> np.random.Generator:
    """Independent stream per (seed, split, index), stable across runs and Python versions."""
    return np.random.default_rng(np.random.SeedSequence([int(seed), zlib.crc32(split.encode()), int(index)]))


@functools.lru_cache(maxsize=1)
def _photos() -> tuple[np.ndarray, ...]:
    """scikit-image's bundled photographs as float32 RGB in [0, 1], longest side ≤ 512 (loaded once)."""
    import skimage.data

    out = []
    for name in _PHOTOS:
        img = np.asarray(getattr(skimage.data, name)(), dtype=np.float32) / 255.0
        if img.ndim == 2:
            img = np.repeat(img[..., None], 3, axis=2)
        scale = 512.0 / max(img.shape[:2])
        if scale < 1:
            img = cv2.resize(img, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        out.append(np.ascontiguousarray(img[..., :3]))
    return tuple(out)


def _is_grey(img: np.ndarray) -> bool:
    return bool(np.abs(img[..., 0] - img[..., 1]).max() < 1e-6)


def _smooth_noise(rng: np.random.Generator, size: int, channels: int = 1, octaves=(3, 6, 12)) -> np.ndarray:
    """Fractal value noise (sum of up-sampled random grids), zero mean, roughly unit std, (size, size, C)."""
    out = np.zeros((size, size, channels), np.float32)
    for i, cells in enumerate(octaves):
        grid = rng.standard_normal((cells, cells, channels)).astype(np.float32)
        up = cv2.resize(grid, (size, size), interpolation=cv2.INTER_CUBIC).reshape(size, size, channels)
        out += up * 0.6 ** i
    return out / np.float32(np.sqrt(sum(0.36 ** i for i in range(len(octaves)))))


def _texture(rng: np.random.Generator, size: int, avoid: tuple[int, ...] = ()) -> tuple[np.ndarray, int]:
    """A (size, size, 3) float32 texture: a random photo crop (tinted if grey) × fractal colour noise."""
    photos = _photos()
    choices = [i for i in range(len(photos)) if i not in avoid] or list(range(len(photos)))
    idx = int(rng.choice(choices))
    img = photos[idx]
    h, w = img.shape[:2]
    side = int(min(h, w) * rng.uniform(0.25, 0.8))
    y0, x0 = int(rng.integers(0, h - side + 1)), int(rng.integers(0, w - side + 1))
    crop = cv2.resize(img[y0:y0 + side, x0:x0 + side], (size, size), interpolation=cv2.INTER_AREA)
    crop = np.rot90(crop, int(rng.integers(4)))
    if rng.random() < 0.5:
        crop = crop[:, ::-1]
    if _is_grey(img):
        tint = rng.uniform(0.35, 1.0, 3).astype(np.float32)
        crop = crop * tint / tint.max() * rng.uniform(0.8, 1.2)
    colour = 1.0 + 0.22 * _smooth_noise(rng, size, 3, octaves=(2, 4))
    grain = 0.03 * _smooth_noise(rng, size, 1, octaves=(size // 4, size // 2))
    return np.clip(crop * colour + grain, 0, 1).astype(np.float32), idx


# --- geometry --------------------------------------------------------------------------------

def _grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float32)
    return xs, ys


def _blob_radius(phi: np.ndarray, radius: float, amps: np.ndarray, phases: np.ndarray) -> np.ndarray:
    """Outline radius r(φ) = R · (1 + Σ_k a_k cos(kφ + ψ_k)), k = 2, 3, ... (a non-rigid blob)."""
    k = np.arange(2, 2 + len(amps), dtype=np.float32)
    wave = (amps[:, None, None] * np.cos(k[:, None, None] * phi[None] + phases[:, None, None])).sum(0)
    return radius * (1.0 + wave)


def _camera_path(rng: np.random.Generator, n: int, speed: float) -> np.ndarray:
    """Cumulative camera translation s_t (n, 2); a point at depth d appears shifted by −s_t / d."""
    angle = rng.uniform(0, 2 * np.pi) + np.cumsum(rng.normal(0, 0.25, n))
    mag = speed * rng.uniform(0.6, 1.4, n) * (rng.random(n) > 0.1)
    vel = np.stack([np.cos(angle), np.sin(angle)], 1) * mag[:, None]
    return np.concatenate([np.zeros((1, 2)), np.cumsum(vel[:-1], 0)]).astype(np.float32)


def _plane_depth(u: np.ndarray, v: np.ndarray, plane: dict, size: int) -> np.ndarray:
    """Depth of the slanted background plane at texture coordinates (u, v), in [0.7, 1]."""
    d = plane["d0"] + plane["gx"] * (u / size - 0.5) + plane["gy"] * (v / size - 0.5)
    return np.clip(d, 0.7, 1.0)


def _plane_source(xs: np.ndarray, ys: np.ndarray, shift: np.ndarray, plane: dict, size: int):
    """Solve u = p + s_t / D(u) (the plane point seen at pixel p) by fixed-point iteration."""
    u, v = xs, ys
    for _ in range(4):
        d = _plane_depth(u, v, plane, size)
        u, v = xs + shift[0] / d, ys + shift[1] / d
    return u, v, _plane_depth(u, v, plane, size)


def _pauses(rng: np.random.Generator, n: int, p_pause: float) -> np.ndarray:
    """moving[t] for the step t → t+1; False inside 1–2 random pause windows."""
    moving = np.ones(n, bool)
    if n >= 3 and rng.random() < p_pause:
        for _ in range(1 + n // 16):
            length = int(rng.integers(2, max(3, n // 3) + 1))
            start = int(rng.integers(0, max(1, n - length)))
            moving[start:start + length] = False
    return moving


# --- layers -------------------------------------------------------------------------------------

def _background(rng, size, cam, avoid):
    """The far layer: a textured plane at depth 0.7–1.0, slanted so that its depth (and parallax) varies."""
    tex_size = int(size * 1.5)
    tex, idx = _texture(rng, tex_size, avoid)
    plane = dict(d0=float(rng.uniform(0.8, 0.92)), gx=float(rng.uniform(-0.12, 0.12)),
                 gy=float(rng.uniform(-0.12, 0.12)))
    offset = (tex_size - size) / 2
    return dict(kind="plane", tex=tex, plane=plane, offset=offset, cam=cam, photo=idx)


def _render_plane(layer, t, xs, ys, size):
    """The background at frame t: colour, depth, parallax flow −Δs_t / D, full coverage."""
    cam = layer["cam"]
    u, v, d = _plane_source(xs, ys, cam[t], layer["plane"], size)
    colour = cv2.remap(layer["tex"], u + layer["offset"], v + layer["offset"], cv2.INTER_LINEAR,
                       borderMode=cv2.BORDER_REFLECT_101)
    step = cam[t + 1] - cam[t]
    flow = np.stack([-step[0] / d, -step[1] / d], -1)
    return colour, d, flow, np.ones_like(d, bool)


def _object(rng, scene, n, radius, depth, centres, avoid, moving=None):
    """Parameters of a textured, shaded, deforming blob that follows ``centres`` (n+1, 2).

    Spin and approach/recede advance only on ``moving`` steps, so a paused object moves like its background.
    """
    n_h = 3
    amp0 = rng.uniform(*scene["deform"], n_h)
    amp = amp0[None] * (1 + 0.6 * np.sin(2 * np.pi * rng.uniform(*scene["deform_rate"], n_h)[None]
                                          * np.arange(n + 1)[:, None] + rng.uniform(0, 2 * np.pi, n_h)))
    amp = amp / np.maximum(1.0, np.abs(amp).sum(1, keepdims=True) / 0.55)  # keep r(φ) > 0
    phases = rng.uniform(0, 2 * np.pi, n_h)[None] + np.cumsum(
        rng.normal(0, 0.3, (n + 1, n_h)), 0)
    clock = np.concatenate([[0], np.cumsum(np.ones(n, bool) if moving is None else moving)])
    drift = rng.uniform(-0.12, 0.12)
    depths = depth * np.exp(drift * clock / max(n, 1))
    spin = rng.uniform(-scene["spin"], scene["spin"])
    light_az = rng.uniform(0, 2 * np.pi) + rng.uniform(-1, 1) * np.arange(n + 1) * 0.05
    tex_size = int(2.6 * radius) + 4
    tex, idx = _texture(rng, tex_size, avoid)
    return dict(kind="blob", tex=tex, radius=radius, amps=amp.astype(np.float32),
                phases=phases.astype(np.float32), centres=centres.astype(np.float32),
                depths=depths.astype(np.float32), scales=(depth / depths).astype(np.float32),
                angles=(spin * clock).astype(np.float32), light_az=light_az,
                ambient=float(rng.uniform(0.35, 0.55)), bulge=float(rng.uniform(0.02, 0.06)), photo=idx)


def _render_blob(layer, t, xs, ys, size):
    """A blob layer at frame t: colour (Lambertian dome shading), depth, flow t→t+1, coverage."""
    c, th, sc = layer["centres"][t], layer["angles"][t], layer["scales"][t]
    dx, dy = xs - c[0], ys - c[1]
    rho = np.sqrt(dx * dx + dy * dy)
    phi = np.arctan2(dy, dx) - th
    r = _blob_radius(phi, layer["radius"] * sc, layer["amps"][t], layer["phases"][t])
    q = rho / r
    cover = q < 1.0
    # texture attached to the object: material coordinates m = R(−θ)(p − c) / scale
    cos, sin = np.cos(th), np.sin(th)
    half = layer["tex"].shape[0] / 2
    mu = (cos * dx + sin * dy) / sc + half
    mv = (-sin * dx + cos * dy) / sc + half
    tex = cv2.remap(layer["tex"], mu.astype(np.float32), mv.astype(np.float32), cv2.INTER_LINEAR,
                    borderMode=cv2.BORDER_REFLECT_101)
    qx, qy = dx / r, dy / r
    qz = np.sqrt(np.clip(1 - qx * qx - qy * qy, 0, 1))
    az = layer["light_az"][t]
    light = np.array([np.cos(az) * 0.6, np.sin(az) * 0.6, 0.8], np.float32)
    lambert = np.clip(qx * light[0] + qy * light[1] + qz * light[2], 0, 1)
    shade = layer["ambient"] + (1 - layer["ambient"]) * lambert
    colour = tex * (shade / (layer["ambient"] + (1 - layer["ambient"]) * 0.8))[..., None]
    depth = layer["depths"][t] + layer["bulge"] * np.clip(q, 0, 1) ** 2
    # flow: where the material point under p is at t+1
    c1, dth, ratio = layer["centres"][t + 1], layer["angles"][t + 1] - th, layer["scales"][t + 1] / sc
    cd, sd = np.cos(dth), np.sin(dth)
    fx = c1[0] + ratio * (cd * dx - sd * dy) - xs
    fy = c1[1] + ratio * (sd * dx + cd * dy) - ys
    return colour, depth.astype(np.float32), np.stack([fx, fy], -1), cover


def _static_shape(rng, size, cam, depth, avoid):
    """A mid-depth distractor (rounded rectangle / ellipse) fixed in the world: moves by parallax only."""
    start = rng.uniform(0.1, 0.9, 2) * size
    centres = start[None] - cam / depth
    half = rng.uniform(0.1, 0.25, 2) * size
    tex, idx = _texture(rng, int(2.2 * half.max()) + 4, avoid)
    return dict(kind="shape", tex=tex, centres=centres.astype(np.float32), half=half,
                power=float(rng.uniform(2, 6)), angle=float(rng.uniform(0, np.pi)),
                depth=float(depth), photo=idx)


def _render_shape(layer, t, xs, ys, size):
    """The static mid-depth shape at frame t (superellipse, translation-only flow)."""
    c = layer["centres"][t]
    cos, sin = np.cos(layer["angle"]), np.sin(layer["angle"])
    dx, dy = xs - c[0], ys - c[1]
    lu, lv = cos * dx + sin * dy, -sin * dx + cos * dy
    p = layer["power"]
    cover = (np.abs(lu / layer["half"][0]) ** p + np.abs(lv / layer["half"][1]) ** p) < 1
    half = layer["tex"].shape[0] / 2
    colour = cv2.remap(layer["tex"], (lu + half).astype(np.float32), (lv + half).astype(np.float32),
                       cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
    step = layer["centres"][t + 1] - c
    flow = np.broadcast_to(step.astype(np.float32), xs.shape + (2,))
    depth = np.full(xs.shape, layer["depth"], np.float32) + 0.02 * lv / max(layer["half"][1], 1)
    return colour, depth, flow, cover


_RENDER = {"plane": _render_plane, "blob": _render_blob, "shape": _render_shape}


def _compose(rendered):
    """Z-buffer: at every pixel the nearest covering layer wins. Returns colour, depth, flow, winner."""
    depth = np.stack([np.where(cov, d, np.inf) for _, d, _, cov in rendered])
    winner = np.argmin(depth, 0)
    pick = winner[None]
    colour = np.take_along_axis(np.stack([c for c, _, _, _ in rendered]), pick[..., None], 0)[0]
    flow = np.take_along_axis(np.stack([f for _, _, f, _ in rendered]), pick[..., None], 0)[0]
    return colour, np.take_along_axis(depth, pick, 0)[0], flow, winner


# --- trajectories ---------------------------------------------------------------------------

def _primary_path(rng, scene, n, size, radius, depth, cam, bg):
    """Object centres (n+1, 2): own motion + parallax, bouncing inside the frame; pauses follow the background."""
    moving = _pauses(rng, n, scene["p_pause"])
    speed = rng.uniform(*scene["speed"]) * size
    angle = rng.uniform(0, 2 * np.pi)
    turn = rng.normal(0, 0.25, n)
    margin = 0.55 * radius
    lo, hi = margin, size - margin
    c = rng.uniform(0.3, 0.7, 2) * size
    centres = [c.copy()]
    for t in range(n):
        step = cam[t + 1] - cam[t]
        if moving[t]:
            angle += turn[t]
            vel = speed * np.array([np.cos(angle), np.sin(angle)]) - step / depth
        else:  # zero relative motion: the object moves like the background point behind it
            _, _, d_bg = _plane_source(np.float32(c[0]), np.float32(c[1]), cam[t], bg["plane"], size)
            vel = -step / float(d_bg)
        nxt = c + vel
        for axis in range(2):
            if not lo <= nxt[axis] <= hi:  # bounce off the frame border (this also ends a pause)
                angle = np.pi - angle if axis == 0 else -angle
                nxt[axis] = np.clip(nxt[axis], lo, hi)
                moving[t] = True
        c = nxt
        centres.append(c.copy())
    return np.array(centres), moving


def _mover_path(rng, scene, n, size, depth, cam, target=None):
    """A distractor's centres (n+1, 2); with ``target`` = (t, point) it passes through point at frame t."""
    speed = rng.uniform(*scene["speed"]) * size * rng.uniform(0.8, 1.5)
    angle = rng.uniform(0, 2 * np.pi)
    vel = speed * np.array([np.cos(angle), np.sin(angle)])
    steps = np.arange(n + 1)[:, None]
    if target is None:
        start = rng.uniform(0.15, 0.85, 2) * size
    else:
        t_c, point = target
        start = point - vel * t_c + cam[t_c] / depth
    return start[None] + vel[None] * steps - cam / depth


# --- scene ------------------------------------------------------------------------------------

def _render_scene(rng, scene, n, size):
    """Sample and render one clip: float frames in [0, 1], masks, depth, flow and scene metadata."""
    cam = _camera_path(rng, n + 1, rng.uniform(*scene["camera"]) * size)
    bg = _background(rng, size, cam, ())
    layers = [bg]
    used = [bg["photo"]]
    mid_depth = None
    if rng.random() < scene["p_mid"]:
        mid_depth = round(float(rng.uniform(0.5, 0.7)), 4)
        layers.append(_static_shape(rng, size, cam, mid_depth, tuple(used)))
        used.append(layers[-1]["photo"])
    radius = rng.uniform(0.18, 0.3) * size
    obj_depth = float(rng.uniform(0.22, 0.4))
    centres, moving = _primary_path(rng, scene, n, size, radius, obj_depth, cam, bg)
    primary = _object(rng, scene, n, radius, obj_depth, centres, tuple(used), moving)
    layers.append(primary)
    primary_id = len(layers) - 1
    used.append(primary["photo"])
    n_movers = int(rng.integers(scene["movers"][0], scene["movers"][1] + 1))
    crossing = n_movers > 0 and rng.random() < scene["p_cross"]
    t_cross = int(rng.integers(n // 4, max(n // 4, n - 1 - n // 4) + 1))  # frame where it covers the centre
    for m in range(n_movers):
        in_front = crossing and m == 0
        d = float(rng.uniform(0.12, 0.18)) if in_front else float(rng.uniform(0.5, 0.65))
        target = (t_cross, centres[t_cross]) if in_front else None
        path = _mover_path(rng, scene, n, size, d, cam, target)
        r = radius * rng.uniform(0.4, 0.65)
        layers.append(_object(rng, scene, n, r, d, path, tuple(used[-2:])))
    xs, ys = _grid(size)
    out = [_compose([_RENDER[layer["kind"]](layer, t, xs, ys, size) for layer in layers]) for t in range(n)]
    frames = np.stack([o[0] for o in out]).astype(np.float32)
    depth = np.clip(np.stack([o[1] for o in out]), 1e-3, 1.0).astype(np.float32)
    flow = np.stack([o[2] for o in out]).astype(np.float32)
    flow[-1] = flow[-2]
    masks = np.stack([o[3] == primary_id for o in out])
    meta = dict(object_depth=round(obj_depth, 4), object_radius=round(float(radius / size), 4),
                camera_speed=round(float(np.linalg.norm(np.diff(cam, axis=0), axis=1).mean() / size), 5),
                background_depth=round(bg["plane"]["d0"], 4), mid_depth=mid_depth,
                n_distractors=n_movers, occluder=bool(crossing), cross_frame=t_cross if crossing else None,
                paused_frames=[int(t) for t in np.flatnonzero(~moving)])
    return np.clip(frames, 0, 1), masks, depth, flow, meta


# --- photometric shifts (frames only) -------------------------------------------------------

_SPLIT_SHIFTS = {
    # split: (always applied [(kind, (lo, hi))], optional pool of one extra kind, its severity range, p)
    "train": ([("jitter", (0.0, 1.0))], [], (0, 0), 0.0),
    "davis": ([], [], (0, 0), 0.0),
    "fbms": ([], ["color_cast", "low_contrast", "blur", "fog"], (0.2, 0.6), 1.0),
    "longvideos": ([("drift", (0.5, 1.0))], ["fog", "low_contrast"], (0.1, 0.4), 0.5),
    "mcl": ([("low_res", (0.3, 1.0)), ("low_light", (0.4, 0.9)), ("noise", (0.2, 0.5))], [], (0, 0), 0.0),
    "stv2": ([("blur", (0.2, 0.6))], ["noise", "color_cast"], (0.2, 0.5), 1.0),
}
_ALL_TEST_SHIFTS = ["color_cast", "low_contrast", "noise", "blur", "fog", "low_light", "low_res", "drift"]


def _sample_shifts(rng, split: str, style: str) -> list[tuple[str, float]]:
    """(kind, severity) pairs for a clip; val = its style's shifts at jittered severity + maybe one more."""
    fixed, pool, extra_range, p_extra = _SPLIT_SHIFTS[style if split == "val" else split]
    shifts = [(kind, float(rng.uniform(*r))) for kind, r in fixed]
    if pool and rng.random() < p_extra:
        shifts.append((str(rng.choice(pool)), float(rng.uniform(*extra_range))))
    if split == "val":
        shifts = [(k, float(np.clip(s * rng.uniform(0.6, 1.4), 0.05, 1.0))) for k, s in shifts]
        if rng.random() < 0.5:
            shifts.append((str(rng.choice(_ALL_TEST_SHIFTS)), float(rng.uniform(0.1, 0.6))))
    return shifts


def _apply_shifts(frames, shifts, rng, depth):
    """Apply shifts in the canonical order of :data:`SHIFT_KINDS`."""
    for kind, severity in sorted(shifts, key=lambda ks: SHIFT_KINDS.index(ks[0])):
        frames = _apply_shift(frames, kind, severity, rng, depth)
    return frames


def _apply_shift(frames: np.ndarray, kind: str, severity: float, rng: np.random.Generator,
                 depth: np.ndarray | None = None) -> np.ndarray:
    """One photometric shift of a clip (T, H, W, 3) float in [0, 1] at severity in [0, 1]."""
    if kind not in SHIFT_KINDS:
        raise ValueError(f"unknown shift {kind!r}; expected one of {SHIFT_KINDS}")
    s = float(np.clip(severity, 0, 1))
    t_count, size = frames.shape[0], frames.shape[1]
    if kind == "jitter":  # training augmentation-like: brightness, contrast, saturation, per-frame flicker
        grey = frames.mean(-1, keepdims=True)
        sat = 1 + 0.3 * s * rng.uniform(-1, 1)
        out = grey + (frames - grey) * sat
        gain = 1 + 0.15 * s * rng.uniform(-1, 1) + 0.02 * s * rng.standard_normal((t_count, 1, 1, 1))
        out = (out - 0.5) * (1 + 0.2 * s * rng.uniform(-1, 1)) + 0.5
        return np.clip(out * gain, 0, 1).astype(np.float32)
    if kind == "low_res":
        factor = 2 if s < 0.5 else 3
        small = max(8, size // factor)
        out = [cv2.resize(cv2.resize(f, (small, small), interpolation=cv2.INTER_AREA), (size, size),
                          interpolation=cv2.INTER_LINEAR) for f in frames]
        return np.stack(out).astype(np.float32)
    if kind == "blur":
        sigma = (0.4 + 1.4 * s) * size / 64
        return np.stack([cv2.GaussianBlur(f, (0, 0), sigma) for f in frames]).astype(np.float32)
    if kind == "drift":  # slow illumination + colour drift over the clip
        ramp = np.linspace(0, 1, t_count, dtype=np.float32)[:, None, None, None]
        end_gain = 1 + s * rng.uniform(-0.5, 0.5, 3).astype(np.float32)
        light = 1 + s * (rng.uniform(-0.45, 0.25) * ramp
                         + 0.1 * np.sin(2 * np.pi * ramp * rng.uniform(0.5, 1.5) + rng.uniform(0, 6.3)))
        return np.clip(frames * (1 + (end_gain - 1) * ramp) * light, 0, 1).astype(np.float32)
    if kind == "fog":  # depth-dependent haze: farther pixels fade more towards the fog colour
        d = depth if depth is not None else np.full(frames.shape[:3], 0.8, np.float32)
        density = 1 - np.exp(-(0.5 + 3.0 * s) * d)
        amount = (0.85 * s * density / (1 - np.exp(-(0.5 + 3.0 * s))))[..., None]
        fog = np.float32(rng.uniform(0.7, 0.95)) * np.array([1.0, 1.0, rng.uniform(1.0, 1.08)], np.float32)
        return np.clip(frames * (1 - amount) + amount * fog, 0, 1).astype(np.float32)
    if kind == "color_cast":
        cast = rng.standard_normal(3).astype(np.float32)
        cast = cast / np.linalg.norm(cast)
        return np.clip(frames * (1 + 0.5 * s * cast) + 0.08 * s * cast, 0, 1).astype(np.float32)
    if kind == "low_contrast":
        mean = frames.mean(axis=(1, 2, 3), keepdims=True)
        return (mean + (frames - mean) * (1 - 0.65 * s)).astype(np.float32)
    if kind == "low_light":  # darker, gamma-crushed, with signal-dependent shot noise
        dark = (1 - 0.65 * s) * frames ** (1 + 0.5 * s)
        shot = np.sqrt(np.maximum(dark, 0)) * (0.03 + 0.05 * s)
        noisy = dark + shot * rng.standard_normal(frames.shape).astype(np.float32)
        return np.clip(noisy, 0, 1).astype(np.float32)
    # kind == "noise": additive gaussian sensor noise
    sigma = 0.02 + 0.1 * s
    return np.clip(frames + sigma * rng.standard_normal(frames.shape).astype(np.float32), 0, 1).astype(np.float32)
