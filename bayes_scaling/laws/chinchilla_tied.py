"""Chinchilla with tied exponents, L(N, D) = E + A / N^alpha + B / D^alpha: the form Gadre et al. 2024
(arXiv:2403.08540, Eq. 4) extrapolate with, where equal exponents make the compute-optimal
tokens-per-parameter ratio constant (N* ~ C^0.5, Hoffmann et al. 2022 Eq. 4 with alpha = beta)."""

from __future__ import annotations

from bayes_scaling.laws.base import Param
from bayes_scaling.laws.chinchilla import ChinchillaDerivedBeta


class ChinchillaTied(ChinchillaDerivedBeta):
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

    def beta(self, xp, p):
        return p["alpha"]
