"""The paper profile on real data, end to end at a reduced size: prepare-real → train → ttt --checkpoint → eval
of the saved masks → notebooks 02 and 06 through papermill with SETTINGS (skips without the DAVIS sample)."""
import json
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from dattt_nb.cli import main
from dattt_nb.data.layout import depth_to_uint16, image_files, kind_dir

VIDEOS, FRAMES = ("blackswan", "car-shadow"), 4  # a DAVIS root that has only some videos, first frames of each
REDUCED = dict(image_size=64, backbone="mit_b0", flow_method="dis", pretrained=False, decoder_dim=32,
               train_steps=4, batch_size=4, val_every=4, ttt_epochs=1, ttt_pairs=2, num_workers=0)
OVERRIDES = [a for k, v in REDUCED.items() for a in ("-p", k, str(v).lower() if isinstance(v, bool) else str(v))]


def raw_sample(davis, dst):
    """A raw DAVIS-2016 root (JPEGImages/480p, Annotations/480p) with the first FRAMES frames of VIDEOS (links)."""
    for kind in ("JPEGImages", "Annotations"):
        for video in VIDEOS:
            for path in image_files(kind_dir(davis, kind) / video)[:FRAMES]:
                link = dst / kind / "480p" / video / path.name
                link.parent.mkdir(parents=True, exist_ok=True)
                link.symlink_to(path.resolve())
    return dst


def depth_maps(raw, dst):
    """Precomputed depth in the documented format: DIR/<video>/<frame>.png, 16-bit round(depth·65535), any size."""
    for video in VIDEOS:
        for frame in image_files(kind_dir(raw, "JPEGImages") / video):
            ramp = np.linspace(1.0, 0.2, 120)[:, None].repeat(214, 1)  # far at the top, near at the bottom
            (dst / video).mkdir(parents=True, exist_ok=True)
            assert cv2.imwrite(str(dst / video / f"{frame.stem}.png"), depth_to_uint16(ramp))
    return dst


def test_paper_profile_on_real_data(davis_mini, tmp_path, monkeypatch, capsys):
    start = time.perf_counter()
    data, runs = tmp_path / "data", tmp_path / "runs"
    monkeypatch.setenv("DATTT_DATA", str(data))
    monkeypatch.setenv("DATTT_RUNS", str(runs))
    raw = raw_sample(davis_mini, tmp_path / "DAVIS")
    depth = depth_maps(raw, tmp_path / "depth")

    for name in ("davis16", "davis16-train"):  # test root, and DAVIS-16 "train" (here the same sample) to train on
        assert main(["prepare-real", name, str(raw), str(data / name), "--flow", "dis",
                     "--depth", f"precomputed:{depth}"]) == 0
    assert sorted(p.name for p in (data / "davis16" / "JPEGImages").iterdir()) == sorted(VIDEOS)
    assert len(image_files(data / "davis16" / "Depth" / VIDEOS[0])) == FRAMES

    capsys.readouterr()
    assert main(["train", "--profile", "paper", *OVERRIDES, "--train-root", str(data / "davis16-train"),
                 "--val-root", str(data / "davis16"), "--no-progress"]) == 0
    out = capsys.readouterr().out
    summary = json.loads(out[out.rindex("{\n"):])
    ckpt = Path(summary["checkpoint"])
    assert summary["finished"] and summary["step"] == REDUCED["train_steps"] and ckpt == _train_summary(runs)
    assert "64px" in ckpt.parent.name and ckpt.is_file()

    masks, out = tmp_path / "masks", tmp_path / "ttt"
    assert main(["ttt", "--profile", "paper", "--checkpoint", str(ckpt), "--test-root", str(data / "davis16"),
                 "--videos", VIDEOS[0], "--save-masks", str(masks), "--out-dir", str(out), *OVERRIDES,
                 "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert f"model: {ckpt}" in printed and "trained on real data" in printed
    ttt_j = json.loads((out / "davis.json").read_text())["videos"][0]["J"]
    assert f"davis: mean J = {ttt_j:.3f}" in printed and "at the original frame size" in printed
    first = image_files(masks / VIDEOS[0])
    assert len(first) == FRAMES and cv2.imread(str(first[0]), 0).shape == (480, 854), "masks at the frame size"

    assert main(["eval", "--gt", str(data / "davis16"), "--pred", str(masks), "--out", str(tmp_path / "eval.json"),
                 "--allow-missing"]) == 0  # TTT ran on VIDEOS[0] only
    eval_j = json.loads((tmp_path / "eval.json").read_text())["mean"]["J"]
    assert eval_j == pytest.approx(ttt_j, abs=1e-6), "eval of the saved masks reproduces the J that ttt printed"

    # ttt without --checkpoint never trains: a 128 px model does not exist, so it stops and says how to train it
    assert main(["ttt", "--profile", "paper", *OVERRIDES, "-p", "image_size", "128",
                 "--train-root", str(data / "davis16-train"), "--val-root", str(data / "davis16"),
                 "--test-root", str(data / "davis16"), "--videos", VIDEOS[0]]) == 2
    err = capsys.readouterr().err
    assert "image_size (64 there, 128 here)" in err and "dattt-nb train --profile paper" in err
    assert len(list(runs.glob("paper/checkpoints/*/*/best.pt"))) == 1, "nothing was trained"
    print(f"\ncommands: {time.perf_counter() - start:.1f} s; ttt J {ttt_j:.4f} = eval J {eval_j:.4f}")

    settings = "{" + ", ".join(f"{k}: {str(v).lower() if isinstance(v, bool) else v}" for k, v in REDUCED.items()) + "}"
    mark = time.perf_counter()
    assert main(["run", "--profile", "paper", "--only", "02,06", "-p", "SETTINGS", settings,
                 "-p", "FIG5_VIDEOS", "1", "-p", "ANCHOR_LR", "0"]) == 0
    manifest = json.loads((runs / "paper" / "manifest.json").read_text())
    assert {n: e["status"] for n, e in manifest["notebooks"].items()} == \
        {"02_joint_training": "ok", "06_ttt_loop": "ok"}
    print(f"notebooks 02 and 06 (paper profile, SETTINGS): {time.perf_counter() - mark:.1f} s; "
          f"whole test {time.perf_counter() - start:.1f} s")


def _train_summary(runs):
    """The best.pt that the reduced training wrote (one run, keyed by its settings)."""
    found = list(runs.glob("paper/checkpoints/alpha+beta/*/best.pt"))
    assert len(found) == 1, found
    return found[0]
