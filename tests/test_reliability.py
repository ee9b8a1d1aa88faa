"""Issue 19: nothing a user already has is lost or silently wrong (one test per case, numbered as in the issue).

Sources and outputs are protected, reruns notice changed inputs, eval says what it scored, and the last raw errors
are one line (exit code 2) naming the setting or file and the fix.
"""
from __future__ import annotations

import errno
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dattt_nb import cli
from dattt_nb.data.layout import depth_to_uint16, write_mask


def _one_line_error(capsys, *words):
    """The command's stderr ends with one error line holding ``words`` (one-line warnings may come before it)."""
    lines = [line for line in capsys.readouterr().err.strip().splitlines() if not line.startswith("dattt-nb: warning:")]
    assert len(lines) == 1 and lines[0].startswith("dattt-nb: error:"), lines
    err = lines[0]
    for w in words:
        assert w in err, (w, err)
    return err


def _frames(folder, n, size=(24, 32), seed=0):
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for t in range(n):
        Image.fromarray(rng.integers(0, 255, (*size, 3), dtype=np.uint8)).save(folder / f"{t:05d}.jpg")


def _raw_davis(root, n=3, level="480p", size=(24, 32), mask_size=None):
    """A raw DAVIS root with one video 'cat' (``level`` '' = no 480p level)."""
    mask = np.zeros(mask_size or size, bool)
    mask[4:12, 6:20] = True
    frames = root / "JPEGImages" / level / "cat" if level else root / "JPEGImages" / "cat"
    masks = root / "Annotations" / level / "cat" if level else root / "Annotations" / "cat"
    _frames(frames, n, size)
    for t in range(n):
        write_mask(masks / f"{t:05d}.png", mask)
    return root


def _depth_maps(folder, n, value=None):
    folder.mkdir(parents=True, exist_ok=True)
    for t in range(n):
        d = np.full((12, 16), value) if value is not None else np.linspace(0.2, 0.9, 16)[None].repeat(12, 0)
        Image.fromarray(depth_to_uint16(d)).save(folder / f"{t:05d}.png")


# --- 1: prepare-real never writes into its source -------------------------------------------------

def test_case01_prepare_real_refuses_dst_equal_inside_or_containing_src(tmp_path, capsys):
    src = _raw_davis(tmp_path / "DAVIS", level="")
    before = {p: p.read_bytes() for p in src.rglob("*") if p.is_file()}
    for dst, how in ((src, "is the source"), (src / "out", "is inside the source"),
                     (tmp_path, "contains the source")):
        assert cli.main(["prepare-real", "davis16", str(src), str(dst), "--videos", "cat"]) == 2
        _one_line_error(capsys, how)
    assert cli.main(["prepare-real", "youtube-vos", str(src), str(src)]) == 2
    _one_line_error(capsys, "is the source")
    after = {p: p.read_bytes() for p in src.rglob("*") if p.is_file()}
    assert after == before and not any(p.is_symlink() for p in src.rglob("*")), "the source was touched"


# --- 4 and 8: reruns that notice changed inputs ---------------------------------------------------

def test_case04_precomputed_inverted_depth_rerun_keeps_labels(tmp_path, capsys):
    src = _raw_davis(tmp_path / "DAVIS")
    _depth_maps(tmp_path / "depth" / "cat", 3)
    dst = tmp_path / "data"
    argv = ["prepare-real", "davis16", str(src), str(dst), "--videos", "cat", "--flow", "farneback",
            "--depth", f"precomputed:{tmp_path / 'depth'}", "--invert"]
    raw = {p.name: p.read_bytes() for p in (tmp_path / "depth" / "cat").iterdir()}
    assert cli.main(argv) == 0
    first = {p.name: p.read_bytes() for p in (dst / "Depth" / "cat").iterdir()}
    assert cli.main(argv) == 0, capsys.readouterr().err
    second = {p.name: p.read_bytes() for p in (dst / "Depth" / "cat").iterdir()}
    assert first == second, "an unchanged rerun changed the depth labels"
    assert not any(p.is_symlink() for p in (dst / "Depth" / "cat").iterdir()), "labels are normalised copies"
    assert {p.name: p.read_bytes() for p in (tmp_path / "depth" / "cat").iterdir()} == raw, "the maps are untouched"
    assert first != raw


def test_case08_changed_source_needs_force_which_leaves_no_stale_file(tmp_path, capsys):
    src = _raw_davis(tmp_path / "DAVIS", n=6)
    dst = tmp_path / "data"
    argv = ["prepare-real", "davis16", str(src), str(dst), "--videos", "cat", "--flow", "farneback"]
    assert cli.main(argv) == 0
    for t in range(3, 6):  # the source video shrinks from 6 frames to 3
        (src / "JPEGImages" / "480p" / "cat" / f"{t:05d}.jpg").unlink()
        (src / "Annotations" / "480p" / "cat" / f"{t:05d}.png").unlink()
    capsys.readouterr()
    assert cli.main(argv) == 2
    _one_line_error(capsys, str(dst), "--force")
    assert cli.main(argv + ["--force"]) == 0
    manifest = json.loads((dst / "dataset.json").read_text())
    assert manifest["frames"] == {"cat": 3}
    for kind in ("JPEGImages", "Annotations", "Flow"):
        assert len(list((dst / kind / "cat").iterdir())) == 3, kind


# --- 11 (prepare-real part): inputs read as the user meant them ------------------------------------

@pytest.mark.parametrize("case", ["zero_depth", "constant_depth", "mask_size", "mask_count", "empty_video"])
def test_case11_prepare_real_rejects_unusable_inputs(tmp_path, capsys, case):
    src = _raw_davis(tmp_path / "DAVIS", mask_size=(12, 16) if case == "mask_size" else None)
    if case == "mask_count":
        write_mask(src / "Annotations" / "480p" / "cat" / "00007.png", np.ones((24, 32), bool))
    argv = ["prepare-real", "davis16", str(src), str(tmp_path / "data"), "--flow", "farneback"]
    if case.endswith("depth"):
        _depth_maps(tmp_path / "depth" / "cat", 3, value=0.0 if case == "zero_depth" else 0.5)
        argv += ["--depth", f"precomputed:{tmp_path / 'depth'}", "--videos", "cat"]
        words = ["precomputed depth of video 'cat'", "carries no depth"]
    elif case == "mask_size":
        argv += ["--videos", "cat"]
        words = ["00000.png is 16x12", "32x24"]
    elif case == "mask_count":
        argv += ["--videos", "cat"]
        words = ["'cat' has 4 masks but 3 frames"]
    else:
        (src / "JPEGImages" / "480p" / "dog").mkdir()
        argv += ["--videos", "cat", "dog"]
        words = ["'dog'", "has no frames"]
    assert cli.main(argv) == 2
    _one_line_error(capsys, *words)


# --- 5: one writer per output folder ----------------------------------------------------------------

def test_case05_second_writer_is_refused_naming_the_holder(tmp_path, capsys):
    import os

    from dattt_nb.guards import output_lock

    src = _raw_davis(tmp_path / "DAVIS")
    dst = tmp_path / "data"
    with output_lock(dst):
        assert cli.main(["prepare-real", "davis16", str(src), str(dst), "--videos", "cat"]) == 2
        _one_line_error(capsys, "being written by another dattt-nb process", f"pid {os.getpid()}")
        assert cli.main(["train", "--profile", "ci", "--out-dir", str(dst)]) == 2
        _one_line_error(capsys, f"pid {os.getpid()}")
    assert not (dst / "dataset.json").exists()


# --- 2: train never replaces another run without --force ------------------------------------------

def test_case02_train_other_settings_need_force(tmp_path, capsys):
    import torch

    out = tmp_path / "O"
    base = ["train", "--profile", "ci", "-p", "train_steps", "2", "-p", "val_every", "2", "--no-progress",
            "--out-dir", str(out)]
    assert cli.main(base + ["-p", "seed", "1"]) == 0
    first = (out / "best.pt").read_bytes()
    (out / "notes.txt").write_text("an earlier file of this folder")
    capsys.readouterr()
    assert cli.main(base + ["-p", "lr", "1e-3"]) == 2
    _one_line_error(capsys, "other settings", "--force")
    assert (out / "best.pt").read_bytes() == first, "the first model was replaced"
    assert cli.main(base + ["-p", "lr", "1e-3", "--force"]) == 0
    assert torch.load(out / "last.pt", weights_only=True)["config"]["lr"] == 1e-3
    assert not (out / "notes.txt").exists(), "--force replaces the old output as a whole"


def test_case02_train_refuses_a_folder_of_other_files(tmp_path, capsys):
    (tmp_path / "photo.jpg").write_bytes(b"mine")
    assert cli.main(["train", "--profile", "ci", "--out-dir", str(tmp_path)]) == 2
    _one_line_error(capsys, "not a training run", "--force")
    assert (tmp_path / "photo.jpg").read_bytes() == b"mine"


# --- 16: BatchNorm with a batch of one --------------------------------------------------------------

def test_case16_batchnorm_batch_of_one_names_the_setting(capsys):
    assert cli.main(["train", "--profile", "ci", "-p", "backbone", "resnet18", "-p", "batch_size", "1"]) == 2
    _one_line_error(capsys, "setting 'batch_size'", "BatchNorm", "batch_size >= 2")


# --- segment: 3, 7, 10, 11 (--gt auto), 13, 14, 15, 18, 20 ----------------------------------------

@pytest.fixture(scope="module")
def seg(tmp_path_factory):
    """An untrained ci checkpoint, its slim bundle record, and two 4-frame clips (one inside a DAVIS layout)."""
    import shutil

    import torch

    from dattt_nb.config import resolve
    from dattt_nb.data.demo import write_demo_clip
    from dattt_nb.models import build_model
    from dattt_nb.train.checkpoint import save_checkpoint, train_config

    tmp = tmp_path_factory.mktemp("reliability_segment")
    settings = resolve("ci", device="cpu")
    ckpt = save_checkpoint(tmp / "run" / "best.pt", config=train_config(settings, "alpha+beta"),
                           model=build_model(settings).state_dict(), step=0)
    torch.save({"config": train_config(settings, "alpha+beta"), "step": 30, "finished": True, "slim": True},
               tmp / "run" / "last.pt")
    davis = write_demo_clip(tmp / "DAVIS", settings, n_frames=4, size=48)  # JPEGImages/<video> + Annotations/
    clip, other = tmp / "clips" / "cat", tmp / "clips" / "dog"  # plain frame folders
    shutil.copytree(davis, clip)
    shutil.copytree(davis, other)
    return dict(tmp=tmp, checkpoint=str(ckpt), slim=str(tmp / "run" / "last.pt"), clip=str(clip),
                other=str(other), davis=str(davis))


def _segment(seg, video, out, *extra):
    return cli.main(["segment", str(video), "--out", str(out), "--checkpoint", seg["checkpoint"], "--profile", "ci",
                     "--quiet", "--ttt", "none", "--no-baseline", *extra])


def test_case03_segment_keeps_each_video_and_never_replaces_without_force(seg, tmp_path, capsys):
    out = tmp_path / "O"
    assert _segment(seg, seg["clip"], out) == 0
    assert _segment(seg, seg["other"], out) == 0
    for name in ("cat", "dog"):
        assert (out / name / "segment.json").is_file() and (out / name / "overlay.gif").is_file()
        assert len(list((out / "masks" / name).glob("*.png"))) == 4
    record = (out / "cat" / "segment.json").read_bytes()
    assert _segment(seg, seg["clip"], out, "-p", "seed", "3") == 2
    _one_line_error(capsys, "already holds a segmentation of video 'cat'", "--force")
    assert (out / "cat" / "segment.json").read_bytes() == record
    assert _segment(seg, seg["clip"], out) == 0, "the same job may rewrite its own output"


def test_case07_forced_rerun_leaves_no_stale_mask(seg, tmp_path):
    from dattt_nb.metrics import evaluate_folder

    out = tmp_path / "O"
    name = Path(seg["davis"]).name
    assert _segment(seg, seg["davis"], out) == 0
    assert _segment(seg, seg["davis"], out, "--max-frames", "2") == 2, "another job needs --force"
    assert _segment(seg, seg["davis"], out, "--max-frames", "2", "--force") == 0
    assert sorted(p.stem for p in (out / "masks" / name).glob("*.png")) == ["00000", "00001"]
    assert json.loads((out / name / "segment.json").read_text())["frames"] == 2
    gt = tmp_path / "gt"
    for stem in ("00000", "00001"):
        write_mask(gt / "Annotations" / name / f"{stem}.png", np.ones((48, 48), bool))
    assert int(evaluate_folder(gt, out / "masks").loc[name, "frames"]) == 2


def test_case10_segment_dot_is_named_after_the_folder(seg, tmp_path, monkeypatch):
    monkeypatch.chdir(seg["clip"])
    assert _segment(seg, ".", tmp_path / "O") == 0
    assert len(list((tmp_path / "O" / "masks" / "cat").glob("*.png"))) == 4
    assert json.loads((tmp_path / "O" / "cat" / "segment.json").read_text())["video"] == "cat"


def test_case11_gt_auto_says_whether_it_found_annotations(seg, tmp_path, capsys):
    assert _segment(seg, seg["clip"], tmp_path / "a", "--gt", "auto") == 0
    captured = capsys.readouterr()
    assert "--gt auto: no annotations found beside" in captured.err and "no J/F" in captured.err
    assert _segment(seg, seg["davis"], tmp_path / "b", "--gt", "auto") == 0
    captured = capsys.readouterr()
    assert "ground truth:" in captured.out and "Annotations" in captured.out and "J" in captured.out


def test_case13_slim_record_as_checkpoint_says_where_the_weights_are(seg, tmp_path, capsys):
    argv = ["segment", seg["clip"], "--out", str(tmp_path / "O"), "--checkpoint", seg["slim"], "--quiet"]
    assert cli.main(argv) == 2
    _one_line_error(capsys, "holds no weights", "best.pt")
    assert cli.main(["ttt", "--profile", "ci", "--checkpoint", seg["slim"]]) == 2
    _one_line_error(capsys, "holds no weights", "best.pt")


def test_case14_flow_never_downscales_below_the_method_minimum(seg, tmp_path, capsys):
    wide, tiny = tmp_path / "wide", tmp_path / "tiny"
    _frames(wide, 3, size=(40, 1000))
    _frames(tiny, 3, size=(10, 10))
    assert _segment(seg, wide, tmp_path / "a") == 0, capsys.readouterr().err
    assert json.loads((tmp_path / "a" / "wide" / "segment.json").read_text())["flow_size"][0] >= 16
    assert _segment(seg, tiny, tmp_path / "b") == 2
    _one_line_error(capsys, "10x10 px are too small for dis flow", ">= 16 px")


def test_case15_device_the_machine_cannot_serve_names_the_setting(seg, tmp_path, capsys, monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)
    for extra in (["--device", "cuda"], ["-p", "device", "cuda:7"]):
        assert _segment(seg, seg["clip"], tmp_path / "O", *extra) == 2
        _one_line_error(capsys, "setting 'device'", "no CUDA device", "auto")
    if not torch.backends.mps.is_available():
        assert _segment(seg, seg["clip"], tmp_path / "O", "-p", "device", "mps") == 2
        _one_line_error(capsys, "setting 'device'", "no Apple GPU")
    assert cli.main(["train", "--profile", "ci", "-p", "device", "cuda", "--out-dir", str(tmp_path / "t")]) == 2
    _one_line_error(capsys, "setting 'device'")
    assert not (tmp_path / "O").exists()


def test_case18_segment_disk_full_names_the_path_and_leaves_nothing_half(seg, tmp_path, capsys, monkeypatch):
    from dattt_nb.run import segment
    from dattt_nb.utils import atomic_path

    def full_disk(frames, path, *a, **k):
        with atomic_path(path) as tmp:
            raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(segment, "write_gif", full_disk)
    assert _segment(seg, seg["clip"], tmp_path / "O") == 2
    _one_line_error(capsys, "cannot write", "overlay.gif", "no space left", "free")
    assert not (tmp_path / "O" / "masks" / "cat").exists() and not (tmp_path / "O" / "cat").exists()


@pytest.mark.parametrize("extra, words", [
    (["-p", "ttt_strategy", "nosuch"], ["'ttt_strategy': expected none | n | mwi | ltv"]),
    (["-p", "ttt_strategy", "loop"], ["not used by segment", "--ttt"]),
    (["-p", "decoder_dim", "64"], ["'decoder_dim' is 64", "trained with 32"]),
    (["-p", "lr", "1e-3"], ["'lr' shapes stage-1 training", "never retrained"]),
])
def test_case20_segment_applies_or_refuses_every_setting(seg, tmp_path, capsys, extra, words):
    assert _segment(seg, seg["clip"], tmp_path / "O", *extra) == 2
    _one_line_error(capsys, *words)
    assert not (tmp_path / "O").exists()


def test_case20_segment_applies_image_size_to_a_checkpoint(seg, tmp_path):
    """-p image_size with --checkpoint rebuilds the model at that size (the weights do not depend on it)."""
    import json

    assert _segment(seg, seg["clip"], tmp_path / "O", "-p", "image_size", "64") == 0
    record = json.loads(next((tmp_path / "O").rglob("segment.json")).read_text())
    assert record["input_size"] == 64


# --- eval: 6, 9, 17 ---------------------------------------------------------------------------------

def _mask_folder(folder, n=2, rgba_alpha_only=False):
    mask = np.zeros((16, 16), bool)
    mask[4:12, 4:12] = True
    folder.mkdir(parents=True, exist_ok=True)
    for t in range(n):
        if rgba_alpha_only:  # RGB all zero, the object only in alpha
            rgba = np.zeros((16, 16, 4), np.uint8)
            rgba[..., 3] = mask * 255
            Image.fromarray(rgba, "RGBA").save(folder / f"{t:05d}.png")
        else:
            write_mask(folder / f"{t:05d}.png", mask)


def test_case06_eval_errors_on_missing_videos_unless_allowed_and_lists_them(tmp_path, capsys):
    for v in ("a", "b", "c"):
        _mask_folder(tmp_path / "gt" / "Annotations" / v)
    _mask_folder(tmp_path / "pred" / "a")
    argv = ["eval", "--gt", str(tmp_path / "gt"), "--pred", str(tmp_path / "pred")]
    assert cli.main(argv) == 2
    _one_line_error(capsys, "no predictions for 2 of the 3", "b, c", "--allow-missing")
    assert cli.main(argv + ["--allow-missing", "--out", str(tmp_path / "r.json")]) == 0
    out = capsys.readouterr().out
    assert "skipped 2 ground-truth video(s) without predictions (--allow-missing): b, c" in out
    assert "mean over 1 videos" in out
    assert json.loads((tmp_path / "r.json").read_text())["missing"] == ["b", "c"]
    _mask_folder(tmp_path / "pred" / "zebra")  # an extra prediction video is named
    assert cli.main(argv + ["--allow-missing"]) == 2
    _one_line_error(capsys, "['zebra']")


def test_case09_rgba_mask_with_the_object_only_in_alpha(tmp_path):
    from dattt_nb.data.layout import read_mask
    from dattt_nb.metrics import evaluate_folder

    _mask_folder(tmp_path / "gt" / "Annotations" / "v", rgba_alpha_only=True)
    _mask_folder(tmp_path / "pred" / "v")
    assert read_mask(tmp_path / "gt" / "Annotations" / "v" / "00000.png").sum() == 64
    assert evaluate_folder(tmp_path / "gt", tmp_path / "pred").loc["v", "J"] == 1.0
    opaque = np.zeros((16, 16, 4), np.uint8)
    opaque[..., 3] = 255  # an opaque empty RGBA mask stays empty
    Image.fromarray(opaque, "RGBA").save(tmp_path / "empty.png")
    assert not read_mask(tmp_path / "empty.png").any()


@pytest.mark.parametrize("value", ["nan", "inf", "0", "-1"])
def test_case17_eval_bound_th_must_be_a_fraction(tmp_path, capsys, value):
    _mask_folder(tmp_path / "gt" / "Annotations" / "v")
    _mask_folder(tmp_path / "pred" / "v")
    assert cli.main(["eval", "--gt", str(tmp_path / "gt"), "--pred", str(tmp_path / "pred"), "--bound-th",
                     value]) == 2
    _one_line_error(capsys, f"--bound-th {float(value)}", "(0, 1)")


# --- bundles: 11 (members), 12 (all or nothing), 18 (disk full) ------------------------------------

@pytest.fixture
def course(tmp_path, monkeypatch):
    """A ci run folder with a checkpoint and a table, exported as a bundle; DATTT_RUNS then points at a fresh root."""
    import torch

    from dattt_nb.course import bundle

    ci = tmp_path / "runs" / "ci"
    (ci / "checkpoints" / "m").mkdir(parents=True)
    torch.save({"model": {"w": torch.ones(2)}}, ci / "checkpoints" / "m" / "best.pt")
    (ci / "results").mkdir()
    (ci / "results" / "t.csv").write_text("a,b\n1,2\n")
    monkeypatch.setenv("DATTT_RUNS", str(tmp_path / "runs"))
    out = tmp_path / "b.tar.gz"
    bundle.export_bundle(out, profile="ci")
    fresh = tmp_path / "fresh"
    monkeypatch.setenv("DATTT_RUNS", str(fresh))
    return dict(bundle=out, fresh=fresh, ci=ci)


def _with_member(src, dst, name, data=b"x"):
    """Copy bundle ``src`` to ``dst`` with one more file (listed in its manifest, so only the path is wrong)."""
    import hashlib
    import io
    import tarfile

    with tarfile.open(src) as tin, tarfile.open(dst, "w:gz") as tout:
        for m in tin.getmembers():
            blob = tin.extractfile(m).read()
            if m.name == "bundle.json":
                manifest = json.loads(blob)
                manifest["files"][name.split("/", 1)[1]] = {"sha256": hashlib.sha256(data).hexdigest(),
                                                            "size": len(data)}
                blob = json.dumps(manifest).encode()
            m.size = len(blob)
            tout.addfile(m, io.BytesIO(blob))
        info = tarfile.TarInfo(name)
        info.size = len(data)
        tout.addfile(info, io.BytesIO(data))


def test_case11_bundle_members_only_under_the_documented_folders(course, tmp_path, capsys):
    bad = tmp_path / "bad.tar.gz"
    _with_member(course["bundle"], bad, "files/manifest.json")
    assert cli.main(["bundle", "import", str(bad)]) == 2
    _one_line_error(capsys, "'files/manifest.json' is outside the folders a bundle carries", "nothing unpacked")
    assert not (course["fresh"] / "ci" / "manifest.json").exists()


def test_case11_bundle_export_refuses_to_write_into_what_it_packs(course, capsys, monkeypatch):
    monkeypatch.setenv("DATTT_RUNS", str(course["ci"].parent))
    assert cli.main(["bundle", "export", str(course["ci"] / "results" / "b.tar.gz"), "--profile", "ci"]) == 2
    _one_line_error(capsys, "is inside the bundled folder")


def test_case12_bundle_file_meeting_a_folder_unpacks_nothing(course, capsys):
    fresh = course["fresh"] / "ci"
    (fresh / "results" / "t.csv").mkdir(parents=True)  # a folder where the bundle's file goes
    assert cli.main(["bundle", "import", str(course["bundle"])]) == 2
    _one_line_error(capsys, "results/t.csv meets a folder", "nothing unpacked")
    assert not (fresh / "checkpoints").exists(), "no earlier file was placed"
    (fresh / "results" / "t.csv").rmdir()
    (fresh / "checkpoints").write_text("a file where a folder goes")
    assert cli.main(["bundle", "import", str(course["bundle"])]) == 2
    _one_line_error(capsys, "meets a file", "nothing unpacked")
    assert not (fresh / "results" / "t.csv").exists()


def test_case12_failed_move_takes_back_what_was_placed(course, capsys, monkeypatch):
    from dattt_nb.course import bundle

    real, calls = bundle.os.replace, []

    def second_move_fails(a, b):
        calls.append(b)
        if len(calls) == 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(a, b)

    monkeypatch.setattr(bundle.os, "replace", second_move_fails)
    assert cli.main(["bundle", "import", str(course["bundle"])]) == 2
    _one_line_error(capsys, "no space left", "free")
    monkeypatch.setattr(bundle.os, "replace", real)
    left = [p for p in (course["fresh"] / "ci").rglob("*") if p.is_file() and not p.name.startswith(".")]
    assert left == [], left


def test_case18_bundle_import_on_a_full_disk_blames_the_disk_not_the_bundle(course, capsys, monkeypatch):
    import tarfile

    def full(self, *a, **k):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(tarfile.TarFile, "extractall", full)
    assert cli.main(["bundle", "import", str(course["bundle"])]) == 2
    err = _one_line_error(capsys, "no space left on its disk", "free")
    assert "not a readable" not in err


# --- run: 19 (Ctrl-C), 20 (bad SETTINGS up front for --jobs 1) -------------------------------------

def test_case19_ctrl_c_during_run_ends_with_one_line(tmp_path):
    """A real kernel busy in a cell, SIGINT to the command's process group (what a terminal's Ctrl-C does): one
    line on stderr; the kernel's own ZMQError goes to its log beside the executed notebook."""
    import os
    import signal
    import subprocess
    import sys
    import time

    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("PROFILE = 'ci'", metadata={"tags": ["parameters"]}),
                nbformat.v4.new_code_cell(f"import pathlib, time\npathlib.Path({str(tmp_path / 'busy')!r}).touch()\n"
                                          "time.sleep(60)")]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    (tmp_path / "nbs").mkdir()
    nbformat.write(nb, tmp_path / "nbs" / "00_sleep.ipynb")
    code = ("import functools, sys; from dattt_nb import cli; from dattt_nb.run import pipeline; "
            f"pipeline.run_pipeline = functools.partial(pipeline.run_pipeline, notebooks_dir={str(tmp_path / 'nbs')!r}); "
            "sys.exit(cli.main(['run', '--profile', 'ci']))")
    env = {**os.environ, "DATTT_RUNS": str(tmp_path / "runs"), "PYTHONPATH": os.getcwd()}
    # a terminal's foreground job takes Ctrl-C even when these tests run in the background (where SIGINT is ignored)
    proc = subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    log = tmp_path / "runs" / "ci" / "notebooks" / "00_sleep.kernel.log"
    deadline = time.time() + 120
    while not (tmp_path / "busy").is_file() and time.time() < deadline:  # the cell has started (a cold kernel is slow)
        time.sleep(0.2)
    time.sleep(0.5)
    os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert err.decode().strip().splitlines() == ["dattt-nb: interrupted"], err.decode()
    assert log.is_file()


def test_case20_bad_settings_are_caught_up_front_with_one_job(tmp_path, capsys, monkeypatch):
    from dattt_nb.run import pipeline

    monkeypatch.setattr(pipeline, "_execute", lambda *a, **k: pytest.fail("a notebook ran"))
    monkeypatch.setenv("DATTT_RUNS", str(tmp_path / "runs"))
    for jobs in ("1", "2"):
        assert cli.main(["run", "--profile", "ci", "--only", "02", "-p", "SETTINGS", "{lr: 5}", "--jobs", jobs]) == 2
        _one_line_error(capsys, "'lr': expected a number in (0, 1)")


# --- 18: full disks and read-only targets name the path (and the free space) ----------------------

def test_case18_train_disk_full_names_the_checkpoint(tmp_path, capsys, monkeypatch):
    import torch

    def full(*a, **k):
        raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 64 vs 0")

    monkeypatch.setattr(torch, "save", full)
    assert cli.main(["train", "--profile", "ci", "-p", "train_steps", "1", "-p", "val_every", "1", "--no-progress",
                     "--out-dir", str(tmp_path / "O")]) == 2
    _one_line_error(capsys, "cannot write", ".pt", "no space left on its disk", "GiB free")


def test_case18_prepare_real_onto_a_read_only_folder(tmp_path, capsys, monkeypatch):
    import os

    src = _raw_davis(tmp_path / "DAVIS")

    def read_only(path, *a, **k):
        raise OSError(errno.EROFS, "Read-only file system", str(path))

    monkeypatch.setattr(os, "mkdir", read_only)
    assert cli.main(["prepare-real", "davis16", str(src), str(tmp_path / "ro" / "data"), "--videos", "cat"]) == 2
    _one_line_error(capsys, f"cannot write {tmp_path / 'ro' / 'data'}", "read-only")


def test_case18_bundle_export_disk_full_names_the_bundle(course, capsys, monkeypatch, tmp_path):
    import tarfile

    monkeypatch.setenv("DATTT_RUNS", str(course["ci"].parent))

    def full(self, *a, **k):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(tarfile.TarFile, "add", full)
    assert cli.main(["bundle", "export", str(tmp_path / "out.tar.gz"), "--profile", "ci"]) == 2
    _one_line_error(capsys, f"cannot write {tmp_path / 'out.tar.gz'}", "no space left", "free")
    assert not (tmp_path / "out.tar.gz").exists()


def test_ttt_results_never_go_into_the_test_root(tmp_path, capsys):
    root = _raw_davis(tmp_path / "data")
    assert cli.main(["ttt", "--profile", "ci", "--root", str(root), "--save-masks", str(root / "masks")]) == 2
    _one_line_error(capsys, "--save-masks", "is inside the test root")


def test_case05_lock_held_by_another_process(tmp_path, capsys):
    import os
    import subprocess
    import sys

    out = tmp_path / "O"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from dattt_nb.guards import output_lock\n"
                               f"with output_lock({str(out)!r}):\n    print('held', flush=True); time.sleep(60)"],
        stdout=subprocess.PIPE, env={**os.environ, "PYTHONPATH": os.getcwd()})
    try:
        assert holder.stdout.readline().strip() == b"held"
        assert cli.main(["train", "--profile", "ci", "--out-dir", str(out)]) == 2
        _one_line_error(capsys, "being written by another dattt-nb process", f"pid {holder.pid}")
    finally:
        holder.kill()
        holder.wait()
    assert not (out / "last.pt").exists()
