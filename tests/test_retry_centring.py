"""A hierarchical fit's retry samples group offsets centred after a mixing failure without divergences
(inference/retry.next_centred), the attempt a fit returns (better_attempt), and how the record says it."""

from __future__ import annotations

import numpy as np
import xarray as xr

from bayes_scaling.inference.retry import better_attempt, divergences_few, next_centred, next_settings
from bayes_scaling.posterior.diagnostics import Diagnostics, failing_variables
from bayes_scaling.report._model import attempts_table

VARY = ("alpha", "A", "B")


def diag(r_hat=1.005, bulk=900.0, tail=900.0, div=0, chains=4, draws=1000):
    return Diagnostics(r_hat_max=r_hat, ess_bulk_min=bulk, ess_tail_min=tail, divergences=div, n_chains=chains,
                       n_draws=draws)


def test_a_mixing_failure_without_divergences_centres_the_parameters_it_names():
    slow = diag(r_hat=1.024, bulk=204)
    assert next_centred(slow, ("B_group", "tau_B"), vary=VARY, centred=()) == ("B",)
    # the population value, tau, the group values and the offsets all speak for their parameter; order of vary
    assert next_centred(slow, ("eps_B", "A"), vary=VARY, centred=()) == ("A", "B")
    assert next_centred(slow, ("z_eps_alpha",), vary=VARY, centred=("B",)) == ("alpha", "B")  # added to the last
    # failing variables not known: every varying parameter is suspect
    assert next_centred(slow, None, vary=VARY, centred=()) == VARY
    # a failure on a parameter that does not vary (E, sigma) is none of the offsets' doing
    assert next_centred(slow, ("E", "sigma"), vary=VARY, centred=()) == ()
    # ESS alone (bulk or tail) is a mixing failure too
    assert next_centred(diag(tail=300), ("A_group",), vary=VARY, centred=()) == ("A",)


def test_divergences_keep_or_return_the_offsets_to_non_centred():
    # the background share: 2 of 4 x 1000 transitions (5e-4) are few, 3 are not
    assert divergences_few(diag(div=2)) and not divergences_few(diag(div=3))
    assert divergences_few(diag(div=4, draws=2000)) and not divergences_few(diag(div=1, chains=2, draws=500))
    assert next_centred(diag(r_hat=1.03, div=2), ("B_group",), vary=VARY, centred=()) == ("B",)
    funnel = diag(r_hat=1.03, div=12)
    assert next_centred(funnel, ("B_group",), vary=VARY, centred=()) == ()
    # a centred attempt that diverged returns to non-centred, except what the spec itself centred
    assert next_centred(funnel, ("B_group",), vary=VARY, centred=("A", "B"), spec_centred=("A",)) == ("A",)
    # only a few divergences failed: the parametrisation stays
    assert next_centred(diag(div=1), (), vary=VARY, centred=("B",)) == ("B",)


def test_the_retry_settings_are_unchanged_by_the_move_into_retry():
    s = {"draws": 1000, "tune": 1000, "target_accept": 0.95}
    kw = dict(retries=2, last_s=10.0, elapsed_s=10.0, budget_s=300.0, hierarchical=True,
              floor={"draws": 1000, "tune": 1000})
    assert next_settings("double", s, diag(r_hat=1.03), 1, **kw) == {"draws": 2000, "tune": 2000, "target_accept": 0.99}
    assert next_settings("double", s, diag(div=5), 1, **kw) == {"draws": 1000, "tune": 2000, "target_accept": 0.99}
    assert next_settings("ess", s, diag(div=5), 1, **kw) == {"draws": 1000, "tune": 2000, "target_accept": 0.99}


def test_a_fit_returns_the_last_attempt_unless_an_earlier_one_failed_less():
    assert better_attempt([diag(r_hat=1.03), diag()]) == 1  # the retry passed
    assert better_attempt([diag(r_hat=1.02), diag(r_hat=1.02, div=30)]) == 0  # the retry diverged too
    assert better_attempt([diag(r_hat=1.05), diag(r_hat=1.02)]) == 1
    assert better_attempt([diag(r_hat=1.02), diag(r_hat=1.03)]) == 0  # one problem each: the lower R-hat
    assert better_attempt([diag(r_hat=1.02), diag(r_hat=1.02)]) == 1  # a tie: the last


def test_failing_variables_names_the_variables_whose_own_diagnostics_fail():
    rng = np.random.default_rng(0)
    good = rng.normal(size=(4, 500))
    stuck = good + np.arange(4)[:, None] * 3.0  # chains far apart: R-hat far above 1.01
    groups = np.stack([good, stuck], axis=-1)  # one good group value, one stuck
    post = xr.Dataset({"A": (("chain", "draw"), good), "B_group": (("chain", "draw", "group"), groups),
                       "tau_B": (("chain", "draw"), rng.normal(size=(4, 500)))})
    d = diag(r_hat=2.0, chains=4, draws=500)
    assert failing_variables(post, ["A", "B_group", "tau_B", "E"], d) == ("B_group",)
    assert failing_variables(post, ["E"], d) == ()


def test_the_report_shows_each_attempts_offsets_and_the_attempt_returned():
    base = {"draws": 1000, "tune": 1000, "target_accept": 0.95, "seed": 1, "seconds": 3.0}
    cfg = {"attempts": [{**base, "centred": [], "ok": False, "problems": ["R-hat 1.024 > 1.01"]},
                        {**base, "centred": ["B"], "ok": False, "problems": ["12 divergent transition(s)"]}],
           "returned_attempt": 1}
    table = attempts_table(cfg)
    assert "offsets sampled centred" in table.header
    assert [r[6] for r in table.rows] == ["none", "B"]
    assert table.rows[0][-1] == "failed (returned)" and table.rows[1][-1] == "failed"
    assert "keeps attempt 1" in table.caption
