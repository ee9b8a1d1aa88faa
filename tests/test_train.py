"""Stage-1 training (§4.1, eq. 2): augmentation, checkpoints, resume, load_or_train, torchrun, evaluation."""
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from dattt_nb.config import resolve
from dattt_nb.data.flow import flow_to_rgb
from dattt_nb.data.layout import Video, write_video
from dattt_nb.data.synthetic import generate_video
from dattt_nb.metrics import jaccard
from dattt_nb.models import build_model
from dattt_nb.train import (TrainAugment, evaluate_split, load_checkpoint, load_model, load_or_train, load_weights,
                            train)
from dattt_nb.train.checkpoint import find_checkpoint

STEPS = 6


def _settings(**kw):
    return resolve("ci", **{"train_steps": STEPS, "val_every": 3, "batch_size": 2, "decoder_dim": 16, **kw})


def _as_video(clip) -> Video:
    frames = torch.from_numpy(clip.frames).permute(0, 3, 1, 2).float() / 255
    flow = torch.from_numpy(flow_to_rgb(clip.flow)).permute(0, 3, 1, 2).float() / 255
    return Video(clip.name, frames, torch.from_numpy(clip.masks), flow, torch.from_numpy(clip.depth),
                 [f"{t:05d}" for t in range(len(frames))])


@pytest.fixture(scope="module")
def clips():
    s = _settings()
    return {"train": [generate_video("train", i, s) for i in range(3)], "val": [generate_video("val", 0, s)]}


@pytest.fixture(scope="module")
def data(clips):
    return {k: [_as_video(c) for c in v] for k, v in clips.items()}


def _weights(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


def test_augment_shares_geometry_and_colours_the_frame_only():
    torch.manual_seed(0)
    frames = torch.rand(8, 3, 32, 32)
    masks = torch.rand(8, 32, 32) > 0.5
    depth = masks.float() * 0.5 + 0.25
    f, fl, m, d = TrainAugment(32, p_color=0.0)(frames, frames.clone(), masks, depth)
    assert f.shape == fl.shape == (8, 3, 32, 32) and m.shape == d.shape == (8, 32, 32) and m.dtype == torch.bool
    assert torch.allclose(f, fl), "frame and flow get the same geometric transform"
    assert torch.equal(d, torch.where(m, 0.75, 0.25)), "mask and depth: same transform, nearest neighbour"
    assert not torch.allclose(f, frames), "the augmentation changes the batch"
    f2, fl2, _, _ = TrainAugment(32, p_color=1.0)(frames, frames.clone(), masks, depth)
    assert not torch.allclose(f2, fl2), "photometric distortion applies to the frame, not to the flow"


def test_train_resume_is_exact_and_checkpoints_load_weights_only(tmp_path, data):
    s = _settings()
    full = train(s, out_dir=tmp_path / "full", data=data, progress=False)
    assert full["finished"] and full["step"] == STEPS and len(full["history"]["total"]) == STEPS
    assert full["val"]["step"] == [3, 6] and 0.0 <= full["best_val_J"] <= 1.0

    part = train(s, out_dir=tmp_path / "part", data=data, progress=False, max_steps_this_call=2)
    assert not part["finished"] and part["step"] == 2
    ckpt = torch.load(tmp_path / "part" / "last.pt", weights_only=True)  # plain, weights_only-loadable
    assert ckpt["step"] == 2 and not ckpt["finished"] and ckpt["config"]["variant"] == "alpha+beta"
    rest = train(s, out_dir=tmp_path / "part", data=data, progress=False)
    assert rest["finished"] and rest["step"] == STEPS and rest["trained_steps"] == STEPS - 2

    a, b = load_checkpoint(tmp_path / "full" / "last.pt"), load_checkpoint(tmp_path / "part" / "last.pt")
    assert a["history"]["total"] == b["history"]["total"], "a resumed run continues the same trajectory"
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])
    assert set(load_checkpoint(tmp_path / "full" / "best.pt")) >= {"config", "model", "step", "metrics"}


def test_interrupt_inside_a_step_callback_then_resume(tmp_path, data):
    s = _settings(train_steps=4, val_every=10)

    def interrupt(step, parts):
        if step == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(s, out_dir=tmp_path, data=data, progress=False, callback=interrupt)
    assert load_checkpoint(tmp_path / "last.pt")["step"] == 2
    info = train(s, out_dir=tmp_path, data=data, progress=False)
    assert info["finished"] and info["step"] == 4 and info["trained_steps"] == 2
    again = train(s, out_dir=tmp_path, data=data, progress=False)
    assert again["trained_steps"] == 0, "a finished run is not trained again"


def test_loading_into_another_architecture_lists_the_mismatch(tmp_path):
    s = _settings()
    state = build_model(s).state_dict()
    with pytest.raises(ValueError) as err:
        load_weights(build_model(s, modulation="none"), state)
    assert "unexpected keys" in str(err.value) and "depth_decoder" in str(err.value)
    with pytest.raises(ValueError) as err:
        load_weights(build_model(s, decoder_dim=8), state)
    assert "shape mismatches" in str(err.value) and "linear_c.0.weight: checkpoint (16, 32, 1, 1) vs model (8, 32, 1, 1)" in str(err.value)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_checkpoint(tmp_path / "nothing.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="junk.pt is not a torch checkpoint"):
        load_checkpoint(tmp_path / "junk.pt")


def test_damaged_checkpoints_are_named_clearly(tmp_path):
    from dattt_nb.train.checkpoint import save_checkpoint

    with pytest.raises(IsADirectoryError, match="is a directory, expected a .pt file"):
        load_checkpoint(tmp_path)
    good = save_checkpoint(tmp_path / "good.pt", config={}, model=build_model(_settings()).state_dict())
    (tmp_path / "cut.pt").write_bytes(good.read_bytes()[:2000])
    with pytest.raises(ValueError, match="cut.pt is damaged or not a dattt-nb checkpoint"):
        load_checkpoint(tmp_path / "cut.pt")
    state = build_model(_settings()).state_dict()
    name = next(k for k, v in state.items() if v.is_floating_point())
    state[name][(0,) * state[name].dim()] = float("inf")
    save_checkpoint(tmp_path / "inf.pt", config={}, model=state)
    with pytest.raises(ValueError, match=f"inf.pt: weight tensor '{name}' has NaN or inf values"):
        load_checkpoint(tmp_path / "inf.pt")


def test_a_run_of_fewer_steps_never_replaces_a_longer_one(tmp_path, data, capsys):
    s = _settings(train_steps=3, val_every=10)
    train(s, out_dir=tmp_path, data=data, progress=False)
    before = (tmp_path / "last.pt").read_bytes()
    with pytest.raises(FileExistsError, match="holds a finished run of 3 steps .* with 2 .*not replacing it"):
        train(_settings(train_steps=2, val_every=10), out_dir=tmp_path, data=data, progress=False)
    assert (tmp_path / "last.pt").read_bytes() == before
    orphan = tmp_path / ".last.pt.k2j9x1ab.pt"  # what a save killed mid-write leaves (utils.atomic_path)
    orphan.write_bytes(b"half a checkpoint")
    capsys.readouterr()
    assert train(s, out_dir=tmp_path, data=data, progress=False)["trained_steps"] == 0
    assert not orphan.exists() and "removed 1 temporary file(s) of an interrupted save" in capsys.readouterr().out


def test_load_or_train_trains_once_then_loads(tmp_path, monkeypatch, data):
    monkeypatch.setenv("DATTT_RUNS", str(tmp_path))
    s = _settings(train_steps=3)
    model, info = load_or_train(s, "head", data=data, progress=False)
    assert info["trained_now"] and info["finished"] and not model.training and model.modulation is None
    first = Path(info["checkpoint"])
    assert first.is_file() and first.parent.parent == tmp_path / "ci" / "checkpoints" / "head"
    again, info2 = load_or_train(s, "head", data=data, progress=False)
    assert not info2["trained_now"] and info2["history"] == info["history"]
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), again.state_dict().values()))
    _, info3 = load_or_train(s, "head", data=data, progress=False, lr=1e-4)
    assert info3["trained_now"], "other training settings → train again"
    assert Path(info3["checkpoint"]) != first and first.is_file(), "in its own folder: the first run is kept"
    loaded, ckpt = load_model(info3["checkpoint"])
    assert loaded.variant == "head" and ckpt["config"]["lr"] == 1e-4 and ckpt["config"]["init_weights"] == "random"
    # looking a checkpoint up never trains: the matching one, or an error with what differs and how to train it
    assert find_checkpoint(s, "head") == first
    with pytest.raises(FileNotFoundError, match=r"differs in lr \(.*dattt-nb train --profile ci --variant head .*-p lr 0.0002"):
        find_checkpoint(_settings(train_steps=3, lr=2e-4), "head")


def test_training_is_deterministic_on_cpu(tmp_path, data):
    s = _settings(train_steps=2, val_every=10)
    a = train(s, out_dir=tmp_path / "a", data=data, progress=False)
    b = train(s, out_dir=tmp_path / "b", data=data, progress=False)
    assert a["history"]["total"] == b["history"]["total"]


def test_evaluate_split_scores_each_video(data):
    class AllForeground(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.zeros(()))

        def forward(self, image, flow):
            return torch.full_like(image[:, :1], 10.0), None

    videos = data["train"][:2]
    table = evaluate_split(AllForeground(), videos)
    assert list(table["video"]) == [v.name for v in videos]
    expected = [jaccard(v.masks.numpy(), np.ones_like(v.masks.numpy())).mean() for v in videos]
    assert np.allclose(table["J"], expected, atol=1e-6)
    assert ((table["F"] >= 0) & (table["F"] <= 1)).all()

    class NanOnSecondFrame(AllForeground):
        def forward(self, image, flow):
            out = torch.full_like(image[:, :1], 10.0)
            out[1] = float("nan")
            return out, None

    with pytest.raises(ValueError, match=f"video '{videos[0].name}': the model's mask or depth is not finite "
                                         r"\(NaN/inf\) on frame\(s\) 00001"):
        evaluate_split(NanOnSecondFrame(), videos)


@pytest.mark.slow  # ~30 s: two fresh Python processes import torch + timm
def test_torchrun_two_cpu_processes_write_one_checkpoint(tmp_path, clips):
    for split, items in clips.items():
        for c in items:
            write_video(tmp_path / "data" / split, c.name, c.frames, masks=c.masks,
                        flow_rgb=flow_to_rgb(c.flow), depth=c.depth)
    out = tmp_path / "ckpt"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TQDM_DISABLE": "1", "DATTT_RUNS": str(tmp_path / "runs")}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "dattt_nb.train", "--profile", "ci", "-p", "train_steps", "2", "-p", "val_every", "2",
           "-p", "decoder_dim", "16", "--train-root", str(tmp_path / "data" / "train"),
           "--val-root", str(tmp_path / "data" / "val"), "--out-dir", str(out), "--no-progress"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=Path(__file__).parents[1], start_new_session=True)
    try:
        stdout, stderr = proc.communicate(timeout=300)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # the launcher and both workers
        stdout, stderr = proc.communicate()
        pytest.fail(f"torchrun did not finish in 300 s: {stderr[-2000:]}")
    assert proc.returncode == 0, stderr[-3000:]
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) == ["best.pt", "last.pt"], "only rank 0 writes"
    ckpt = load_checkpoint(out / "last.pt")
    assert ckpt["finished"] and ckpt["step"] == 2
    assert stdout.count('"finished": true') == 1, "only rank 0 prints the summary"


def test_a_course_bundle_record_loads_without_training_or_weights_in_last(data, tmp_path, monkeypatch):
    """bundle.slim_record keeps what loading needs from a finished last.pt; load_or_train and train accept it."""
    from dattt_nb.course import bundle

    monkeypatch.setenv("DATTT_RUNS", str(tmp_path / "runs"))
    s = _settings(train_steps=2, val_every=10)
    model, info = load_or_train(s, data=data, progress=False)
    last = Path(info["last"])
    assert bundle.slim_record(last, tmp_path / "slim.pt")
    slim = torch.load(tmp_path / "slim.pt", weights_only=True)
    assert slim["slim"] and not {"model", "optimizer", "scheduler"} & set(slim)
    assert (tmp_path / "slim.pt").stat().st_size < last.stat().st_size / 20
    (tmp_path / "slim.pt").replace(last)
    again, info2 = load_or_train(s, data=data, progress=False)
    assert not info2["trained_now"] and info2["step"] == 2 and info2["history"] == info["history"]
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), again.state_dict().values()))
    assert train(s, out_dir=last.parent, data=data, progress=False)["trained_steps"] == 0
    assert find_checkpoint(s, "alpha+beta") == Path(info["checkpoint"])
    unfinished = {"model": {}, "config": {}, "finished": False}
    torch.save(unfinished, tmp_path / "u.pt")
    assert not bundle.slim_record(tmp_path / "u.pt", tmp_path / "never.pt") and not (tmp_path / "never.pt").exists()
