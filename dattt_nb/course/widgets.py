"""Interactive browsing for JupyterLab (ipywidgets): a frame slider over a video, the TTT explorer, and a before /
after mask viewer for ``dattt-nb segment`` results.

The widgets only draw: what they show comes from pure functions (:mod:`dattt_nb.ttt.explore`,
:func:`segment_frame`), tested without a browser. Headless (nbval, papermill) they build and run the same way.
"""
from __future__ import annotations

import threading

import numpy as np


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


class _Bar:
    """``update(n)`` onto an ipywidgets progress bar (what :func:`~dattt_nb.ttt.runner.run_video` calls)."""

    def __init__(self, progress):
        self.progress = progress

    def update(self, n: int = 1) -> None:
        self.progress.value = min(self.progress.value + n, self.progress.max)


class TTTExplorer:
    """Pick a video and a TTT method (Fig. 4), *Run*, then compare No TTT and TTT frame by frame (§4.2).

    ``data``: {split: [Video]} (e.g. :func:`dattt_nb.ttt.cache.load_test_splits`); a path typed in *folder* (frames
    or a video file) replaces the chosen video. *Run* adapts in a background thread (``run(wait=True)`` blocks, for
    notebooks run headless); *Stop* ends it between two steps. Results are cached beside the notebooks' runs.
    """

    def __init__(self, model, settings, data: dict, split: str | None = None, video: str | None = None,
                 max_frames: int | None = None, **state):
        import ipywidgets as W

        from dattt_nb.ttt.objectives import OBJECTIVES
        from dattt_nb.ttt.spec import TTTRun
        from dattt_nb.ttt.strategies import STRATEGY_LABELS

        if not data or not any(data.values()):
            raise ValueError("the explorer needs at least one video: data = {split: [videos]}")
        self.model, self.settings, self.data, self.max_frames = model, settings, data, max_frames
        self.result = None  # the last Exploration
        self.error: str | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        s = TTTRun.from_settings(settings, **state)
        split = split if split in data else next(s for s, v in data.items() if v)
        style, wide = {"description_width": "70px"}, W.Layout(width="260px")
        self.split = W.Dropdown(options=list(data), value=split, description="split", style=style, layout=wide)
        self.video = W.Dropdown(description="video", style=style, layout=wide)
        self._fill_videos()
        if video is not None:
            self.video.value = video
        self.split.observe(lambda _: self._fill_videos(), "value")
        self.folder = W.Text(placeholder="or a folder of frames / a video file", description="folder",
                             style=style, layout=W.Layout(width="526px"))
        self.strategy = W.Dropdown(options=[(v, k) for k, v in STRATEGY_LABELS.items()], value=s.strategy,
                                   description="strategy", style=style, layout=wide)
        self.groups = W.BoundedIntText(value=s.frame_gap, min=1, max=16, description="groups", style=style,
                                       layout=wide, tooltip="MWI / LTV on interleaved groups of frames (1: not grouped)")
        self.objective = W.Dropdown(options=[(v.label, k) for k, v in OBJECTIVES.items()], value=s.objective,
                                    description="objective", style=style, layout=wide)
        self.lr = W.BoundedFloatText(value=s.lr, min=1e-9, max=1.0, step=1e-6, description="lr", style=style,
                                     layout=wide)
        self.epochs = W.BoundedIntText(value=s.epochs, min=1, max=100, description="passes", style=style, layout=wide)
        self.pairs = W.BoundedIntText(value=s.n_pairs, min=1, max=64, description="view pairs", style=style,
                                      layout=wide)
        self.run_button = W.Button(description="Run", button_style="primary", icon="play")
        self.stop_button = W.Button(description="Stop", button_style="warning", icon="stop", disabled=True)
        self.progress = W.IntProgress(value=0, min=0, max=1, description="", layout=W.Layout(width="300px"))
        self.status = W.HTML("")
        self.frame = W.IntSlider(value=0, min=0, max=0, description="frame", continuous_update=False,
                                 style=style, layout=W.Layout(width="526px"))
        self.panels = W.Image(format="png", layout=W.Layout(max_width="100%"))
        self.curves = W.Image(format="png", layout=W.Layout(max_width="100%"))
        for w, name in ((self.panels, "dattt-explorer-panels"), (self.curves, "dattt-explorer-curves"),
                        (self.run_button, "dattt-explorer-run"), (self.stop_button, "dattt-explorer-stop"),
                        (self.frame, "dattt-explorer-frame"), (self.status, "dattt-explorer-status")):
            w.add_class(name)  # stable handles for the browser test
        self.run_button.on_click(lambda _: self.run())
        self.stop_button.on_click(lambda _: self.stop())
        self.frame.observe(lambda _: self._draw_frame(), "value")
        knobs = W.GridBox([self.split, self.video, self.strategy, self.groups, self.objective, self.lr, self.epochs,
                           self.pairs], layout=W.Layout(grid_template_columns="repeat(2, 270px)"))
        self.widget = W.VBox([knobs, self.folder,
                              W.HBox([self.run_button, self.stop_button, self.progress, self.status]),
                              self.curves, self.frame, self.panels])

    def _fill_videos(self):
        names = [v.name for v in self.data[self.split.value]]
        self.video.options = names
        self.video.value = names[0] if names else None

    def state(self):
        """The knobs as a :class:`~dattt_nb.ttt.spec.TTTRun` (zoom range and seed: the profile's)."""
        from dattt_nb.ttt.spec import TTTRun

        return TTTRun.from_settings(self.settings, strategy=self.strategy.value, objective=self.objective.value,
                                    lr=float(self.lr.value), epochs=int(self.epochs.value),
                                    n_pairs=int(self.pairs.value), frame_gap=int(self.groups.value))

    def selected_video(self):
        """(split, Video) the knobs point at: the typed folder when given, else the chosen split's video."""
        from dattt_nb.ttt.explore import FOLDER_SPLIT, load_folder

        if self.folder.value.strip():
            return FOLDER_SPLIT, load_folder(self.folder.value.strip(), self.settings, self.model, self.max_frames)
        return self.split.value, next(v for v in self.data[self.split.value] if v.name == self.video.value)

    def run(self, wait: bool = False, refresh: bool = False):
        """Adapt with the current knobs (No TTT and the method, cached) and show the result; returns the thread, or
        the :class:`~dattt_nb.ttt.explore.Exploration` when ``wait``."""
        if self._thread is not None and self._thread.is_alive():
            return self._thread
        self._stop.clear()
        self.run_button.disabled, self.stop_button.disabled = True, False
        if wait:
            self._work(refresh)
            return self.result
        self._thread = threading.Thread(target=self._work, args=(refresh,), daemon=True)
        self._thread.start()
        return self._thread

    def stop(self) -> None:
        """Ask a running adaptation to end after its current step."""
        self._stop.set()
        self.status.value = "stopping…"

    def _work(self, refresh: bool) -> None:
        from dattt_nb.ttt.explore import Stopped, explore, exploration_summary, total_predictions

        self.error = None
        try:
            state = self.state()
            state.check()
            self.status.value = "loading the video…"
            split, video = self.selected_video()
            self.progress.value, self.progress.max = 0, total_predictions(video, state)
            self.status.value = f"{state.label} on {video.name}…"
            ex = explore(self.model, video, self.settings, state, split, stop=self._stop.is_set,
                         bar=_Bar(self.progress), refresh=refresh)
            self.result = ex
            info = exploration_summary(ex)
            knobs = "" if not state.record.adapts else f", lr {state.lr:g}, {state.epochs} passes, {state.n_pairs} pairs"
            self.status.value = (f"<b>{info['method']}</b>{knobs} on {info['video']}: J {info['J_before']:.3f} → "
                                 f"{info['J_after']:.3f} ({info['dJ']:+.3f}), {info['steps']} steps"
                                 + (" (cached)" if info["cached"] else f", {info['seconds']:.1f} s"))
            self.frame.max = len(ex) - 1
            self.frame.value = min(self.frame.value, len(ex) - 1)
            self._draw()
        except Stopped as err:
            self.status.value = f"{err}; nothing cached"
        except (ValueError, FileNotFoundError, KeyError) as err:
            self.error = str(err)
            self.status.value = f"<span style='color:#c62828'>error: {err}</span>"
        finally:
            self.run_button.disabled, self.stop_button.disabled = False, True

    def _draw(self) -> None:
        from dattt_nb.ttt.explore import curves_figure, png

        self._draw_frame()
        self.curves.value = png(curves_figure(self.result, self.frame.value))

    def _draw_frame(self) -> None:
        from dattt_nb.ttt.explore import frame_view, panels_figure, png

        if self.result is not None:
            self.panels.value = png(panels_figure(frame_view(self.result, self.frame.value)))

    def _ipython_display_(self):
        from IPython.display import display

        display(self.widget)


def ttt_explorer(model, settings, data: dict, **kw) -> TTTExplorer:
    """The TTT explorer (see :class:`TTTExplorer`); display it as a cell's last value."""
    return TTTExplorer(model, settings, data, **kw)


def strategy_explorer(settings, split: str = "fbms", **kw) -> TTTExplorer:
    """The explorer of the strategy notebooks (04–06): the trained model and the test splits of ``settings``, run
    once with the notebook's own settings on the first video of ``split`` (blocking, so a headless run has a
    result), ready for a reader to change a knob and *Run* again."""
    from dattt_nb.train import load_or_train
    from dattt_nb.ttt.cache import load_test_splits

    explorer = ttt_explorer(load_or_train(settings)[0], settings, load_test_splits(settings), split=split, **kw)
    explorer.run(wait=True)
    return explorer


def explorer_snapshot(explorer: TTTExplorer, t: int | None = None) -> dict:
    """What a static copy of a notebook shows in place of the live explorer: the six panels of frame ``t`` (the
    middle frame by default) and the curves of the last run; returns
    :func:`dattt_nb.ttt.explore.exploration_summary` with the frame shown, the number of logged losses and the
    shapes of the video's masks and of the adapted depth."""
    from IPython.display import display

    from dattt_nb.ttt.explore import curves_figure, exploration_summary, frame_view, panels_figure

    if explorer.error is not None or explorer.result is None:
        raise RuntimeError(f"the explorer has no result to show: {explorer.error or 'it has not run yet'}")
    ex = explorer.result
    view = frame_view(ex, len(ex) // 2 if t is None else t)
    display(panels_figure(view), curves_figure(ex, view["t"]))
    masks, depth = ex.video.masks, ex.after.depth
    return dict(exploration_summary(ex), t=view["t"], losses=len(ex.after.result.losses),
                mask_shape=None if masks is None else tuple(masks.shape),
                depth_shape=None if depth is None else tuple(depth.shape))


# --- dattt-nb segment results -------------------------------------------------------------------

def segment_frame(result, t: int, alpha: float = 0.45) -> dict:
    """Frame ``t`` of a :class:`~dattt_nb.run.segment.SegmentResult`: {title: (H, W, 3) float panel} with No TTT (blue)
    and the TTT result (red) tinted with opacity ``alpha``, each titled with its J, and the ground truth (green)."""
    from dattt_nb.viz import COLORS, overlay, to_hwc

    if not 0 <= t < len(result):
        raise IndexError(f"frame {t} out of range for {result.name} ({len(result)} frames)")
    frame = to_hwc(result.frames[t])
    panels = {f"frame {result.frame_names[t]}": frame}
    for label, masks, metrics, color in (("No TTT", result.baseline_masks, result.baseline_metrics, (0.2, 0.5, 1.0)),
                                         (result.label, result.masks, result.metrics, (1.0, 0.15, 0.15))):
        if masks is not None:
            scored = [] if metrics is None else list(metrics["frames"])  # J_frames covers the annotated frames
            j = float(metrics["J_frames"][scored.index(t)]) if t in scored else np.nan
            panels[f"{label} · J {j:.2f}" if np.isfinite(j) else label] = overlay(frame, masks[t], color, alpha)
    if result.gt is not None and (result.annotated is None or result.annotated[t]):
        panels["ground truth"] = overlay(frame, result.gt[t], COLORS["gt"], alpha)
    return dict(t=t, panels=panels)


def mask_viewer(result, t: int = 0, alpha: float = 0.45):
    """Before / after masks of a ``dattt-nb segment`` result (:func:`dattt_nb.run.segment.segment_video`) under a frame
    slider and a mask-opacity slider; returns the widget (display it)."""
    import ipywidgets as W

    from dattt_nb.ttt.explore import panels_figure, png

    if len(result) == 0:
        raise ValueError(f"segment result {result.name!r} has no frames")
    frame = W.IntSlider(value=min(max(t, 0), len(result) - 1), min=0, max=len(result) - 1, description="frame",
                        continuous_update=False, layout=W.Layout(width="500px"))
    opacity = W.FloatSlider(value=alpha, min=0.0, max=1.0, step=0.05, description="opacity", continuous_update=False)
    image = W.Image(format="png", layout=W.Layout(max_width="100%"))
    frame.add_class("dattt-mask-frame")
    image.add_class("dattt-mask-image")

    def draw(_=None):
        view = segment_frame(result, frame.value, opacity.value)
        image.value = png(panels_figure(view, width=3.2 * len(view["panels"])))

    frame.observe(draw, "value")
    opacity.observe(draw, "value")
    draw()
    return W.VBox([W.HBox([frame, opacity]), image])
