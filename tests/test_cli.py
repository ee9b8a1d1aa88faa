"""The dattt-nb command: `eval` on generated and real DAVIS masks, `run` argument handling, one-line errors."""
import json

import numpy as np
import pytest
from PIL import Image

from dattt_nb import cli, pipeline


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
            "-p", "USE_DEPTH", "true", "-p", "NAME", "abc", "-p", "STEPS", "null", "--force"]
    assert cli.main(argv) == 0
    assert calls["profile"] == "ci" and calls["only"] == ["00", "01"] and calls["force"] is True
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
        Image.fromarray(depth_to_uint16(np.full((12, 16), value))).save(folder / f"{stem}.png")


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
    assert "expected precomputed:DIR" in capsys.readouterr().err


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
