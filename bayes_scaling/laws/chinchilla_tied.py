"""Chinchilla with tied exponents, L(N, D) = E + A / N^alpha + B / D^alpha: the form Gadre et al. 2024
(arXiv:2403.08540, Eq. 4) extrapolate with, where equal exponents make the compute-optimal
tokens-per-parameter ratio constant (N* ~ C^0.5, Hoffmann et al. 2022 Eq. 4 with alpha = beta)."""

from __future__ import annotations

from bayes_scaling.laws.base import Param
from bayes_scaling.laws.chinchilla import Chinchilla


class ChinchillaTied(Chinchilla):
    name = "chinchilla_tied"
    title = "Chinchilla with tied exponents (Gadre et al. 2024)"
    formula = "L(N, D) = E + A / N^alpha + B / D^alpha"
    citation = ("Gadre et al. 2024, Language models scale reliably with over-training and on downstream tasks, "
                "arXiv:2403.08540, Eq. 4")
    params = (
        Param("E", "loss", "nats/token", "irreducible loss"),
        Param("A", "constant", "nats/token x parameters^alpha", "parameter-term scale"),
        Param("B", "constant", "nats/token x tokens^alpha", "data-term scale"),
        Param("alpha", "exponent", "1", "exponent of both N and D"),
    )

    @staticmethod
    def _tied(p):
        return {**p, "beta": p["alpha"]}

    def log_loss(self, xp, x, p):
        return super().log_loss(xp, x, self._tied(p))

    def log_optimal_params(self, xp, log_tokens_x_params, p):
        return super().log_optimal_params(xp, log_tokens_x_params, self._tied(p))

    def centre(self, xp, logc, p, ref):
        return super().centre(xp, logc, self._tied(p), ref)

    def uncentre(self, xp, cen, p, ref):
        return super().uncentre(xp, cen, self._tied(p), ref)
