"""A break test compares laws: the counterpart fit (the ``breakdown`` command's and the report's) keeps the fit's
likelihood (family, nu, noise prior), run noise and hierarchy, so PSIS-LOO's difference is the break's alone."""

from __future__ import annotations

import json

import pytest

from bayes_scaling.testing import fake_fit

TRUTH = {"E": 1.5, "B": 10.0, "c0": 0.3}


def _normal_fit_with_run_noise():
    from dataclasses import replace

    from bayes_scaling.inference.fit import resolve_spec
    from bayes_scaling.specs.spec import PriorSpec

    spec = resolve_spec("power_n").with_family("normal")
    spec = replace(spec, likelihood=replace(spec.likelihood, sigma=PriorSpec("HalfNormal", {"sigma": 0.02}))).synced()
    res = fake_fit("power_n", TRUTH, spec=spec, draws=20)
    res.tree.attrs["run_noise"] = json.dumps({"cells": 12, "replicate_cells": 0, "cell_by": ["N"], "se": False})
    return res


def _capture(monkeypatch):
    import bayes_scaling.inference.fit as fit_module

    seen = []

    def stand_in(runs, law=None, spec=None, **kw):
        seen.append((spec, kw))
        return fake_fit("bnsl1_n", {**TRUTH, "c1": 1.0, "d1": 1e8, "f1": 0.5}, draws=20)

    monkeypatch.setattr(fit_module, "fit", stand_in)
    return seen


def _same_likelihood(res, spec, kw):
    assert spec.law_name == "bnsl1_n"
    assert spec.likelihood == res.spec.likelihood  # family, nu and the noise prior
    assert kw["run_noise"] is True


def test_the_counterpart_fit_keeps_the_fits_likelihood_and_run_noise(monkeypatch):
    from bayes_scaling.inference.counterpart import fit_counterpart

    seen = _capture(monkeypatch)
    res = _normal_fit_with_run_noise()
    fit_counterpart(res)
    (spec, kw), = seen
    _same_likelihood(res, spec, kw)


def test_the_reports_break_test_keeps_the_fits_likelihood_and_run_noise(monkeypatch):
    from bayes_scaling.report._refits import RefitConfig, RefitRunner, plan_refits

    seen = _capture(monkeypatch)
    res = _normal_fit_with_run_noise()
    plan = plan_refits(res, RefitConfig(), 0)
    assert "break_broken" in [j.key for j in plan.jobs] and "break_unbroken" not in [j.key for j in plan.jobs]
    fit, err = RefitRunner(plan.jobs).get("break_broken")
    assert err is None
    (spec, kw), = seen
    _same_likelihood(res, spec, kw)


def test_a_counterpart_without_the_varied_parameter_is_refused_in_one_line():
    from bayes_scaling.errors import BayesScalingError
    from bayes_scaling.result.refit import counterpart_spec
    from bayes_scaling.testing import fake_fit as ff

    res = ff("bnsl1_n", {**TRUTH, "c1": 1.0, "d1": 1e8, "f1": 0.5}, draws=10)
    res.spec = res.spec.with_vary(["d1"])  # as a fit with vary=["d1"] stores it
    with pytest.raises(BayesScalingError, match=r"has no parameter \['d1'\].*vary among") as e:
        counterpart_spec(res, "power_n")
    assert "\n" not in str(e.value) and e.value.quantity == "vary"


def _sensitivity_rows(monkeypatch, res):
    """The sensitivity section's variant names, its refits stood in by fake fits that store run noise only where
    the refit kept it."""
    from types import SimpleNamespace

    import bayes_scaling.inference.fit as fit_module
    from bayes_scaling.report._analysis import sensitivity_section
    from bayes_scaling.report._refits import RefitConfig, RefitRunner, plan_refits

    def stand_in(runs, law=None, spec=None, **kw):
        out = fake_fit("power_n", TRUTH, spec=spec, draws=20)
        if kw.get("run_noise"):
            out.tree.attrs["run_noise"] = res.tree.attrs["run_noise"]
        return out

    monkeypatch.setattr(fit_module, "fit", stand_in)
    plan = plan_refits(res, RefitConfig(), 0)
    ctx = SimpleNamespace(result=res, ci=0.9, refits=True, refit_config=RefitConfig(), plan=plan,
                          runner=RefitRunner(plan.jobs), timings={}, seed=0, budgets=[1e21])
    sec = sensitivity_section(ctx)
    table = next(item for item in sec.items if hasattr(item, "rows"))
    return [row[0] for row in table.rows]


def test_the_other_likelihood_row_says_it_dropped_run_noise(monkeypatch):
    """A Normal fit with run noise: its Student-t refit cannot keep run noise, and its row says so."""
    res = _normal_fit_with_run_noise()
    assert "Student-t likelihood (without run noise: only a Normal likelihood carries it)" in \
        _sensitivity_rows(monkeypatch, res)


def test_the_other_likelihood_row_of_a_fit_without_run_noise_is_plain(monkeypatch):
    res = fake_fit("power_n", TRUTH, draws=20)  # Student-t, no run noise: its Gaussian refit loses nothing
    assert "Gaussian likelihood" in _sensitivity_rows(monkeypatch, res)
