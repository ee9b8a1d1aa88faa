"""Streamed data: items equal to the in-memory path, DataLoader workers, per-step batches, chunked test videos."""
import pickle

import numpy as np
import pytest
import torch

from _ttt_helpers import CI, ci_model
from dattt_nb.data.layout import load_split, load_video, write_manifest, write_video
from dattt_nb.data.stream import (DistributedBatches, FrameBank, RandomBatches, TrainingFrames, VideoFrames,
                                  stream_split, to_device, training_loader, video_chunks)
from dattt_nb.train import evaluate_split
from dattt_nb.ttt.runner import run_ttt

NAMES = ["f8", "f9", "f10", "f11", "f12"]  # natural order differs from the alphabetical one


def _write_root(root, size=(40, 48), videos=("b-video", "a-video"), annotated=None, seed=0):
    rng = np.random.default_rng(seed)
    h, w = size
    for name in videos:
        frames = rng.integers(0, 256, (len(NAMES), h, w, 3), dtype=np.uint8)
        masks = np.zeros((len(NAMES), h, w), bool)
        masks[:, h // 4: h // 2, w // 3: 2 * w // 3] = True
        flow = rng.integers(0, 256, (len(NAMES), h, w, 3), dtype=np.uint8)
        depth = rng.uniform(0.05, 1.0, (len(NAMES), h, w))
        write_video(root, name, frames, masks=masks, flow_rgb=flow, depth=depth, frame_names=NAMES,
                    annotated=annotated)
    if annotated is not None:
        write_manifest(root, {"sparse_annotations": True})
    return root


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return _write_root(tmp_path_factory.mktemp("stream") / "root")


def test_training_items_equal_the_in_memory_bank_frame_for_frame(root):
    streamed, bank = TrainingFrames(root, 32), FrameBank(load_split(root, size=32))
    assert len(streamed) == len(bank) == 2 * len(NAMES)
    for i in range(len(bank)):
        for a, b in zip(streamed[i], bank[i]):
            assert a.dtype == b.dtype and torch.equal(a, b), f"item {i} differs from the preloaded frame"
    frame, flow, mask, depth = streamed[0]
    assert frame.shape == flow.shape == (3, 32, 32) and frame.dtype == flow.dtype == torch.uint8
    assert mask.shape == depth.shape == (32, 32) and mask.dtype == torch.bool and depth.dtype == torch.float32
    assert mask.any() and 0 < depth.min() and depth.max() <= 1


def test_sparse_roots_train_on_annotated_frames_only(tmp_path):
    keep = [True, False, True, False, True]
    root = _write_root(tmp_path / "sparse", videos=("v",), annotated=keep)
    streamed, bank = TrainingFrames(root, 32), FrameBank(load_split(root, size=32))
    assert len(streamed) == len(bank) == sum(keep)
    assert all(torch.equal(a, b) for i in range(sum(keep)) for a, b in zip(streamed[i], bank[i]))


def test_dataloader_with_two_workers_gives_the_batches_of_the_main_process(root):
    frames = TrainingFrames(root, 32)
    batches = {}
    for workers in (0, 2):
        loader = iter(training_loader(frames, RandomBatches(len(frames), 3, seed=5), workers, "cpu"))
        batches[workers] = [next(loader) for _ in range(4)]
    for a, b in zip(batches[0], batches[2]):
        assert all(torch.equal(x, y) for x, y in zip(a, b))
    f, fl, m, d = to_device(batches[2][0], "cpu")
    assert f.shape == fl.shape == (3, 3, 32, 32) and f.dtype == torch.float32 and 0 <= f.min() and f.max() <= 1
    assert m.shape == d.shape == (3, 32, 32) and m.dtype == torch.bool


def test_loading_leaves_the_global_random_stream_alone(root):
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    next(iter(training_loader(TrainingFrames(root, 32), RandomBatches(10, 2, seed=1), 0, "cpu")))
    list(VideoFrames(root, "a-video", size=32).chunks(2))
    assert torch.equal(torch.rand(3), expected), "augmentation and dropout must not depend on the loader"


def test_random_batches_resume_on_the_same_batches_after_drawing_ahead():
    batches = RandomBatches(100, 4, seed=3)
    it = iter(batches)
    drawn = [next(it) for _ in range(6)]  # a DataLoader prefetches: steps 0-5 drawn, step 2 is the one trained
    again = RandomBatches(100, 4, seed=99, start_step=2)
    again.load_state(batches.state_at(2))
    it2 = iter(again)
    assert [next(it2) for _ in range(4)] == drawn[2:6]


def test_distributed_batches_share_each_epoch_between_ranks_and_resume_by_step():
    data = list(range(10))
    ranks = [iter(DistributedBatches(data, 5, rank, 2, seed=0)) for rank in (0, 1)]
    epoch0 = [next(r) for r in ranks]
    assert sorted(epoch0[0] + epoch0[1]) == data, "one epoch: every frame once, ranks disjoint"
    second = next(ranks[0])
    assert next(iter(DistributedBatches(data, 5, 0, 2, seed=0, start_step=1))) == second


def test_video_chunks_cover_every_frame_once_in_natural_order(root):
    video = VideoFrames(root, "a-video", size=32)
    whole = load_video(root, "a-video", size=32)
    assert video.frame_names == NAMES == whole.frame_names and len(video) == len(NAMES)
    for source in (video, whole):
        chunks = list(video_chunks(source, 2))
        assert [len(c) for c in chunks] == [2, 2, 1]
        assert [n for c in chunks for n in c.frame_names] == NAMES
        for key in ("frames", "flow", "masks", "depth"):
            assert torch.equal(torch.cat([getattr(c, key) for c in chunks]), getattr(whole, key)), key
    assert torch.equal(video.load().frames, whole.frames)


def test_sparse_video_chunks_mark_unannotated_frames(tmp_path):
    keep = [True, False, True, False, True]
    root = _write_root(tmp_path / "sparse", videos=("v",), annotated=keep)
    chunks = list(VideoFrames(root, "v", size=32).chunks(2))
    assert torch.cat([c.annotated for c in chunks[:2]]).tolist() == keep[:4]
    assert chunks[2].annotated is None, "a chunk whose frames are all annotated needs no vector"
    assert not chunks[0].masks[1].any() and chunks[0].masks[0].any()


def test_the_dataset_holds_an_index_not_frames(tmp_path):
    small = TrainingFrames(_write_root(tmp_path / "small", size=(24, 24)), 16)
    large = TrainingFrames(_write_root(tmp_path / "large", size=(96, 128)), 16)
    assert not any(isinstance(v, torch.Tensor) for v in vars(large).values())
    # what a worker receives: the same bytes whatever the frame size (paths differ by one character)
    assert abs(len(pickle.dumps(large)) - len(pickle.dumps(small))) < 64
    assert len(pickle.dumps(large)) < 1000 + 200 * len(large), "about 40 bytes a path"


def test_missing_flow_or_mismatched_mask_is_a_clear_error(tmp_path):
    root = _write_root(tmp_path / "r", videos=("v",))
    for p in (root / "Flow" / "v").iterdir():
        p.unlink()
    with pytest.raises(FileNotFoundError, match="no flow for video 'v'.*compute_flow"):
        TrainingFrames(root, 32)
    root = _write_root(tmp_path / "m", videos=("v",))
    import cv2

    cv2.imwrite(str(root / "Annotations" / "v" / "f10.png"), np.zeros((8, 8), np.uint8))
    with pytest.raises(ValueError, match=r"mask .*f10\.png is 8x8, expected 48x40"):
        TrainingFrames(root, 32)[2]


def test_streamed_evaluation_and_ttt_equal_the_decoded_path(root):
    model = ci_model()
    streamed, decoded = stream_split(root, 32), load_split(root, size=32)
    a, b = evaluate_split(model, streamed, batch_size=2), evaluate_split(model, decoded, batch_size=32)
    assert a.equals(b)
    kw = dict(strategy="loop", epochs=1, n_pairs=1, lr=1e-3, device="cpu", progress=False)
    x, y = run_ttt(model, streamed[:1], CI, **kw).videos[0], run_ttt(model, decoded[:1], CI, **kw).videos[0]
    assert torch.equal(x.masks, y.masks) and x.losses == y.losses and x.J == y.J


def test_numbering_gaps_follow_the_manifest_like_load_video(tmp_path):
    import warnings

    root = _write_root(tmp_path / "gaps", videos=("v",))
    for kind in ("JPEGImages", "Annotations", "Flow", "Depth"):
        next((root / kind / "v").glob("f10.*")).unlink()
    with pytest.raises(ValueError, match="f10 missing from the numbered sequence"):
        TrainingFrames(root, 32)
    write_manifest(root, {"allow_gaps": True})  # declared by the dataset (YouTube-VOS): silently accepted
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert len(TrainingFrames(root, 32)) == 4
        assert VideoFrames(root, "v", size=32).frame_names == ["f8", "f9", "f11", "f12"]
