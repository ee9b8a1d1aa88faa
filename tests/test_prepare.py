"""ensure_benchmark: builds every split once, caches flow/depth, rebuilds on new params, never trusts partial files."""
import os
import time

import numpy as np
import pytest

from dattt_nb.config import resolve
from dattt_nb.data import layout, prepare
from dattt_nb.data.flow import endpoint_error
from dattt_nb.data.synthetic import split_plan
from dattt_nb.splits import SPLITS


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("DATTT_DATA", str(tmp_path))
    return tmp_path


def _mtimes(root):
    return {p: p.stat().st_mtime_ns for p in root.rglob("*") if p.is_file()}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """The ci benchmark built once for the module (DATTT_DATA set by hand: module scope)."""
    root = tmp_path_factory.mktemp("data")
    old = os.environ.get("DATTT_DATA")
    os.environ["DATTT_DATA"] = str(root)
    try:
        settings = resolve("ci")
        roots = prepare.ensure_benchmark(settings, verbose=False)
        yield settings, roots, root
    finally:
        os.environ.pop("DATTT_DATA") if old is None else os.environ.__setitem__("DATTT_DATA", old)


def test_builds_all_splits(built):
    settings, roots, data = built
    assert list(roots) == SPLITS
    plan = split_plan(settings)
    for split, root in roots.items():
        assert root == data / "synthetic" / "ci" / split
        names = layout.list_videos(root)
        assert len(names) == plan[split]["n_videos"]
        manifest = layout.read_manifest(root)
        assert manifest["complete"] and manifest["generator"] == prepare.generator_params(split, settings)
        derived = manifest["derived"]
        assert set(derived["flow"].values()) == {"dis"} and set(derived["depth"].values()) == {"gt"}
    v = layout.load_video(roots["longvideos"], layout.list_videos(roots["longvideos"])[0])
    size, n = settings.image_size, plan["longvideos"]["n_frames"]
    assert v.frames.shape == (n, 3, size, size) and v.flow.shape == (n, 3, size, size)
    assert v.depth.shape == (n, size, size) and 0 < v.depth.min() and v.depth.max() <= 1
    assert v.masks.any()


def test_model_consumes_estimated_flow(built):
    _, roots, _ = built
    name = layout.list_videos(roots["davis"])[0]
    true, est = prepare.true_and_estimated_flow(roots["davis"], name)
    assert true.shape == est.shape and not np.array_equal(true, est), "FlowRaw holds DIS flow, FlowGT the truth"
    assert endpoint_error(est, true) < 5.0


def test_second_call_is_cached(built):
    settings, roots, data = built
    before = _mtimes(data)
    start = time.perf_counter()
    assert prepare.ensure_benchmark(settings, verbose=False) == roots
    assert time.perf_counter() - start < 3.0
    assert _mtimes(data) == before, "a cached run rewrites nothing"


def test_changed_flow_method_recomputes_flow_only(built):
    settings, roots, _ = built
    root = roots["mcl"]
    before = _mtimes(root)
    prepare.ensure_benchmark(resolve("ci", flow_method="gt"), splits=["mcl"], verbose=False)
    after = _mtimes(root)
    changed = {p.relative_to(root).parts[0] for p in before if before[p] != after.get(p)}
    assert changed == {"Flow", "FlowRaw", "dataset.json"}, "frames, masks and depth are kept"
    name = layout.list_videos(root)[0]
    true, est = prepare.true_and_estimated_flow(root, name)
    assert endpoint_error(est, true) < 1e-2, "method 'gt' copies the true flow"
    prepare.ensure_benchmark(settings, splits=["mcl"], verbose=False)  # back to DIS for the other tests


def test_changed_generator_param_rebuilds(data_dir):
    small = resolve("ci", n_test_videos=1)
    root = prepare.ensure_benchmark(small, splits=["davis"], verbose=False)["davis"]
    assert len(layout.list_videos(root)) == 1
    frame = (root / "JPEGImages" / "davis_000" / "00000.jpg").read_bytes()
    root = prepare.ensure_benchmark(resolve("ci", n_test_videos=2), splits=["davis"], verbose=False)["davis"]
    assert len(layout.list_videos(root)) == 2
    frame2 = (root / "JPEGImages" / "davis_000" / "00000.jpg").read_bytes()
    same = prepare.ensure_benchmark(resolve("ci", n_test_videos=2, seed=1), splits=["davis"], verbose=False)["davis"]
    assert same == root, "another model seed tests on the same clips"
    other = prepare.ensure_benchmark(resolve("ci", n_test_videos=2, data_seed=1), splits=["davis"],
                                     verbose=False)["davis"]
    assert other != root and other.parent.name == "ci-seed1", "another data seed gets its own folder"
    assert (other / "JPEGImages" / "davis_000" / "00000.jpg").read_bytes() != frame2, "another data seed, other clips"
    assert (root / "JPEGImages" / "davis_000" / "00000.jpg").read_bytes() == frame2, "seed 0's clips are kept"


def test_interrupted_write_leaves_no_partial_file(data_dir, monkeypatch):
    settings = resolve("ci", n_test_videos=1)
    calls = {"n": 0}
    real_imwrite = layout.cv2.imwrite

    def flaky(path, img, *args):
        calls["n"] += 1
        if calls["n"] == 5:
            with open(path, "wb") as fh:
                fh.write(b"half a file")
            raise KeyboardInterrupt("simulated interruption")
        return real_imwrite(path, img, *args)

    monkeypatch.setattr(layout.cv2, "imwrite", flaky)
    with pytest.raises(KeyboardInterrupt):
        prepare.ensure_benchmark(settings, splits=["davis"], verbose=False)
    root = data_dir / "synthetic" / "ci" / "davis"
    files = [p for p in root.rglob("*") if p.is_file()]
    assert files and all(not p.name.startswith(".") for p in files), "no temporary file left behind"
    assert all(p.stat().st_size != len(b"half a file") for p in files), "no half-written file under a final name"
    assert not (root / "dataset.json").exists(), "an interrupted split is not marked complete"
    monkeypatch.setattr(layout.cv2, "imwrite", real_imwrite)
    prepare.ensure_benchmark(settings, splits=["davis"], verbose=False)
    assert layout.read_manifest(root)["complete"]


def test_real_dataset_missing_is_explained(data_dir):
    with pytest.raises(FileNotFoundError, match=r"no training root.*prepare-real youtube-vos.*youtube-vos.org") as err:
        prepare.ensure_benchmark(resolve("ci", dataset="real"), verbose=False)
    assert "prepare-real davis16-train" in str(err.value)
    with pytest.raises(FileNotFoundError, match=r"no test root.*prepare-real davis16 .*davischallenge"):
        prepare.ensure_benchmark(resolve("ci", dataset="real"), splits=["davis"], verbose=False)


def test_prepare_real_flow_depth_cached(data_dir):
    from PIL import Image

    src = data_dir / "src"
    from skimage.data import astronaut

    img = astronaut()[::8, ::8]
    for t in range(3):
        p = src / "JPEGImages" / "vid" / f"{t:05d}.jpg"
        p.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.roll(img, 2 * t, axis=1)).save(p)
    ann = src / "Annotations" / "vid" / "00000.png"
    ann.parent.mkdir(parents=True)
    Image.fromarray((np.arange(64 * 64).reshape(64, 64) % 7 == 0).astype(np.uint8)).save(ann)
    dst = prepare.prepare_real("youtube-vos", src)
    assert dst == data_dir / "youtube-vos"
    v = layout.load_video(dst, "vid", with_depth=False)
    assert v.flow.shape == (3, 3, 64, 64) and v.annotated.tolist() == [True, False, False]
    assert not (dst / "FlowRaw").exists(), "no raw flow for real data unless asked (gigabytes at 480p)"
    before = _mtimes(dst)
    assert set(prepare.compute_flow(dst, "dis").values()) == {"cached"}
    assert _mtimes(dst) == before
    with pytest.raises(FileNotFoundError, match="synthetic data only"):
        prepare.compute_depth(dst, "gt")
    with pytest.raises(FileNotFoundError, match="synthetic data only"):
        prepare.compute_flow(dst, "gt")


def _flat_release(src, videos=("bmx-trees", "bird_of_paradise"), n=3):
    import cv2

    for video in videos:
        for t in range(n):
            stem = f"{video}_{t:05d}"
            images = {"frame": np.full((12, 16, 3), 90, np.uint8), "flow": np.full((12, 16, 3), 200, np.uint8),
                      "mask": np.pad(np.full((4, 4), 255, np.uint8), ((4, 4), (6, 6))),
                      "depth": np.full((12, 16), 40 * (t + 1), np.uint8)}  # 8-bit maps like the release's
            for kind, img in images.items():
                path = src / kind / "val" / f"{stem}.{'jpg' if kind == 'frame' else 'png'}"
                path.parent.mkdir(parents=True, exist_ok=True)
                cv2.imwrite(str(path), img)


def test_flat_release_with_precomputed_flow_and_depth(data_dir, monkeypatch):
    src = data_dir / "DAVIS2SEG"
    _flat_release(src)
    dst = prepare.prepare_real("flat-release", src, data_dir / "davis16", split="val", flow_method="precomputed",
                               depth_source="precomputed")
    v = layout.load_video(dst, "bmx-trees")
    assert v.depth.shape == (3, 12, 16) and v.depth.max() == 1.0, "normalised per video to (0, 1]"
    assert np.allclose(v.depth[:, 0, 0].numpy(), [1 / 3, 2 / 3, 1], atol=1e-4), "order and ratios kept"
    assert not (dst / "Depth" / "bmx-trees" / "00000.png").is_symlink(), "normalised maps replace the links"
    import cv2

    assert cv2.imread(str(src / "depth" / "val" / "bmx-trees_00000.png"), 0)[0, 0] == 40, "the source is untouched"
    before = _mtimes(dst)
    assert set(prepare.compute_depth(dst, "precomputed").values()) == {"cached"} and _mtimes(dst) == before
    with pytest.raises(ValueError, match="already normalised"):
        prepare.compute_depth(dst, "precomputed", invert=True)

    settings = resolve("ci", dataset="real", flow_method="precomputed", depth_source="precomputed",
                       extra={"roots": {"train": [str(dst)], "val": [str(dst)], "test": [str(dst)]}})
    with pytest.warns(UserWarning, match="validation and test split 'davis' share 2 video"):
        roots = prepare.ensure_benchmark(settings, verbose=False)
    assert set(roots) == {"train", "val", "davis"} and roots["davis"] == roots["train"] == dst


def test_two_processes_building_one_split_do_not_delete_each_others_files(tmp_path):
    """Two notebooks (or test workers) asking for the same missing split at once: one builds it, the other waits and
    finds it complete — neither removes the folder the other is writing (they used to race into 'Directory not
    empty')."""
    import os
    import subprocess
    import sys

    import time

    code = ("import sys, time; from dattt_nb.config import resolve; "
            "from dattt_nb.data.prepare import ensure_benchmark; "
            "time.sleep(max(0.0, float(sys.argv[1]) - time.time())); "  # both start building at the same moment
            "print(ensure_benchmark(resolve('ci'), splits=['davis'], verbose=True)['davis'])")
    env = {**os.environ, "DATTT_DATA": str(tmp_path / "data"), "PYTHONPATH": os.getcwd(), "OMP_NUM_THREADS": "1"}
    start = str(time.time() + 10)  # after both have imported torch
    procs = [subprocess.Popen([sys.executable, "-c", code, start], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE) for _ in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [err.decode()[-800:] for _, err in outs]
    said = " ".join(out.decode() for out, _ in outs)
    assert said.count("davis: generated") == 1 and said.count("davis: cached") == 1, said  # one built, one waited
    root = tmp_path / "data" / "synthetic" / "ci" / "davis"
    from dattt_nb.data.layout import read_manifest

    assert read_manifest(root)["complete"]
