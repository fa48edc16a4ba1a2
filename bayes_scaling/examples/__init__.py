"""The bundled example: a Chinchilla-like IsoFLOP ladder simulated from a documented truth.

``EXAMPLE`` is the whole recipe; ``make_example()`` regenerates the shipped CSV bit for bit
(``python -m bayes_scaling.examples`` rewrites it; a test checks they match).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

EXAMPLE = {
    "law": "chinchilla",
    # Truth near Besiroglu et al. 2024's refit of Chinchilla (E 1.82, A 482, B 2085, alpha 0.348,
    # beta 0.366), rounded so it is not any published fit.
    "truth": {"E": 1.80, "A": 450.0, "B": 2000.0, "alpha": 0.34, "beta": 0.36},
    # Hoffmann et al. 2022 Approach 2 design: 9 budgets from 6e18 to 3e21 FLOPs; 7 runs per budget
    # from 2 to 200 tokens per parameter.
    "budgets_flops": np.geomspace(6e18, 3e21, 9).tolist(),
    "tokens_per_param": np.geomspace(2.0, 200.0, 7).tolist(),
    # Student-t(4) noise on log-loss with scale 0.01 (~0.02 nats: Kaplan et al. 2020 §4.2).
    "sigma": 0.01,
    "nu": 4.0,
    "seed": 20220329,
    "params_kind": "total",
}
FILENAME = "chinchilla_ladder.csv"


def example_path() -> Path:
    """Path of the shipped example runs file (columns params, tokens, compute, loss)."""
    return Path(str(resources.files("bayes_scaling.examples") / FILENAME))


def make_example() -> pd.DataFrame:
    """Regenerate the example runs from ``EXAMPLE``."""
    from bayes_scaling.simulate import isoflop_design, simulate_runs

    design = isoflop_design(EXAMPLE["budgets_flops"], EXAMPLE["tokens_per_param"])
    return simulate_runs(EXAMPLE["law"], EXAMPLE["truth"], design, sigma=EXAMPLE["sigma"], nu=EXAMPLE["nu"],
                         seed=EXAMPLE["seed"])


def write_example(path: Path | None = None) -> Path:
    path = Path(path) if path else example_path()
    make_example().to_csv(path, index=False, float_format="%.10g")
    return path
