"""Run design simulates and weighs a candidate's outcome with the fit's whole predictive (the one ``predict``
draws a new run from): law + the family's noise + the extrapolation discrepancy and, with a residual process,
its shift and its white noise beyond the data. No sampling (``fake_fit`` with a discrepancy set by hand)."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from bayes_scaling.posterior.discrepancy import Discrepancy, ResidualProcess, extrapolation_box
from bayes_scaling.queries.design import Preposterior, Worlds, design_runs, draws_sigma_family, outcome_loglik
from bayes_scaling.queries.design_laplace import LaplaceUpdate
from bayes_scaling.queries.design_outcome import candidate_outcome
from bayes_scaling.specs.families import get_family
from bayes_scaling.testing import fake_fit

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")

TARGET = 1e23  # FLOPs
N, D = np.array([1e9, 1e10]), np.array([2e10, 2e11])  # 1.2e20 FLOPs (inside the runs) and 1.2e22 (a decade beyond)


def with_disc(res, tau0: float, tau1: float, residual=None):
    shape = res.evaluator.sigma.shape
    da = lambda v: xr.DataArray(np.full(shape, v), dims=("chain", "draw"))  # noqa: E731
    box = extrapolation_box(res.law, res.runs.frame)
    return res.with_discrepancy(Discrepancy(da(tau0), da(tau1), "C", box["C"], residual=residual, box=box))


@pytest.fixture(scope="module")
def res():
    return fake_fit(draws=300, rel_sd=0.1)


def test_a_discrepancy_that_dwarfs_the_noise_leaves_little_to_learn(res):
    """tau0 = 0.5 log-loss against sigma = 0.01: one run's outcome barely moves the weights (ESS near every
    draw) and its gain is within Monte Carlo noise of 0. Before the fix the gains and weights were
    byte-identical with and without the discrepancy."""
    plain = design_runs(res, TARGET, 2e22, N, D, batch=1, worlds=64, exchange=0, laplace=False)
    wide = design_runs(with_disc(res, 0.5, 0.0), TARGET, 2e22, N, D, batch=1, worlds=64, exchange=0, laplace=False)
    size = plain.pre.size
    assert np.all(plain.gains.gain > 0.04 * plain.gains.before) and np.all(plain.gains.ess < 0.3 * size)
    assert np.all(wide.gains.ess > 0.9 * size)
    assert np.all(np.abs(wide.gains.gain) < 3 * wide.gains.se)


def test_outcomes_follow_predict_and_are_weighed_by_the_matching_density(res):
    """Normal family: the simulated outcome's spread is predict's sd sqrt(sigma^2 + s(d)^2), and its log
    density under each draw is the Normal of that variance (the exact convolution)."""
    rd = with_disc(res, 0.05, 0.1)
    draws, sigma, _ = draws_sigma_family(rd)
    pre = Preposterior(draws, sigma, get_family("normal"), TARGET, max_draws=400)  # the fit's draws, a Normal family
    out = candidate_outcome(rd, pre, N, D)
    d = rd.discrepancy.distance({"N": N, "D": D, "C": 6 * N * D})
    assert d[0] == 0 and d[1] > 0.9
    np.testing.assert_allclose(out.s, np.broadcast_to(np.sqrt(0.05 ** 2 + (0.1 * d) ** 2), out.s.shape))
    w = Worlds.draw(pre, len(N), 4000, seed=1)
    w.truth[:] = 0  # every world's truth is draw 0: the outcomes' spread is its predictive sd
    log_mu = pre.log_mean(N, D)
    ll = outcome_loglik(pre, log_mu, w, out)
    y = log_mu[0] + pre.sigma[0] * w.noise + out.s[0] * w.z
    np.testing.assert_allclose(np.std(y, axis=0), np.sqrt(pre.sigma[0] ** 2 + out.s[0] ** 2), rtol=0.05)
    v = pre.sigma[None, :] ** 2 + out.s[:, 1][None, :] ** 2
    want = -0.5 * np.log(2 * np.pi * v) - 0.5 * (y[:, 1:2] - log_mu[:, 1][None, :]) ** 2 / v
    np.testing.assert_allclose(ll[1], want, rtol=1e-10)


def test_residual_process_shift_and_white_noise_enter_the_outcome(res):
    """Beyond the data the outcome is shifted by the process's conditional mean, its family noise keeps the
    white part se, and s(d)^2 holds the conditional variance: the same terms as predict's."""
    log10_c = np.log10(res.runs.frame["C"].to_numpy(float))
    proc = ResidualProcess(log10_c, np.full(len(log10_c), 0.02), s=0.03, ell=1.0, se=0.004)
    rd = with_disc(res, 0.05, 0.1, residual=proc)
    draws, sigma, fam = draws_sigma_family(rd)
    pre = Preposterior(draws, sigma, fam, TARGET, max_draws=300)
    out = candidate_outcome(rd, pre, N, D)
    disc = rd.discrepancy
    values = {"N": N, "D": D, "C": 6 * N * D}
    m, v = proc.conditional(np.log10(values["C"][1:]))
    assert out.shift[:, 0] == pytest.approx(0.0) and out.shift[:, 1] == pytest.approx(m[0])
    np.testing.assert_allclose(out.s[:, 1], np.sqrt(0.05 ** 2 + (0.1 * disc.distance(values)[1]) ** 2 + v[0]))
    np.testing.assert_allclose(out.scale[:, 0], pre.sigma)
    np.testing.assert_allclose(out.scale[:, 1], np.minimum(pre.sigma, 0.004 / fam.sd_per_scale))


def test_the_laplace_update_uses_the_same_observation_variance(res):
    """The Gaussian fallback's information per run is 1 / (sigma^2 / i_z + s(d)^2 + r): a discrepancy of 0.5
    log-loss leaves the objective's variance nearly where it was (a quarter of the reduction without it, at most)."""
    rd = with_disc(res, 0.5, 0.0)
    draws, sigma, fam = draws_sigma_family(rd)
    pre = Preposterior(draws, sigma, fam, TARGET, max_draws=400)
    truth = np.arange(8)
    plain = LaplaceUpdate(pre, N, D)
    wide = LaplaceUpdate(pre, N, D, candidate_outcome(rd, pre, N, D))
    np.testing.assert_allclose(wide.info, 1.0 / (1.0 / plain.info + 0.5 ** 2), rtol=1e-10)
    for j in range(len(N)):
        left = [u.ratio(u.fisher(j, truth), truth, "n_star") for u in (plain, wide)]
        assert np.all(left[0] < 0.97) and np.all(left[1] > 1 - 0.25 * (1 - left[0]))


def test_ensemble_members_bring_their_own_discrepancy(res):
    from bayes_scaling.result import EnsembleResult

    a = with_disc(res, 0.05, 0.1)
    b = with_disc(fake_fit(draws=300, rel_sd=0.1, seed=2, runs=res.runs), 0.2, 0.1)
    ens = EnsembleResult({"a": a, "b": b}, {"a": 0.5, "b": 0.5}, {"method": "test"})
    draws, sigma, fam = draws_sigma_family(ens)
    pre = Preposterior(draws, sigma, fam, TARGET, max_draws=10_000)
    out = candidate_outcome(ens, pre, N, D)
    half = pre.size // 2
    assert out.s.shape == (pre.size, 2)
    np.testing.assert_allclose(out.s[:half, 0], 0.05)
    np.testing.assert_allclose(out.s[half:, 0], 0.2)


@pytest.mark.parametrize("name", ["student_t", "laplace", "normal"])
def test_convolution_takes_one_s_per_draw(name):
    fam = get_family(name, 4.0)
    rng = np.random.default_rng(0)
    r, sigma = rng.normal(0, 0.05, (3, 50)), np.full(50, 0.01)
    s = np.r_[0.0, rng.uniform(0.001, 0.2, 49)]
    got = fam.logpdf_plus_normal(r, sigma[None, :], s[None, :])
    want = np.stack([fam.logpdf_plus_normal(r[:, i], sigma[i], float(s[i])) for i in range(50)], axis=1)
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-4)


def test_refits_simulate_new_runs_from_the_same_predictive(res):
    """inference.design's simulated runs carry the discrepancy: log-loss spread about the draw's law is
    sqrt(sigma^2 k^2 + s(d)^2) (Student-t noise: k = sqrt(2) at nu = 4), not the noise's alone."""
    from bayes_scaling.inference.design import with_simulated_runs

    rd = with_disc(res, 0.3, 0.0)
    rng = np.random.default_rng(0)
    log_mu = rd.evaluator.log_mean_runs({"N": np.log(N), "D": np.log(D)}).values.reshape(-1, 2)[0]
    y = np.array([np.log(with_simulated_runs(rd, N, D, rng=rng, draw=0).frame["loss"].to_numpy()[-2:])
                  for _ in range(200)])
    sd = np.std(y - log_mu, axis=0)
    assert np.all((sd > 0.25) & (sd < 0.35)), sd
    plain = np.array([np.log(with_simulated_runs(res, N, D, rng=rng, draw=0).frame["loss"].to_numpy()[-2:])
                      for _ in range(200)])
    assert np.all(np.std(plain - log_mu, axis=0) < 0.05)


def test_refits_keep_the_fits_run_noise(res, monkeypatch):
    """A run-noise fit is refit with run noise (before the fix the refit dropped the option), its simulated runs
    with an SE of the recorded runs' median SE/loss times their loss (0 where candidate_se=0 is asked)."""
    import json

    from bayes_scaling.inference import design as inf_design
    from bayes_scaling.inference import fit as fit_mod

    fit = fake_fit(draws=100, rel_sd=0.05)
    fit.tree.attrs["run_noise"] = json.dumps({"cells": 12, "replicate_cells": 0, "cell_by": ["N", "D"], "se": True})
    frame = fit.runs.frame.copy()
    frame["SE"] = 0.001
    from dataclasses import replace

    fit.__dict__["runs"] = replace(fit.runs, frame=frame)
    seen = []
    monkeypatch.setattr(fit_mod, "fit", lambda runs, **kw: (seen.append((runs, kw)), fit)[1])
    inf_design.refit_expected(fit, N, D, lambda f: 0.0, sims=1)
    runs, kw = seen[0]
    assert kw.get("run_noise") is True
    rel = np.median(0.001 / frame["loss"].to_numpy())
    np.testing.assert_allclose(runs.frame["SE"].to_numpy()[-2:], rel * runs.frame["loss"].to_numpy()[-2:], rtol=1e-12)
    seen.clear()
    inf_design.refit_expected(fit, N, D, lambda f: 0.0, sims=1, candidate_se=0.0)
    np.testing.assert_array_equal(seen[0][0].frame["SE"].to_numpy()[-2:], 0.0)
    seen.clear()
    inf_design.refit_expected(res, N, D, lambda f: 0.0, sims=1)
    assert seen[0][1].get("run_noise") is False


def test_cli_says_what_each_outcome_carries(res, tmp_path, capsys):
    import json

    from bayes_scaling.cli import main

    path = str(with_disc(res, 0.05, 0.1).save(tmp_path / "disc.nc"))
    assert main(["design", path, "--target-compute", "1e23", "--ladder-budget", "1e21", "--worlds", "16",
                 "--max-refits", "0", "--exchange", "0", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["outcome"] == "fitted noise + extrapolation discrepancy"


def test_design_refuses_a_logit_normal_fit_with_a_discrepancy(res):
    """Design adds the discrepancy on the family's scale, predict on the log scale: for logit_normal they differ,
    so design (ranking and refits' simulated runs) refuses such a fit in one line; without a discrepancy it runs."""
    from bayes_scaling.errors import BayesScalingError
    from bayes_scaling.inference.design import with_simulated_runs
    from bayes_scaling.specs.spec import default_spec

    logit = fake_fit(spec=default_spec("chinchilla").with_family("logit_normal"), draws=50, runs=res.runs)
    bad = with_disc(logit, 0.1, 0.05)
    for call in (lambda: design_runs(bad, TARGET, 2e22, N, D, batch=1, worlds=16, exchange=0, laplace=False),
                 lambda: with_simulated_runs(bad, N, D, rng=np.random.default_rng(0))):
        with pytest.raises(BayesScalingError, match="logit_normal fit with an extrapolation discrepancy") as e:
            call()
        assert "\n" not in str(e.value)
    with_simulated_runs(logit, N, D, rng=np.random.default_rng(0))  # no discrepancy: design and predict agree


def test_a_fit_with_a_discrepancy_is_reweighted_only(res, tmp_path, capsys):
    """Its outcomes are simulated with the discrepancy and a refit's likelihood has none, so refits would read the
    discrepancy's scatter as the law's: such a fit's design runs none (no refit rows, no batch or verdict refits) and
    says why, in the result, the text and the JSON; refit_expected refuses it. A plain fit still refits."""
    import json

    from bayes_scaling.cli import main
    from bayes_scaling.errors import BayesScalingError
    from bayes_scaling.inference.design import refit_expected

    calls = []

    def refit(nn, dd, objective):
        calls.append(objective)
        return [0.0, 0.0]

    kw = dict(batch=1, worlds=16, exchange=0, laplace=False, min_ess=1e9, max_refits=2, refit=refit)
    plain = design_runs(res, TARGET, 2e22, N, D, **kw)
    assert calls and "refit" in plain.method and plain.refit_note is None
    calls.clear()
    rd = with_disc(res, 0.05, 0.1)
    des = design_runs(rd, TARGET, 2e22, N, D, **kw)
    assert calls == [] and "refit" not in des.method and des.batch_refit is None and not des.stop_go.get("refits")
    assert "refits would drop the extrapolation discrepancy" in des.refit_note
    with pytest.raises(BayesScalingError, match="without an extrapolation discrepancy"):
        refit_expected(rd, N, D, lambda f: 0.0, sims=1)
    path = str(rd.save(tmp_path / "disc.nc"))
    argv = ["design", path, "--target-compute", "1e23", "--ladder-budget", "1e21", "--worlds", "16", "--exchange", "0"]
    assert main(argv + ["--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["refit_note"] == des.refit_note and all(r["method"] != "refit" for r in out["candidates"])
    assert main(argv) == 0 and des.refit_note in capsys.readouterr().out
    assert main(argv + ["--refit-sims", "2"]) == 2 and "refits would drop" in capsys.readouterr().err
