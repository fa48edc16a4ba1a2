"""Chinchilla with partially tied exponents, L(N, D) = E + A / N^alpha + B / D^beta with
beta = alpha e^delta (Hoffmann et al. 2022, Eq. 2).

Between the free law (chinchilla) and the tied one (chinchilla_tied, Gadre et al. 2024 Eq. 4): a
prior delta ~ Normal(0, s) shrinks the exponents towards each other by as much as the published
fits disagree (Hoffmann 2022: beta/alpha = 0.84; Besiroglu et al. 2024: 1.05), and the data decide
the rest. ``beta`` is not a parameter: :meth:`derived` (and ``FitResult.summary``) gives it; the
allocation is Hoffmann et al.'s closed form, Eq. 4, with beta = alpha e^delta.
"""

from __future__ import annotations

from bayes_scaling.laws.base import Param
from bayes_scaling.laws.chinchilla import Chinchilla, ChinchillaDerivedBeta


class ChinchillaPartiallyTied(ChinchillaDerivedBeta):
    name = "chinchilla_ptied"
    title = "Chinchilla with partially tied exponents, beta = alpha e^delta"
    formula = "L(N, D) = E + A / N^alpha + B / D^(alpha e^delta)"
    citation = ("Hoffmann et al. 2022, arXiv:2203.15556, Eqs. 2 and 4, with beta = alpha e^delta between the free "
                "fit and the tied form of Gadre et al. 2024, arXiv:2403.08540, Eq. 4")
    params = (  # Chinchilla's E, A, B, alpha, then delta in place of beta
        *Chinchilla.params[:4],
        Param("delta", "offset", "1", "log(beta / alpha): how far the data exponent is from the parameter one"),
    )

    def beta(self, xp, p):
        return p["alpha"] * xp.exp(p["delta"])
