"""Shared fixtures: the third-party datasets folder and a session-wide fit of Epoch's data."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

DATASETS = Path(os.environ.get("BAYES_SCALING_DATASETS", Path(__file__).resolve().parents[2] / "shared" / "datasets"))


def graph_check_mode():
    """A PyTensor mode for tests that check a graph's numbers against NumPy, SciPy or finite differences
    (no sampling): PyMC's usual rewrites (``fast_run``) without elemwise fusion (a fused op of more than 32
    inputs has no Python implementation), evaluated by PyTensor's Python linker. The default (numba)
    linker compiles every distinct graph first: ~5-12 s each with a cold cache, which made these checks
    a third of a cold test run. Sampling tests, and one density check per backend, keep numba (the route
    nutpie samples with; see test_laws.test_model_log_density_level_is_float64_exact)."""
    from pytensor.compile.mode import Mode

    return Mode(linker="py", optimizer="fast_run").excluding("fusion")


def dataset(relpath: str) -> Path:
    """Path of a file under ``$BAYES_SCALING_DATASETS``; skips the test when it is absent."""
    path = DATASETS / relpath
    if not path.exists():
        pytest.skip(f"dataset not found at {path} (set BAYES_SCALING_DATASETS)")
    return path


@pytest.fixture(scope="session")
def epoch_fit():
    """Chinchilla law fitted to all 245 points of Epoch's extraction (Besiroglu et al. 2024)."""
    import bayes_scaling as bs

    path = dataset("chinchilla_epoch_besiroglu2024/svg_extracted_data.csv")
    runs = bs.load_runs(path, params_col="Model Size", compute_col="Training FLOP", tokens_col=None)
    return bs.fit(runs, law="chinchilla", seed=2024, progress=False)
