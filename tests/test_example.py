"""The bundled example is exactly what the simulator produces from the documented truth."""

from __future__ import annotations

import numpy as np

from bayes_scaling.examples import EXAMPLE, example_path, write_example
from bayes_scaling.simulate import true_loss


def test_shipped_example_regenerates_bit_for_bit(tmp_path):
    regenerated = write_example(tmp_path / "example.csv")
    assert regenerated.read_bytes() == example_path().read_bytes()


def test_example_design_and_noise_match_the_recipe():
    import pandas as pd

    frame = pd.read_csv(example_path())
    assert len(frame) == len(EXAMPLE["budgets_flops"]) * len(EXAMPLE["tokens_per_param"])
    np.testing.assert_allclose(frame["compute"], 6 * frame["params"] * frame["tokens"], rtol=1e-8)
    resid = np.log(frame["loss"]) - np.log(true_loss("chinchilla", EXAMPLE["truth"], N=frame["params"],
                                                     D=frame["tokens"]))
    # Student-t(4) noise with scale 0.01: robust scale (MAD) of the residuals near 0.01
    mad = np.median(np.abs(resid - np.median(resid))) / 0.6745
    assert 0.005 < mad < 0.02
