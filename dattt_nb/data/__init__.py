"""Datasets: the built-in synthetic benchmark, real ZSVOS datasets, optical flow and depth pseudo-labels."""
