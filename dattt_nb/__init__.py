"""dattt-nb: a Jupyter-first tutorial package for Depth-aware Test-Time Training (DATTT, CVPR 2024).

The package's folders follow the flow of data: ``data`` → ``models`` → ``train`` → ``ttt`` → ``metrics``,
with the notebook ``pipeline``, the ``cli`` and the widgets at the edge.
"""
__version__ = "0.1.0"
