"""Running things end to end: the notebook series as a pipeline (papermill), its scheduler (``run --jobs``) and
segmenting one video (``dattt-nb segment``)."""
