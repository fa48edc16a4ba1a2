"""Kaplan et al. 2020 (arXiv:2001.08361) laws: L(N) Eq. 1.1, L(D) Eq. 1.2, L(C_min) Eq. 1.3, L(N, D) Eq. 1.5.

Kaplan's N counts non-embedding parameters and C_min is in PF-days; a pure power law has no
irreducible term, so these laws describe the regime the paper fitted, not an asymptote.
"""

from __future__ import annotations

from bayes_scaling.laws.base import Input, Param, ScalingLaw, join_two_terms, split_two_terms


class _KaplanSingle(ScalingLaw):
    """L(X) = (X_c / X)^alpha_X on one input X."""

    axis: str
    internal = ("log_L_ref",)

    def log_loss(self, xp, x, p):
        a = p[f"alpha_{self.axis}"]
        return a * (p[f"log_{self.axis}_c"] - x[self.axis])

    # log_L_ref = log L at the reference input, which is the centred value: log X_c = ref + log_L_ref / alpha.
    def centred_from_internal(self, xp, z):
        return {f"{self.axis}_c": z["log_L_ref"]}

    def internal_from_centred(self, xp, cen):
        return {"log_L_ref": cen[f"{self.axis}_c"]}

    def log_jacobian(self, xp, z, p, ref=None):
        return -xp.log(p[f"alpha_{self.axis}"])

    def centre(self, xp, logc, p, ref):
        return {f"{self.axis}_c": p[f"alpha_{self.axis}"] * (logc[f"log_{self.axis}_c"] - ref[self.axis])}

    def uncentre(self, xp, cen, p, ref):
        return {f"log_{self.axis}_c": ref[self.axis] + cen[f"{self.axis}_c"] / p[f"alpha_{self.axis}"]}


class KaplanN(_KaplanSingle):
    name = "kaplan_n"
    axis = "N"
    title = "Kaplan L(N) (Kaplan et al. 2020, Eq. 1.1)"
    formula = "L(N) = (N_c / N)^alpha_N"
    citation = "Kaplan et al. 2020, Scaling Laws for Neural Language Models, arXiv:2001.08361, Eq. 1.1"
    inputs = (Input("N", "parameters"),)
    params = (
        Param("alpha_N", "exponent", "1", "parameter exponent"),
        Param("N_c", "constant", "parameters", "critical parameter count"),
    )


class KaplanD(_KaplanSingle):
    name = "kaplan_d"
    capabilities = frozenset({"data_law"})
    axis = "D"
    title = "Kaplan L(D) (Kaplan et al. 2020, Eq. 1.2)"
    formula = "L(D) = (D_c / D)^alpha_D"
    citation = "Kaplan et al. 2020, arXiv:2001.08361, Eq. 1.2"
    inputs = (Input("D", "tokens"),)
    params = (
        Param("alpha_D", "exponent", "1", "data exponent"),
        Param("D_c", "constant", "tokens", "critical token count"),
    )


class KaplanC(_KaplanSingle):
    name = "kaplan_c"
    capabilities = frozenset({"compute_law"})
    axis = "C"
    title = "Kaplan L(C_min) (Kaplan et al. 2020, Eq. 1.3)"
    formula = "L(C) = (C_c / C)^alpha_C, C in PF-days"
    citation = "Kaplan et al. 2020, arXiv:2001.08361, Eq. 1.3"
    compute_unit = "PF-days"
    inputs = (Input("C", "PF-days"),)
    params = (
        Param("alpha_C", "exponent", "1", "compute exponent"),
        Param("C_c", "constant", "PF-days", "critical compute"),
    )


class KaplanND(ScalingLaw):
    name = "kaplan_nd"
    capabilities = frozenset({"overfitting_penalty"})  # fitted to early-stopped runs on D tokens (sec. 4)
    title = "Kaplan L(N, D) (Kaplan et al. 2020, Eq. 1.5)"
    formula = "L(N, D) = [(N_c / N)^(alpha_N / alpha_D) + D_c / D]^alpha_D"
    citation = "Kaplan et al. 2020, arXiv:2001.08361, Eq. 1.5 / 4.1, Table 2"
    inputs = (Input("N", "parameters"), Input("D", "tokens"))
    params = (
        Param("alpha_N", "exponent", "1", "parameter exponent"),
        Param("alpha_D", "exponent", "1", "data exponent"),
        Param("N_c", "constant", "parameters", "critical parameter count"),
        Param("D_c", "constant", "tokens", "critical token count"),
    )
    # At the reference point the bracket is e^a + e^b with a = (alpha_N/alpha_D) log(N_c/N_ref),
    # b = log(D_c/D_ref): internal coordinates are s = log(e^a + e^b) and z = a - b.
    internal = ("log_bracket_ref", "z_N")

    def log_loss(self, xp, x, p):
        ratio = p["alpha_N"] / p["alpha_D"]
        return p["alpha_D"] * xp.logaddexp(ratio * (p["log_N_c"] - x["N"]), p["log_D_c"] - x["D"])

    def log_optimal_params(self, xp, log_tokens_x_params, p):
        # d/du log L = 0 for u = log N with D = (C/k)/N gives e^(t_D - t_N) = alpha_N/alpha_D, i.e.
        # log N* = (r log N_c - log D_c + log(C/k) + log r) / (1 + r), r = alpha_N/alpha_D.
        r = p["alpha_N"] / p["alpha_D"]
        return (r * p["log_N_c"] - p["log_D_c"] + log_tokens_x_params + xp.log(r)) / (1 + r)

    def centred_from_internal(self, xp, z):
        a, b = split_two_terms(xp, z["log_bracket_ref"], z["z_N"])
        return {"N_c": a, "D_c": b}

    def internal_from_centred(self, xp, cen):
        total, z = join_two_terms(xp, cen["N_c"], cen["D_c"])
        return {"log_bracket_ref": total, "z_N": z}

    def log_jacobian(self, xp, z, p, ref=None):
        # (s, z) -> (a, b) has |det| = 1; a -> log N_c scales by alpha_D / alpha_N.
        return xp.log(p["alpha_D"]) - xp.log(p["alpha_N"])

    def centre(self, xp, logc, p, ref):
        return {"N_c": p["alpha_N"] / p["alpha_D"] * (logc["log_N_c"] - ref["N"]), "D_c": logc["log_D_c"] - ref["D"]}

    def uncentre(self, xp, cen, p, ref):
        return {"log_N_c": ref["N"] + cen["N_c"] * p["alpha_D"] / p["alpha_N"], "log_D_c": ref["D"] + cen["D_c"]}


class KaplanNS(ScalingLaw):
    name = "kaplan_ns"
    capabilities = frozenset({"efficient_frontier"})
    title = "Kaplan L(N, S_min) learning-curve law (Kaplan et al. 2020, Eq. 1.6)"
    formula = "L(N, S) = (N_c / N)^alpha_N + (S_c / S_min)^alpha_S"
    citation = "Kaplan et al. 2020, arXiv:2001.08361, Eq. 1.6 / 5.6, Table 3"
    inputs = (Input("N", "parameters"), Input("S", "optimizer steps at B << B_crit (S_min)"))
    params = (
        Param("alpha_N", "exponent", "1", "parameter exponent"),
        Param("alpha_S", "exponent", "1", "step exponent"),
        Param("N_c", "constant", "parameters", "critical parameter count"),
        Param("S_c", "constant", "steps", "critical step count"),
    )
    # At the reference point L = e^a + e^b, a = alpha_N log(N_c/N_ref), b = alpha_S log(S_c/S_ref):
    # internal coordinates are log L_ref = log(e^a + e^b) and z_N = a - b.
    internal = ("log_L_ref", "z_N")

    def log_loss(self, xp, x, p):
        return xp.logaddexp(p["alpha_N"] * (p["log_N_c"] - x["N"]), p["alpha_S"] * (p["log_S_c"] - x["S"]))

    def centred_from_internal(self, xp, z):
        a, b = split_two_terms(xp, z["log_L_ref"], z["z_N"])
        return {"N_c": a, "S_c": b}

    def internal_from_centred(self, xp, cen):
        total, z = join_two_terms(xp, cen["N_c"], cen["S_c"])
        return {"log_L_ref": total, "z_N": z}

    def log_jacobian(self, xp, z, p, ref=None):
        # (log_L_ref, z_N) -> (a, b) has |det| = 1; a -> log N_c and b -> log S_c scale by 1/alpha.
        return -xp.log(p["alpha_N"]) - xp.log(p["alpha_S"])

    def centre(self, xp, logc, p, ref):
        return {"N_c": p["alpha_N"] * (logc["log_N_c"] - ref["N"]), "S_c": p["alpha_S"] * (logc["log_S_c"] - ref["S"])}

    def uncentre(self, xp, cen, p, ref):
        return {"log_N_c": ref["N"] + cen["N_c"] / p["alpha_N"], "log_S_c": ref["S"] + cen["S_c"] / p["alpha_S"]}
