"""Notebook figures: overlays, depth colours, video rows, contact sheets and the headless frame slider."""
import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from dattt_nb import viz  # noqa: E402
from dattt_nb.course import widgets  # noqa: E402
from dattt_nb.data.layout import Video  # noqa: E402


def _video(t=3, h=10, w=12, with_derived=True):
    masks = torch.zeros(t, h, w, dtype=torch.bool)
    masks[:, 2:6, 3:8] = True
    return Video(name="v", frames=torch.rand(t, 3, h, w), masks=masks,
                 flow=torch.rand(t, 3, h, w) if with_derived else None,
                 depth=torch.rand(t, h, w) if with_derived else None, frame_names=[str(i) for i in range(t)],
                 annotated=torch.tensor([True, False, True]))


def test_overlay_tints_only_the_mask():
    frame = np.zeros((3, 8, 8), np.float32)  # channels first is accepted
    mask = np.zeros((8, 8), bool)
    mask[2:6, 2:6] = True
    out = viz.overlay(frame, mask, color=(0, 1, 0), alpha=0.5)
    assert out.shape == (8, 8, 3) and out[0, 0].tolist() == [0, 0, 0]
    assert out[3, 3].tolist() == [0, 0.5, 0] and out[2, 2].tolist() == [0, 1, 0]  # inside / outline
    with pytest.raises(ValueError, match="mask is"):
        viz.overlay(frame, mask[:4])


def test_depth_to_rgb_marks_invalid_black():
    d = np.array([[0.0, 0.2, 1.0]])
    rgb = viz.depth_to_rgb(d)
    assert rgb.shape == (1, 3, 3) and rgb[0, 0].tolist() == [0, 0, 0] and rgb[0, 2].sum() > rgb[0, 1].sum()


def test_rows_and_contact_sheet():
    fig = viz.show_video_row(_video(), 1)
    titles = [ax.get_title() for ax in fig.axes]
    assert titles[0] == "v · t=1" and titles[1] == "mask (not annotated)" and titles[3].startswith("depth")
    plt.close(fig)
    fig = viz.contact_sheet([_video(), _video(with_derived=False)], titles=["a", "b"])
    assert len(fig.axes) == 8 and fig.axes[6].get_title() == "no flow"
    plt.close(fig)
    with pytest.raises(IndexError):
        viz.show_video_row(_video(), 5)


def test_synthetic_video_panels():
    from types import SimpleNamespace

    rng = np.random.default_rng(0)
    video = SimpleNamespace(name="s", frames=rng.integers(0, 255, (2, 6, 6, 3), dtype=np.uint8),
                            masks=np.ones((2, 6, 6), bool), flow=rng.normal(size=(2, 6, 6, 2)).astype(np.float32),
                            depth=np.full((2, 6, 6), 0.5, np.float32), __len__=lambda: 2)
    p = viz.video_panels(video, 0)
    assert p["flow"].shape == (6, 6, 3) and p["frame"].max() <= 1


def test_browse_video_headless(capsys):
    out = widgets.browse_video(_video())
    assert out.widget.children[0].max == 2
    plt.close("all")


def test_hold_span_keeps_small_differences_small():
    import matplotlib.pyplot as plt

    from dattt_nb.viz import hold_span

    fig, ax = plt.subplots()
    ax.plot([0, 1], [70.1, 70.4])
    assert hold_span(ax, [70.1, 70.4], 20) == ax.get_ylim()
    low, high = ax.get_ylim()
    assert abs((high - low) - 20) < 1e-9 and abs((low + high) / 2 - 70.25) < 1e-9
    low, high = hold_span(ax, [10, 90], 20)
    assert low < 10 and high > 90
    plt.close(fig)
