"""Shared fixtures: the third-party datasets folder and a session-wide fit of Epoch's data."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

DATASETS = Path(os.environ.get("BAYES_SCALING_DATASETS", Path(__file__).resolve().parents[2] / "shared" / "datasets"))


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
