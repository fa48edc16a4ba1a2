"""Data-constrained scaling (Muennighoff et al. 2023, "Scaling Data-Constrained Language Models",
arXiv:2305.16264, Eq. 5 / App. A): the Chinchilla law with effective data and parameters,

    L = E + A / N'^alpha + B / D'^beta
    D' = U_D + U_D R*_D (1 - exp(-R_D / R*_D)),  U_D = min(U, D),  R_D = D / U_D - 1   (repeats decay)
    N' = U_N + U_N R*_N (1 - exp(-R_N / R*_N)),  U_N = min(N, N_opt(U)),  R_N = N / U_N - 1

with U unique tokens and N_opt(U) the parameter count compute-optimal for U tokens under the
law's own Chinchilla frontier. R*_D (R*_N) is the number of repetitions (excess parameters) after
which returns fall to 1/e.
"""

from __future__ import annotations

from bayes_scaling.laws.base import Input, Param
from bayes_scaling.laws.chinchilla import Chinchilla


class DataConstrained(Chinchilla):
    name = "data_constrained"
    title = "Data-constrained Chinchilla law (Muennighoff et al. 2023)"
    formula = "L = E + A / N'^alpha + B / D'^beta with repetition-discounted N' and D' (R*_N, R*_D)"
    citation = "Muennighoff et al. 2023, Scaling Data-Constrained Language Models, arXiv:2305.16264, Eq. 5"
    inputs = (Input("N", "parameters"), Input("D", "tokens"), Input("U", "unique tokens"))
    params = (
        *Chinchilla.params,
        Param("R_D_star", "shape", "epochs", "repetitions of the data after which its value decays by 1/e"),
        Param("R_N_star", "shape", "1", "excess-parameter ratio after which its value decays by 1/e"),
    )

    def log_loss(self, xp, x, p):
        log_u = xp.minimum(x["U"], x["D"])  # fewer tokens than the unique pool: no repetition
        r_d = xp.exp(x["D"] - log_u) - 1.0
        log_d_eff = log_u + xp.log1p(-p["R_D_star"] * xp.expm1(-r_d / p["R_D_star"]))
        # N_opt(U): on the frontier D* = U, N* = G (C/6)^a with (C/6) = (U G)^(1/b), a/b = beta/alpha
        log_g = self._log_g(xp, p)
        log_n_opt = log_g + p["beta"] / p["alpha"] * (log_u + log_g)  # U_D tokens, as in the paper
        log_u_n = xp.minimum(x["N"], log_n_opt)
        r_n = xp.exp(x["N"] - log_u_n) - 1.0
        log_n_eff = log_u_n + xp.log1p(-p["R_N_star"] * xp.expm1(-r_n / p["R_N_star"]))
        return super().log_loss(xp, {"N": log_n_eff, "D": log_d_eff}, p)

    @property
    def exponent_inputs(self):
        """U only caps N and D (all runs may share one unique-token pool)."""
        return ("N", "D")

    def log_optimal_params(self, xp, log_tokens_x_params, p):
        return None
