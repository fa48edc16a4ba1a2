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

    def log_loss(self, xp, x, p):
        # log-sum-exp of the three terms: stable in both NumPy and PyTensor.
        term_n = p["log_A"] - p["alpha"] * x["N"]
        term_d = p["log_B"] - p["beta"] * x["D"]
        return xp.logaddexp(xp.logaddexp(xp.log(p["E"]), term_n), term_d)

    # u_A = log(A / N_ref^alpha): the parameter term at the reference size (in log nats).
    def constants_from_centred(self, xp, u, p, ref):
        return {"log_A": u["A"] + p["alpha"] * ref["N"], "log_B": u["B"] + p["beta"] * ref["D"]}

    def centred_from_constants(self, xp, logc, p, ref):
        return {"A": logc["log_A"] - p["alpha"] * ref["N"], "B": logc["log_B"] - p["beta"] * ref["D"]}
