"""Kaplan et al. 2020 (arXiv:2001.08361) Eq. 1.5 with an irreducible loss E:

    L(N, D) = E + [(N_c / N)^(alpha_N / alpha_D) + D_c / D]^alpha_D

the floor that Henighan et al. 2020 (arXiv:2010.14701, §1: L = L_inf + (x_0 / x)^alpha) add to
Kaplan's forms. N in parameters, D in tokens, loss in nats/token.
"""

from __future__ import annotations

from bayes_scaling.laws.base import Param, join_two_terms, split_two_terms
from bayes_scaling.laws.kaplan import KaplanND


class KaplanNDFloor(KaplanND):
    name = "kaplan_nd_floor"
    title = "Kaplan L(N, D) with an irreducible loss (Kaplan et al. 2020, Eq. 1.5, plus E)"
    formula = "L(N, D) = E + [(N_c / N)^(alpha_N / alpha_D) + D_c / D]^alpha_D"
    citation = ("Kaplan et al. 2020, arXiv:2001.08361, Eq. 1.5, with the irreducible loss of Henighan et al. 2020, "
                "arXiv:2010.14701")
    params = (Param("E", "loss", "nats/token", "irreducible loss"), *KaplanND.params)
    # At the reference point L = E + K with K = bracket^alpha_D and bracket = e^a + e^b as in
    # kaplan_nd: internal coordinates are log L_ref, z_K = log(K / E) and z_N = a - b.
    internal = ("log_L_ref", "z_K", "z_N")

    def log_loss(self, xp, x, p):
        return xp.logaddexp(p["log_E"], super().log_loss(xp, x, p))

    # log_optimal_params: E does not move the minimum over N at fixed N D, so kaplan_nd's holds.

    def from_internal(self, xp, z, p, ref):
        log_k, log_e = split_two_terms(xp, z["log_L_ref"], z["z_K"])
        a, b = split_two_terms(xp, log_k / p["alpha_D"], z["z_N"])
        return self.uncentre(xp, {"E": log_e, "N_c": a, "D_c": b}, p, ref)

    def to_internal(self, xp, logc, p, ref):
        cen = self.centre(xp, logc, p, ref)
        log_bracket, z_n = join_two_terms(xp, cen["N_c"], cen["D_c"])
        log_l, z_k = join_two_terms(xp, p["alpha_D"] * log_bracket, cen["E"])
        return {"log_L_ref": log_l, "z_K": z_k, "z_N": z_n}

    def log_jacobian(self, xp, z, p, ref=None):
        # (log L_ref, z_K) -> (log K, log E) and (log bracket, z_N) -> (a, b): unit determinants;
        # log K -> log bracket scales by 1 / alpha_D, a -> log N_c by alpha_D / alpha_N.
        return -xp.log(p["alpha_N"])

    def centre(self, xp, logc, p, ref):
        return {"E": logc["log_E"], **super().centre(xp, logc, p, ref)}

    def uncentre(self, xp, cen, p, ref):
        return {"log_E": cen["E"], **super().uncentre(xp, cen, p, ref)}
