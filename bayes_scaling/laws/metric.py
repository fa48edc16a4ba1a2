"""Metric laws: a bounded downstream metric (accuracy as a fraction) as a function of a loss ``L``
(the LM loss in nats/token, or a task loss such as the correct answer's bits-per-byte).

- ``sigmoid_metric``: Bhagia et al. 2024 (arXiv:2412.04403, step 2), Acc(L) = b + a / (1 + e^{k (L - L0)}),
  accuracy decreasing in loss from the ceiling a + b towards the chance floor b.
- ``exp_metric``: Gadre et al. 2024 (arXiv:2403.08540, Eq. 5), Err(L) = eps - k e^{-gamma L}, written for
  accuracy Acc = 1 - Err = c + k e^{-gamma L} with the floor c = 1 - eps.

Both return log Acc (the law machinery's response is a log); the ``logit_normal`` family fits it on the
logit scale. Internal coordinates: the log accuracy at the reference loss and the log-ratio of the floor
to the loss term there (unit Jacobian, :func:`split_two_terms`), plus log L0 for the sigmoid.
"""

from __future__ import annotations

from bayes_scaling.laws.base import Input, Param, ScalingLaw, join_two_terms, split_two_terms

_LOSS_INPUT = (Input("L", "nats/token or bits/byte"),)


class _MetricLaw(ScalingLaw):
    """Acc(L) = floor + term(L): shared centring on (log Acc at the reference loss, log floor/term)."""

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
        return {self.floor_param: floor, self.term_param: term, **self._extra_from_internal(z)}

    def internal_from_centred(self, xp, cen):
        total, z = join_two_terms(xp, cen[self.floor_param], cen[self.term_param])
        return {"log_acc_ref": total, "z_floor": z, **self._extra_to_internal(cen)}

    def _extra_from_internal(self, z):
        return {}

    def _extra_to_internal(self, cen):
        return {}


class SigmoidMetric(_MetricLaw):
    name = "sigmoid_metric"
    floor_param, term_param = "b", "a"
    title = "Accuracy from a loss: sigmoid with a chance floor (Bhagia et al. 2024, step 2)"
    internal = ("log_acc_ref", "z_floor", "log_L0")
    formula = "Acc(L) = b + a / (1 + exp(k (L - L0)))"
    citation = ("Bhagia et al. 2024, Establishing Task Scaling Laws via Compute-Efficient Model Ladders, "
                "arXiv:2412.04403, step 2")
    params = (Param("b", "constant", "fraction", "chance floor: the accuracy as the loss grows"),
              Param("a", "constant", "fraction", "range: a + b is the accuracy as the loss goes to 0"),
              Param("L0", "constant", "units of L", "midpoint of the sigmoid"), Param("k", "shape", "1 / units of L",
                                                                                     "steepness"))

    def log_term_shape(self, xp, log_l, logc, p):
        # log of 1 / (1 + e^{k (L - L0)}), stable for any sign
        return -xp.logaddexp(0.0, p["k"] * (xp.exp(log_l) - xp.exp(logc["log_L0"])))

    def _extra_from_internal(self, z):
        return {"L0": z["log_L0"]}

    def _extra_to_internal(self, cen):
        return {"log_L0": cen["L0"]}


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
