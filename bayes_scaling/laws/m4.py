"""Estimator M4 of Alabdulmohsin, Neyshabur, Zhai 2022 ("Revisiting Neural Scaling Laws in Language
and Vision", arXiv:2209.06640, estimator M4) as a fitted law on a scale axis X:

    (L - eps_inf) / (eps_0 - L)^alpha = beta X^-c,        eps_inf < L < eps_0

L falls from eps_0 (random guessing) to eps_inf along a power law that bends at both ends; alpha = 0
is the power law with a floor (M2, ``power_x``), alpha = 1 a logistic curve in log X. Here the gap
G = eps_0 - eps_inf is the parameter (so eps_0 > eps_inf by construction): eps_0 = E + G.

For alpha other than 0 or 1 L has no closed form. With u = (L - E) / G = sigmoid(t) the equation is
phi(t) = log sigmoid(t) - alpha log sigmoid(-t) = log g, g = beta X^-c G^(alpha - 1), and phi rises
with slope phi' = sigmoid(-t) + alpha sigmoid(t) in [min(1, alpha), max(1, alpha)], convex or
concave (phi'' = (alpha - 1) sigmoid(t) sigmoid(-t)). :func:`solve_logit` runs a fixed number of
Halley steps (cubic convergence; 5, which reach machine precision for alpha in [1e-3, 100] and
|log g| <= 800, tests/test_law_forms.py; the prior puts alpha < 1e-3 at -5 sd) from the asymptotes'
guess on values cut off from the gradient, then one Newton step on the connected values: its value is
the root and its gradient the implicit-function-theorem one, exact at the root, identically in NumPy
and PyTensor. Each Halley step takes one exp and one log1p (:func:`phi_parts`); the Newton step and
every other connected use of phi take the smooth softplus forms (:func:`phi`), whose gradient is right
at t = 0 too. This is not a closed form: the law is an implicit solve converged to machine precision,
not an approximation of a different curve.
"""

from __future__ import annotations

from bayes_scaling.laws.base import Input, Param, ScalingLaw, join_two_terms, split_two_terms

#: Halley steps of :func:`solve_logit` before the final, differentiated Newton step (each step is most of
#: the law's cost in a fit's gradient and in every NumPy query over draws).
HALLEY_STEPS = 5


def phi_parts(xp, t, alpha):
    """phi(t) = log sigmoid(t) - alpha log sigmoid(-t), phi' and phi'' in t, from one exp and one log1p:
    softplus(+-t) = max(+-t, 0) + log1p(e^-|t|) and sigmoid(|t|) = 1 / (1 + e^-|t|). Values only: at
    t = 0 PyTensor's gradient of max and |t| is one-sided (use :func:`phi` where the gradient flows)."""
    e = xp.exp(-xp.abs(t))
    l1p = xp.log1p(e)
    q = 1.0 / (1.0 + e)
    # sigmoid(t) = q for t >= 0, e q below; sigmoid(-t) the other way round (arithmetic, not where: xarray
    # draws keep their dims; e stays exact where it is the answer, so neither sigmoid loses its tail)
    sig_pos, sig_neg = q * (e + (t >= 0) * (1.0 - e)), q * (e + (t < 0) * (1.0 - e))
    f = alpha * (xp.maximum(t, 0.0) + l1p) - (xp.maximum(-t, 0.0) + l1p)
    return f, sig_neg + alpha * sig_pos, (alpha - 1.0) * sig_pos * sig_neg


def _softplus(xp, t):
    return xp.logaddexp(0.0, t)


def phi(xp, t, alpha):
    """log sigmoid(t) - alpha log sigmoid(-t) and its derivative in t, from smooth forms (two softplus,
    two exp): the evaluations the gradient flows through (t_ref is sampled and starts at 0). phi_parts'
    max and |t| have a kink at t = 0 where PyTensor's gradient takes one side (dphi/dt 1 + alpha, not
    (1 + alpha) / 2), so it serves only the Halley steps, whose values are cut from the gradient."""
    sp_pos, sp_neg = _softplus(xp, t), _softplus(xp, -t)
    return alpha * sp_pos - sp_neg, xp.exp(-sp_pos) + alpha * xp.exp(-sp_neg)


def _cut(xp, v):
    """``v`` cut off from the gradient (PyTensor); NumPy has no gradient."""
    if getattr(xp, "__name__", "") == "numpy":
        return v
    from pytensor.gradient import disconnected_grad

    return disconnected_grad(v)


def solve_logit(xp, log_g, alpha):
    """t with phi(t, alpha) = log_g (alpha > 0), elementwise, differentiable in (log_g, alpha)."""
    lg, a = _cut(xp, log_g), _cut(xp, alpha)
    t = xp.minimum(lg, 0.0) + xp.maximum(lg, 0.0) / a  # phi ~ t for t << 0, ~ alpha t for t >> 0
    for _ in range(HALLEY_STEPS):
        f, df, d2f = phi_parts(xp, t, a)
        f = f - lg
        t = t - 2.0 * f * df / (2.0 * df * df - f * d2f)
    t = _cut(xp, t)
    f, df = phi(xp, t, alpha)
    return t - (f - log_g) / df


class M4(ScalingLaw):
    name = "m4"
    title = "M4 (Alabdulmohsin, Neyshabur, Zhai 2022)"
    formula = "(L - E) / (E + G - L)^alpha = beta X^-c  (eps_inf = E, eps_0 = E + G)"
    citation = ("Alabdulmohsin, Neyshabur, Zhai 2022, Revisiting Neural Scaling Laws in Language and Vision, "
                "arXiv:2209.06640, estimator M4")
    inputs = (Input("X", "units of the scale axis"),)
    params = (
        Param("E", "loss", "nats/token", "eps_inf: limit of the loss as X grows"),
        Param("G", "constant", "nats/token", "eps_0 - eps_inf: gap from random guessing (eps_0) to the limit"),
        Param("beta", "constant", "(nats/token)^(1 - alpha) x (units of X)^c", "scale of the power law"),
        Param("c", "exponent", "1", "power-law exponent in X"),
        Param("alpha", "shape", "1", "bend towards eps_0 at small X (0: power law with a floor)"),
    )
    # At the reference X: log L_ref, z_W = log((L_ref - E) / E) and t_ref = logit((L_ref - E) / G).
    internal = ("log_L_ref", "z_W", "t_ref")

    @staticmethod
    def _log_g(p, lx):
        return p["log_beta"] - p["c"] * lx + (p["alpha"] - 1.0) * p["log_G"]

    def log_loss(self, xp, x, p):
        t = solve_logit(xp, self._log_g(p, x["X"]), p["alpha"])
        return xp.logaddexp(p["log_E"], p["log_G"] - _softplus(xp, -t))

    def slope_coordinates(self) -> dict[str, str]:
        """c is sampled through log s, s = -d log L / d log X at the reference X
        = c sigmoid(z_W) sigmoid(-t_ref) / phi'(t_ref): the data pin the slope; c trades off against
        the floor and alpha along a curved ridge."""
        return {"c": "log_s"}

    def exponent_from_slope(self, xp, name, z, p):
        t = z["t_ref"]
        return (z["log_s"] + _softplus(xp, -z["z_W"]) + _softplus(xp, t)
                + xp.log(phi(xp, t, p["alpha"])[1]))

    def from_internal(self, xp, z, p, ref):
        log_w, log_e = split_two_terms(xp, z["log_L_ref"], z["z_W"])
        t = z["t_ref"]
        log_g = log_w + _softplus(xp, -t)
        f, _ = phi(xp, t, p["alpha"])
        return {"log_E": log_e, "log_G": log_g, "log_beta": f + p["c"] * ref["X"] + (1.0 - p["alpha"]) * log_g}

    def to_internal(self, xp, logc, p, ref):
        t = solve_logit(xp, self._log_g({**logc, **p}, ref["X"]), p["alpha"])
        log_l, z_w = join_two_terms(xp, logc["log_G"] - _softplus(xp, -t), logc["log_E"])
        return {"log_L_ref": log_l, "z_W": z_w, "t_ref": t}

    def log_jacobian(self, xp, z, p, ref=None):
        # (log L_ref, z_W) -> (log w, log E): unit determinant; (log w, t) -> (log G, log beta) has
        # determinant phi'(t), the (1 - alpha) log G terms cancelling (see the module docstring).
        return xp.log(phi(xp, z["t_ref"], p["alpha"])[1])

    def centre(self, xp, logc, p, ref):
        return {"E": logc["log_E"], "G": logc["log_G"], "beta": logc["log_beta"] - p["c"] * ref["X"]}

    def uncentre(self, xp, cen, p, ref):
        return {"log_E": cen["E"], "log_G": cen["G"], "log_beta": cen["beta"] + p["c"] * ref["X"]}
