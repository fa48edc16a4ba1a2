"""Hierarchical laws without sampling: centred values, group parameters in NumPy and PyTensor,
spec [hierarchy] parsing, the model's structure, and group selection on a saved fit."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytensor
import pytensor.tensor as pt
import pytest

import bayes_scaling as bs
from bayes_scaling import BayesScalingError, get_law, list_laws
from bayes_scaling.inference.model import build_model, model_data
from bayes_scaling.posterior.evaluator import group_params
from bayes_scaling.specs.spec import HierarchySpec, default_spec, parse_spec
from bayes_scaling.specs.writer import spec_to_toml
from bayes_scaling.testing import runs_frame


@pytest.mark.parametrize("name", list_laws())
def test_centre_round_trip(name):
    law = get_law(name)
    rng = np.random.default_rng(1)
    p = {k: rng.uniform(0.1, 0.8) for k in law.direct_names}
    logc = {f"log_{k}": rng.uniform(1, 20) for k in law.positive_names}
    for par in law.params:  # fractions below 1; a level of a metric law's loss L is a few units of L
        if par.kind == "fraction":
            logc[f"log_{par.name}"] = np.log(rng.uniform(0.02, 0.98))
        elif par.unit == "units of L":
            logc[f"log_{par.name}"] = np.log(rng.uniform(0.5, 3.0))
    if "log_d2" in logc:
        logc["log_d2"] = logc["log_d1"] + 1.0
    # log inputs of the scale their quantities have (a loss L is a few nats, not e^20)
    ref = {k: rng.uniform(-1, 2) if k == "L" else rng.uniform(5, 20) for k in law.input_names}
    back = law.uncentre(np, law.centre(np, logc, p, ref), p, ref)
    for k, v in logc.items():
        assert back[k] == pytest.approx(v, abs=1e-12)


def test_chinchilla_centred_values_are_terms_at_the_reference():
    law = get_law("chinchilla")
    p, logc, ref = {"alpha": 0.34, "beta": 0.28}, {"log_E": 0.5, "log_A": 6.0, "log_B": 6.1}, {"N": 20.0, "D": 23.0}
    cen = law.centre(np, logc, p, ref)
    assert cen["A"] == pytest.approx(6.0 - 0.34 * 20.0) and cen["B"] == pytest.approx(6.1 - 0.28 * 23.0)


def test_group_params_pivot_at_the_reference_and_agree_with_pytensor():
    """A varying exponent keeps each group's term at the reference point (unless the constant varies
    too); NumPy and PyTensor give the same group parameters."""
    law = get_law("chinchilla")
    hier = HierarchySpec(("alpha", "B"))
    p, logc, ref = {"alpha": 0.34, "beta": 0.28}, {"log_E": 0.5, "log_A": 6.0, "log_B": 6.1}, {"N": 20.0, "D": 23.0}
    tau = {"alpha": 0.1, "B": 0.2}
    eps = {"alpha": np.array([-1.0, 0.5, 2.0]), "B": np.array([0.3, -0.7, 0.0])}
    p_g, logc_g = group_params(np, law, hier, p, logc, ref, tau, eps)
    np.testing.assert_allclose(p_g["alpha"], 0.34 * np.exp(0.1 * eps["alpha"]))
    # the A-term at the reference is the population's for every group; B's shifts by tau * eps
    np.testing.assert_allclose(logc_g["log_A"] - p_g["alpha"] * ref["N"], 6.0 - 0.34 * 20.0)
    np.testing.assert_allclose(logc_g["log_B"] - 0.28 * ref["D"], 6.1 - 0.28 * 23.0 + 0.2 * eps["B"])
    assert np.ndim(logc_g["log_E"]) == 0 and np.ndim(p_g["beta"]) == 0
    sym_eps = {k: pt.dvector(k) for k in eps}
    sym = group_params(pt, law, hier, {k: pt.as_tensor(v) for k, v in p.items()},
                       {k: pt.as_tensor(v) for k, v in logc.items()}, {k: pt.as_tensor(v) for k, v in ref.items()},
                       {k: pt.as_tensor(v) for k, v in tau.items()}, sym_eps)
    f = pytensor.function(list(sym_eps.values()), [sym[0]["alpha"], sym[1]["log_A"], sym[1]["log_B"]])
    got = f(*eps.values())
    np.testing.assert_allclose(got[0], p_g["alpha"], rtol=1e-12)
    np.testing.assert_allclose(got[1], logc_g["log_A"], rtol=1e-12)
    np.testing.assert_allclose(got[2], logc_g["log_B"], rtol=1e-12)


def _grouped_runs():
    frames = [runs_frame(seed=s).assign(arch=name) for s, name in enumerate(["x", "y", "z"])]
    return bs.load_runs(pd.concat(frames, ignore_index=True), group_cols=["arch"])


def test_model_structure_with_groups():
    spec = default_spec("chinchilla").with_vary(["alpha", "A"])
    data = model_data(spec, _grouped_runs())
    assert data.groups == ("x", "y", "z") and data.group_col == "arch"
    assert np.array_equal(np.bincount(data.group_idx), [16, 16, 16])
    model = build_model(spec, data)
    names = {rv.name for rv in model.free_RVs}
    assert {"tau_alpha", "tau_A", "z_eps_alpha", "z_eps_A"} <= names  # offsets sampled non-centred
    det = {d.name for d in model.deterministics}
    assert {"alpha_group", "A_group", "eps_alpha", "eps_A"} <= det and "B_group" not in det and "E_group" not in det
    assert model.named_vars_to_dims["eps_alpha"] == ("group",)


def test_hierarchy_needs_groups_and_known_params():
    spec = default_spec("chinchilla")
    with pytest.raises(BayesScalingError, match="group column"):
        model_data(spec.with_vary(["alpha"]), bs.load_runs(runs_frame()))
    with pytest.raises(BayesScalingError, match="cannot vary"):
        spec.with_vary(["gamma"])
    one = bs.load_runs(runs_frame().assign(arch="only"), group_cols=["arch"])
    with pytest.raises(BayesScalingError, match="one group"):
        model_data(spec.with_vary(["alpha"]), one)


def test_spec_hierarchy_section():
    text = default_spec("chinchilla").text + '\n[hierarchy]\nvary = ["alpha", "A"]\n[hierarchy.tau]\ndist = "HalfNormal"\nsigma = 0.2\n'
    spec = parse_spec(text, "h.toml")
    assert spec.hierarchy.vary == ("alpha", "A") and spec.hierarchy.tau.kwargs == {"sigma": 0.2}
    for bad in ('[hierarchy]\nvary = ["zeta"]\n', '[hierarchy]\nvary = "alpha"\n', '[hierarchy]\nvary = ["alpha"]\nx = 1\n'):
        with pytest.raises(BayesScalingError):
            parse_spec(default_spec("chinchilla").text + "\n" + bad, "bad.toml")


def test_compare_laws_cli_prefers_the_fit_that_describes_the_runs(tmp_path, capsys):
    """Two posteriors on the same runs: one at the truth that generated them, one shifted; the
    PSIS-LOO table ranks the true one first with most of the stacking weight."""
    import json

    from bayes_scaling.cli import main
    from bayes_scaling.examples import EXAMPLE
    from bayes_scaling.testing import fake_fit

    truth = EXAMPLE["truth"]
    good = fake_fit("chinchilla", truth, rel_sd=0.002, seed=1)
    bad = fake_fit("chinchilla", {**truth, "E": truth["E"] + 0.1}, runs_truth=truth, rel_sd=0.002, seed=1)
    good.save(tmp_path / "good.nc")
    bad.save(tmp_path / "bad.nc")
    assert main(["compare-laws", str(tmp_path / "good.nc"), str(tmp_path / "bad.nc"), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)["fits"]
    assert rows[0]["fit"] == "good" and rows[0]["weight"] > 0.9 and rows[1]["elpd_diff"] < 0
    other = fake_fit("chinchilla", truth, rel_sd=0.002, seed=2)  # different runs (another noise seed)
    other.save(tmp_path / "other.nc")
    assert main(["compare-laws", str(tmp_path / "good.nc"), str(tmp_path / "other.nc")]) == 2
    assert "same runs" in capsys.readouterr().err


def test_compute_multiplier_is_inf_when_a_group_cannot_reach_the_loss():
    """A group whose loss floor lies above the other's optimal loss needs infinite compute."""
    import xarray as xr

    from bayes_scaling.queries.compare_groups import compute_multiplier
    from bayes_scaling.testing import fake_fit

    res = fake_fit(rel_sd=0.0, chains=1, draws=4)
    post = res.tree["posterior"].to_dataset()
    e_group = xr.DataArray(np.array([[[1.8, 1.8], [1.8, 2.5], [1.8, 1.9], [1.8, 2.5]]]), dims=("chain", "draw", "group"),
                           coords={"group": ["a", "b"]})
    post["E_group"] = e_group
    res.tree["posterior"] = xr.DataTree(post)
    res.tree.attrs["hierarchy"] = '{"vary": ["E"], "tau": {"dist": "HalfNormal", "sigma": 0.1}, "group_col": "g", "groups": ["a", "b"]}'
    m = compute_multiplier(res, "a", "b", 1e22).values.ravel()
    assert m[0] == pytest.approx(1.0, rel=1e-6)
    assert np.isinf(m[1]) and np.isinf(m[3])
    assert np.isfinite(m[2]) and m[2] > 1


def test_compiled_model_key_separates_structures():
    """Runs with covariates or groups need their own compiled model, even for the same spec; new
    data of the same structure reuses it."""
    from bayes_scaling.inference.fit import model_key

    spec = default_spec("chinchilla")
    plain = model_data(spec, bs.load_runs(runs_frame()))
    other_plain = model_data(spec, bs.load_runs(runs_frame(seed=5)))
    frame = runs_frame().assign(width=np.geomspace(256, 4096, 16), depth=np.geomspace(4, 64, 16)[::-1])
    shaped = model_data(spec, bs.load_runs(frame, shape_cols=("width", "depth")))
    hier = spec.with_vary(["alpha"])
    grouped = model_data(hier, _grouped_runs())
    keys = {model_key(spec, plain), model_key(spec, shaped), model_key(hier, grouped)}
    assert len(keys) == 3
    assert model_key(spec, other_plain) == model_key(spec, plain)


def test_new_group_scale_is_that_of_the_iid_model_behind_sum_to_zero_offsets():
    """Sum-to-zero offsets are iid offsets tau e_g minus their mean (the population value); a new
    group's offset from that mean has sd tau sqrt(1 + 1/G), which the evaluator's "new" draws use."""
    from bayes_scaling.posterior.evaluator import ZERO_SUM, new_group_scale

    rng = np.random.default_rng(0)
    for n_groups in (2, 3, 5):
        e = rng.standard_normal((200_000, n_groups + 1))  # fitted groups, then the unseen one
        new = e[:, -1] - e[:, :-1].mean(axis=1)
        scale = new_group_scale({"offsets": ZERO_SUM, "groups": list("abcde")[:n_groups]})
        assert scale == pytest.approx(np.sqrt(1 + 1 / n_groups))
        assert new.std() == pytest.approx(scale, rel=0.01)
    assert new_group_scale({"groups": ["a", "b"]}) == 1.0  # fits saved before sum-to-zero offsets


def test_hierarchy_centred_names_parameters_sampled_centred():
    text = default_spec("chinchilla").text + '\n[hierarchy]\nvary = ["alpha", "B"]\ncentred = ["B"]\n'
    spec = parse_spec(text)
    assert spec.hierarchy.centred == ("B",) and spec.with_vary(["alpha"]).hierarchy.centred == ()
    assert parse_spec(spec_to_toml(spec)).hierarchy == spec.hierarchy  # the writer keeps it
    model = build_model(spec, model_data(spec, _grouped_runs()))
    names = {rv.name for rv in model.free_RVs}
    assert {"eps_B", "z_eps_alpha"} <= names and "z_eps_B" not in names and "eps_alpha" not in names
    with pytest.raises(BayesScalingError, match="centred"):
        parse_spec(default_spec("chinchilla").text + '\n[hierarchy]\nvary = ["alpha"]\ncentred = ["B"]\n')
    for bad in ('"B"', '["B", "B"]', '["Q"]'):  # text is not a list; a repeat; a name outside vary: named in the error
        with pytest.raises(BayesScalingError, match=r"centred must list names of vary"):
            parse_spec(default_spec("chinchilla").text + f'\n[hierarchy]\nvary = ["alpha", "B"]\ncentred = {bad}\n')


def test_a_fit_reads_its_centred_parameters_from_its_hierarchy_record():
    """``FitResult.spec`` rebuilds the hierarchy from the fit's record: ``centred`` is part of it (it was dropped,
    so refits sampled every offset non-centred); a record without it (older files) reads as none centred."""
    import json

    from bayes_scaling.testing import fake_fit

    res = fake_fit(draws=50)
    record = {"vary": ["alpha", "B"], "tau": {"dist": "HalfNormal", "sigma": 0.1}, "group_col": "g", "groups": ["a", "b"],
              "offsets": "zero_sum", "centred": ["B"]}
    res.tree.attrs["hierarchy"] = json.dumps(record)
    assert res.spec.hierarchy.centred == ("B",)
    older = fake_fit(draws=50)
    older.tree.attrs["hierarchy"] = json.dumps({k: v for k, v in record.items() if k != "centred"})
    assert older.spec.hierarchy.centred == ()
