"""Posterior layer: evaluating draws (the law anywhere, a new run's loss), interval summaries and
sampler diagnostics. NumPy and xarray only: nothing here samples."""
