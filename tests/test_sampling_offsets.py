"""A default hierarchical fit on easy simulated data has no divergences at its first attempt (group offsets
sampled non-centred: :func:`bayes_scaling.inference.model.build_model`), passes its diagnostics and recovers
the groups' offsets."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import bayes_scaling as bs
from bayes_scaling.examples import EXAMPLE
from bayes_scaling.simulate import isoflop_design, simulate_runs

#: Groups differ in A only (x 1, 1.15, 0.9); E, B and the exponents are shared (3 groups x 12 runs, 1% noise).
A_MULT = {"g1": 1.0, "g2": 1.15, "g3": 0.9}
#: Largest |posterior median - truth| of a group's log-scale offset of A. Spread over 5 data/fit seeds of this
#: design (branch wt_hier, 2026-12-07): errors up to 0.049, posterior sd 0.023-0.046 (partial pooling pulls the
#: offsets towards 0 by about one sd). 0.1 is 2x the largest error seen and below the true offsets of g2 and g3
#: (0.128, -0.117), so a fit that pooled the groups completely fails.
OFFSET_TOL = 0.1


def _runs(seed: int) -> bs.RunTable:
    t = EXAMPLE["truth"]
    design = isoflop_design(np.geomspace(1e18, 1e21, 4), np.geomspace(4, 80, 3))
    frames = [simulate_runs("chinchilla", {**t, "A": t["A"] * m}, design, sigma=0.01, seed=100 * seed + i).assign(arch=g)
              for i, (g, m) in enumerate(A_MULT.items())]
    return bs.load_runs(pd.concat(frames, ignore_index=True), group_cols=["arch"])


@pytest.mark.sampling
def test_default_hierarchical_fit_has_no_divergences_at_the_first_attempt_and_recovers_offsets():
    """The first attempt has no divergent transition (centred offsets diverged in 8 of the reviewer's 9 first
    attempts on such data). Not asserted: that the first attempt passes outright. It did in 4 of 5 seeds of this
    design; the fifth missed on the R-hat of tau_B, 1.0100 at bulk ESS 725 (chance at the threshold), which
    another CPU's chains could repeat, so the fit's final verdict is asserted instead."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # fit --group-col's default: every parameter but the floor E varies by group
        res = bs.fit(_runs(1), law="chinchilla", vary=["alpha", "beta", "A", "B"], seed=1, progress=False)
    attempts = res.sampler_config["attempts"]
    assert not any("divergent" in p for p in attempts[0]["problems"]), attempts
    assert res.diagnostics.ok, attempts
    truth = np.log(list(A_MULT.values()))
    truth -= truth.mean()  # offsets sum to zero: the population value is the groups' mean (log scale)
    eps = res.posterior["eps_A"].median(("chain", "draw")).values
    assert list(res.posterior["group"].values) == list(A_MULT)
    assert np.max(np.abs(eps - truth)) < OFFSET_TOL, (eps, truth)
    assert eps[1] > eps[0] > eps[2]  # g2 > g1 > g3, as A
    # shared parameters stay shared: offsets of B well inside the size of A's
    assert np.max(np.abs(res.posterior["eps_B"].median(("chain", "draw")).values)) < OFFSET_TOL
    # the first attempt samples every offset non-centred (a retry may centre a parameter whose mixing failed without
    # divergences: inference/retry.next_centred); the record says how the returned trace was sampled, the spec what
    # was asked (the first attempt's parametrisation, which a refit starts from)
    assert attempts[0]["centred"] == [], attempts
    returned = attempts[res.sampler_config["returned_attempt"] - 1]
    assert res.hierarchy["centred"] == returned["centred"] and list(res.spec.hierarchy.centred) == attempts[0]["centred"]
    if len(attempts) == 1:
        assert res.hierarchy["centred"] == []
