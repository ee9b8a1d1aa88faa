"""The dattt-nb command: `eval` on generated and real DAVIS masks, `run` argument handling, one-line errors."""
import dataclasses
import json

import numpy as np
import pytest
from PIL import Image

from dattt_nb import cli
from dattt_nb.run import pipeline


def write_mask(path, mask):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(mask.astype(np.uint8) * 255).save(path)


@pytest.fixture
def davis_pair(tmp_path):
    """gt (DAVIS layout) and predictions: video 'same' is perfect, video 'half' misses the right half."""
    gt_root, pred_root = tmp_path / "gt", tmp_path / "pred"
    mask = np.zeros((20, 24), bool)
    mask[4:16, 4:20] = True
    half = mask.copy()
    half[:, 12:] = False
    for t in range(3):
        for video, pred in (("same", mask), ("half", half)):
            write_mask(gt_root / "Annotations" / video / f"{t:05d}.png", mask)
            write_mask(pred_root / video / f"{t:05d}.png", pred)
    return gt_root, pred_root


def test_eval_prints_table_and_writes_json(davis_pair, tmp_path, capsys):
    gt_root, pred_root = davis_pair
    out = tmp_path / "res" / "results.json"
    assert cli.main(["eval", "--gt", str(gt_root), "--pred", str(pred_root), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "same" in printed and "half" in printed and "mean over 2 videos" in printed
    saved = json.loads(out.read_text())
    assert saved["videos"]["same"]["J"] == 1.0 and saved["videos"]["same"]["F"] == 1.0
    assert saved["videos"]["half"]["J"] == pytest.approx(0.5) and saved["videos"]["half"]["frames"] == 3
    assert saved["mean"]["J"] == pytest.approx(0.75)


def test_eval_errors_are_one_line_with_nonzero_exit(davis_pair, tmp_path, capsys):
    gt_root, pred_root = davis_pair
    (pred_root / "half" / "00002.png").unlink()
    assert cli.main(["eval", "--gt", str(gt_root), "--pred", str(pred_root)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("dattt-nb: error:") and "00002.png" in err and "\n" not in err
    assert cli.main(["eval", "--gt", str(tmp_path / "missing"), "--pred", str(pred_root)]) == 2
    assert cli.main(["eval", "--pred", str(pred_root)]) == 2  # usage error from argparse
    assert cli.main(["--help"]) == 0


def test_eval_real_davis_masks_against_themselves(davis_mini, tmp_path, capsys):
    """pred = gt on real 480p DAVIS-16 masks (davis16-mini): J = F = 1 for every video."""
    out = tmp_path / "real.json"
    pred = davis_mini / "Annotations" / "480p"
    assert cli.main(["eval", "--gt", str(davis_mini), "--pred", str(pred), "--out", str(out)]) == 0
    saved = json.loads(out.read_text())
    assert set(saved["videos"]) == {"blackswan", "car-shadow", "libby"}
    assert saved["videos"]["blackswan"]["frames"] == 50
    assert saved["mean"] == {"J": 1.0, "F": 1.0, "JF": 1.0}


def test_run_parses_parameters_as_yaml(monkeypatch, capsys):
    calls = {}

    def fake_run_pipeline(**kwargs):
        calls.update(kwargs)
        return {"run_dir": "runs/ci", "notebooks": {"00_overview": {"status": "ok", "seconds": 1.5, "reused": False}}}

    monkeypatch.setattr(pipeline, "run_pipeline", fake_run_pipeline)
    argv = ["run", "--profile", "ci", "--only", "00,01", "-p", "TRAIN_STEPS", "30", "-p", "LR", "1e-5",
            "-p", "USE_DEPTH", "true", "-p", "NAME", "abc", "-p", "STEPS", "null", "--force", "--jobs", "2"]
    assert cli.main(argv) == 0
    assert calls["profile"] == "ci" and calls["only"] == ["00", "01"] and calls["force"] is True and calls["jobs"] == 2
    assert calls["params"] == {"TRAIN_STEPS": 30, "LR": 1e-5, "USE_DEPTH": True, "NAME": "abc", "STEPS": None}
    assert "00_overview" in capsys.readouterr().out


def test_run_unknown_profile_is_a_one_line_error(capsys):
    assert cli.main(["run", "--profile", "nope"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("dattt-nb: error: unknown profile 'nope'") and "\n" not in err


def test_prepare_builds_the_benchmark(monkeypatch, tmp_path, capsys):
    from dattt_nb.cli import main

    monkeypatch.setenv("DATTT_DATA", str(tmp_path))
    assert main(["prepare", "--profile", "ci"]) == 0
    out = capsys.readouterr().out
    assert "davis" in out and (tmp_path / "synthetic" / "ci" / "davis" / "dataset.json").is_file()


def test_train_and_ttt_delegate_to_their_modules(capsys):
    from dattt_nb.cli import main

    assert main(["train", "--help"]) == 0
    assert main(["ttt", "--help"]) == 0
    assert "--profile" in capsys.readouterr().out


@pytest.mark.parametrize("argv, words", [
    (["train", "--profile", "nope"], "unknown profile 'nope'"),
    (["train", "--profile", "ci", "-p", "image_size", "0"], "'image_size': expected an integer >= 16"),
    (["train", "--profile", "ci", "-p", "train_steps", "-5"], "'train_steps': expected an integer >= 1"),
    (["ttt", "--profile", "ci", "-p", "image_size", "abc"], "'image_size': expected an integer"),
    (["prepare", "--profile", "ci", "-p", "ttt_lr", "1e6"], "'ttt_lr': expected a number in (0, 1)"),
])
def test_bad_settings_are_one_line_errors_with_exit_2(argv, words, capsys):
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("dattt-nb: error:") and words in err and "\n" not in err


def test_debug_shows_the_traceback():
    from dattt_nb.config import SettingError

    with pytest.raises(SettingError):
        cli.main(["train", "--profile", "ci", "-p", "lr", "abc", "--debug"])


@pytest.fixture
def raw_davis(tmp_path):
    """A raw DAVIS-2016 root (JPEGImages/480p, Annotations/480p) with one 3-frame video."""
    rng = np.random.default_rng(0)
    mask = np.zeros((24, 32), bool)
    mask[6:18, 8:24] = True
    root = tmp_path / "DAVIS"
    for t in range(3):
        frame = root / "JPEGImages" / "480p" / "cat" / f"{t:05d}.jpg"
        frame.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 255, (24, 32, 3), dtype=np.uint8)).save(frame)
        write_mask(root / "Annotations" / "480p" / "cat" / f"{t:05d}.png", mask)
    return root


def _depth(folder, stems, value=0.5):
    from dattt_nb.data.layout import depth_to_uint16

    folder.mkdir(parents=True, exist_ok=True)
    for stem in stems:
        ramp = np.linspace(0.5, 1.0, 16)[None].repeat(12, 0) * value * 2  # varies: a constant map is refused
        Image.fromarray(depth_to_uint16(ramp)).save(folder / f"{stem}.png")


def test_prepare_real_with_precomputed_depth(raw_davis, tmp_path, capsys):
    _depth(tmp_path / "depth" / "cat", ["00000", "00001", "00002"])
    dst = tmp_path / "data" / "davis16"
    assert cli.main(["prepare-real", "davis16-train", str(raw_davis), str(dst), "--flow", "dis",
                     "--depth", f"precomputed:{tmp_path / 'depth'}"]) == 0
    assert "davis16-train: 1 videos" in capsys.readouterr().out
    from dattt_nb.data.layout import load_video

    video = load_video(dst, "cat")
    assert video.depth.shape == (3, 24, 32) and float(video.depth.max()) == 1.0 and video.flow is not None
    # a missing map, a bad route, absent RAFT weights: one line each, exit 2, saying how to provide it
    (tmp_path / "depth" / "cat" / "00001.png").unlink()
    assert cli.main(["prepare-real", "davis16-train", str(raw_davis), str(tmp_path / "d2"),
                     "--depth", f"precomputed:{tmp_path / 'depth'}"]) == 2
    assert "lacks 1 of 3 maps, e.g. 00001.png" in capsys.readouterr().err
    assert cli.main(["prepare-real", "davis16", str(raw_davis), str(tmp_path / "d3"), "--depth", "monodepth"]) == 2
    assert "expected precomputed[:DIR]" in capsys.readouterr().err


def test_prepare_real_missing_weights_or_package_say_how(raw_davis, tmp_path, monkeypatch, capsys):
    import sys

    monkeypatch.setenv("DATTT_RAFT_WEIGHTS", str(tmp_path / "nowhere.pth"))
    assert cli.main(["prepare-real", "davis16", str(raw_davis), str(tmp_path / "a"), "--flow", "raft_small"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--allow-download" in err and "--flow dis" in err
    assert not (tmp_path / "a").exists(), "fails before converting anything"
    monkeypatch.setitem(sys.modules, "transformers", None)  # not installed
    assert cli.main(["prepare-real", "davis16", str(raw_davis), str(tmp_path / "b"), "--depth", "transformers"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "pip install" in err and "precomputed:DIR" in err


def test_download_davis16_prepares_the_root_the_notebooks_use(tmp_path, monkeypatch, capsys, file_urls_only):
    """`dattt-nb download davis16` (a file:// stand-in for the archive): unzip, convert, flow; davis_root finds it."""
    import zipfile

    from dattt_nb import config
    from dattt_nb.data import real

    archive = tmp_path / "DAVIS-data.zip"
    rng = np.random.default_rng(0)
    with zipfile.ZipFile(archive, "w") as zf:
        for t in range(3):
            frame, mask = tmp_path / "f.jpg", tmp_path / "m.png"
            Image.fromarray(rng.integers(0, 255, (24, 32, 3), dtype=np.uint8)).save(frame)
            write_mask(mask, np.pad(np.ones((8, 8), bool), ((8, 8), (12, 12))))  # the frames' 32x24
            zf.write(frame, f"DAVIS/JPEGImages/480p/blackswan/{t:05d}.jpg")
            zf.write(mask, f"DAVIS/Annotations/480p/blackswan/{t:05d}.png")
    opened = file_urls_only
    monkeypatch.setitem(real.DATASETS, "davis16", {**real.DATASETS["davis16"], "url": archive.as_uri()})
    monkeypatch.setenv("DATTT_DATA", str(tmp_path / "data"))
    monkeypatch.delenv(config.DAVIS_SAMPLE_ENV, raising=False)
    assert config.davis_root() is None  # nothing downloaded yet: the notebooks fall back to a synthetic clip
    assert cli.main(["download", "davis16", "--flow", "farneback"]) == 0
    root = tmp_path / "data" / "davis16"
    assert len(opened) == 1 and "data/davis16" in capsys.readouterr().out
    assert config.davis_root() == root
    assert len(list((root / "JPEGImages" / "blackswan").iterdir())) == 3 and (root / "Flow" / "blackswan").is_dir()
    monkeypatch.setenv(config.DAVIS_SAMPLE_ENV, str(tmp_path / "missing"))
    assert config.davis_root() is None  # a named sample that is not there is not silently replaced


# --- bad input to segment, eval, train and ttt: one line, exit 2, checked before the work ---------------------

@pytest.fixture(scope="module")
def seg(tmp_path_factory):
    """An untrained ci checkpoint, a 5-frame synthetic clip and the same clip with frame 00002 missing."""
    import shutil

    from dattt_nb.config import resolve
    from dattt_nb.data.demo import write_demo_clip
    from dattt_nb.models import build_model
    from dattt_nb.train.checkpoint import save_checkpoint, train_config

    tmp = tmp_path_factory.mktemp("cli_segment")
    settings = resolve("ci", device="cpu")
    ckpt = save_checkpoint(tmp / "model.pt", config=train_config(settings, "alpha+beta"),
                           model=build_model(settings).state_dict(), step=0)
    clip = write_demo_clip(tmp / "clip", settings, n_frames=5, size=48)
    gappy = tmp / "gappy"
    shutil.copytree(clip, gappy)
    (gappy / "00002.jpg").unlink()
    (tmp / "notes.pt").write_text("not a checkpoint\n")
    return dict(tmp=tmp, checkpoint=str(ckpt), clip=str(clip), gappy=str(gappy))


def _one_line_error(capsys, *words):
    err = capsys.readouterr().err.strip()
    assert err.startswith("dattt-nb: error:") and "\n" not in err, err
    for w in words:
        assert w in err, err
    return err


@pytest.mark.parametrize("extra, words", [
    (["--checkpoint", "notes.pt"], ["notes.pt is not a torch checkpoint"]),
    (["--checkpoint", "."], ["is a directory, expected a .pt file"]),
    (["--resize-long", "-5"], ["--resize-long", "got -5"]),
    (["--out", "notes.pt"], ["output folder notes.pt is a file; expected a folder"]),
    (["--gt", "nowhere"], ["ground-truth folder nowhere does not exist"]),
])
def test_segment_input_errors_are_one_line(seg, extra, words, capsys, monkeypatch):
    monkeypatch.chdir(seg["tmp"])
    argv = ["segment", seg["clip"], "--out", "out", "--checkpoint", seg["checkpoint"], "--profile", "ci", "--quiet"]
    assert cli.main(argv + extra) == 2
    _one_line_error(capsys, *words)
    assert not (seg["tmp"] / "out").exists(), "nothing is written after a bad input"


def test_segment_gaps_and_non_finite_ttt(seg, tmp_path, capsys, monkeypatch):
    """A gap is an error listing the missing frame (--allow-gaps: a one-line warning); TTT whose every step is
    non-finite is an error unless --allow-nonfinite."""
    from dattt_nb.ttt import objectives

    argv = ["segment", seg["gappy"], "--checkpoint", seg["checkpoint"], "--profile", "ci", "--quiet", "--ttt", "n",
            "--epochs", "1", "--no-baseline", "--out"]
    assert cli.main(argv + [str(tmp_path / "a")]) == 2
    _one_line_error(capsys, "frame(s) 00002 missing", "--allow-gaps")

    record = objectives.OBJECTIVES["depth"]
    monkeypatch.setitem(objectives.OBJECTIVES, "depth", dataclasses.replace(
        record, loss=lambda model, batch: record.loss(model, batch) * float("nan")))
    assert cli.main(argv + [str(tmp_path / "b"), "--allow-gaps"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert sum("trained only on synthetic clips" in line for line in err) == 1, "one line says what the model is"
    err = [line for line in err if "trained only on synthetic clips" not in line]
    assert err[0].startswith("dattt-nb: warning:") and "00002 missing" in err[0]
    assert err[1].startswith("dattt-nb: error: TTT-N skipped 4 of 4 steps (100%) as non-finite") and len(err) == 2
    assert not (tmp_path / "b").exists()
    assert cli.main(argv + [str(tmp_path / "c"), "--allow-gaps", "--allow-nonfinite"]) == 0
    record = json.loads(next((tmp_path / "c").glob("*/segment.json")).read_text())
    assert record["ttt_run"]["nonfinite"] == record["ttt_run"]["steps"] == 4
    assert record["frame_names"] == ["00000", "00001", "00003", "00004"]


def test_eval_checks_out_before_computing(davis_pair, tmp_path, capsys, monkeypatch):
    from dattt_nb import metrics

    gt_root, pred_root = davis_pair
    monkeypatch.setattr(metrics, "evaluate_folder", lambda *a, **k: pytest.fail("evaluated before checking --out"))
    assert cli.main(["eval", "--gt", str(gt_root), "--pred", str(pred_root), "--out", str(tmp_path)]) == 2
    _one_line_error(capsys, "--out", "is a folder; expected a file name")
    (tmp_path / "file").write_text("x")
    assert cli.main(["eval", "--gt", str(gt_root), "--pred", str(pred_root), "--out",
                     str(tmp_path / "file" / "res.json")]) == 2
    _one_line_error(capsys, "cannot be created")


def _tiny_root(root, videos=("a", "b"), t=3, size=32):
    from dattt_nb.data.layout import write_video

    rng = np.random.default_rng(0)
    for name in videos:
        masks = np.zeros((t, size, size), bool)
        masks[:, 8:24, 8:24] = True
        write_video(root, name, rng.integers(0, 256, (t, size, size, 3), dtype=np.uint8), masks,
                    flow_rgb=rng.integers(0, 256, (t, size, size, 3), dtype=np.uint8),
                    depth=rng.uniform(0.1, 1, (t, size, size)))
    return root


def test_train_with_a_typed_lr_override(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("DATTT_RUNS", str(tmp_path / "runs"))
    root = _tiny_root(tmp_path / "data")
    argv = ["train", "--profile", "ci", "-p", "lr", "6e-5", "--max-steps", "1", "--train-root", str(root),
            "--out-dir", str(tmp_path / "ck"), "--no-progress"]
    assert cli.main(argv) == 0
    out = capsys.readouterr().out
    assert json.loads(out[out.index("{"):])["step"] == 1
    from dattt_nb.train import load_checkpoint

    ckpt = load_checkpoint(tmp_path / "ck" / "last.pt")
    assert ckpt["step"] == 1 and ckpt["config"]["lr"] == 6e-5 and isinstance(ckpt["config"]["lr"], float)


@pytest.mark.parametrize("argv, words", [
    (["ttt", "--profile", "nope"], ["unknown profile 'nope'"]),
    (["train", "--profile", "ci", "-p", "flow_method", "raft_small", "-p", "n_train_videos", "1",
      "-p", "frames_per_video", "3", "--no-progress"], ["raft_small weights not found at", "DATTT_RAFT_WEIGHTS"]),
])
def test_train_and_ttt_input_errors_are_one_line(argv, words, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("DATTT_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("DATTT_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("DATTT_RAFT_WEIGHTS", str(tmp_path / "no_raft.pth"))
    assert cli.main(argv) == 2
    _one_line_error(capsys, *words)


def test_prepare_real_flat_release_split(tmp_path, capsys):
    """The official processed data (frame/ flow/ mask/ depth/ <split>/ <video>_<frame>) through the command line,
    its own RAFT flow and MonoDepth2 maps kept (flow precomputed by default, --depth precomputed)."""
    import numpy as np
    from PIL import Image

    from dattt_nb import cli
    from dattt_nb.data.layout import load_video

    src = tmp_path / "release"
    rng = np.random.default_rng(0)
    for kind, mode in (("frame", "RGB"), ("flow", "RGB"), ("mask", "L"), ("depth", "L")):
        for split in ("train", "val"):
            (src / kind / split).mkdir(parents=True)
            for t in range(3):
                shape = (24, 32, 3) if mode == "RGB" else (24, 32)
                arr = rng.integers(1, 255, shape, dtype=np.uint8)
                if kind == "mask":
                    arr = (arr > 128).astype(np.uint8) * 255
                ext = "jpg" if kind == "frame" else "png"
                Image.fromarray(arr, mode).save(src / kind / split / f"bmx-trees_{t:05d}.{ext}")
    assert cli.main(["prepare-real", "flat-release", str(src), str(tmp_path / "val"), "--split", "val",
                     "--depth", "precomputed"]) == 0
    assert "flat-release: 1 videos" in capsys.readouterr().out
    video = load_video(tmp_path / "val", "bmx-trees")
    assert len(video) == 3 and video.flow is not None and video.depth is not None
    assert cli.main(["prepare-real", "davis16", str(src), str(tmp_path / "x"), "--split", "val"]) == 2
    assert "--split is for flat-release only" in capsys.readouterr().err
