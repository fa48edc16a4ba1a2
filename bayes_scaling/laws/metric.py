"""Metric laws: a bounded downstream metric (accuracy as a fraction) as a function of a loss ``L``
(the LM loss in nats/token, or a task loss such as the correct answer's bits-per-byte).

- ``sigmoid_metric``: Bhagia et al. 2024 (arXiv:2412.04403, step 2), Acc(L) = b + a / (1 + e^{k (L - L0)}),
  accuracy decreasing in loss from the ceiling a + b towards the chance floor b; fitted as a = r (1 - b) with
  the ceiling fraction r in (0, 1), so the ceiling never passes 1.
- ``exp_metric``: Gadre et al. 2024 (arXiv:2403.08540, Eq. 5), Err(L) = eps - k e^{-gamma L}, written for
  accuracy Acc = 1 - Err = c + k e^{-gamma L} with the floor c = 1 - eps.

``exp_metric`` keeps the published form: its accuracy at zero loss, c + k, is not bounded by 1 (on the OLMo ladder
it comes out far above 1: the exponential is a local form over the runs' losses, and the logit-normal family
holds a mean above 1 just below it). Its fits pass their diagnostics there, so it was left as it is.

Both return log Acc (the law machinery's response is a log); the ``logit_normal`` family fits it on the
logit scale. Internal coordinates of ``exp_metric``: the log accuracy at the reference loss and the log-ratio
of the floor to the loss term there (unit Jacobian, :func:`split_two_terms`); the sigmoid's are its own.
"""

from __future__ import annotations

from bayes_scaling.laws.base import Input, Param, ScalingLaw, join_two_terms, split_two_terms

_LOSS_INPUT = (Input("L", "nats/token, bits/byte or nats/word"),)


class _MetricLaw(ScalingLaw):
    """Acc(L) = floor + term(L) (``exp_metric``): centring on (log Acc at the reference loss, log floor/term)."""

    response = "metric"
    response_unit = "fraction"
    inputs = _LOSS_INPUT
    #: The parameter that is the chance floor (its prior carries the benchmark's chance level).
    floor_param: str
    #: The loss term's scale parameter.
    term_param: str

    def log_term_shape(self, xp, log_l, logc: dict, p: dict):
        """log of the loss term divided by its scale, at log-loss ``log_l``."""
        raise NotImplementedError

    def log_loss(self, xp, x, p):
        """log Acc (accuracy as a fraction) at the loss x["L"] (its natural log)."""
        f, t = self.floor_param, self.term_param
        return xp.logaddexp(p[f"log_{f}"], p[f"log_{t}"] + self.log_term_shape(xp, x["L"], p, p))

    def _shift(self, xp, logc, p, ref):
        return self.log_term_shape(xp, ref["L"], logc, p)

    def centre(self, xp, logc, p, ref):
        f, t = self.floor_param, self.term_param
        out = {k[4:]: v for k, v in logc.items()}
        out[t] = logc[f"log_{t}"] + self._shift(xp, logc, p, ref)
        return {**out, f: logc[f"log_{f}"]}

    def uncentre(self, xp, cen, p, ref):
        t = self.term_param
        logc = {f"log_{k}": v for k, v in cen.items()}
        logc[f"log_{t}"] = cen[t] - self._shift(xp, logc, p, ref)
        return logc

    def centred_from_internal(self, xp, z):
        floor, term = split_two_terms(xp, z["log_acc_ref"], z["z_floor"])
        return {self.floor_param: floor, self.term_param: term}

    def internal_from_centred(self, xp, cen):
        total, z = join_two_terms(xp, cen[self.floor_param], cen[self.term_param])
        return {"log_acc_ref": total, "z_floor": z}


class SigmoidMetric(ScalingLaw):
    """Acc(L) = b + r (1 - b) / (1 + e^{k (L - L0)}): the published sigmoid (Bhagia et al. 2024, step 2) with
    its range written as a = r (1 - b), so the ceiling a + b = b + r (1 - b) stays below 1 by construction.

    Internal coordinates: logit b, logit r, and the reference loss's position on the sigmoid,
    t = k (L0 - L_ref) = softplus(z_mid + k L_ref) - k L_ref (t > -k L_ref keeps L0 > 0). The data fix the
    position t whatever the steepness k; the floor and the ceiling fraction are set by their priors and the
    runs at high and low loss. Each map is one-dimensional, so the Jacobian is diagonal and exact.
    """

    name = "sigmoid_metric"
    response = "metric"
    response_unit = "fraction"
    inputs = _LOSS_INPUT
    floor_param = "b"
    title = "Accuracy from a loss: sigmoid with a chance floor and a ceiling below 1 (Bhagia et al. 2024, step 2)"
    internal = ("z_floor", "z_ceil", "z_mid")
    formula = "Acc(L) = b + a / (1 + exp(k (L - L0))), a = r (1 - b)"
    citation = ("Bhagia et al. 2024, Establishing Task Scaling Laws via Compute-Efficient Model Ladders, "
                "arXiv:2412.04403, step 2")
    params = (Param("b", "fraction", "fraction", "chance floor: the accuracy as the loss grows"),
              Param("r", "fraction", "fraction", "ceiling as a fraction of the range above chance: a + b = b + r (1 - b)"),
              Param("L0", "constant", "units of L", "midpoint of the sigmoid"),
              Param("k", "shape", "1 / units of L", "steepness"))

    def log_loss(self, xp, x, p):
        """log Acc (accuracy as a fraction) at the loss x["L"] (its natural log)."""
        log_sig = -xp.logaddexp(0.0, p["k"] * (xp.exp(x["L"]) - xp.exp(p["log_L0"])))
        log_a = p["log_r"] + xp.log(-xp.expm1(p["log_b"]))
        return xp.logaddexp(p["log_b"], log_a + log_sig)

    def derived(self, p):
        """The published range a = r (1 - b) and the ceiling a + b (fractions): the curve's limit as L -> -infinity,
        which no loss reaches (a report's "metric at zero loss" is the curve at L -> 0, below it)."""
        import numpy as np

        b, r = np.exp(p["log_b"]), np.exp(p["log_r"])
        return {"a": r * (1 - b), "ceiling": b + r * (1 - b)}

    @staticmethod
    def _k_lref(xp, p, ref):
        return p["k"] * xp.exp(ref["L"])

    def centre(self, xp, logc, p, ref):
        kl0 = p["k"] * xp.exp(logc["log_L0"])
        return {"b": logc["log_b"] - xp.log(-xp.expm1(logc["log_b"])),
                "r": logc["log_r"] - xp.log(-xp.expm1(logc["log_r"])),
                "L0": kl0 + xp.log(-xp.expm1(-kl0)) - self._k_lref(xp, p, ref)}

    def uncentre(self, xp, cen, p, ref):
        u = cen["L0"] + self._k_lref(xp, p, ref)
        return {"log_b": -xp.logaddexp(0.0, -cen["b"]), "log_r": -xp.logaddexp(0.0, -cen["r"]),
                "log_L0": xp.log(xp.logaddexp(0.0, u)) - xp.log(p["k"])}

    def centred_from_internal(self, xp, z):
        return {"b": z["z_floor"], "r": z["z_ceil"], "L0": z["z_mid"]}

    def internal_from_centred(self, xp, cen):
        return {"z_floor": cen["b"], "z_ceil": cen["r"], "z_mid": cen["L0"]}

    def log_jacobian(self, xp, z, p, ref=None):
        """d log b / d z_floor = 1 - b, d log r / d z_ceil = 1 - r, d log L0 / d z_mid = sigmoid(u) / softplus(u)
        with u = z_mid + k L_ref."""
        u = z["z_mid"] + self._k_lref(xp, p, ref)
        return (-xp.logaddexp(0.0, z["z_floor"]) - xp.logaddexp(0.0, z["z_ceil"])
                - xp.logaddexp(0.0, -u) - xp.log(xp.logaddexp(0.0, u)))


class ExpMetric(_MetricLaw):
    name, floor_param, term_param = "exp_metric", "c", "k"
    internal = ("log_acc_ref", "z_floor")
    title = "Accuracy from a loss: exponential approach (Gadre et al. 2024, Eq. 5)"
    formula = "Acc(L) = c + k exp(-gamma L), i.e. Err(L) = eps - k exp(-gamma L) with eps = 1 - c"
    citation = ("Gadre et al. 2024, Language models scale reliably with over-training and on downstream tasks, "
                "arXiv:2403.08540, Eq. 5")
    params = (Param("c", "constant", "fraction", "floor 1 - eps: the accuracy as the loss grows (chance)"),
              Param("k", "constant", "fraction", "scale of the loss term"),
              Param("gamma", "shape", "1 / units of L", "decay rate of accuracy in the loss"))

    def log_term_shape(self, xp, log_l, logc, p):
        return -p["gamma"] * xp.exp(log_l)
