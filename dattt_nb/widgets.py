"""Interactive browsing for JupyterLab: a frame slider over frame | mask | flow | depth."""
from __future__ import annotations


def browse_video(video, t: int = 0):
    """An ipywidgets frame slider showing :func:`dattt_nb.viz.show_video_row`; works headless (nbval, papermill)."""
    import ipywidgets as widgets
    import matplotlib.pyplot as plt

    from dattt_nb.viz import show_video_row

    if len(video) == 0:
        raise ValueError(f"video {video.name!r} has no frames")
    slider = widgets.IntSlider(value=min(max(t, 0), len(video) - 1), min=0, max=len(video) - 1, step=1,
                               description="frame", continuous_update=False)

    def show(frame: int):
        show_video_row(video, frame)
        plt.show()

    return widgets.interact(show, frame=slider)
