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


def test_simulated_metric_stays_a_fraction():  # the noise on the family's scale, as the evaluator draws it
    import pandas as pd

    from bayes_scaling.simulate import simulate_runs, true_loss

    truth = {"b": 0.25, "r": 0.98, "L0": 2.0, "k": 8.0}
    design = pd.DataFrame({"L": np.linspace(1.6, 2.2, 2000)})
    out = simulate_runs("sigmoid_metric", truth, design, sigma=0.2, family="logit_normal", seed=0)
    m = true_loss("sigmoid_metric", truth, L=design["L"])
    assert out["loss"].between(0, 1, inclusive="neither").all()
    logit = lambda p: np.log(p) - np.log1p(-p)  # noqa: E731
    z = (logit(out["loss"]) - logit(m)) / 0.2
    assert abs(z.mean()) < 0.1 and 0.9 < z.std() < 1.1  # Normal(0, sigma) on the logit scale


def test_loss_simulation_unchanged_by_the_family_route():
    from bayes_scaling.examples import EXAMPLE
    from bayes_scaling.simulate import isoflop_design, simulate_runs, true_loss

    design = isoflop_design(np.geomspace(1e18, 1e20, 3), np.geomspace(5, 80, 4))
    out = simulate_runs("chinchilla", EXAMPLE["truth"], design, sigma=0.01, seed=4)
    mean = true_loss("chinchilla", EXAMPLE["truth"], N=design["params"], D=design["tokens"])
    expect = np.exp(np.log(mean) + 0.01 * np.random.default_rng(4).standard_t(4.0, len(design)))
    np.testing.assert_array_equal(out["loss"].to_numpy(), expect)


def test_scale_with_se_adds_in_quadrature_on_the_familys_scale():
    from bayes_scaling.specs.families import get_family

    fam = get_family("logit_normal")
    m = np.array([0.2, 0.5, 0.9])
    got = fam.scale_with_se(np.array([0.1, 0.1, 0.1]), np.log(m), 0.02)
    np.testing.assert_allclose(got, np.sqrt(0.01 + (0.02 / (m * (1 - m))) ** 2), rtol=1e-12)
    loss = get_family("student_t")
    np.testing.assert_allclose(loss.scale_with_se(0.01, np.log(2.0), 0.03), np.hypot(0.01, 0.015), rtol=1e-12)
    with pytest.raises(BayesScalingError, match="metric_se must be a finite number >= 0") as e:
        fam.scale_with_se(0.1, np.log(m), -1.0, "metric_se")
    assert e.value.quantity == "SE"


@pytest.mark.parametrize("y, inside", [(0.12, 0.0), (0.2, 1.0)])
def test_heldout_coverage_draws_noise_on_the_familys_scale(y, inside):
    """mu = 0.5, sigma = 1 on the logit scale: the 90% interval is expit(+-1.645) = [0.162, 0.838]; noise
    added to log m instead would put its lower end at 0.5 exp(-1.645) = 0.096, covering 0.12."""
    from types import SimpleNamespace

    from bayes_scaling.inference.discrepancy import heldout_coverage
    from bayes_scaling.specs.families import get_family

    lik = SimpleNamespace(dist=get_family("logit_normal"))
    r = np.full((1, 4000), np.log(y) - np.log(0.5))
    cov = heldout_coverage(r, np.ones(4000), np.zeros(1), 0.0, 0.0, lik, np.random.default_rng(0), log_y=[np.log(y)])
    assert cov == inside


@pytest.mark.parametrize("n", [1, 2, 3, 20, 801])
def test_weighted_quantiles_are_the_posteriors_quantiles_under_equal_weights(n):
    from bayes_scaling.posterior.intervals import quantiles, weighted_quantiles

    v = np.random.default_rng(n).standard_t(3, n)
    levels = [0.0, 0.05, 0.25, 0.5, 0.95, 1.0]
    np.testing.assert_allclose(weighted_quantiles(v, np.full((2, n), 7.0), levels),
                               np.repeat(quantiles(v, levels)[:, None], 2, axis=1), rtol=1e-12, atol=1e-12)
    if n > 2:  # NaN values and zero weights count as absent
        v2, w = v.copy(), np.ones(n)
        v2[0], w[-1] = np.nan, 0.0
        np.testing.assert_allclose(weighted_quantiles(v2, w, levels), quantiles(v[1:-1], levels), rtol=1e-12)


def test_weighted_quantiles_follow_the_weights():
    from bayes_scaling.posterior.intervals import weighted_quantiles

    v = np.arange(5.0)
    assert weighted_quantiles(v, [0, 0, 1, 0, 0], [0.05, 0.5, 0.95]).tolist() == [2.0, 2.0, 2.0]
    w = np.array([1.0, 3.0, 1.0, 2.0, 1.0])
    levels = np.array([0.05, 0.3, 0.5, 0.9])
    a = weighted_quantiles(v, w, levels)
    np.testing.assert_allclose(weighted_quantiles(-v, w, 1 - levels), -a, rtol=1e-12)  # mirror symmetric
    assert np.all(weighted_quantiles(v, w * [1, 1, 1, 1, 5], levels) >= a)  # weight moved up moves them up
    assert np.all(np.diff(a) > 0)
    for bad in ([1, 1, 1, 1, -1], [0] * 5, [1, 1, 1, np.inf, 1], [1, 1]):
        with pytest.raises(BayesScalingError, match="weights"):
            weighted_quantiles(v, bad, [0.5])


@pytest.mark.parametrize("n", [20, 800])
def test_design_interval_width_is_the_posteriors_interval_under_equal_weights(n):
    from bayes_scaling.posterior.intervals import median_interval
    from bayes_scaling.queries.design_preposterior import interval_width

    v = np.sort(np.random.default_rng(0).standard_t(3, n))
    _, lo, hi = median_interval(v, 0.9)
    assert interval_width(v, np.full((1, n), 1 / n), 0.9)[0] == pytest.approx(hi - lo, rel=1e-12)


def test_bootstrap_intervals_check_their_probability():
    from bayes_scaling.baselines.bootstrap import HuberBootstrap, predict_interval

    boot = HuberBootstrap.__new__(HuberBootstrap)
    for call in (lambda: predict_interval(boot, {}, prob=1.5), lambda: boot.interval(prob="x")):
        with pytest.raises(BayesScalingError, match="ci_prob must be"):
            call()


def test_thin_indices_is_numpys_choice_capped():
    from bayes_scaling.posterior.intervals import thin_indices

    a = thin_indices(1000, 400, np.random.default_rng(3))
    np.testing.assert_array_equal(a, np.random.default_rng(3).choice(1000, size=400, replace=False))
    assert len(set(a.tolist())) == 400
    assert sorted(thin_indices(50, 400, np.random.default_rng(3)).tolist()) == list(range(50))


@pytest.mark.parametrize("existed", [True, False])
def test_several_files_are_written_all_or_nothing(tmp_path, existed):
    from bayes_scaling.files import write_files_atomic

    first, blocker, last = tmp_path / "a.png", tmp_path / "b.png", tmp_path / "report.md"
    if existed:
        first.write_bytes(b"old")
    blocker.mkdir()  # a folder: renaming a file onto it fails after the first file was renamed into place
    (blocker / "keep").write_text("x")
    with pytest.raises(BayesScalingError, match=r"^cannot write .*b\.png"):
        write_files_atomic({first: b"new", blocker: b"b", last: b"doc"})
    assert (first.read_bytes() == b"old") if existed else not first.exists()
    assert not last.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["b.png", *(["a.png"] if existed else [])])
    assert write_files_atomic({first: b"1", last: b"2"}) == [first, last]
    assert first.read_bytes() == b"1" and last.read_bytes() == b"2"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png", "b.png", "report.md"]


def test_report_writer_uses_the_shared_atomic_writer():
    import bayes_scaling.report._render as render

    assert render.write_files_atomic is __import__("bayes_scaling.files", fromlist=["x"]).write_files_atomic
    assert not hasattr(render, "write_atomic")


@pytest.mark.parametrize("family", ["student_t", "logit_normal"])
def test_design_outcomes_are_drawn_and_scored_on_the_familys_scale(family):
    from types import SimpleNamespace

    from bayes_scaling.queries.design_loglik import outcome_loglik
    from bayes_scaling.specs.families import get_family

    rng = np.random.default_rng(1)
    fam = get_family(family)
    pre = SimpleNamespace(sigma=np.array([0.1, 0.2, 0.3]), family=fam, size=3)
    log_mu = np.log(rng.uniform(0.2, 0.8, (3, 4)))  # (draws, candidates)
    worlds = SimpleNamespace(truth=np.array([0, 2]), noise=rng.standard_normal((2, 4)))
    got = outcome_loglik(pre, log_mu, worlds)  # (candidates, worlds, draws)
    loc = (lambda m: np.log(m) - np.log1p(-m)) if family == "logit_normal" else np.log  # noqa: E731
    y_loc = loc(np.exp(log_mu[worlds.truth])) + pre.sigma[worlds.truth][:, None] * worlds.noise  # (worlds, cand)
    z = (y_loc.T[:, :, None] - loc(np.exp(log_mu)).T[:, None, :]) / pre.sigma
    np.testing.assert_allclose(got, fam.logpdf(z) - np.log(pre.sigma), rtol=1e-9, atol=1e-12)
