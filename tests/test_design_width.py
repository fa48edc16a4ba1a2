"""The ``n_star_width`` design objective: the width (decades) of N*'s 90% interval after candidate runs,
as weighted quantiles of the reweighted draws, with the Gaussian (Laplace) fallback scaled as a width."""

from __future__ import annotations

import json

import numpy as np
import pytest

from bayes_scaling.cli import main
from bayes_scaling.queries.design import (Preposterior, Worlds, design_runs, draws_sigma_family, expected_after,
                                          outcome_loglik)
from bayes_scaling.queries.design_preposterior import interval_width
from bayes_scaling.testing import fake_fit

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")

TARGET = 1e23  # FLOPs: 100x the fake ladder's largest budget (1e21)
Z95 = 1.6448536269514722  # standard Normal 95% quantile


def isoflop(c, ratio=20.0):
    n = np.sqrt(np.asarray(c, float) / (6 * ratio))
    return n, ratio * n


def test_weighted_width_matches_conjugate_gaussian():
    """Draws from N(0, 1) reweighted by one observation y = 1 with noise sd 0.5 are the conjugate posterior
    N(0.8, 0.2): its 90% width is 2 z95 sqrt(0.2); equal weights give the prior's 2 z95."""
    x = np.sort(np.random.default_rng(3).normal(0.0, 1.0, 40000))
    logw = -0.5 * (1.0 - x) ** 2 / 0.25
    w = np.exp(logw - logw.max())
    w = np.stack([np.full(x.size, 1.0 / x.size), w / w.sum()])
    prior, post = interval_width(x, w)
    assert prior == pytest.approx(2 * Z95, rel=0.03)
    assert post == pytest.approx(2 * Z95 * np.sqrt(0.2), rel=0.03)
    assert interval_width(x, w[:1], ci_prob=0.5)[0] == pytest.approx(2 * 0.6744897501960817, rel=0.03)


def test_width_objective_reads_the_posterior_interval():
    """Equal weights: the width of the thinned draws' N* interval in decades (the number a user reads)."""
    draws, sigma, fam = draws_sigma_family(fake_fit(draws=300, rel_sd=0.1))
    pre = Preposterior(draws, sigma, fam, TARGET, objective="n_star_width", max_draws=400)
    want = np.diff(np.quantile(pre.log_nstar, [0.05, 0.95]))[0] / np.log(10)
    assert pre.current() == pytest.approx(want, rel=0.02)
    # the variance objective on the same draws is the square of (width / (2 z95)) in natural logs, for a
    # near-Gaussian posterior
    assert pre.current("n_star") == pytest.approx((want * np.log(10) / (2 * Z95)) ** 2, rel=0.2)


def test_width_design_prefers_the_extending_run_and_falls_back_as_a_width():
    wide = fake_fit(draws=300, rel_sd=0.1)
    n, d = isoflop([3e19, 1e22])  # inside the 1e18-1e21 ladder, and 10x beyond it
    des = design_runs(wide, TARGET, 1e23, n, d, objective="n_star_width", batch=1)
    inside, beyond = des.gains.gain
    assert beyond > inside > 0
    assert des.gains.before == pytest.approx(des.pre.current("n_star_width"))
    assert beyond < des.gains.before  # a width after a run stays positive
    # every world collapsed (min_ess = inf): the width now times the square root of the Laplace variance ratio
    from bayes_scaling.queries.design_laplace import LaplaceUpdate

    pre = des.pre
    w = Worlds.draw(pre, 2, 64)
    ll = outcome_loglik(pre, pre.log_mean(n, d), w)
    w.laplace, w.min_ess = LaplaceUpdate(pre, n, d), np.inf
    every = expected_after(pre, ll, w, name="n_star_width")
    for j in range(2):
        ratio = w.laplace.ratio(w.laplace.fisher(j, w.truth), w.truth, "n_star_width")
        assert every.after[j] == pytest.approx(pre.current("n_star_width") * np.mean(np.sqrt(ratio)))
        assert np.all(ratio < 1)


def test_cli_width_objective(tmp_path, capsys):
    fit_file = str(fake_fit(draws=300).save(tmp_path / "fit.nc"))
    rc = main(["design", fit_file, "--target-compute", "1e23", "--ladder-budget", "3e21", "--objective",
               "n_star_width", "--worlds", "16", "--batch", "2", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert rc == 0 and out["objective_units"] == "decades" and 0 < out["objective_now"] < 5
    assert all(b["after"] < out["objective_now"] for b in out["batch"])
    rc = main(["design", "--spec", "chinchilla", "--target-compute", "1e24", "--ladder-budget", "1e21",
               "--objective", "n_star_width"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and err.startswith("error:") and "\n" not in err and "--objective" in err
