"""Hoffmann et al. 2022 (arXiv:2203.15556), Eq. 2: L(N, D) = E + A / N^alpha + B / D^beta."""

from __future__ import annotations

from bayes_scaling.laws.base import Input, Param, ScalingLaw


class Chinchilla(ScalingLaw):
    name = "chinchilla"
    title = "Chinchilla parametric loss (Hoffmann et al. 2022, Eq. 2)"
    formula = "L(N, D) = E + A / N^alpha + B / D^beta"
    citation = "Hoffmann et al. 2022, Training Compute-Optimal Large Language Models, arXiv:2203.15556, Eq. 2"
    inputs = (Input("N", "parameters"), Input("D", "tokens"))
    params = (
        Param("E", "loss", "nats/token", "irreducible loss"),
        Param("A", "constant", "nats/token x parameters^alpha", "parameter-term scale"),
        Param("B", "constant", "nats/token x tokens^beta", "data-term scale"),
        Param("alpha", "exponent", "1", "parameter exponent"),
        Param("beta", "exponent", "1", "data exponent"),
    )
    # log L at the reference (N_ref, D_ref), and log(A-term / E), log(B-term / E) there.
    internal = ("log_L_ref", "z_A", "z_B")

    def log_loss(self, xp, x, p):
        # log-sum-exp of the three terms: stable in both NumPy and PyTensor.
        term_n = p["log_A"] - p["alpha"] * x["N"]
        term_d = p["log_B"] - p["beta"] * x["D"]
        return xp.logaddexp(xp.logaddexp(p["log_E"], term_n), term_d)

    def log_loss_terms(self, xp, x, p):
        return [p["log_E"], p["log_A"] - p["alpha"] * x["N"], p["log_B"] - p["beta"] * x["D"]]

    @staticmethod
    def _log_g(xp, p):
        """log G, G = (alpha A / (beta B))^(1/(alpha+beta)) (Hoffmann et al. 2022 Eq. 4)."""
        return (xp.log(p["alpha"]) + p["log_A"] - xp.log(p["beta"]) - p["log_B"]) / (p["alpha"] + p["beta"])

    def log_optimal_params(self, xp, log_tokens_x_params, p):
        # Hoffmann et al. 2022 Eq. 4: N* = G (C/6)^a, a = beta/(alpha+beta)
        return self._log_g(xp, p) + p["beta"] / (p["alpha"] + p["beta"]) * log_tokens_x_params

    def centred_from_internal(self, xp, z):
        log_e = z["log_L_ref"] - xp.logaddexp(xp.logaddexp(0.0, z["z_A"]), z["z_B"])
        return {"E": log_e, "A": log_e + z["z_A"], "B": log_e + z["z_B"]}

    def internal_from_centred(self, xp, cen):
        return {
            "log_L_ref": xp.logaddexp(xp.logaddexp(cen["E"], cen["A"]), cen["B"]),
            "z_A": cen["A"] - cen["E"],
            "z_B": cen["B"] - cen["E"],
        }

    # (log_L_ref, z_A, z_B) -> (log E, log A, log B) has unit Jacobian determinant.

    def centre(self, xp, logc, p, ref):
        return {"E": logc["log_E"], "A": logc["log_A"] - p["alpha"] * ref["N"], "B": logc["log_B"] - p["beta"] * ref["D"]}

    def uncentre(self, xp, cen, p, ref):
        return {"log_E": cen["E"], "log_A": cen["A"] + p["alpha"] * ref["N"], "log_B": cen["B"] + p["beta"] * ref["D"]}


class ChinchillaDerivedBeta(Chinchilla):
    """Chinchilla whose data exponent beta is computed from the law's own parameters (:meth:`beta`):
    the law, the closed-form allocation (Eq. 4) and the centring all see the full Chinchilla ``p``."""

    def beta(self, xp, p):
        """beta from the law's parameters (``xp``: the array namespace)."""
        raise NotImplementedError

    def _full(self, p, xp=None):
        import numpy as np

        return {**p, "beta": self.beta(np if xp is None else xp, p)}

    def derived(self, p):
        import numpy as np

        return {"beta": self.beta(np, p)}

    def log_loss(self, xp, x, p):
        return super().log_loss(xp, x, self._full(p, xp))

    def log_loss_terms(self, xp, x, p):
        return super().log_loss_terms(xp, x, self._full(p, xp))

    def log_optimal_params(self, xp, log_tokens_x_params, p):
        return super().log_optimal_params(xp, log_tokens_x_params, self._full(p, xp))

    def centre(self, xp, logc, p, ref):
        return super().centre(xp, logc, self._full(p, xp), ref)

    def uncentre(self, xp, cen, p, ref):
        return super().uncentre(xp, cen, self._full(p, xp), ref)
