"""Numbers of the public queries checked against independent NumPy computations (fake fits, no sampling)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from bayes_scaling.cost import CostLaw, store_cost
from bayes_scaling.testing import fake_fit, fake_hierarchical_fit

FITTED = CostLaw("fitted", k=92.4, a=0.883, rms_log_error=0.008, n_runs=25, n_max=3.2e9)


def _grid_loss_opt(E, A, B, al, be, compute, cost):
    """Optimal loss at ``compute`` FLOPs per draw by brute force over a fine log N grid."""
    n = np.exp(np.linspace(np.log(1e6), np.log(1e14), 8001))[None, :]
    d = np.reshape(compute, (-1, 1)) / cost.flops_per_token(n)
    return (E[:, None] + A[:, None] / n ** al[:, None] + B[:, None] / d ** be[:, None]).min(axis=1)


def test_compute_multiplier_prices_with_the_stored_cost_law():
    from bayes_scaling.queries.compare_groups import compare_groups

    f = fake_hierarchical_fit(draws=40)
    store_cost(f, FITTED)
    p = f.posterior
    E, al, be = (p[k].values.reshape(-1) for k in ("E", "alpha", "beta"))
    Ag, Bg = p["A_group"].values.reshape(-1, 2), p["B_group"].values.reshape(-1, 2)
    c = 1e22
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = compare_groups(f, ["x", "y"], compute=c)
    m = out["compute_multiplier"].values.reshape(-1)
    assert np.all(np.isfinite(m)) and np.all(m > 1)  # y is ~6% worse: it needs more compute
    # y's optimal loss at m C (same cost law) equals x's optimal loss at C
    la = _grid_loss_opt(E, Ag[:, 0], Bg[:, 0], al, be, c, FITTED)
    lb = _grid_loss_opt(E, Ag[:, 1], Bg[:, 1], al, be, c * m, FITTED)
    np.testing.assert_allclose(lb, la, rtol=1e-4)


def test_predict_completes_d_through_the_stored_cost_law():
    f = fake_fit(draws=20)
    store_cost(f, FITTED)
    n, c = 1e9, 1e21
    pr = f.predict(N=n, C=c)
    d = float(pr["D"].values[0])
    assert d == pytest.approx(c / (FITTED.k * n ** FITTED.a), rel=1e-9)  # not C / (6N)
    np.testing.assert_allclose(pr["loss"].values, f.predict(N=n, D=d)["loss"].values, rtol=1e-12)
    pr2 = f.predict(D=d, C=c)  # N from D and C inverts the same law
    assert float(pr2["N"].values[0]) == pytest.approx(n, rel=1e-9)
    from bayes_scaling.queries.allocate import decide

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dec = decide(f, c)
    # the plan allocate picks, asked back through predict with (N, C), is the same (N, D)
    assert float(f.predict(N=dec.N, C=c)["D"].values[0]) == pytest.approx(dec.D, rel=1e-9)


def test_predict_without_a_stored_cost_keeps_6nd():
    f = fake_fit(draws=10)
    assert float(f.predict(N=1e9, C=6e20)["D"].values[0]) == pytest.approx(1e11, rel=1e-12)


def test_kaplan_cost_params_inverts_flops():
    cost = CostLaw("kaplan", n_ctx=1024, aspect_ratio=64)
    n = np.array([1e6, 3e8, 1e11])
    d = np.array([1e9, 1e10, 1e12])
    np.testing.assert_allclose(cost.params(cost.flops(n, d), d), n, rtol=1e-9)
