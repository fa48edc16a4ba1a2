"""Run design on an ensemble keeps the law-form weights at the stacking weights: a simulated run reweights each
member's draws by an outcome simulated from that member, never the weight between forms (stacking does not update
weights by likelihood, Yao et al. 2018). No sampling: two ``fake_fit`` members that disagree on the law."""

from __future__ import annotations

import numpy as np
import pytest

from bayes_scaling.queries.design import ENSEMBLE_NOTE, Worlds, design_runs, normalise, outcome_loglik
from bayes_scaling.result import EnsembleResult
from bayes_scaling.testing import fake_fit

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")

TRUTH = {"E": 1.80, "A": 450.0, "B": 2000.0, "alpha": 0.34, "beta": 0.36}
TARGET = 1e23  # FLOPs
# two runs of 1.2e17 and 1.2e21 FLOPs where the members' predicted losses differ by ~30 noise sds
N, D = np.array([1e8, 1e9]), np.array([2e8, 2e11])


@pytest.fixture(scope="module")
def members():
    a = fake_fit(truth=TRUTH, draws=300, rel_sd=0.005)
    b = fake_fit(truth=dict(TRUTH, alpha=0.30, A=300.0), draws=300, rel_sd=0.005, seed=3, runs=a.runs)
    return a, b


def test_one_run_does_not_settle_the_form(members):
    """Bayesian model averaging with the stacking weights as prior (the old code) lets one run pick the form:
    var log N* falls by most of the spread between the members' N*. With the weights fixed the ensemble's gain
    is at most the weighted mean of the members' own gains (law of total variance), here checked with a margin
    of 4 Monte Carlo SEs; it is two orders of magnitude below the old one."""
    a, b = members
    ens = EnsembleResult({"a": a, "b": b}, {"a": 0.5, "b": 0.5}, {"method": "test"})
    kw = dict(batch=1, worlds=512, exchange=0, laplace=False, objective="n_star")
    des = design_runs(ens, TARGET, 1e22, N, D, **kw)
    own = [design_runs(m, TARGET, 1e22, N, D, **kw).gains for m in members]
    share = np.bincount(des.pre.member) / des.pre.size
    bound = share[0] * own[0].gain + share[1] * own[1].gain
    # the old estimator on the same draws: one true draw per world, every draw weighed by its outcome
    pre = des.pre
    w = Worlds.draw(pre, len(N), 512, 0)
    w.truth = np.random.default_rng(0).integers(0, pre.size, 512)
    ll = outcome_loglik(pre, pre.log_mean(N, D), w)
    bma = np.array([pre.current() - pre.objective(normalise(ll[j])[0]).mean() for j in range(len(N))])
    between = pre.current() - (share[0] * own[0].before + share[1] * own[1].before)  # the members' N* spread
    assert np.all(bma > 0.5 * between), (bma, between)
    assert np.all(des.gains.gain <= bound + 4 * des.gains.se), (des.gains.gain, bound, des.gains.se)
    assert np.all(des.gains.gain < 0.05 * bma)
    assert des.form_weights == ENSEMBLE_NOTE


def test_weights_stay_at_the_members_shares():
    logw = np.log(np.array([[1.0, 3.0, 5.0, 1e-9, 1e-9]]))
    member = np.array([0, 0, 1, 1, 1])
    w, ess = normalise(logw, member)
    np.testing.assert_allclose(w[0, :2].sum(), 0.4)
    np.testing.assert_allclose(w[0, 2:].sum(), 0.6)
    np.testing.assert_allclose(w[0, :2], [0.1, 0.3])
    np.testing.assert_allclose(ess, 1.0 / np.sum(w * w))


def test_each_world_has_a_true_draw_in_each_member(members):
    a, b = members
    ens = EnsembleResult({"a": a, "b": b}, {"a": 0.7, "b": 0.3}, {"method": "test"})
    des = design_runs(ens, TARGET, 1e22, N, D, batch=1, worlds=64, exchange=0, laplace=False)
    member = des.pre.member
    w = Worlds.draw(des.pre, len(N), 64, 1)
    assert w.truth.shape == (64, 2)
    assert np.all(member[w.truth[:, 0]] == 0) and np.all(member[w.truth[:, 1]] == 1)
    np.testing.assert_allclose(np.bincount(member) / member.size, [0.7, 0.3], atol=0.01)
