"""Inference: the PyMC model, NUTS sampling and sampler diagnostics."""
