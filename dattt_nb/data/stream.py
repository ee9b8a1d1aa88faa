"""Streamed data: ``torch`` Datasets that read a DAVIS-layout root frame by frame, so host memory stays flat as the
dataset grows (training frames, §5.2; test videos in chunks, §5.1); :class:`FrameBank` serves preloaded frames
through the same interface, and the samplers draw one batch per training step (resumable, ``torchrun``-aware).
"""
from __future__ import annotations

import os
import warnings
from dataclasses import replace
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from dattt_nb.data.layout import (DEPTH, FLOW, IMAGE_EXTS, MASKS, Video, _check_size, _files_per_frame, _resize,
                                  _size_hw, check_root, frame_files, image_files, image_tensor, kind_dir, list_videos,
                                  load_video, read_depth, read_manifest, read_mask, read_rgb)
from dattt_nb.utils import DatttWarning

KINDS = ("frame", "flow", "mask", "depth")  # the columns of a file index; b"" = no such file for this frame


# --- one frame ----------------------------------------------------------------------------------

def decode_frame(root, files: Sequence[bytes], size=None):
    """(frame, flow, mask, depth) of one frame from its files under ``root`` (b"" = absent → None), resized like
    ``load_video``: frame and colour-coded flow (3, h, w) float32 in [0, 1] bilinear (antialiased), mask (h, w)
    bool and depth (h, w) float32 by nearest neighbour."""
    frame_path, flow_path, mask_path, depth_path = (f and os.path.join(root, os.fsdecode(f)) for f in files)
    frame = read_rgb(frame_path)
    hw, out_hw = frame.shape[:2], _size_hw(size)
    flow = mask = depth = None
    if flow_path:
        flow = image_tensor(_check_size(Path(flow_path), read_rgb(flow_path), hw, "flow")[None], out_hw)[0]
    if mask_path:
        m = torch.from_numpy(_check_size(Path(mask_path), read_mask(mask_path), hw, "mask"))
        mask = _resize(m[None, None].float(), out_hw, "nearest")[0, 0] > 0.5
    if depth_path:
        d = torch.from_numpy(_check_size(Path(depth_path), read_depth(depth_path), hw, "depth"))
        depth = _resize(d[None, None], out_hw, "nearest")[0, 0]
    return image_tensor(frame[None], out_hw)[0], flow, mask, depth


def to_uint8(x: torch.Tensor) -> torch.Tensor:
    """Images in [0, 1] → uint8 (a quarter of the bytes to hold, pin and move; ``/255`` on the device)."""
    return (x.clamp(0, 1) * 255).round().to(torch.uint8)


def to_device(batch, device):
    """A training batch (uint8 frames/flow, bool masks, float depth) → float frames/flow in [0, 1] on ``device``."""
    frames, flow, masks, depth = (x.to(device, non_blocking=True) for x in batch)
    return frames.float().div_(255), flow.float().div_(255), masks, depth


# --- file index of one video ----------------------------------------------------------------------

def _relative(root, path: Path) -> bytes:
    return os.fsencode(path.relative_to(root))


def _kind_files(root, kind: str, name: str, names: list[str], what: str, sparse: bool, hint: str) -> dict:
    """{frame name: path below root} of one kind, checked like ``load_video`` (one file per frame unless ``sparse``);
    a missing folder is an error carrying ``hint``, or no files when ``hint`` is empty (unannotated video)."""
    folder = kind_dir(root, kind) / name
    if not image_files(folder):
        if hint:
            raise FileNotFoundError(f"no {what} for video {name!r}: {folder} is missing or empty; {hint}")
        return {}
    return {n: _relative(root, p) for n, p in _files_per_frame(folder, names, IMAGE_EXTS, what, sparse).items()}


def video_index(root, name: str, with_flow: bool = True, with_depth: bool = True, sparse: bool = False,
                masks_required: bool = False, allow_gaps: bool | None = None) -> tuple[list[str], np.ndarray]:
    """(frame names in natural order, (T, 4) bytes array of the paths below ``root`` of frame/flow/mask/depth, b""
    where absent) of one video, with ``load_video``'s checks and errors (``allow_gaps`` as there: None = silently
    when ``dataset.json`` declares it). Bytes: one compact buffer, ~40 B a path."""
    root = Path(root)
    declared = allow_gaps is None and bool(read_manifest(root).get("allow_gaps", False))
    with warnings.catch_warnings():
        if declared:  # the dataset's numbering skips (YouTube-VOS)
            warnings.simplefilter("ignore", DatttWarning)
        files = frame_files(root, name, bool(allow_gaps) or declared)
    names = [p.stem for p in files]
    flow = depth = {}
    if with_flow:
        flow = _kind_files(root, FLOW, name, names, "flow", False,
                           f"compute it with dattt_nb.data.prepare.compute_flow({str(root)!r}, 'dis')")
    if with_depth:
        depth = _kind_files(root, DEPTH, name, names, "depth", False,
                            f"compute it with dattt_nb.data.prepare.compute_depth({str(root)!r}, source)")
    masks = _kind_files(root, MASKS, name, names, "mask", sparse,
                        "training needs ground-truth masks" if masks_required else "")
    table = [(_relative(root, p), flow.get(n, b""), masks.get(n, b""), depth.get(n, b""))
             for p, n in zip(files, names)]
    return names, np.array(table, dtype=bytes).reshape(len(names), len(KINDS))


def _as_roots(roots) -> list[Path]:
    return [Path(r) for r in ([roots] if isinstance(roots, (str, Path)) else roots)]


# --- training frames ------------------------------------------------------------------------------

class TrainingFrames(Dataset):
    """Every annotated frame of one or more dataset roots, read from disk when asked for (eq. 2's samples).

    An item is ``(frame uint8 (3, S, S), flow uint8 (3, S, S), mask bool (S, S), depth float32 (S, S))``: the
    items of :class:`FrameBank`. The object holds only an index of file paths (one NumPy bytes array, cheap to
    share with DataLoader workers), never decoded frames.
    """

    def __init__(self, roots, size: int, videos: Sequence[str] | None = None, with_depth: bool = True):
        self.size = int(size)
        self.with_depth = with_depth
        self.roots = [str(check_root(r)) for r in _as_roots(roots)]
        tables, root_ids = [], []
        for k, root in enumerate(self.roots):
            sparse = bool(read_manifest(root).get("sparse_annotations", False))
            for name in (list(videos) if videos is not None else list_videos(root)):
                _, table = video_index(root, name, with_depth=with_depth, sparse=sparse, masks_required=True)
                tables.append(table[table[:, 2] != b""])  # annotated frames only
                root_ids.append(np.full(len(tables[-1]), k, dtype=np.int32))
        if not tables:
            raise ValueError(f"the training roots {self.roots} hold no videos")
        self.files, self.root_id = np.concatenate(tables), np.concatenate(root_ids)
        if len(self.files) == 0:
            raise ValueError("the training split has no annotated frames")

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int):
        frame, flow, mask, depth = decode_frame(self.roots[self.root_id[i]], self.files[i], self.size)
        if depth is None:
            depth = torch.zeros(mask.shape)
        return to_uint8(frame), to_uint8(flow), mask, depth


class FrameBank(Dataset):
    """Every annotated frame of decoded :class:`Video` s, kept in memory (uint8 frame/flow, bool mask, float depth):
    the same items as :class:`TrainingFrames`, for small data that is faster to decode once (the synthetic profiles)."""

    def __init__(self, videos):
        frames, flow, masks, depth = [], [], [], []
        for v in videos:
            if v.masks is None or v.flow is None:
                raise ValueError(f"training video {v.name!r} needs masks and flow (got masks="
                                 f"{v.masks is not None}, flow={v.flow is not None})")
            keep = torch.ones(len(v), dtype=torch.bool) if v.annotated is None else v.annotated.bool()
            frames.append(to_uint8(v.frames[keep]))
            flow.append(to_uint8(v.flow[keep]))
            masks.append(v.masks[keep].bool())
            depth.append(v.depth[keep].float() if v.depth is not None else torch.zeros(v.masks[keep].shape))
        if not frames:
            raise ValueError("the training split has no videos")
        self.frames, self.flow = torch.cat(frames), torch.cat(flow)
        self.masks, self.depth = torch.cat(masks), torch.cat(depth)
        if len(self.frames) == 0:
            raise ValueError("the training split has no annotated frames")

    def __len__(self) -> int:
        return len(self.frames)

    def __getitem__(self, i: int):
        return self.frames[i], self.flow[i], self.masks[i], self.depth[i]


# --- one batch per step -----------------------------------------------------------------------------

class RandomBatches:
    """One batch of ``batch`` indices per training step, uniform with replacement, from a seeded generator.

    ``state_at(step)`` is the generator's state before drawing that step's batch, correct even when a
    DataLoader has drawn a few batches ahead: a checkpoint saved at ``step`` resumes on the same batches.
    """

    def __init__(self, n: int, batch: int, seed: int, start_step: int = 0, keep: int = 256):
        self.n, self.batch, self.start_step, self.keep = n, batch, start_step, keep
        self.generator = torch.Generator().manual_seed(seed)
        self._states: dict[int, torch.Tensor] = {}

    def load_state(self, state: torch.Tensor) -> None:
        self.generator.set_state(state)

    def state_at(self, step: int) -> torch.Tensor:
        return self._states[step] if step in self._states else self.generator.get_state()

    def __iter__(self) -> Iterator[list[int]]:
        step = self.start_step
        self._states = {step: self.generator.get_state()}
        while True:
            index = torch.randint(self.n, (self.batch,), generator=self.generator)
            step += 1
            self._states[step] = self.generator.get_state()
            self._states.pop(step - self.keep, None)
            yield index.tolist()


class DistributedBatches:
    """One batch per step for this ``torchrun`` rank: ``DistributedSampler`` epochs (each rank a disjoint share of
    the frames, reshuffled every epoch); the position follows from the step, so resuming needs no saved state."""

    def __init__(self, dataset, batch: int, rank: int, world: int, seed: int, start_step: int = 0):
        self.sampler = DistributedSampler(dataset, num_replicas=world, rank=rank, shuffle=True, seed=seed)
        self.batch, self.start_step = batch, start_step

    def load_state(self, state) -> None:  # the step says where to resume
        pass

    def state_at(self, step: int) -> torch.Tensor:
        return torch.tensor(step)

    def __iter__(self) -> Iterator[list[int]]:
        epoch, offset = divmod(self.start_step * self.batch, len(self.sampler))
        batch = []
        while True:
            self.sampler.set_epoch(epoch)
            for i in list(self.sampler)[offset:]:
                batch.append(i)
                if len(batch) == self.batch:
                    yield batch
                    batch = []
            epoch, offset = epoch + 1, 0


def _loader(dataset, **kw) -> DataLoader:
    """A DataLoader with its own generator: starting one leaves the global random stream (augmentation, stochastic
    depth) untouched, so results do not depend on how the data is loaded."""
    return DataLoader(dataset, generator=torch.Generator().manual_seed(0), **kw)


def training_loader(dataset, batches, num_workers: int, device) -> DataLoader:
    """A DataLoader over ``dataset`` with one batch per step from ``batches``; ``num_workers`` processes decode,
    pinned memory on CUDA."""
    return _loader(dataset, batch_sampler=batches, num_workers=num_workers,
                   pin_memory=torch.device(device).type == "cuda")


# --- test videos ----------------------------------------------------------------------------------

class VideoFrames(Dataset):
    """One video of a root, read frame by frame (item ``t`` = its frame, flow, mask, depth as in ``load_video``).

    :meth:`chunks` yields the video as consecutive :class:`Video` chunks, so only a chunk is decoded and moved
    at a time; :meth:`load` decodes the whole video once (TTT-LTV revisits every frame each pass).
    """

    def __init__(self, root, name: str, size=None, with_flow: bool = True, with_depth: bool = True,
                 sparse: bool | None = None, allow_gaps: bool | None = None):
        self.root, self.name, self.size = check_root(root), name, size
        self.with_flow, self.with_depth, self.allow_gaps = with_flow, with_depth, allow_gaps
        self.sparse = bool(read_manifest(self.root).get("sparse_annotations", False)) if sparse is None else sparse
        self.frame_names, self.files = video_index(self.root, name, with_flow, with_depth, self.sparse,
                                                   allow_gaps=allow_gaps)
        self.has_masks = bool((self.files[:, 2] != b"").any())

    def __len__(self) -> int:
        return len(self.frame_names)

    def __getitem__(self, t: int):
        return t, decode_frame(self.root, self.files[t], self.size)

    def _collate(self, items) -> Video:
        ts = [t for t, _ in items]
        frame, flow, mask, depth = zip(*(x for _, x in items))
        for t, f in zip(ts, frame):
            if f.shape != frame[0].shape:
                raise ValueError(f"frame {self.files[t][0].decode()} of video {self.name!r} is {f.shape[2]}x"
                                 f"{f.shape[1]}, expected {frame[0].shape[2]}x{frame[0].shape[1]} like the others "
                                 "(pass size= to resize every frame)")
        annotated = torch.tensor([m is not None for m in mask])
        masks = None
        if self.has_masks:
            hw = frame[0].shape[-2:]
            masks = torch.stack([m if m is not None else torch.zeros(hw, dtype=torch.bool) for m in mask])
        return Video(name=self.name, frames=torch.stack(frame), masks=masks,
                     flow=torch.stack(flow) if self.with_flow else None,
                     depth=torch.stack(depth) if self.with_depth else None,
                     frame_names=[self.frame_names[t] for t in ts],
                     annotated=None if masks is None or bool(annotated.all()) else annotated)

    def chunks(self, size: int = 32, num_workers: int = 0, pin_memory: bool = False) -> Iterator[Video]:
        """The video as chunks of ``size`` consecutive frames (host tensors), in natural order."""
        yield from _loader(self, batch_size=size, shuffle=False, num_workers=num_workers, pin_memory=pin_memory,
                           collate_fn=self._collate)

    def load(self) -> Video:
        """The whole video decoded once (``load_video``)."""
        with warnings.catch_warnings():  # a gap was reported when the index was built
            warnings.simplefilter("ignore", DatttWarning)
            return load_video(self.root, self.name, size=self.size, with_flow=self.with_flow,
                              with_depth=self.with_depth, sparse=self.sparse, allow_gaps=self.allow_gaps)


def stream_split(root, size=None, videos: Sequence[str] | None = None, **kw) -> list[VideoFrames]:
    """The videos of a root (or the named ``videos``) as :class:`VideoFrames`: the streamed ``load_split``."""
    names = list(videos) if videos is not None else list_videos(root)
    if not names:
        raise ValueError(f"dataset root {root} has no videos")
    return [VideoFrames(root, n, size=size, **kw) for n in names]


def video_chunks(video, size: int = 32, pin_memory: bool = False) -> Iterator[Video]:
    """Consecutive chunks of ``size`` frames of a decoded :class:`Video` (slices) or of :class:`VideoFrames` (read
    from disk per chunk), in order."""
    if isinstance(video, VideoFrames):
        yield from video.chunks(size, pin_memory=pin_memory)
        return
    cut = lambda x, a, b: None if x is None else x[a:b]  # noqa: E731
    for a in range(0, len(video), size):
        b = a + size
        yield replace(video, frames=cut(video.frames, a, b), masks=cut(video.masks, a, b), flow=cut(video.flow, a, b),
                      depth=cut(video.depth, a, b), frame_names=video.frame_names[a:b],
                      annotated=cut(video.annotated, a, b))


def decoded(video) -> Video:
    """A :class:`Video` on the host: decoded once from disk for :class:`VideoFrames`, as is otherwise."""
    return video.load() if isinstance(video, VideoFrames) else video
