"""Initialisation and stuck chains: which variables get nutpie's random start, and which chains
count as stuck (no sampling: synthetic log densities and model graphs)."""

from __future__ import annotations

import numpy as np
import xarray as xr

from bayes_scaling.inference.fit import jittered_rvs, resolve_spec, stuck_chains
from bayes_scaling.inference.model import build_model, model_data
from bayes_scaling.testing import fake_fit


def _trace(logp: np.ndarray) -> xr.DataTree:
    stats = xr.Dataset({"logp": (("chain", "draw"), logp)})
    return xr.DataTree.from_dict({"sample_stats": stats})


def test_a_chain_far_below_the_others_is_stuck():
    rng = np.random.default_rng(0)
    lp = 120 + rng.standard_normal((4, 300))
    lp[2] = -15000.0  # never moved
    assert stuck_chains(_trace(lp)) == [2]


def test_chains_in_one_typical_set_are_not_stuck():
    rng = np.random.default_rng(1)
    lp = 120 + 2 * rng.standard_normal((4, 300))
    lp[1] -= 3.0  # a small, real offset between chains is not "stuck"
    assert stuck_chains(_trace(lp)) == []
    assert stuck_chains(_trace(lp[:1])) == []  # one chain: nothing to compare


def _model(spec_name: str, law: str | None = None):
    spec = resolve_spec(law, spec_name)
    fit = fake_fit("chinchilla")
    return spec, build_model(spec, model_data(spec, fit.runs))


def test_wide_priors_are_all_jittered():
    spec, model = _model(None, "chinchilla")
    assert {rv.name for rv in jittered_rvs(spec, model)} == {rv.name for rv in model.free_RVs}


def test_tight_published_priors_start_at_their_support_point():
    from bayes_scaling.data.runs import load_runs
    from bayes_scaling.testing import runs_frame

    spec = resolve_spec(None, "data_constrained_muennighoff2023")
    frame = runs_frame("data_constrained", {"E": 1.87, "A": 520.0, "B": 1488.0, "alpha": 0.35, "beta": 0.35,
                                            "R_D_star": 15.4, "R_N_star": 5.3})
    runs = load_runs(frame, extra_cols={"U": "U"})
    model = build_model(spec, model_data(spec, runs))
    jittered = {rv.name for rv in jittered_rvs(spec, model)}
    assert not jittered & {"alpha", "beta", *spec.law.internal}  # sd 5e-5 .. 1e-4: no random start
    assert {"R_D_star", "R_N_star", "sigma"} <= jittered
