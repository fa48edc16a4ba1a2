"""A new run's evaluation SE in run design (issue 15): for a fit with run noise and per-run SEs, whose sigma leaves
evaluation noise out, each simulated outcome carries the candidate's evaluation SE (SE/loss, ``candidate_se``;
default the median of the recorded runs) and is weighed with it; other fits are unchanged and refuse the option.
No sampling (``fake_fit`` recorded with run noise)."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

import bayes_scaling as bs
from bayes_scaling.cli import main
from bayes_scaling.errors import BayesScalingError
from bayes_scaling.examples import EXAMPLE
from bayes_scaling.inference.design import with_simulated_runs
from bayes_scaling.queries.design import candidate_grid, design_runs
from bayes_scaling.specs.spec import default_spec
from bayes_scaling.testing import fake_fit

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")

TARGET, BUDGET = 1e23, 3e21  # FLOPs
REL_SE = (0.002, 0.004, 0.003)  # SE/loss of the recorded runs by seed: median 0.003


def _ladder(seed=0, n_cells=16, reps=3):
    """Chinchilla runs (the example's truth) at 16 configurations x 3 seeds, log-noise 0.01, SE column."""
    rng = np.random.default_rng(seed)
    t = EXAMPLE["truth"]
    n = np.repeat(np.exp(rng.uniform(np.log(5e7), np.log(2e9), n_cells)), reps)
    d = np.repeat(np.exp(rng.uniform(np.log(1e9), np.log(1e11), n_cells)), reps)
    y = (t["E"] + t["A"] / n ** t["alpha"] + t["B"] / d ** t["beta"]) * np.exp(rng.normal(0, 0.01, n.size))
    return pd.DataFrame({"params": n, "tokens": d, "loss": y, "seed": np.tile(np.arange(reps), n_cells),
                         "se": np.tile(REL_SE, n_cells) * y})


@pytest.fixture(scope="module")
def fits():
    spec = default_spec("chinchilla")
    spec = replace(spec, likelihood=replace(spec.likelihood, family="normal")).synced()
    with_se = bs.load_runs(_ladder(), compute_col=None, extra_cols={"SE": "se"}, seed_col="seed")
    noisy = fake_fit(spec=spec, runs=with_se, run_noise=True, rel_sd=0.02, sigma=0.01, draws=200)
    plain = fake_fit(spec=spec, runs=bs.load_runs(_ladder().drop(columns="se"), compute_col=None, seed_col="seed"),
                     rel_sd=0.02, sigma=0.01, draws=200)
    return noisy, plain


def _design(fit, **kw):
    n, d = candidate_grid(fit.runs.frame["C"], BUDGET)
    return design_runs(fit, TARGET, BUDGET, n, d, worlds=64, batch=2, exchange=0, **kw)


def test_a_large_evaluation_se_lowers_the_value_of_a_run(fits):
    noisy, _ = fits
    exact, large = _design(noisy, candidate_se=0.0), _design(noisy, candidate_se=0.3)
    assert exact.outcome.relative_se == 0.0 and large.outcome.relative_se == 0.3
    # an outcome 30 times noisier than sigma (0.3 against 0.01 on log-loss) teaches far less: the best
    # candidate's expected reduction of var log N* falls to well under half (measured 2026-12-07: 0.0034 against
    # 0.056, value of the first pick 1.0e20 against 1.8e21 FLOPs; the same worlds for both)
    best_exact, best_large = np.max(exact.gains.gain), np.max(large.gains.gain)
    assert best_exact > 0 and best_large < 0.5 * best_exact, (best_exact, best_large)
    # stop or go's value of information of the first pick drops too
    assert large.stop_go["steps"][0]["value_flops"] < 0.5 * exact.stop_go["steps"][0]["value_flops"]


def test_the_default_is_the_recorded_runs_median_and_other_fits_refuse(fits):
    noisy, plain = fits
    des = _design(noisy)
    assert des.outcome.relative_se == pytest.approx(0.003) and des.outcome.se_source == "median of the recorded runs"
    np.testing.assert_allclose(des.gains.after, _design(noisy, candidate_se=0.003).gains.after, rtol=1e-12)
    off = _design(plain)
    assert off.outcome.relative_se is None  # sigma holds the evaluation noise: nothing added
    with pytest.raises(BayesScalingError, match="twice") as e:
        _design(plain, candidate_se=0.01)
    assert e.value.quantity == "candidate_se"
    for bad in (-0.1, 1.0, float("nan"), float("inf"), True, "abc", [0.01]):
        with pytest.raises(BayesScalingError, match=r"SE/loss\) must be a number in \[0, 1\)"):
            _design(noisy, candidate_se=bad)


def test_simulated_refit_runs_carry_the_se():
    spec = default_spec("chinchilla")
    spec = replace(spec, likelihood=replace(spec.likelihood, family="normal")).synced()
    runs = bs.load_runs(_ladder(), compute_col=None, extra_cols={"SE": "se"}, seed_col="seed")
    fit = fake_fit(spec=spec, runs=runs, run_noise=True, sigma=0.01, draws=50)
    n, d = np.full(4000, 1e9), np.full(4000, 2e10)
    sigma = float(fit.evaluator.sigma.values.reshape(-1)[0])
    for rel in (0.0, 0.05):
        new = with_simulated_runs(fit, n, d, rng=np.random.default_rng(1), draw=0, candidate_se=rel).frame.iloc[-4000:]
        sd = np.std(np.log(new["loss"].to_numpy()))
        assert sd == pytest.approx(np.hypot(sigma, rel), rel=0.06), (rel, sd, sigma)
        np.testing.assert_allclose(new["SE"].to_numpy(), rel * new["loss"].to_numpy(), rtol=1e-12)


def test_cli_says_the_evaluation_se_and_refuses_it_where_it_is_counted_twice(fits, tmp_path, capsys):
    noisy, plain = fits
    a, b = str(noisy.save(tmp_path / "noisy.nc")), str(plain.save(tmp_path / "plain.nc"))
    argv = ["--target-compute", "1e23", "--ladder-budget", "3e21", "--worlds", "16", "--max-refits", "0",
            "--exchange", "0", "--batch", "1"]
    assert main(["design", a] + argv + ["--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["candidate_se_relative"] == pytest.approx(0.003)
    assert out["candidate_se_source"] == "median of the recorded runs" and "evaluation SE" in out["outcome"]
    assert main(["design", a] + argv + ["--candidate-se", "0.02"]) == 0
    text = capsys.readouterr().out
    assert "evaluation SE of new runs: 2% of loss (given by --candidate-se)" in text
    assert main(["design", b] + argv + ["--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["candidate_se_relative"] is None and out["outcome"] == "fitted noise"
    assert main(["design", b] + argv + ["--candidate-se", "0.02"]) != 0
    err = capsys.readouterr().err
    assert "--candidate-se" in err and "twice" in err and len(err.strip().splitlines()) == 1


def test_report_says_the_evaluation_se(fits):
    from types import SimpleNamespace

    from bayes_scaling.report._design import design_section

    noisy, plain = fits
    texts = []
    for fit in (noisy, plain):
        ctx = SimpleNamespace(result=fit, cost=None, budgets=np.array([TARGET]), design_budget=None, seed=0)
        texts.append(" ".join(b.text for b in design_section(ctx).items if hasattr(b, "text")))
    assert "with an evaluation SE of 0.3% of the loss (the median of the recorded runs" in texts[0]
    assert "preposterior analysis" in texts[1] and "evaluation SE" not in texts[1]


def test_an_ensemble_of_members_fitted_differently_is_refused_and_a_zero_se_is_nothing_to_add():
    from bayes_scaling.result import EnsembleResult

    spec = default_spec("chinchilla")
    spec = replace(spec, likelihood=replace(spec.likelihood, family="normal")).synced()
    runs = bs.load_runs(_ladder(), compute_col=None, extra_cols={"SE": "se"}, seed_col="seed")
    a = fake_fit(spec=spec, runs=runs, run_noise=True, rel_sd=0.02, sigma=0.01, draws=100)
    b = fake_fit(spec=spec, runs=runs, run_noise=False, rel_sd=0.02, sigma=0.01, draws=100, seed=3)
    ens = EnsembleResult({"a": a, "b": b}, {"a": 0.5, "b": 0.5}, {"method": "test"})
    n, d = candidate_grid(runs.frame["C"], BUDGET)
    with pytest.raises(BayesScalingError, match="fitted differently: a took per-run SEs.*b did not"):
        design_runs(ens, TARGET, BUDGET, n, d, worlds=16, batch=1, exchange=0)
    des = design_runs(b, TARGET, BUDGET, n, d, worlds=16, batch=1, exchange=0, candidate_se=0)
    assert des.outcome.relative_se is None  # 0 on a fit whose noise holds the SE: nothing to add, not refused
