"""One home each: whole-number checks, seeding, noise draws, interval quantiles, draw thinning, atomic writes."""

from __future__ import annotations

import numpy as np
import pytest

from bayes_scaling.errors import BayesScalingError


@pytest.mark.parametrize("call, text", [
    (lambda: __import__("bayes_scaling.inference.checks", fromlist=["x"]).check_sampler_counts(5, None, 2),
     "draws must be a whole number >= 10, got 5"),
    (lambda: __import__("bayes_scaling.inference.checks", fromlist=["x"]).check_sampler_counts(100, None, 1),
     "chains must be a whole number >= 2 (R-hat, the check that chains agree, compares chains), got 1"),
    (lambda: __import__("bayes_scaling.inference.checks", fromlist=["x"]).check_sampler_counts(100, 2.0, 2),
     "tune must be a whole number >= 10, got 2.0"),
    (lambda: __import__("bayes_scaling.inference.checks", fromlist=["x"]).check_sampler_counts(10, None, 5000),
     "chains must be at most 1,024, got 5000"),
])
def test_whole_numbers_one_wording(call, text):
    with pytest.raises(BayesScalingError) as e:
        call()
    assert str(e.value) == text


def test_fit_retries_checked_with_the_shared_wording():
    from bayes_scaling.data.runs import load_runs
    from bayes_scaling.examples import example_path
    from bayes_scaling.inference.fit import fit

    with pytest.raises(BayesScalingError, match=r"^retries must be a whole number >= 0, got -1$"):
        fit(load_runs(example_path()), law="chinchilla", retries=-1, draws=10, tune=10, chains=2)
