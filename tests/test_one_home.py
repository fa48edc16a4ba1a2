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


def _huber_inputs():
    from bayes_scaling.examples import EXAMPLE
    from bayes_scaling.simulate import isoflop_design, simulate_runs

    runs = simulate_runs("chinchilla", EXAMPLE["truth"], isoflop_design(np.geomspace(1e18, 1e20, 3),
                                                                          np.geomspace(5, 80, 4)), seed=1)
    return {"N": np.log(runs["params"].to_numpy()), "D": np.log(runs["tokens"].to_numpy())}, np.log(runs["loss"])


@pytest.mark.parametrize("bad", [-1, 1.5, "3", True])
def test_seeds_are_checked_where_a_generator_is_made(bad):
    from bayes_scaling.baselines.bootstrap import huber_bootstrap
    from bayes_scaling.baselines.huber import huber_fit
    from bayes_scaling.inference.ensemble_scores import crps_block

    x, y = _huber_inputs()
    calls = [lambda: crps_block([np.zeros((2, 5))], [0.0, 0.0], seed=bad),
             lambda: huber_fit("chinchilla", x, y, starts=2, seed=bad),
             lambda: huber_bootstrap("chinchilla", x, y, n_boot=1, seed=bad, point=huber_fit("chinchilla", x, y, starts=2))]
    for call in calls:
        with pytest.raises(BayesScalingError, match=r"^seed must be a whole number in \[0, 2\^63 - 1\]") as e:
            call()
        assert e.value.quantity == "seed"


def test_checked_seeds_keep_numpys_stream():
    from bayes_scaling.inference.ensemble_scores import crps_block

    d = np.random.default_rng(0).standard_normal((3, 1500))
    a, b = crps_block([d], np.zeros(3), seed=11), crps_block([d], np.zeros(3), seed=11)
    keep = np.random.default_rng(11).choice(1500, size=1000, replace=False)
    np.testing.assert_array_equal(a, b)
    assert a[0, 0] == pytest.approx(np.abs(d[0, keep]).mean(), rel=1e-12)  # E|X - y| on numpy's own subset for seed 11
