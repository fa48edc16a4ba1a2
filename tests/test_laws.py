"""Laws: published oracle values, NumPy/PyTensor agreement, centring, Jacobians and the PyMC model.

No sampling here: the model test evaluates the compiled log density at fixed points and compares
it with an independent hand computation (SciPy densities + the NumPy law).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytensor
import pytensor.tensor as pt
import pytest
from conftest import graph_check_mode
from scipy import special, stats

import bayes_scaling as bs
from bayes_scaling import BayesScalingError, get_law, list_laws
from bayes_scaling.inference.model import build_model, model_data, slope_coordinates
from bayes_scaling.specs.spec import default_spec, load_spec, parse_spec

LAWS = list_laws()


@pytest.fixture(autouse=True, scope="module")
def _graph_check_mode():
    """Every graph compiled here is evaluated by PyTensor's Python linker (conftest.graph_check_mode);
    no test here samples."""
    with pytensor.config.change_flags(mode=graph_check_mode()):
        yield


def test_registry_has_the_shipped_laws():
    # A superset: laws register themselves, so a new law module joins every test here unedited.
    assert set(LAWS) >= {"chinchilla", "kaplan_n", "kaplan_d", "kaplan_c", "kaplan_nd", "kaplan_ns", "data_constrained",
                         *(f"{fam}_{axis}" for fam in ("power", "bnsl1", "bnsl2") for axis in "xdn")}
    for name in LAWS:
        law = get_law(name)
        assert law.name == name
        assert law.citation and law.formula
        assert set(law.input_names) <= {"N", "D", "C", "U", "X", "S", "L"}
        assert len(set(law.param_names)) == len(law.params)


def test_get_law_unknown_name_lists_valid_names():
    with pytest.raises(BayesScalingError) as ei:
        get_law("nope")
    msg = str(ei.value)
    assert "nope" in msg and "\n" not in msg
    for name in LAWS:
        assert name in msg


# -- parameter conventions ------------------------------------------------------------------

def _p(law, natural):
    """Natural parameter values -> the law's ``p`` (exponents as is, positive parameters as log_<name>)."""
    out = {}
    for name, v in natural.items():
        if name in law.direct_names:
            out[name] = v
        else:
            out[f"log_{name}"] = np.log(v)
    return out


def test_param_conventions():
    for name in LAWS:
        law = get_law(name)
        assert set(law.positive_names) | set(law.direct_names) == set(law.param_names)
        assert not set(law.positive_names) & set(law.direct_names)
        assert len(law.internal) == len(law.positive_names), name
        assert not set(law.internal) & set(law.param_names)
    assert get_law("chinchilla").positive_names == ("E", "A", "B")


# -- oracle values (facts.md §1.11, §2.6, §9) -------------------------------------------------

KAPLAN_N = {"alpha_N": 0.076, "N_c": 8.8e13}  # Eq. 1.1
KAPLAN_D = {"alpha_D": 0.095, "D_c": 5.4e13}  # Eq. 1.2
KAPLAN_C = {"alpha_C": 0.050, "C_c": 3.1e8}  # Eq. 1.3, C_c in PF-days
KAPLAN_ND = {"alpha_N": 0.076, "alpha_D": 0.103, "N_c": 6.4e13, "D_c": 1.8e13}  # Table 2
HOFFMANN_UNROUNDED = {"E": 1.6934, "A": math.exp(6.0073404), "B": math.exp(6.0179186),
                      "alpha": 0.33917084, "beta": 0.2849083}
HOFFMANN_ROUNDED = {"E": 1.69, "A": 406.4, "B": 410.7, "alpha": 0.34, "beta": 0.28}
BESIROGLU = {"E": 1.8172, "A": 482.01, "B": 2085.43, "alpha": 0.3478, "beta": 0.3658}

ORACLES = [
    ("kaplan_n", {"N": 1e8}, KAPLAN_N, 2.8300),
    ("kaplan_n", {"N": 1e9}, KAPLAN_N, 2.3756),
    ("kaplan_n", {"N": 1e10}, KAPLAN_N, 1.9943),
    ("kaplan_d", {"D": 1e9}, KAPLAN_D, 2.8156),
    ("kaplan_d", {"D": 1e10}, KAPLAN_D, 2.2624),
    ("kaplan_d", {"D": 1e11}, KAPLAN_D, 1.8179),
    ("kaplan_c", {"C": 1e-3}, KAPLAN_C, 3.7546),
    ("kaplan_c", {"C": 1.0}, KAPLAN_C, 2.6581),
    ("kaplan_c", {"C": 1e4}, KAPLAN_C, 1.6771),
    ("kaplan_nd", {"N": 1e8, "D": 1e9}, KAPLAN_ND, 2.9567),
    ("kaplan_nd", {"N": 1e9, "D": 2.29e10}, KAPLAN_ND, 2.3675),
    ("kaplan_nd", {"N": 1.5e9, "D": 2.2e10}, KAPLAN_ND, 2.3125),
    ("chinchilla", {"N": 70e9, "D": 1.4e12}, HOFFMANN_UNROUNDED, 1.9208),
    ("chinchilla", {"N": 70e9, "D": 1.4e12}, HOFFMANN_ROUNDED, 1.9366),
    ("chinchilla", {"N": 70e9, "D": 1.4e12}, BESIROGLU, 1.9739),
    # Gopher (280B, 300B), facts.md §2.6
    ("chinchilla", {"N": 280e9, "D": 300e9}, HOFFMANN_UNROUNDED, 1.9672),
    ("chinchilla", {"N": 280e9, "D": 300e9}, HOFFMANN_ROUNDED, 1.9933),
    ("chinchilla", {"N": 280e9, "D": 300e9}, BESIROGLU, 1.9996),
]


@pytest.mark.parametrize(("law_name", "inputs", "params", "expected"), ORACLES,
                         ids=[f"{o[0]}-{'-'.join(f'{v:g}' for v in o[1].values())}-{o[3]}" for o in ORACLES])
def test_oracle_values(law_name, inputs, params, expected):
    law = get_law(law_name)
    x = {k: np.log(v) for k, v in inputs.items()}
    p = _p(law, params)
    assert float(law.loss(np, x, p)) == pytest.approx(expected, abs=1.1e-4)
    assert float(law.log_loss(np, x, p)) == pytest.approx(np.log(expected), abs=1e-4)


def test_oracles_vectorised_over_inputs():
    law = get_law("kaplan_n")
    got = law.loss(np, {"N": np.log([1e8, 1e9, 1e10])}, _p(law, KAPLAN_N))
    np.testing.assert_allclose(got, [2.8300, 2.3756, 1.9943], atol=1.1e-4)


def test_kaplan_c_uses_pf_days():
    law = get_law("kaplan_c")
    assert law.compute_unit == "PF-days"
    assert {i.name: i.unit for i in law.inputs} == {"C": "PF-days"}
    # The same compute in FLOPs would be far off: the law must be fed PF-days.
    flops = np.log(bs.pf_days_to_flops(1.0))
    assert float(law.loss(np, {"C": flops}, _p(law, KAPLAN_C))) < 1.0


# -- random points per law --------------------------------------------------------------------

def _random_params(law, rng, shape=()):
    """Random values in the law's ``p`` convention."""
    p = {}
    for par in law.params:
        if par.kind == "exponent":
            p[par.name] = rng.uniform(0.05, 0.8, shape)
        elif par.kind == "shape":
            p[par.name] = rng.uniform(0.3, 5.0, shape)
        elif par.kind == "offset":
            p[par.name] = rng.uniform(-0.5, 0.5, shape)
        elif par.kind == "loss" or par.unit == "units of L":  # a loss, or a level of a metric law's loss L
            p[f"log_{par.name}"] = np.log(rng.uniform(0.5, 3.0, shape))
        elif par.kind == "fraction":
            p[f"log_{par.name}"] = np.log(rng.uniform(0.02, 0.98, shape))
        else:
            p[f"log_{par.name}"] = rng.uniform(1.0, 35.0, shape)
    if "log_d2" in p:  # broken laws keep their breaks ordered, d1 < d2
        lo, hi = np.minimum(p["log_d1"], p["log_d2"]), np.maximum(p["log_d1"], p["log_d2"])
        p["log_d1"], p["log_d2"] = lo, hi + 1e-3
    return p


def _random_inputs(law, rng, n):
    lo_hi = {"N": (np.log(1e6), np.log(1e12)), "D": (np.log(1e8), np.log(1e13)), "C": (np.log(1e-6), np.log(1e5)),
             "U": (np.log(1e8), np.log(1e12)), "X": (np.log(1e1), np.log(1e6)), "S": (np.log(1e2), np.log(1e6)),
             "L": (np.log(0.3), np.log(10.0))}
    return {k: rng.uniform(*lo_hi[k], n) for k in law.input_names}


def _split(law, p):
    """(exponents, {log_<positive>: ...}) from a ``p`` dict."""
    return ({k: p[k] for k in law.direct_names}, {f"log_{k}": p[f"log_{k}"] for k in law.positive_names})


@pytest.mark.parametrize("law_name", LAWS)
def test_numpy_and_pytensor_paths_agree(law_name):
    law = get_law(law_name)
    rng = np.random.default_rng(20240611)
    x_sym = {k: pt.dvector(f"x_{k}") for k in law.input_names}
    p_keys = sorted(_random_params(law, rng))
    p_sym = {k: pt.dscalar(k) for k in p_keys}
    out = law.log_loss(pt, x_sym, p_sym)
    f = pytensor.function([*x_sym.values(), *p_sym.values()], out)
    for _ in range(5):
        x = _random_inputs(law, rng, 50)
        p = {k: float(v) for k, v in _random_params(law, rng).items()}
        got = f(*[x[k] for k in x_sym], *[p[k] for k in p_keys])
        want = law.log_loss(np, x, p)
        assert got.shape == (50,)
        assert np.all(np.isfinite(want))
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=0)


@pytest.mark.parametrize("law_name", LAWS)
def test_numpy_path_broadcasts_over_draws(law_name):
    """Posterior queries evaluate the law with parameters of shape (draws, 1) against inputs (1, points)."""
    law = get_law(law_name)
    rng = np.random.default_rng(7)
    x = _random_inputs(law, rng, 6)
    p = _random_params(law, rng, (4, 1))
    grid = law.log_loss(np, {k: v[None, :] for k, v in x.items()}, p)
    assert grid.shape == (4, 6)
    for s in range(4):
        row = law.log_loss(np, x, {k: float(v[s, 0]) for k, v in p.items()})
        np.testing.assert_allclose(grid[s], row, rtol=1e-14)


# -- centred (internal) coordinates -------------------------------------------------------------

def _random_ref(law, rng):
    return {k: float(v[0]) for k, v in _random_inputs(law, rng, 1).items()}


@pytest.mark.parametrize("law_name", LAWS)
def test_centring_round_trip(law_name):
    law = get_law(law_name)
    rng = np.random.default_rng(11)
    for _ in range(10):
        p = _random_params(law, rng)
        expo, logc = _split(law, p)
        ref = _random_ref(law, rng)
        z = law.to_internal(np, logc, expo, ref)
        assert set(z) == set(law.internal)
        back = law.from_internal(np, z, expo, ref)
        assert set(back) == set(logc)
        for k in logc:
            assert back[k] == pytest.approx(logc[k], rel=1e-11, abs=1e-11)
        # and the other way round, from arbitrary internal coordinates
        z2 = {k: v + rng.normal() for k, v in z.items()}
        again = law.to_internal(np, law.from_internal(np, z2, expo, ref), expo, ref)
        for k in z2:
            assert again[k] == pytest.approx(z2[k], rel=1e-10, abs=1e-10)


@pytest.mark.parametrize("law_name", LAWS)
def test_centring_round_trip_pytensor(law_name):
    law = get_law(law_name)
    rng = np.random.default_rng(12)
    p = {k: float(v) for k, v in _random_params(law, rng).items()}
    expo, logc = _split(law, p)
    ref = _random_ref(law, rng)
    z = law.to_internal(np, logc, expo, ref)
    z_sym = {k: pt.dscalar(k) for k in law.internal}
    out = law.from_internal(pt, z_sym, {k: pt.as_tensor(v) for k, v in expo.items()},
                            {k: pt.as_tensor(v) for k, v in ref.items()})
    keys = sorted(out)
    f = pytensor.function(list(z_sym.values()), [out[k] for k in keys])
    got = dict(zip(keys, f(*[z[k] for k in z_sym])))
    for k in logc:
        assert float(got[k]) == pytest.approx(logc[k], rel=1e-11, abs=1e-11)


@pytest.mark.parametrize("law_name", [n for n in LAWS if n != "sigmoid_metric"])
def test_reference_log_loss_is_an_internal_coordinate(law_name):
    """The first internal coordinate is the log loss at the reference point (for kaplan_nd: the log
    of the bracket, i.e. log L_ref / alpha_D). The data-constrained law shares Chinchilla's internal
    coordinates, evaluated without the repetition discount, so it is checked through Chinchilla.
    sigmoid_metric's bounded floor and ceiling cannot sit beside an unbounded level: its data-centred
    coordinate is the reference's position on the sigmoid (next test)."""
    law = get_law("chinchilla" if law_name == "data_constrained" else law_name)
    rng = np.random.default_rng(5)
    p = _random_params(law, rng)
    expo, logc = _split(law, p)
    ref = _random_ref(law, rng)
    z = law.to_internal(np, logc, expo, ref)
    first = z[law.internal[0]]
    log_l_ref = float(law.log_loss(np, ref, p))
    scale = p["alpha_D"] if law.name == "kaplan_nd" else 1.0  # kaplan_ns: log L_ref itself
    assert first * scale == pytest.approx(log_l_ref, rel=1e-11, abs=1e-12)


def test_sigmoid_metric_internal_coordinates_are_logits_and_the_reference_position():
    law = get_law("sigmoid_metric")
    b, r, L0, k, l_ref = 0.25, 0.9, 0.8, 5.0, 1.2
    z = law.to_internal(np, {"log_b": np.log(b), "log_r": np.log(r), "log_L0": np.log(L0)}, {"k": k}, {"L": np.log(l_ref)})
    assert z["z_floor"] == pytest.approx(np.log(b / (1 - b)), rel=1e-12)
    assert z["z_ceil"] == pytest.approx(np.log(r / (1 - r)), rel=1e-12)
    t = np.logaddexp(0.0, z["z_mid"] + k * l_ref) - k * l_ref  # the position k (L0 - L_ref)
    assert t == pytest.approx(k * (L0 - l_ref), rel=1e-12)
    acc_ref = float(law.loss(np, {"L": np.log(l_ref)}, {"log_b": np.log(b), "log_r": np.log(r), "log_L0": np.log(L0), "k": k}))
    assert acc_ref == pytest.approx(b + r * (1 - b) / (1 + np.exp(-t)), rel=1e-12)
    # any internal point maps to a ceiling below 1 and a positive midpoint
    rng = np.random.default_rng(3)
    for _ in range(20):
        zz = {n: rng.normal(0, 8) for n in law.internal}
        logc = law.from_internal(np, zz, {"k": k}, {"L": np.log(l_ref)})
        der = law.derived(logc)
        assert 0 < der["ceiling"] < 1 and np.isfinite(logc["log_L0"])


def test_chinchilla_internal_coordinates_are_term_ratios_at_reference():
    law = get_law("chinchilla")
    nat = HOFFMANN_UNROUNDED
    expo, logc = _split(law, _p(law, nat))
    n_ref, d_ref = 1e9, 2e10
    z = law.to_internal(np, logc, expo, {"N": np.log(n_ref), "D": np.log(d_ref)})
    assert np.exp(z["z_A"]) == pytest.approx(nat["A"] / n_ref ** nat["alpha"] / nat["E"], rel=1e-10)
    assert np.exp(z["z_B"]) == pytest.approx(nat["B"] / d_ref ** nat["beta"] / nat["E"], rel=1e-10)


def _fd_log_abs_det(law, z, expo, ref, h=1e-3):
    """log |det d(log positive params)/d(internal)| at fixed exponents, by 4th-order central differences."""
    zs = list(law.internal)
    cs = [f"log_{c}" for c in law.positive_names]
    jac = np.empty((len(cs), len(zs)))
    for j, zj in enumerate(zs):
        f = {s: law.from_internal(np, {**z, zj: z[zj] + s * h}, expo, ref) for s in (-2, -1, 1, 2)}
        for i, ci in enumerate(cs):
            jac[i, j] = (8 * (f[1][ci] - f[-1][ci]) - (f[2][ci] - f[-2][ci])) / (12 * h)
    sign, logdet = np.linalg.slogdet(jac)
    assert sign != 0
    return float(logdet)


@pytest.mark.parametrize("law_name", LAWS)
def test_log_jacobian_matches_finite_differences(law_name):
    law = get_law(law_name)
    rng = np.random.default_rng(13)
    for _ in range(10):
        p = _random_params(law, rng)
        expo, logc = _split(law, p)
        ref = _random_ref(law, rng)
        z = {k: v + rng.normal() for k, v in law.to_internal(np, logc, expo, ref).items()}
        want = _fd_log_abs_det(law, z, expo, ref)
        got = float(law.log_jacobian(np, z, expo, ref))
        assert got == pytest.approx(want, rel=1e-8, abs=1e-9)


@pytest.mark.parametrize("law_name", LAWS)
def test_log_jacobian_pytensor_matches_numpy(law_name):
    law = get_law(law_name)
    rng = np.random.default_rng(17)
    p = {k: float(v) for k, v in _random_params(law, rng).items()}
    expo, logc = _split(law, p)
    ref = _random_ref(law, rng)
    z = law.to_internal(np, logc, expo, ref)
    got = law.log_jacobian(pt, {k: pt.as_tensor(v) for k, v in z.items()}, {k: pt.as_tensor(v) for k, v in expo.items()},
                           {k: pt.as_tensor(v) for k, v in ref.items()})
    got = float(got.eval()) if hasattr(got, "eval") else float(got)
    assert got == pytest.approx(float(law.log_jacobian(np, z, expo, ref)), rel=1e-12, abs=1e-14)


# -- the PyMC model ---------------------------------------------------------------------------

def _synthetic_runs(n=14, seed=0):
    rng = np.random.default_rng(seed)
    N = np.exp(rng.uniform(np.log(2e7), np.log(5e9), n))
    D = np.exp(rng.uniform(np.log(5e8), np.log(2e11), n))
    loss = (1.7 + 406.4 / N**0.34 + 410.7 / D**0.28) * np.exp(rng.normal(0, 0.01, n))
    frame = pd.DataFrame({"params": N, "tokens": D, "loss": loss, "unique": D / rng.uniform(1, 8, n),
                          "size": D / 1e6, "steps": D / 2**19, "task_loss": loss / 2})
    return bs.load_runs(frame, params_col="params", tokens_col="tokens", compute_col=None, loss_col="loss",
                        extra_cols={"U": "unique", "X": "size", "S": "steps", "L": "task_loss"})


def _metric_runs(n=14, seed=0):
    """Accuracies (fractions) against a task loss (bits-per-byte): a sigmoid with chance 0.25."""
    rng = np.random.default_rng(seed)
    bpb = rng.uniform(0.6, 1.6, n)
    acc = special.expit(special.logit(0.25 + 0.5 / (1 + np.exp(4.0 * (bpb - 1.0)))) + rng.normal(0, 0.05, n))
    return bs.load_runs(pd.DataFrame({"L": bpb, "acc": acc}), params_col=None, tokens_col=None, compute_col=None,
                        loss_col="acc", extra_cols={"L": "L"})


#: Constrained values at which the model density is checked (published fits where they exist).
POINTS = {
    "chinchilla": {"E": 1.8, "alpha": 0.35, "beta": 0.30, "A": 450.0, "B": 1500.0},
    "kaplan_n": {"alpha_N": 0.076, "N_c": 8.8e13},
    "kaplan_d": {"alpha_D": 0.095, "D_c": 5.4e13},
    "kaplan_c": {"alpha_C": 0.050, "C_c": 3.1e8},
    "kaplan_nd": {"alpha_N": 0.076, "alpha_D": 0.103, "N_c": 6.4e13, "D_c": 1.8e13},
    "kaplan_ns": {"alpha_N": 0.077, "alpha_S": 0.76, "N_c": 6.5e13, "S_c": 2.1e3},
    "data_constrained": {"E": 1.8, "alpha": 0.35, "beta": 0.30, "A": 450.0, "B": 1500.0, "R_D_star": 15.0,
                         "R_N_star": 5.0},
}
for _axis, _at in (("x", 3e4), ("d", 3e10), ("n", 3e8), ("c", 3e19)):
    POINTS[f"power_{_axis}"] = {"E": 1.5, "B": 50.0, "c0": 0.3}
    POINTS[f"bnsl1_{_axis}"] = {**POINTS[f"power_{_axis}"], "c1": 1.0, "d1": _at, "f1": 0.5}
    POINTS[f"bnsl2_{_axis}"] = {**POINTS[f"bnsl1_{_axis}"], "c2": 0.5, "d2": 20 * _at, "f2": 0.3}
POINTS["sigmoid_metric"] = {"b": 0.25, "r": 2 / 3, "L0": 1.0, "k": 4.0}
POINTS["exp_metric"] = {"c": 0.25, "k": 1.0, "gamma": 2.0}



def _prior_medians(spec) -> dict[str, float]:
    """A typical point of a law without a hand-picked one: its default priors' medians (a new law is
    checked without editing this file). Data-relative priors are medians of value / reference."""
    import pymc as pm

    out = {}
    for name, prior in spec.priors.items():
        assert prior.relative_to is None, f"give {spec.law_name} a point in POINTS (data-relative prior on {name})"
        out[name] = float(np.median(pm.draw(prior.pymc_dist(), draws=2001, random_seed=0)))
    return out


CUSTOM_CHINCHILLA = """
[law]
name = "chinchilla"
[provenance]
source = "test"
citation = "test"
[priors.E]
dist = "Gamma"
alpha = 4.0
beta = 2.0
[priors.A]
dist = "Gamma"
alpha = 2.0
beta = 0.005
[priors.B]
dist = "TruncatedNormal"
mu = 1000.0
sigma = 800.0
lower = 0.0
[priors.alpha]
dist = "Uniform"
lower = 0.0
upper = 1.0
[priors.beta]
dist = "TruncatedNormal"
mu = 0.3
sigma = 0.1
lower = 0.0
upper = 1.0
[likelihood]
family = "normal"
[likelihood.sigma]
dist = "Exponential"
lam = 20.0
"""


def _scipy_dist(prior):
    k = prior.kwargs
    inf = np.inf
    return {
        "Normal": lambda: stats.norm(k.get("mu"), k.get("sigma")),
        "LogNormal": lambda: stats.lognorm(s=k["sigma"], scale=np.exp(k["mu"])),
        "HalfNormal": lambda: stats.halfnorm(scale=k["sigma"]),
        "Beta": lambda: stats.beta(k["alpha"], k["beta"]),
        "Gamma": lambda: stats.gamma(k["alpha"], scale=1 / k["beta"]),
        "Exponential": lambda: stats.expon(scale=1 / k["lam"]),
        "Uniform": lambda: stats.uniform(k["lower"], k["upper"] - k["lower"]),
        "TruncatedNormal": lambda: stats.truncnorm(
            (k.get("lower", -inf) - k["mu"]) / k["sigma"], (k.get("upper", inf) - k["mu"]) / k["sigma"],
            loc=k["mu"], scale=k["sigma"]),
    }[prior.dist]()


def _unconstrain(value_name, x, prior):
    """(unconstrained value, log|dx/dy|) for the PyMC default transform named in ``value_name``."""
    k = prior.kwargs
    if "__" not in value_name:  # an unbounded prior (a real-valued offset): no transform
        return x, 0.0
    if value_name.endswith("_log__"):
        y = np.log(x)
        return y, y
    if value_name.endswith("_logodds__"):
        y = special.logit(x)
        return y, np.log(x) + np.log1p(-x)
    if value_name.endswith("_interval__"):
        lo, hi = k.get("lower"), k.get("upper")
        if lo is not None and hi is not None:
            y = np.log(x - lo) - np.log(hi - x)
            return y, np.log(hi - lo) + special.log_expit(y) + special.log_expit(-y)
        if lo is not None:
            y = np.log(x - lo)
            return y, y
    raise AssertionError(f"no hand transform for {value_name} ({prior.describe()})")


def _hand_logp(spec, data, values, sigma, value_names, jacobian):
    """Independent log density at natural parameter ``values``: SciPy priors on the exponents and
    sigma; the priors on the published positive parameters (E, A, N_c, ...) moved to the law's
    internal coordinates (density of log c is p_c(c) * c, then |det d log c / d z| by finite
    differences); the likelihood of log-loss with the NumPy law. Also returns the model point."""
    law = spec.law
    expo = {k: values[k] for k in law.direct_names}
    logc = {f"log_{c}": np.log(values[c]) for c in law.positive_names}
    total = 0.0
    point = {}
    slopes = slope_coordinates(spec)
    for name, v in [*expo.items(), ("sigma", sigma)]:
        prior = spec.likelihood.sigma if name == "sigma" else spec.priors[name]
        if name in slopes:  # sampled through the log local slope at the reference point: p(v) * v
            total += _scipy_dist(prior).logpdf(v) + np.log(v)
            continue
        total += _scipy_dist(prior).logpdf(v)
        y, lj = _unconstrain(value_names[name], v, prior)
        point[value_names[name]] = y
        total += lj if jacobian else 0.0
    for c in law.positive_names:
        shift = data.ref[spec.priors[c].relative_to] if spec.priors[c].relative_to else 0.0
        total += _scipy_dist(spec.priors[c]).logpdf(values[c] / np.exp(shift)) + logc[f"log_{c}"] - shift
    z = law.to_internal(np, logc, expo, data.ref)
    for k in law.internal:
        point[value_names[k]] = z[k]
    for name, coord in slopes.items():  # log of -d log L / d log x at the reference, by finite differences
        (ax,) = law.input_names
        h = 1e-3  # five-point stencil: truncation error O(h^4)
        f = [law.log_loss(np, {ax: np.asarray(data.ref[ax] + k * h)}, {**expo, **logc}) for k in (-2, -1, 1, 2)]
        point[coord] = np.log(-(f[0] - 8 * f[1] + 8 * f[2] - f[3]) / (12 * h))
    total += _fd_log_abs_det(law, z, expo, data.ref)
    mu = law.log_loss(np, data.log_inputs, {**expo, **logc})
    if spec.likelihood.family == "student_t":
        total += stats.t.logpdf(data.log_loss, df=spec.likelihood.nu, loc=mu, scale=sigma).sum()
    elif spec.likelihood.family == "logit_normal":  # logit(acc) ~ Normal(logit(law), sigma)
        total += stats.norm.logpdf(special.logit(np.exp(data.log_loss)), loc=special.logit(np.exp(mu)),
                                   scale=sigma).sum()
    else:
        total += stats.norm.logpdf(data.log_loss, loc=mu, scale=sigma).sum()
    return total, {k: np.asarray(v, dtype=float) for k, v in point.items()}


MODEL_SPECS = [*LAWS, "chinchilla_hoffmann2022", "m4_error_rate", "custom"]


def _spec(name):
    if name == "custom":
        return parse_spec(CUSTOM_CHINCHILLA, "custom")
    if name in LAWS:
        return default_spec(name)
    return load_spec(name)


@pytest.fixture(scope="module")
def runs():
    return _synthetic_runs()


def _value_names(model):
    return {rv.name: model.rvs_to_values[rv].name for rv in model.free_RVs}


@pytest.mark.parametrize("spec_name", MODEL_SPECS)
def test_model_log_density_matches_hand_computation(spec_name, runs):
    spec = _spec(spec_name)
    law = spec.law
    if law.response == "metric":
        runs = _metric_runs()
    data = model_data(spec, runs)
    model = build_model(spec, data)

    slopes = slope_coordinates(spec)
    assert {rv.name for rv in model.free_RVs} == {*(set(law.direct_names) - set(slopes)), *slopes.values(),
                                                  *law.internal, "sigma"}
    assert {d.name for d in model.deterministics} == {*law.positive_names, *slopes}
    assert [o.name for o in model.observed_RVs] == ["obs"]
    assert len(model.potentials) == 1
    value_names = _value_names(model)
    assert set(model.initial_point()) == set(value_names.values())

    # jacobian=False: densities of the constrained variables (what model.compile_logp(jacobian=False)
    # returns); jacobian=True adds PyMC's transforms (log, logodds, interval), as model.compile_logp()
    # does. One compiled function returns both.
    f = model.compile_fn([model.logp(jacobian=False), model.logp(jacobian=True)])
    rng = np.random.default_rng(99)
    base = POINTS.get(law.name) or _prior_medians(spec)
    got, want = [], []
    for trial in range(4):
        # the base point, then random jitters around it (inside every prior's support)
        values = {k: v * (np.exp(rng.normal(0, 0.1)) if trial else 1.0) for k, v in base.items()}
        sigma = 0.03 * (np.exp(rng.normal(0, 0.3)) if trial else 1.0)
        w_nojac, point = _hand_logp(spec, data, values, sigma, value_names, jacobian=False)
        w_jac, _ = _hand_logp(spec, data, values, sigma, value_names, jacobian=True)
        assert set(point) == set(model.initial_point())
        assert np.isfinite(w_nojac) and np.isfinite(w_jac)
        got.append([float(v) for v in f(point)])
        want.append([w_nojac, w_jac])
    got, want = np.array(got), np.array(want)
    # Level: spec values reach PyTensor as float64, so the normalising constants are exact too.
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-9, err_msg=spec_name)
    # Shape: everything that depends on the point (priors on the published parameters moved to
    # the internal coordinates, their Jacobian, the transforms, the likelihood) agrees to rtol 1e-8.
    np.testing.assert_allclose(got[1:] - got[0], want[1:] - want[0], rtol=1e-8, atol=1e-9, err_msg=spec_name)


def test_model_log_density_level_is_float64_exact(runs):
    spec = default_spec("chinchilla")
    data = model_data(spec, runs)
    model = build_model(spec, data)
    want, point = _hand_logp(spec, data, POINTS["chinchilla"], 0.03, _value_names(model), False)
    # numba, as nutpie samples it (the other density checks here use the Python linker)
    assert float(model.compile_logp(jacobian=False, mode="NUMBA")(point)) == pytest.approx(want, rel=1e-12, abs=1e-10)


def test_model_deterministics_return_the_published_constants(runs):
    spec = load_spec("kaplan_nd_kaplan2020")
    law = spec.law
    data = model_data(spec, runs)
    model = build_model(spec, data)
    expo = {"alpha_N": 0.076, "alpha_D": 0.103}
    z = law.to_internal(np, {"log_N_c": np.log(6.4e13), "log_D_c": np.log(1.8e13)}, expo, data.ref)
    point = {"alpha_N_log__": np.log(0.076), "alpha_D_log__": np.log(0.103), "sigma_log__": np.log(0.03),
             **{k: np.asarray(v) for k, v in z.items()}}
    outs = model.replace_rvs_by_values(model.deterministics)
    f = pytensor.function(model.value_vars, outs, on_unused_input="ignore")
    got = dict(zip([d.name for d in model.deterministics], f(**{v.name: point[v.name] for v in model.value_vars})))
    assert float(got["N_c"]) == pytest.approx(6.4e13, rel=1e-10)
    assert float(got["D_c"]) == pytest.approx(1.8e13, rel=1e-10)


def test_model_reference_is_mean_log_input(runs):
    spec = default_spec("kaplan_c")
    data = model_data(spec, runs)
    c_pf_days = runs.frame["C"].to_numpy() / bs.PF_DAY_FLOPS
    np.testing.assert_allclose(data.log_inputs["C"], np.log(c_pf_days), rtol=1e-13)
    assert data.ref["C"] == pytest.approx(np.mean(np.log(c_pf_days)), rel=1e-13)
    np.testing.assert_allclose(data.log_loss, np.log(runs.frame["loss"].to_numpy()), rtol=1e-13)


@pytest.mark.parametrize("law_name", [n for n in LAWS if get_law(n).has("closed_form_allocation")])
def test_closed_form_allocation_is_the_minimum(law_name):
    """Every law that declares N*(C) in closed form: it minimises L(N, C/(kN)) (checked on a grid)."""
    law = get_law(law_name)
    p = law.to_law_params(POINTS.get(law_name) or _prior_medians(default_spec(law_name)))
    for log_ct in (np.log(1e20 / 6), np.log(1e24 / 6)):
        u_star = float(law.log_optimal_params(np, log_ct, p))
        grid = np.linspace(log_ct * 0.2, log_ct * 0.8, 20001)
        loss = law.log_loss(np, {"N": grid, "D": log_ct - grid}, p)
        assert abs(grid[np.argmin(loss)] - u_star) < 0.01, (law_name, log_ct)


def test_capabilities_follow_the_form():
    assert get_law("chinchilla").has("allocation") and get_law("chinchilla_tied").has("closed_form_allocation")
    assert not get_law("kaplan_n").has("allocation") and get_law("power_x").has("single_axis")
    assert get_law("kaplan_ns").has("efficient_frontier") and not get_law("chinchilla").has("efficient_frontier")
    assert get_law("bnsl1_d").counterpart() == "power_d" and get_law("power_n").counterpart(2) == "bnsl2_n"
    with pytest.raises(KeyError):
        get_law("chinchilla").has("no such capability")
