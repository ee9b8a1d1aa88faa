"""dattt-nb: a Jupyter-first tutorial package for Depth-aware Test-Time Training (DATTT, CVPR 2024).

The package's folders follow the flow of data: ``config`` / ``splits`` → ``data`` → ``metrics``, ``losses``,
``models`` → ``train`` → ``ttt`` → ``paper`` / ``tables`` / ``viz``, with ``segment``, the notebook ``pipeline``,
the ``cli`` and the widgets at the edge (README: Layout).
"""
__version__ = "0.1.0"
