"""DAVIS J and boundary F: hand-counted cases, the empty-mask conventions, NumPy/torch parity, folder evaluation."""
import cv2
import numpy as np
import pytest
import torch
from PIL import Image

from dattt_nb import metrics
from dattt_nb.metrics import (
    boundary_f, boundary_f_torch, db_statistics, evaluate_folder, evaluate_video, jaccard, jaccard_torch, seg2bmap,
)


def square(top, left, size=3, shape=(8, 8)):
    mask = np.zeros(shape, bool)
    mask[top:top + size, left:left + size] = True
    return mask


def blobs(rng, n, shape):
    """Random smooth blobs (plus some empty and full masks) for parity tests."""
    out = []
    for i in range(n):
        noise = rng.random(shape).astype(np.float32)
        out.append(cv2.GaussianBlur(noise, (0, 0), rng.uniform(1, 4)) > rng.uniform(0.45, 0.55))
    out[0][:] = False
    out[1][:] = True
    return np.stack(out)


# --- hand-counted -------------------------------------------------------------------------------------------

def test_jaccard_counts_intersection_over_union():
    gt = np.zeros((3, 3), bool)
    pred = np.zeros((3, 3), bool)
    gt[0, 0:2] = True  # 2 pixels
    pred[0, 1:3] = True  # 2 pixels, 1 shared → union 3
    assert jaccard(gt, pred) == pytest.approx(1 / 3)
    assert jaccard(square(2, 2), square(2, 4)) == pytest.approx(3 / 15)  # 3x3 squares 2 px apart


def test_empty_mask_conventions():
    empty, full = np.zeros((8, 8), bool), square(2, 2)
    assert jaccard(empty, empty) == 1.0 and boundary_f(empty, empty) == 1.0
    assert jaccard(full, empty) == 0.0 and boundary_f(full, empty) == 0.0  # missed object
    assert jaccard(empty, full) == 0.0 and boundary_f(empty, full) == 0.0  # hallucinated object


def test_seg2bmap_is_the_ring_half_a_pixel_towards_the_origin():
    ring = np.zeros((8, 8), bool)
    ring[1:5, 1:5] = True
    ring[2:4, 2:4] = False  # 3x3 square at rows/cols 2..4 → ring of the 4x4 box at 1..4
    assert np.array_equal(seg2bmap(square(2, 2)), ring)
    edge = np.zeros((4, 4), bool)
    edge[:, 2:] = True  # touches the right border: only the left edge (one column before) is a boundary
    assert np.array_equal(np.argwhere(seg2bmap(edge)), [[r, 1] for r in range(4)])


def test_boundary_f_tolerance_of_a_shifted_square():
    gt = square(2, 2)
    # radius 1 (DAVIS: ceil(0.008 * diagonal 11.3) = 1): a 1-px shift is within tolerance ...
    assert metrics.bound_pixels(gt.shape) == 1
    assert boundary_f(gt, square(2, 3)) == 1.0
    # ... a 2-px shift matches 8 of the 12 boundary pixels each way: P = R = 2/3
    assert boundary_f(gt, square(2, 4)) == pytest.approx(2 / 3)
    assert boundary_f(gt, square(2, 4), bound_th=1) == pytest.approx(2 / 3)
    assert boundary_f(gt, square(2, 4), bound_th=2) == 1.0
    # on a 200x200 image the tolerance is ceil(0.008 * 282.8) = 3 px
    big_gt, big_pred = square(50, 50, 40, (200, 200)), square(50, 53, 40, (200, 200))
    assert metrics.bound_pixels(big_gt.shape) == 3
    assert boundary_f(big_gt, big_pred) == 1.0
    assert boundary_f(big_gt, square(50, 54, 40, (200, 200))) < 1.0


def test_db_statistics_mean_recall_decay():
    stats = db_statistics([1, 1, 1, 1, 0, 0, 0, 0])  # official bins: [0..2], ..., [5..7]
    assert stats == {"mean": 0.5, "recall": 0.5, "decay": 1.0}
    assert db_statistics([0.5, 0.6])["recall"] == 0.5  # recall counts values strictly above 0.5
    assert db_statistics([0.7])["decay"] == 0.0
    assert db_statistics([0.9, np.nan, 0.9, np.nan])["recall"] == 1.0  # frames without ground truth are ignored
    long = db_statistics(np.linspace(1, 0, 400))  # > 255 frames: the official uint8 bins would wrap
    assert long["decay"] == pytest.approx(0.75, abs=0.01)
    with pytest.raises(ValueError):
        db_statistics([])


# --- shapes, errors ---------------------------------------------------------------------------------------

def test_stacks_give_per_frame_arrays():
    rng = np.random.default_rng(0)
    gt, pred = blobs(rng, 5, (24, 30)), blobs(rng, 5, (24, 30))
    j, f = jaccard(gt, pred), boundary_f(gt, pred)
    assert j.shape == f.shape == (5,)
    assert np.allclose(j, [jaccard(g, p) for g, p in zip(gt, pred)])
    assert np.allclose(f, [boundary_f(g, p) for g, p in zip(gt, pred)])
    assert isinstance(jaccard(gt[0], pred[0]), float) and isinstance(boundary_f(gt[0], pred[0]), float)


def test_bad_inputs_are_refused_clearly():
    a = np.zeros((4, 4), bool)
    with pytest.raises(ValueError, match="shapes differ"):
        jaccard(a, np.zeros((4, 5), bool))
    with pytest.raises(TypeError, match="dtype bool"):
        boundary_f(a, a.astype(np.uint8))
    with pytest.raises(TypeError, match="jaccard_torch"):
        jaccard(torch.zeros(4, 4, dtype=torch.bool), a)
    with pytest.raises(ValueError, match=r"\(T, H, W\)"):
        jaccard(np.zeros((1, 1, 4, 4), bool), np.zeros((1, 1, 4, 4), bool))
    with pytest.raises(ValueError, match="shapes differ"):
        boundary_f_torch(torch.zeros(2, 4, 4, dtype=torch.bool), torch.zeros(3, 4, 4, dtype=torch.bool))
    with pytest.raises(TypeError, match="torch.bool"):
        jaccard_torch(torch.zeros(1, 4, 4), torch.zeros(1, 4, 4))
    with pytest.raises(ValueError, match="whole pixels"):
        boundary_f(a, a, bound_th=2.5)


# --- NumPy / torch parity -----------------------------------------------------------------------------------

@pytest.mark.parametrize("shape,bound_th", [((32, 32), 0.008), ((37, 53), 0.05), ((64, 48), 3)])
def test_torch_matches_numpy_on_random_blobs(shape, bound_th):
    rng = np.random.default_rng(sum(shape))
    gt, pred = blobs(rng, 6, shape), blobs(rng, 6, shape)
    j_t = jaccard_torch(torch.from_numpy(gt), torch.from_numpy(pred))
    f_t = boundary_f_torch(torch.from_numpy(gt), torch.from_numpy(pred), bound_th)
    assert j_t.shape == f_t.shape == (6,) and j_t.dtype == f_t.dtype == torch.float32
    np.testing.assert_allclose(j_t.numpy(), jaccard(gt, pred), atol=1e-6)
    np.testing.assert_allclose(f_t.numpy(), boundary_f(gt, pred, bound_th), atol=1e-6)
    assert np.array_equal(metrics.seg2bmap_torch(torch.from_numpy(gt)).numpy(), seg2bmap(gt))


def test_torch_single_frame_and_hand_case():
    gt, pred = torch.from_numpy(square(2, 2)), torch.from_numpy(square(2, 4))
    assert boundary_f_torch(gt, pred).item() == pytest.approx(2 / 3)
    assert jaccard_torch(gt[None], pred[None]).tolist() == pytest.approx([0.2])
    empty = torch.zeros(1, 8, 8, dtype=torch.bool)
    assert boundary_f_torch(empty, empty).tolist() == [1.0] and jaccard_torch(empty, empty).tolist() == [1.0]


def test_real_davis_masks_numpy_torch_parity(davis_mini):
    """Real 480p masks against an eroded copy: the two implementations agree (tolerance 8 px)."""
    files = sorted((davis_mini / "Annotations" / "480p" / "blackswan").glob("*.png"))[:3]
    gt = np.stack([metrics._read_mask_png(f) for f in files])
    pred = np.stack([cv2.erode(g.astype(np.uint8), np.ones((9, 9), np.uint8)) > 0 for g in gt])
    f_np = boundary_f(gt, pred)
    f_t = boundary_f_torch(torch.from_numpy(gt), torch.from_numpy(pred)).numpy()
    np.testing.assert_allclose(f_t, f_np, atol=1e-6)
    assert 0.5 < f_np.min() and f_np.max() < 1.0 and jaccard(gt, pred).min() > 0.8


# --- videos and folders -------------------------------------------------------------------------------------

def test_evaluate_video_summary_and_annotated_frames():
    gt = np.stack([square(2, 2)] * 4)
    pred = np.stack([square(2, 2), square(2, 2), square(2, 4), np.zeros((8, 8), bool)])
    res = evaluate_video(torch.from_numpy(gt), pred)  # tensors (Video.masks) are accepted
    assert np.allclose(res["J_frames"], [1, 1, 0.2, 0])
    assert np.allclose(res["F_frames"], [1, 1, 2 / 3, 0])
    assert res["J"] == pytest.approx(2.2 / 4) and res["J_recall"] == 0.5 and res["J_decay"] == pytest.approx(0.9)
    assert res["JF"] == pytest.approx((res["J"] + res["F"]) / 2)
    sparse = evaluate_video(gt, pred, annotated=np.array([True, False, True, False]))
    assert sparse["frames"].tolist() == [0, 2] and np.allclose(sparse["J_frames"], [1, 0.2])
    with pytest.raises(ValueError, match="shapes differ"):
        evaluate_video(gt, pred[:3])


def write_png(path, mask, mode="L"):
    path.parent.mkdir(parents=True, exist_ok=True)
    arr = mask.astype(np.uint8)
    if mode == "L":
        Image.fromarray(arr * 255).save(path)
    elif mode == "P":
        img = Image.fromarray(arr, mode="P")
        img.putpalette([0, 0, 0, 128, 0, 0] + [0] * 762)
        img.save(path)
    elif mode == "RGB":
        Image.fromarray(np.stack([arr * 200, arr * 0, arr * 0], -1)).save(path)
    elif mode == "RGBA":
        Image.fromarray(np.stack([arr * 255] * 3 + [np.full_like(arr, 255)], -1)).save(path)


@pytest.mark.parametrize("mode", ["L", "P", "RGB", "RGBA"])
def test_read_mask_png_modes(tmp_path, mode):
    mask = square(1, 2, 3, (6, 7))
    write_png(tmp_path / "m.png", mask, mode)
    assert np.array_equal(metrics._read_mask_png(tmp_path / "m.png"), mask)


def test_read_mask_png_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.png"):
        metrics._read_mask_png(tmp_path / "nope.png")
    (tmp_path / "bad.png").write_text("not an image")
    with pytest.raises(ValueError, match="bad.png"):
        metrics._read_mask_png(tmp_path / "bad.png")


def make_davis(tmp_path, level=""):
    """gt with two videos of 4 frames; pred = gt for 'a', 2-px shifted squares for 'b'."""
    gt_root, pred_root = tmp_path / "gt", tmp_path / "pred"
    ann = gt_root / "Annotations" / level if level else gt_root / "Annotations"
    for video, shift in (("a", 0), ("b", 2)):
        for t in range(4):
            write_png(ann / video / f"{t:05d}.png", square(2, 2))
            write_png(pred_root / video / f"{t:05d}.png", square(2, 2 + shift), mode="P")
    return gt_root, pred_root


@pytest.mark.parametrize("level", ["", "480p", "1080p"])
def test_evaluate_folder(tmp_path, level):
    gt_root, pred_root = make_davis(tmp_path, level)
    table = evaluate_folder(gt_root, pred_root)
    assert list(table.index) == ["a", "b"] and table.loc["a", "frames"] == 4
    assert table.loc["a", "J"] == 1.0 and table.loc["a", "F"] == 1.0
    assert table.loc["b", "J"] == pytest.approx(0.2) and table.loc["b", "F"] == pytest.approx(2 / 3)


@pytest.mark.parametrize("width", [1, 5])
def test_evaluate_folder_reads_frames_in_natural_order(tmp_path, width):
    """0.png … 10.png: J-decay (first quarter minus last quarter) is that of 00000.png … 00010.png."""
    for t in range(11):
        name = f"{t:0{width}d}.png"
        write_png(tmp_path / "gt" / "Annotations" / "v" / name, square(2, 2))
        write_png(tmp_path / "pred" / "v" / name, square(2, 2 if t < 6 else 7))  # good early, off late
    table = evaluate_folder(tmp_path / "gt", tmp_path / "pred")
    assert table.loc["v", "J_decay"] == pytest.approx(1.0)


def test_evaluate_folder_names_missing_and_mismatched_files(tmp_path):
    gt_root, pred_root = make_davis(tmp_path)
    (pred_root / "b" / "00003.png").unlink()
    with pytest.raises(ValueError, match="00003.png"):
        evaluate_folder(gt_root, pred_root)
    write_png(pred_root / "b" / "00003.png", np.zeros((9, 8), bool))
    with pytest.raises(ValueError, match=r"size mismatch: .*00003.png .*00003.png"):
        evaluate_folder(gt_root, pred_root)
    write_png(pred_root / "zebra" / "00000.png", square(2, 2))
    with pytest.raises(ValueError, match="zebra"):
        evaluate_folder(gt_root, pred_root)
    with pytest.raises(FileNotFoundError, match="Annotations"):
        evaluate_folder(tmp_path / "nowhere", pred_root)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_torch_metrics_stay_on_cuda_and_match_numpy():
    rng = np.random.default_rng(3)
    gt, pred = blobs(rng, 4, (96, 128)), blobs(rng, 4, (96, 128))
    g, p = torch.from_numpy(gt).cuda(), torch.from_numpy(pred).cuda()
    j, f = jaccard_torch(g, p), boundary_f_torch(g, p, 0.05)
    assert j.is_cuda and f.is_cuda
    np.testing.assert_allclose(j.cpu().numpy(), jaccard(gt, pred), atol=1e-6)
    np.testing.assert_allclose(f.cpu().numpy(), boundary_f(gt, pred, 0.05), atol=1e-6)
