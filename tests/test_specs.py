"""Specs: shipped specs parse and carry provenance; malformed specs fail with one clear line."""

from __future__ import annotations

import math

import pytest

from bayes_scaling import BayesScalingError, get_law, list_laws
from bayes_scaling.specs.spec import DISTRIBUTIONS, default_spec, list_specs, load_spec, parse_spec

SHIPPED = list_specs()


def test_every_law_has_a_default_spec():
    assert set(list_laws()) <= set(SHIPPED)
    for name in list_laws():
        assert default_spec(name).law_name == name


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_spec_parses(name):
    spec = load_spec(name)
    law = get_law(spec.law_name)
    assert spec.name == name
    assert spec.provenance.get("source", "").strip()
    assert spec.provenance.get("citation", "").strip()
    assert set(spec.priors) == set(law.param_names)
    assert len(spec.priors) == len(law.params)
    for pname, prior in spec.priors.items():
        assert prior.dist in DISTRIBUTIONS
        assert prior.positive_support() or pname in law.offset_names, (name, pname)  # offsets: any real
        assert all(math.isfinite(v) for v in prior.kwargs.values())
        prior.pymc_dist()  # constructible
    assert spec.likelihood.family in ("student_t", "normal", "logit_normal")
    assert spec.likelihood.nu > 0
    assert spec.likelihood.sigma.positive_support()
    # the spec text round-trips through the parser unchanged
    again = parse_spec(spec.text, spec.origin)
    assert again.priors == spec.priors and again.likelihood == spec.likelihood


#: Published-fit specs: the prior median of each parameter is the published value.
PUBLISHED = {
    "kaplan_n_kaplan2020": {"alpha_N": 0.076, "N_c": 8.8e13},
    "kaplan_d_kaplan2020": {"alpha_D": 0.095, "D_c": 5.4e13},
    "kaplan_c_kaplan2020": {"alpha_C": 0.050, "C_c": 3.1e8},
    "kaplan_nd_kaplan2020": {"alpha_N": 0.076, "alpha_D": 0.103, "N_c": 6.4e13, "D_c": 1.8e13},
    "chinchilla_hoffmann2022": {"E": 1.6934, "A": 406.40, "B": 410.72, "alpha": 0.33917084, "beta": 0.2849083},
    "chinchilla_epoch2024": {"E": 1.8172, "A": 482.01, "B": 2085.43, "alpha": 0.3478, "beta": 0.3658},
}


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_published_specs_are_centred_on_the_published_fit(name):
    assert name in SHIPPED
    spec = load_spec(name)
    for pname, value in PUBLISHED[name].items():
        prior = spec.priors[pname]
        if prior.dist == "LogNormal":
            median = math.exp(prior.kwargs["mu"])
        else:
            assert prior.dist == "TruncatedNormal"
            median = prior.kwargs["mu"]  # truncation at 0 is > 10 sd away
            assert prior.kwargs["mu"] / prior.kwargs["sigma"] > 10
        assert median == pytest.approx(value, rel=2e-4), (name, pname)


# -- malformed specs ------------------------------------------------------------------------

VALID = """\
[law]
name = "kaplan_n"

[provenance]
source = "test"
citation = "test citation"

[priors.alpha_N]
dist = "LogNormal"
mu = -2.3
sigma = 0.75

[priors.N_c]
dist = "LogNormal"
mu = 30.0
sigma = 5.0

[likelihood]
family = "student_t"
nu = 4.0

[likelihood.sigma]
dist = "HalfNormal"
sigma = 0.05
"""

ALPHA = '[priors.alpha_N]\ndist = "LogNormal"\nmu = -2.3\nsigma = 0.75\n'
NC = '[priors.N_c]\ndist = "LogNormal"\nmu = 30.0\nsigma = 5.0\n'


def _mutate(old, new):
    assert old in VALID, old
    return VALID.replace(old, new, 1)


def test_valid_base_spec_parses():
    spec = parse_spec(VALID, "base.toml")
    assert spec.law_name == "kaplan_n"
    assert spec.priors["alpha_N"].kwargs == {"mu": -2.3, "sigma": 0.75}
    assert spec.likelihood.nu == 4.0


MALFORMED = {
    "invalid_toml": (_mutate('[law]\nname = "kaplan_n"', '[law\nname = "kaplan_n"'), ["not valid TOML"]),
    "invalid_toml_value": (_mutate("mu = 30.0", "mu = "), ["not valid TOML"]),
    "missing_law": (_mutate('[law]\nname = "kaplan_n"\n', ""), ["[law]"]),
    "law_without_name": (_mutate('name = "kaplan_n"', 'nme = "kaplan_n"'), ["[law]", "name"]),
    "law_not_a_table": (_mutate('[law]\nname = "kaplan_n"', 'law = "kaplan_n"'), ["[law]"]),
    "unknown_law": (_mutate('name = "kaplan_n"', 'name = "kaplan_x"'), ["kaplan_x", "chinchilla", "kaplan_nd"]),
    "unknown_distribution": (_mutate('dist = "LogNormal"\nmu = -2.3', 'dist = "Cauchy"\nmu = -2.3'),
                             ["alpha_N", "Cauchy", "LogNormal"]),
    "dist_missing": (_mutate('dist = "LogNormal"\nmu = -2.3', 'mu = -2.3'), ["alpha_N", "dist"]),
    "missing_dist_parameter": (_mutate(NC, '[priors.N_c]\ndist = "LogNormal"\nmu = 30.0\n'),
                               ["N_c", "missing", "sigma"]),
    "unknown_prior_key": (_mutate(NC, NC + "scale = 2.0\n"), ["N_c", "unknown", "scale"]),
    "unknown_likelihood_key": (_mutate("nu = 4.0", "nu = 4.0\ndf = 3.0"), ["likelihood", "df"]),
    "negative_sigma": (_mutate(NC, NC.replace("sigma = 5.0", "sigma = -5.0")), ["N_c", "sigma", "> 0"]),
    "zero_sigma": (_mutate(NC, NC.replace("sigma = 5.0", "sigma = 0.0")), ["N_c", "sigma", "> 0"]),
    "negative_likelihood_sigma": (_mutate("sigma = 0.05", "sigma = -0.05"), ["likelihood.sigma", "> 0"]),
    "negative_support_for_positive_param": (
        _mutate(ALPHA, '[priors.alpha_N]\ndist = "Normal"\nmu = 0.1\nsigma = 0.05\n'), ["alpha_N", "Normal", "positive"]),
    "uniform_below_zero": (
        _mutate(ALPHA, '[priors.alpha_N]\ndist = "Uniform"\nlower = -1.0\nupper = 1.0\n'), ["alpha_N", "Uniform"]),
    "truncated_normal_without_lower": (
        _mutate(ALPHA, '[priors.alpha_N]\ndist = "TruncatedNormal"\nmu = 0.1\nsigma = 0.05\nupper = 1.0\n'),
        ["alpha_N", "TruncatedNormal"]),
    "lower_not_below_upper": (
        _mutate(ALPHA, '[priors.alpha_N]\ndist = "Uniform"\nlower = 1.0\nupper = 0.5\n'), ["alpha_N", "lower", "upper"]),
    "missing_prior": (_mutate(NC, ""), ["missing prior", "N_c"]),
    "prior_for_unknown_parameter": (
        _mutate(NC, NC + '\n[priors.gamma]\ndist = "HalfNormal"\nsigma = 1.0\n'), ["unknown parameter", "gamma"]),
    "prior_not_a_table": (_mutate(ALPHA, "[priors]\nalpha_N = 0.1\n"), ["alpha_N", "table"]),
    "unknown_section": (VALID + "\n[sampler]\ndraws = 10\n", ["unknown section", "sampler"]),
    "bad_likelihood_family": (_mutate('family = "student_t"', 'family = "cauchy"'), ["family", "cauchy"]),
    "negative_nu": (_mutate("nu = 4.0", "nu = -1.0"), ["nu"]),
    "text_nu": (_mutate("nu = 4.0", 'nu = "four"'), ["nu"]),
    "likelihood_sigma_negative_support": (
        _mutate('[likelihood.sigma]\ndist = "HalfNormal"\nsigma = 0.05',
                '[likelihood.sigma]\ndist = "Normal"\nmu = 0.0\nsigma = 0.05'), ["likelihood.sigma"]),
    "text_param": (_mutate("mu = 30.0", 'mu = "thirty"'), ["N_c", "mu", "finite number"]),
    "bool_param": (_mutate("mu = 30.0", "mu = true"), ["N_c", "mu", "finite number"]),
    "nan_param": (_mutate("mu = 30.0", "mu = nan"), ["N_c", "mu", "finite number"]),
    "inf_param": (_mutate("mu = 30.0", "mu = inf"), ["N_c", "mu", "finite number"]),
    "multiline_string_param": (_mutate("mu = 30.0", 'mu = """a\nb"""'), ["N_c", "mu", "finite number"]),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_spec_raises_one_line(case):
    text, needles = MALFORMED[case]
    with pytest.raises(BayesScalingError) as ei:
        parse_spec(text, "bad.toml")
    msg = str(ei.value)
    assert "\n" not in msg and "\r" not in msg, msg
    assert msg.strip()
    for needle in needles:
        assert needle in msg, (needle, msg)


@pytest.mark.parametrize("case", ["invalid_toml", "unknown_law", "negative_sigma", "missing_prior"])
def test_malformed_spec_file_raises_one_line(case, tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text(MALFORMED[case][0], encoding="utf-8")
    with pytest.raises(BayesScalingError) as ei:
        load_spec(path)
    assert "\n" not in str(ei.value)


@pytest.mark.parametrize("dist", ['["LogNormal"]', '{ name = "LogNormal" }'])
def test_unhashable_dist_raises_bayes_scaling_error(dist):
    with pytest.raises(BayesScalingError):
        parse_spec(_mutate('dist = "LogNormal"\nmu = -2.3', f"dist = {dist}\nmu = -2.3"), "bad.toml")


def test_infinite_nu_is_rejected():
    with pytest.raises(BayesScalingError):
        parse_spec(_mutate("nu = 4.0", "nu = inf"), "bad.toml")


def test_load_spec_missing_path_and_unknown_name(tmp_path):
    with pytest.raises(BayesScalingError) as ei:
        load_spec(tmp_path / "nope.toml")
    assert "nope.toml" in str(ei.value) and "\n" not in str(ei.value)
    with pytest.raises(BayesScalingError) as ei:
        load_spec("no_such_spec")
    msg = str(ei.value)
    assert "no_such_spec" in msg and "chinchilla" in msg and "\n" not in msg


def test_load_spec_rejects_non_utf8(tmp_path):
    path = tmp_path / "latin1.toml"
    path.write_bytes(VALID.replace('"test"', '"t\xe9st"').encode("latin-1"))
    with pytest.raises(BayesScalingError) as ei:
        load_spec(path)
    assert "\n" not in str(ei.value)


# -- specs are data, never code -----------------------------------------------------------------

def test_spec_is_never_executed(tmp_path):
    marker = tmp_path / "pwned"
    payload = f"__import__('os').system('touch {marker}')"
    text = _mutate("mu = 30.0", f'mu = "{payload}"')
    with pytest.raises(BayesScalingError) as ei:
        parse_spec(text, "evil.toml")
    assert "must be a finite number" in str(ei.value)
    assert "\n" not in str(ei.value)
    path = tmp_path / "evil.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(BayesScalingError, match="must be a finite number"):
        load_spec(path)
    # the payload in other string positions is only ever compared, never evaluated
    for old, new in [('name = "kaplan_n"', f'name = "{payload}"'),
                     ('dist = "LogNormal"\nmu = -2.3', f'dist = "{payload}"\nmu = -2.3'),
                     ('family = "student_t"', f'family = "{payload}"')]:
        with pytest.raises(BayesScalingError):
            parse_spec(_mutate(old, new), "evil.toml")
    assert not marker.exists()


def test_synced_keeps_text_in_step_with_a_replaced_spec():
    """A spec changed in Python (dataclasses.replace, with_vary) gets text that parses back to it:
    fits save and reparse that text, and the compiled-model cache keys on the spec's content."""
    from dataclasses import replace

    spec = default_spec("chinchilla")
    assert spec.synced() is spec  # in step already: the shipped text (and its comments) is kept
    normal = replace(spec, likelihood=replace(spec.likelihood, family="normal"))
    assert parse_spec(normal.text).likelihood.family == "student_t"  # stale text, as replace leaves it
    synced = normal.synced()
    assert parse_spec(synced.text).content_key() == normal.content_key()
    assert synced.content_key() != spec.content_key()
    assert synced.provenance == spec.provenance
    varied = spec.with_vary(["B", "beta"]).synced()
    assert parse_spec(varied.text).hierarchy.vary == ("B", "beta")


def test_compiled_model_key_follows_the_spec_content_not_its_text():
    from dataclasses import replace

    from bayes_scaling.data.runs import load_runs
    from bayes_scaling.inference.fit import model_key
    from bayes_scaling.inference.model import model_data
    from bayes_scaling.testing import runs_frame

    spec = default_spec("chinchilla")
    data = model_data(spec, load_runs(runs_frame("chinchilla", seed=0)))
    normal = replace(spec, likelihood=replace(spec.likelihood, family="normal"))
    assert model_key(normal, data) != model_key(spec, data)
    relabelled = replace(spec, provenance={**spec.provenance, "notes": "other words"}, text=spec.text + "\n# comment")
    assert model_key(relabelled, data) == model_key(spec, data)


def test_synced_rewrites_quoted_provenance_keys_and_changed_provenance():
    from dataclasses import replace

    base = default_spec("chinchilla")
    text = base.text.replace("[provenance]", '[provenance]\n"data set" = "C4, 2024 crawl"', 1)
    quoted = parse_spec(text, "q.toml")
    normal = replace(quoted, likelihood=replace(quoted.likelihood, family="normal")).synced()
    back = parse_spec(normal.text)
    assert back.provenance["data set"] == "C4, 2024 crawl" and back.likelihood.family == "normal"
    relabelled = replace(base, provenance={**base.provenance, "source": "NEW"}).synced()
    assert parse_spec(relabelled.text).provenance["source"] == "NEW"


@pytest.mark.parametrize("table, snippet", [
    ("likelihood.sigma", '[likelihood.sigma]\ndist = "HalfNormal"\nsigma = 0.05\nrelative_to = "N"\n'),
    ("covariates.prior", '[covariates.prior]\ndist = "Normal"\nmu = 0.0\nsigma = 0.05\nrelative_to = "N"\n'),
])
def test_relative_to_only_on_a_laws_constants(table, snippet):
    base = default_spec("chinchilla").text
    text = base.replace('[likelihood.sigma]\ndist = "HalfNormal"\nsigma = 0.05\n', "") + "\n" + snippet
    with pytest.raises(BayesScalingError, match=f"{table}: relative_to applies only"):
        parse_spec(text)


def test_vary_names_each_parameter_once():
    spec = default_spec("chinchilla")
    with pytest.raises(BayesScalingError, match="twice"):
        spec.with_vary(["alpha", "alpha"])
    with pytest.raises(BayesScalingError, match="twice"):
        parse_spec(spec.text + '\n[hierarchy]\nvary = ["alpha", "alpha"]\n')


def test_laplace_likelihood_parses_and_describes_itself():
    text = default_spec("chinchilla").text.replace('family = "student_t"', 'family = "laplace"')
    spec = parse_spec(text)
    assert spec.likelihood.family == "laplace" and spec.likelihood.describe() == "Laplace"
    with pytest.raises(BayesScalingError, match="likelihood family must be one of"):
        parse_spec(text.replace('"laplace"', '"cauchy"'))
