"""Issue 19: nothing a user already has is lost or silently wrong (one test per case, numbered as in the issue).

Sources and outputs are protected, reruns notice changed inputs, eval says what it scored, and the last raw errors
are one line (exit code 2) naming the setting or file and the fix.
"""
from __future__ import annotations

import errno
import json

import numpy as np
import pytest
from PIL import Image

from dattt_nb import cli
from dattt_nb.data.layout import depth_to_uint16, write_mask


def _one_line_error(capsys, *words):
    err = capsys.readouterr().err.strip()
    assert err.startswith("dattt-nb: error:") and "\n" not in err, err
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
    assert cli.main(argv) == 0
    first = {p.name: p.read_bytes() for p in (dst / "Depth" / "cat").iterdir()}
    assert cli.main(argv) == 0, capsys.readouterr().err
    second = {p.name: p.read_bytes() for p in (dst / "Depth" / "cat").iterdir()}
    assert first == second, "an unchanged rerun changed the depth labels"
    assert not any(p.is_symlink() for p in (dst / "Depth" / "cat").iterdir()), "labels are normalised copies"


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

@pytest.mark.parametrize("case", ["zero_depth", "constant_depth", "mask_size", "empty_video"])
def test_case11_prepare_real_rejects_unusable_inputs(tmp_path, capsys, case):
    src = _raw_davis(tmp_path / "DAVIS", mask_size=(12, 16) if case == "mask_size" else None)
    argv = ["prepare-real", "davis16", str(src), str(tmp_path / "data"), "--flow", "farneback"]
    if case.endswith("depth"):
        _depth_maps(tmp_path / "depth" / "cat", 3, value=0.0 if case == "zero_depth" else 0.5)
        argv += ["--depth", f"precomputed:{tmp_path / 'depth'}", "--videos", "cat"]
        words = ["precomputed depth of video 'cat'", "carries no depth"]
    elif case == "mask_size":
        argv += ["--videos", "cat"]
        words = ["00000.png is 16x12", "32x24"]
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
