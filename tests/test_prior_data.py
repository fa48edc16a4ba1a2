"""Priors of the positive parameters as data: one compiled model serves specs that differ only in those numbers."""

import numpy as np
import pytest

from bayes_scaling.data.runs import load_runs
from bayes_scaling.inference.fit import model_key
from bayes_scaling.inference.model import build_model, model_data, prior_containers
from bayes_scaling.specs.spec import load_spec


def _runs():
    x = np.geomspace(1e3, 1e6, 12)
    loss = 0.2 + 0.6 * x ** -0.3
    import pandas as pd

    return load_runs(pd.DataFrame({"X": x, "loss": loss}), extra_cols={"X": "X"})


def test_specs_differing_in_a_positive_prior_share_a_model_and_its_log_density():
    import pymc as pm

    from dataclasses import replace

    a = load_spec("power_x")
    b = replace(a, priors={**a.priors, "E": replace(a.priors["E"], kwargs={"mu": -2.0, "sigma": 0.5})})
    runs = _runs()
    da, db = model_data(a, runs), model_data(b, runs)
    assert model_key(a, da) == model_key(b, db)
    model_b = build_model(b, db)
    model_a = build_model(a, da)
    assert load_spec("m4").priors["G"] != load_spec("m4_error_rate").priors["G"]
    m4 = model_data(load_spec("m4"), runs)
    assert model_key(load_spec("m4"), m4) == model_key(load_spec("m4_error_rate"), m4)  # one compiled M4 for both
    point = model_b.initial_point()
    point = {k: v + 0.1 * (i + 1) for i, (k, v) in enumerate(point.items())}
    logp_b = model_b.compile_logp()(point)
    logp_a = model_a.compile_logp()  # compiled once, then fed other numbers
    assert abs(logp_a(point) - logp_b) > 1e-3  # the E priors differ, so do the densities
    with model_a:
        pm.set_data(prior_containers(b))  # model a fed spec b's prior numbers is model b
    assert logp_a(point) == pytest.approx(logp_b, rel=1e-12, abs=1e-9)


def test_a_tight_positive_prior_changes_the_model_key():
    from dataclasses import replace

    a = load_spec("power_x")
    tight = replace(a, priors={**a.priors, "E": replace(a.priors["E"], kwargs={"mu": -1.0, "sigma": 0.01})})
    d = model_data(a, _runs())
    assert model_key(a, d) != model_key(tight, d)  # tight priors start their chains without jitter
    wider = replace(a, priors={**a.priors, "E": replace(a.priors["E"], kwargs={"mu": 0.0, "sigma": 2.0})})
    assert model_key(a, d) == model_key(wider, d)
    assert set(prior_containers(a)) == {f"prior_{c}_{k}" for c in a.law.positive_names for k in ("mu", "sigma")}
