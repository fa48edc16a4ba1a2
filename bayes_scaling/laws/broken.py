"""Single-axis laws: a power law with a floor (Alabdulmohsin et al. 2022's M2) and smoothly
broken power laws (Caballero et al. 2022, "Broken Neural Scaling Laws", arXiv:2210.14891, Eq. 1):

    L(x) = E + B x^(-c0) prod_i (1 + (x / d_i)^(1/f_i))^(-c_i f_i)

Past a break d_i the log-log slope steepens by c_i; f_i sets how sharp the break is. Here every
c_i > 0 (the curve bends down, as in the break-through behaviour the law is used for). The axis
is chosen per law: ``X`` (any scale variable, e.g. training-set size), ``N``, ``D`` or ``C``
(training compute in FLOPs, read from the runs' compute column: fit it to the compute-optimal
frontier L*(C), i.e. the lowest-loss run at each budget, as Hoffmann et al. 2022 Fig. 1 and
Porian et al. 2024, arXiv:2406.19146, fit the frontier with power laws).
"""

from __future__ import annotations

from bayes_scaling.laws.base import Input, Param, ScalingLaw, join_two_terms, split_two_terms

_AXIS_UNITS = {"X": "units of the scale axis", "N": "parameters", "D": "tokens", "C": "FLOPs"}


class _PowerFamily(ScalingLaw):
    """E + B x^-c0 times n_breaks smooth breaks, on one axis."""

    axis: str
    n_breaks: int

    def counterpart(self, n_breaks: int = 1) -> str | None:
        """The n-break law for an unbroken one; the unbroken law for a broken one."""
        if self.n_breaks:
            return f"power_{self.axis.lower()}"
        return f"bnsl{n_breaks}_{self.axis.lower()}"

    def slope_coordinates(self) -> dict[str, str]:
        """The unbroken law samples c0 through log s0, s0 = -d log L / d log x at the reference x =
        c0 (L_ref - E) / L_ref = c0 sigmoid(z_B): the data pin the slope, while c0 and the floor trade
        off along a curved ridge (c0 = s0 (1 + e^-z_B)) that (z_B, c0) coordinates sample badly."""
        return {} if self.n_breaks else {"c0": "log_s0"}

    def exponent_from_slope(self, xp, name, z, p):
        return z["log_s0"] + xp.logaddexp(0.0, -z["z_B"])

    # Internal coordinates: log L at the reference x, log(B-term / E) there, the first break's log
    # location relative to the reference, and for later breaks the log of the log-gap to the
    # previous break (so breaks stay ordered, d1 < d2: no label switching).
    def _rel(self, xp, z):
        rel = [z["log_d1_rel"]]
        for i in range(2, self.n_breaks + 1):
            rel.append(rel[-1] + xp.exp(z[f"log_gap{i}"]))
        return rel

    def from_internal(self, xp, z, p, ref):
        log_term, log_e = split_two_terms(xp, z["log_L_ref"], z["z_B"])
        out = {"log_E": log_e}
        r = ref[self.axis]
        log_b = log_term + p["c0"] * r
        for i, rel in enumerate(self._rel(xp, z) if self.n_breaks else [], start=1):
            out[f"log_d{i}"] = r + rel
            # B is defined with the break factors, which at x_ref are not 1: undo them
            log_b = log_b + p[f"c{i}"] * p[f"f{i}"] * xp.logaddexp(0.0, -rel / p[f"f{i}"])
        out["log_B"] = log_b
        return out

    def to_internal(self, xp, logc, p, ref):
        r = ref[self.axis]
        out = {}
        log_term = logc["log_B"] - p["c0"] * r
        for i in range(1, self.n_breaks + 1):
            rel = logc[f"log_d{i}"] - r
            if i == 1:
                out["log_d1_rel"] = rel
            else:
                out[f"log_gap{i}"] = xp.log(logc[f"log_d{i}"] - logc[f"log_d{i - 1}"])
            log_term = log_term - p[f"c{i}"] * p[f"f{i}"] * xp.logaddexp(0.0, -rel / p[f"f{i}"])
        out["log_L_ref"], out["z_B"] = join_two_terms(xp, log_term, logc["log_E"])
        return out

    def _break_terms(self, xp, log_d, p, r):
        out = 0.0
        for i in range(1, self.n_breaks + 1):
            out = out + p[f"c{i}"] * p[f"f{i}"] * xp.logaddexp(0.0, -(log_d[i] - r) / p[f"f{i}"])
        return out

    def centre(self, xp, logc, p, ref):
        r = ref[self.axis]
        log_d = {i: logc[f"log_d{i}"] for i in range(1, self.n_breaks + 1)}
        out = {"E": logc["log_E"], "B": logc["log_B"] - p["c0"] * r - self._break_terms(xp, log_d, p, r)}
        out.update({f"d{i}": log_d[i] - r for i in log_d})
        return out

    def uncentre(self, xp, cen, p, ref):
        r = ref[self.axis]
        log_d = {i: cen[f"d{i}"] + r for i in range(1, self.n_breaks + 1)}
        out = {"log_E": cen["E"], "log_B": cen["B"] + p["c0"] * r + self._break_terms(xp, log_d, p, r)}
        out.update({f"log_d{i}": v for i, v in log_d.items()})
        return out

    def log_jacobian(self, xp, z, p, ref=None):
        # (log_L_ref, z_B) -> (log E, log-term): unit determinant; log B adds terms of the breaks
        # only (triangular); log d1 = ref + rel (unit); log d_i = log d_(i-1) + exp(gap_i).
        out = 0.0
        for i in range(2, self.n_breaks + 1):
            out = out + z[f"log_gap{i}"]
        return out

    def log_loss(self, xp, x, p):
        lx = x[self.axis]
        term = p["log_B"] - p["c0"] * lx
        for i in range(1, self.n_breaks + 1):
            f = p[f"f{i}"]
            term = term - p[f"c{i}"] * f * xp.logaddexp(0.0, (lx - p[f"log_d{i}"]) / f)
        return xp.logaddexp(p["log_E"], term)


def _make(axis: str, n_breaks: int) -> type[ScalingLaw]:
    unit = _AXIS_UNITS[axis]
    params = [
        Param("E", "loss", "nats/token", "limit of the loss as the axis grows"),
        Param("B", "constant", f"nats/token x ({unit})^c0", "scale of the power-law term"),
        Param("c0", "exponent", "1", "exponent before the first break"),
    ]
    internal = ["log_L_ref", "z_B"]
    for i in range(1, n_breaks + 1):
        params += [
            Param(f"c{i}", "exponent", "1", f"slope change at break {i}"),
            Param(f"d{i}", "constant", unit, f"location of break {i}"),
            Param(f"f{i}", "shape", "1", f"smoothness of break {i} (small = sharp)"),
        ]
        internal.append("log_d1_rel" if i == 1 else f"log_gap{i}")
    if n_breaks == 0:
        name, title = f"power_{axis.lower()}", f"Power law with a floor on {axis} (M2 of Alabdulmohsin et al. 2022)"
        formula = f"L({axis}) = E + B {axis}^-c0"
        citation = "Alabdulmohsin, Neyshabur, Zhai 2022, arXiv:2209.06640 (estimator M2)"
    else:
        name = f"bnsl{n_breaks}_{axis.lower()}"
        title = f"Broken power law with {n_breaks} break(s) on {axis} (Caballero et al. 2022)"
        formula = f"L({axis}) = E + B {axis}^-c0 prod_i (1 + ({axis}/d_i)^(1/f_i))^(-c_i f_i), i = 1..{n_breaks}"
        citation = "Caballero, Gupta, Rish, Krueger 2022, Broken Neural Scaling Laws, arXiv:2210.14891, Eq. 1"
    return type(
        f"BrokenPowerLaw_{name}",
        (_PowerFamily,),
        {"name": name, "axis": axis, "n_breaks": n_breaks, "title": title, "formula": formula, "citation": citation,
         "inputs": (Input(axis, unit),), "params": tuple(params), "internal": tuple(internal),
         "__doc__": title},
    )


BROKEN_LAWS = [_make(axis, k) for axis in ("X", "D", "N", "C") for k in (0, 1, 2)]
