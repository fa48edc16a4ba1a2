"""predict and allocate on a fit with a covariate answer at the value asked (``--covariate NAME=VALUE``, API
``covariates={...}``) and say which value they used: the runs' mean by default. No sampling: ``fake_fit`` with a
known covariate effect (0.05 per unit of log-loss, over covariate values 3-6: larger than the loss's interval)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from bayes_scaling.cli import main
from bayes_scaling.data.runs import load_runs
from bayes_scaling.queries.allocate import decide, plan_outcome
from bayes_scaling.testing import fake_fit, runs_frame

GAMMA = 0.05  # log-loss per unit of the covariate


@pytest.fixture(scope="module")
def cov_fit(tmp_path_factory):
    f = runs_frame(seed=0)
    f["ar"] = np.random.default_rng(1).uniform(3.0, 6.0, len(f))
    f["loss"] = f["loss"] * np.exp(GAMMA * (f["ar"] - f["ar"].mean()))
    res = fake_fit(runs=load_runs(f, covariate_cols=["ar"]), covariate_effect={"ar": GAMMA})
    path = tmp_path_factory.mktemp("cov") / "cov.nc"
    res.save(path)
    return res, str(path), float(f["ar"].mean())


def _cli(capsys, *argv):
    rc = main(list(argv))
    out = capsys.readouterr()
    return rc, out.out, out.err


def test_predict_answers_at_the_given_value_and_says_which(cov_fit, capsys):
    res, path, mean = cov_fit
    rc, text, _ = _cli(capsys, "predict", path, "--params", "1e9", "--tokens", "2e10")
    assert rc == 0 and f"ar = {mean:.4g} (mean of the runs)" in text
    rc, text, _ = _cli(capsys, "predict", path, "--params", "1e9", "--tokens", "2e10", "--covariate", "ar=6", "--json")
    at6 = json.loads(text)
    assert rc == 0 and at6["covariates"] == [{"name": "ar", "value": 6.0, "source": "given"}]
    rc, text, _ = _cli(capsys, "predict", path, "--params", "1e9", "--tokens", "2e10", "--json")
    at_mean = json.loads(text)
    assert at_mean["covariates"][0]["source"] == "mean of the runs"
    # the effect (exp(0.05 * 1.45) = 1.075) is larger than the law's 90% interval: the intervals do not overlap
    assert at6["loss"]["ci_low"] > at_mean["loss"]["ci_high"]
    ratio = at6["loss"]["median"] / at_mean["loss"]["median"]
    assert ratio == pytest.approx(np.exp(GAMMA * (6.0 - mean)), rel=0.01)


def test_allocate_takes_the_covariate_in_the_loss_not_in_n_star(cov_fit, capsys):
    res, path, mean = cov_fit
    d0, d6 = decide(res, 1e22), decide(res, 1e22, covariates={"ar": 6.0})
    factor = np.exp(GAMMA * (6.0 - mean))
    assert float(d6.outcome["loss"].median() / d0.outcome["loss"].median()) == pytest.approx(factor, rel=0.01)
    assert d6.N == pytest.approx(d0.N, rel=1e-3)  # a factor on the loss leaves the optimum where it was
    same = [plan_outcome(res, 1e22, d0.N, covariates=c)["wasted_compute"].values for c in (None, {"ar": 6.0})]
    np.testing.assert_allclose(same[1], same[0], atol=1e-9)  # and the waste of a plan, a ratio of budgets
    rc, text, _ = _cli(capsys, "allocate", path, "--compute", "1e22")
    assert rc == 0 and f"at ar = {mean:.4g} (mean of the runs)" in text
    rc, text, _ = _cli(capsys, "allocate", path, "--compute", "1e22", "--covariate", "ar=6", "--json")
    out = json.loads(text)
    assert out["covariates"] == [{"name": "ar", "value": 6.0, "source": "given"}]
    assert out["loss"]["median"] == pytest.approx(float(d6.outcome["loss"].median()), rel=1e-6)


@pytest.mark.parametrize("cmd", [["predict", "--params", "1e9", "--tokens", "2e10"], ["allocate", "--compute", "1e22"]])
def test_an_unknown_covariate_names_the_fits(cov_fit, capsys, cmd):
    _, path, _ = cov_fit
    rc, out, err = _cli(capsys, cmd[0], path, *cmd[1:], "--covariate", "depth=3")
    assert rc != 0 and not out
    line = err.strip()
    assert "\n" not in line and "unknown covariate(s) ['depth']" in line and "['ar']" in line and "--covariate" in line


def test_covariates_on_a_fit_without_them_are_refused(tmp_path, capsys):
    path = tmp_path / "plain.nc"
    fake_fit().save(path)
    rc, out, err = _cli(capsys, "allocate", str(path), "--compute", "1e22", "--covariate", "ar=6")
    assert rc != 0 and "this fit has no covariates" in err and not out
    rc, text, _ = _cli(capsys, "allocate", str(path), "--compute", "1e22")
    assert rc == 0 and "mean of the runs" not in text


@pytest.mark.parametrize("value", [[4.0, 5.0], True])
def test_a_decision_takes_one_number_per_covariate(cov_fit, value):
    """``decide`` answers at one setting: a list (predict's one value per point) or a bool is refused in one line."""
    from bayes_scaling import BayesScalingError
    from bayes_scaling.queries.allocate import decide

    with pytest.raises(BayesScalingError, match="must each be one number") as e:
        decide(cov_fit[0], 1e21, covariates={"ar": value})
    assert e.value.quantity == "covariates"
