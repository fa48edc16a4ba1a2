"""Prior variances, for the prior-to-posterior contraction 1 - Var(posterior) / Var(prior) of each
parameter (Schad, Betancourt, Vasishth 2021, "Toward a principled Bayesian workflow in cognitive
science", Eq. 4: posterior contraction).

Heavy-tailed priors on positive parameters (LogNormal(6, 2.5) on Chinchilla's A has a variance of
~1e13, InverseGamma or HalfStudentT can have none) make the plain variance meaningless; for them
the contraction is taken on the log scale: a positive prior whose coefficient of variation exceeds 1
(or whose variance is infinite) is compared as Var(log value). Every other prior (exponents in (0, 1),
noise scales, offsets) is compared on its own scale.
"""

from __future__ import annotations

import math

import numpy as np

#: Coefficient of variation above which a positive prior is compared on the log scale.
LOG_SCALE_CV = 1.0


def scipy_dist(prior):
    """The frozen SciPy distribution of a :class:`~bayes_scaling.specs.spec.PriorSpec` (on the value
    itself; a data-relative prior is on value / reference)."""
    from scipy import stats

    k = prior.kwargs
    inf = math.inf
    make = {
        "Normal": lambda: stats.norm(k["mu"], k["sigma"]),
        "StudentT": lambda: stats.t(k["nu"], k["mu"], k["sigma"]),
        "TruncatedNormal": lambda: stats.truncnorm((k.get("lower", -inf) - k["mu"]) / k["sigma"],
                                                   (k.get("upper", inf) - k["mu"]) / k["sigma"], k["mu"], k["sigma"]),
        "Uniform": lambda: stats.uniform(k["lower"], k["upper"] - k["lower"]),
        "LogNormal": lambda: stats.lognorm(k["sigma"], scale=math.exp(min(k["mu"], 700.0))),  # no overflow
        "HalfNormal": lambda: stats.halfnorm(scale=k["sigma"]),
        "HalfStudentT": lambda: stats.t(k["nu"], 0.0, k["sigma"]),  # |T|: same variance, folded below
        "Exponential": lambda: stats.expon(scale=1.0 / k["lam"]),
        "Gamma": lambda: stats.gamma(k["alpha"], scale=1.0 / k["beta"]),
        "InverseGamma": lambda: stats.invgamma(k["alpha"], scale=k["beta"]),
        "Beta": lambda: stats.beta(k["alpha"], k["beta"]),
    }
    return make[prior.dist]()


def _plain_moments(prior) -> tuple[float, float]:
    """(mean, variance) of the value; the mean of |T| for HalfStudentT; inf where they diverge."""
    d = scipy_dist(prior)
    var = float(d.var())
    if prior.dist == "HalfStudentT":
        nu, s = prior.kwargs["nu"], prior.kwargs["sigma"]
        mean = (2 * s * math.sqrt(nu) * math.gamma((nu + 1) / 2) / (math.sqrt(math.pi) * math.gamma(nu / 2) * (nu - 1))
                if nu > 1 else math.inf)
        var = var - mean ** 2 if math.isfinite(var) else math.inf  # E|T|^2 = E T^2
        return mean, var
    return float(d.mean()), var


def _log_variance(prior) -> float:
    """Var(log value) of a positive prior."""
    from scipy import special

    k = prior.kwargs
    if prior.dist == "LogNormal":
        return k["sigma"] ** 2
    if prior.dist in ("Gamma", "InverseGamma"):
        return float(special.polygamma(1, k["alpha"]))
    if prior.dist == "Beta":
        return float(special.polygamma(1, k["alpha"]) - special.polygamma(1, k["alpha"] + k["beta"]))
    d = scipy_dist(prior)
    lo = 0.0 if prior.dist == "HalfStudentT" else None
    m1 = d.expect(lambda x: np.log(np.abs(x)), lb=lo)
    m2 = d.expect(lambda x: np.log(np.abs(x)) ** 2, lb=lo)
    if prior.dist == "HalfStudentT":  # expectations over x > 0 of the symmetric density: double them
        m1, m2 = 2 * m1, 2 * m2
    return float(m2 - m1 ** 2)


def contraction_scale(prior) -> str:
    """``"log"`` for a heavy-tailed positive prior (CV above :data:`LOG_SCALE_CV` or no variance),
    else ``"linear"``."""
    if not prior.positive_support():
        return "linear"
    mean, var = _plain_moments(prior)
    heavy = not (math.isfinite(mean) and math.isfinite(var)) or math.sqrt(var) > LOG_SCALE_CV * mean
    return "log" if heavy else "linear"


def prior_variance(prior, scale: str, log_ref: float = 0.0) -> float:
    """Variance of the prior on ``scale`` (``"linear"`` or ``"log"``); ``log_ref``: the log of the
    reference a data-relative prior is taken against (the value is reference x prior draw)."""
    if scale == "log":
        return _log_variance(prior)
    return _plain_moments(prior)[1] * math.exp(2.0 * log_ref)


#: Prior quantiles per axis of the deterministic grid that gives the prior variance of sqrt(X^2 + Y^2)
#: for priors other than HalfNormal (:func:`quadrature_sum_variance`).
QUADRATURE_GRID = 2000


def quadrature_sum_variance(prior, scale: str, log_ref: float = 0.0) -> float:
    """Prior variance, on ``scale``, of sqrt(X^2 + Y^2) for X, Y independent draws of ``prior``: the
    noise scale ``sigma`` of a fit with run noise, from ``sigma_law`` and ``sigma_run`` (same prior).
    HalfNormal(s): the sum is Rayleigh(s), variance (2 - pi/2) s^2 (E[X^2 + Y^2] = 2 s^2 minus the
    squared mean s^2 pi/2) and log-variance pi^2/24 (Weibull shape 2). Other priors: the pairs of a
    deterministic grid of prior quantiles (:data:`QUADRATURE_GRID` per axis, midpoints)."""
    if prior.dist == "HalfNormal":
        s2 = prior.kwargs["sigma"] ** 2
        return math.pi ** 2 / 24 if scale == "log" else (2 - math.pi / 2) * s2 * math.exp(2.0 * log_ref)
    u = (np.arange(QUADRATURE_GRID) + 0.5) / QUADRATURE_GRID
    d = scipy_dist(prior)
    x = np.abs(d.ppf(0.5 + u / 2) if prior.dist == "HalfStudentT" else d.ppf(u))  # |T|: upper half
    h = np.hypot(x[:, None], x[None, :])
    return float(np.var(np.log(h))) if scale == "log" else float(np.var(h)) * math.exp(2.0 * log_ref)


def contraction_label(contraction: float, scale: str) -> str:
    """``"0.97"``, ``"0.97 (log)"`` on the log scale, or ``""`` for NaN (no prior of its own)."""
    if contraction != contraction:
        return ""
    return f"{contraction:.2f}" + (" (log)" if scale == "log" else "")


def prior_moments(spec, names, ref: dict) -> dict[str, tuple[str, float] | None]:
    """Per name (a law parameter, ``sigma``, ``gamma`` or ``tau_<name>``): (scale, prior variance on that
    scale) of its prior (:mod:`bayes_scaling.specs.moments`), or ``None`` when it has no prior of its own.
    With ``sigma_run`` among ``names`` (run noise), ``sigma`` is sqrt(sigma_law^2 + sigma_run^2):
    :func:`quadrature_sum_variance`."""
    out = {}
    for name in names:
        prior = spec.covariate_prior if name == "gamma" else spec.likelihood.sigma if name.startswith("sigma") else \
            spec.priors.get(name)
        if prior is None and name.startswith("tau_") and spec.hierarchy is not None:
            prior = spec.hierarchy.tau
        if prior is None:
            out[name] = None
            continue
        scale = contraction_scale(prior)
        log_ref = ref.get(prior.relative_to, 0.0)
        if name == "sigma" and "sigma_run" in names:  # run noise: sigma = sqrt(sigma_law^2 + sigma_run^2)
            out[name] = (scale, quadrature_sum_variance(prior, scale, log_ref))
        else:
            out[name] = (scale, float(prior_variance(prior, scale, log_ref)))
    return out


def contraction(spec, name: str, draws, stored_json: str | None, ref: dict) -> dict:
    """``{"contraction": 1 - Var(posterior) / Var(prior), "contraction_scale": scale}`` of one parameter's
    posterior ``draws`` (NaN and "" when it has no prior of its own: group-level and derived parameters).
    ``stored_json``: the priors' moments as a fit stores them (JSON), else they are computed from ``spec``
    at the reference log inputs ``ref``."""
    import json

    try:
        stored = json.loads(stored_json or "null")
    except (TypeError, ValueError):
        stored = None
    if not isinstance(stored, dict) or name not in stored:
        stored = prior_moments(spec, [name], ref)
    elif name == "sigma" and "sigma_run" in stored:  # run noise (files before the derived variance stored HalfNormal's)
        stored = prior_moments(spec, ["sigma", "sigma_run"], ref)
    if stored.get(name) is None:
        return {"contraction": float("nan"), "contraction_scale": ""}
    scale, prior_var = stored[name]
    v = np.asarray(draws, float)
    post_var = float(np.var(np.log(v) if scale == "log" else v))
    return {"contraction": 1.0 - post_var / prior_var, "contraction_scale": scale}
