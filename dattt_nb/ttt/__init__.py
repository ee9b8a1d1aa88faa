"""Stage 2, test-time training on each video (§4.2, eq. 4, Fig. 4).

``views`` (two augmented views of a frame) → ``objectives`` (one :class:`Objective` record per method) →
``engine`` (one step, snapshot/restore, prediction) → ``strategies`` (TTT-N / MWI / LTV, grouped; names, aliases
and the step schedule) → ``spec`` (one run's settings, :class:`TTTRun`) → ``runner`` (videos → scores) →
``records`` (results and their files) → ``cache`` (runs kept per video), ``report`` (tables),
``plots`` (figures) and ``study`` (one strategy measured on the test splits and checked).
"""
from .engine import StepInfo, TTTEngine, adapt_step, configure_model, predict, restore, snapshot
from .objectives import OBJECTIVES, Objective, depth_consistency, get_objective, params_for
from .records import TTTResult, VideoResult, results_table, write_results
from .runner import run_ttt, run_video
from .spec import TTTRun
from .strategies import STRATEGIES, STRATEGY_LABELS, get_strategy, grouped, loop, momentum, naive, no_ttt
from .views import make_views, photometric_distortion

__all__ = ["StepInfo", "TTTEngine", "adapt_step", "configure_model", "predict", "restore", "snapshot",
           "OBJECTIVES", "Objective", "get_objective", "depth_consistency", "params_for", "TTTResult", "TTTRun",
           "VideoResult",
           "results_table", "run_ttt", "run_video", "write_results", "STRATEGIES", "STRATEGY_LABELS",
           "get_strategy", "grouped", "loop", "momentum", "naive", "no_ttt", "make_views",
           "photometric_distortion"]
