"""Shared pieces of the TTT tests: the real ``ci`` model and tiny videos (32 px, a few frames)."""
import torch

from dattt_nb.config import resolve
from dattt_nb.data.layout import Video
from dattt_nb.models import build_model

CI = resolve("ci", device="cpu")


def ci_model(**overrides):
    """The real DATTTNet at the ci profile (MiT-b0 widths, 32 px), seeded, in eval mode like load_or_train's."""
    torch.manual_seed(0)
    return build_model(CI, **overrides).eval()


def tiny_video(name: str = "clip", frames: int = 3, size: int = 32, seed: int = 0, annotated=None) -> Video:
    """Random frames and flow with a square object mask; ``annotated`` (list of bools) makes it sparse."""
    g = torch.Generator().manual_seed(seed)
    masks = torch.zeros(frames, size, size, dtype=torch.bool)
    masks[:, size // 4: size // 2 + 4, size // 3: 2 * size // 3] = True
    return Video(name=name, frames=torch.rand(frames, 3, size, size, generator=g), masks=masks,
                 flow=torch.rand(frames, 3, size, size, generator=g), depth=None,
                 frame_names=[f"{t:05d}" for t in range(frames)],
                 annotated=None if annotated is None else torch.tensor(annotated))


def state(module: torch.nn.Module) -> dict:
    """A detached copy of parameters and buffers (for before/after comparisons)."""
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
