"""Build the PyMC model for a law + spec on a runs table.

The likelihood is on log-loss (Student-t by default). Inputs enter as natural logs; the reference
point (``ref_log_*``: the mean log of each input) centres the constants for sampling. Everything
data-dependent is a ``pm.Data`` container, so one compiled model serves any runs table of the same
law and spec (see :mod:`bayes_scaling.inference.fit`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bayes_scaling.data.runs import RunTable
from bayes_scaling.specs.spec import LawSpec


@dataclass(frozen=True)
class ModelData:
    """The numbers a model is built or updated with (all natural logs)."""

    log_inputs: dict[str, np.ndarray]
    ref: dict[str, float]
    log_loss: np.ndarray

    def containers(self) -> dict[str, np.ndarray]:
        """Values keyed by ``pm.Data`` name."""
        out = {f"log_{k}": v for k, v in self.log_inputs.items()}
        out.update({f"ref_log_{k}": np.asarray(v) for k, v in self.ref.items()})
        out["log_loss"] = self.log_loss
        return out


def model_data(spec: LawSpec, runs: RunTable) -> ModelData:
    """Validate ``runs`` against the law and compute log inputs and reference points."""
    law = spec.law
    runs.require(law)
    logs = runs.log_inputs(law.compute_unit)
    x = {k: logs[k] for k in law.input_names}
    ref = {k: float(np.mean(v)) for k, v in x.items()}
    return ModelData(x, ref, np.log(runs.frame["loss"].to_numpy(float)))


def build_model(spec: LawSpec, data: ModelData):
    """The PyMC model. Free variables: exponents with their priors; the law's internal centred
    coordinates (flat), with the priors on the positive parameters (E, A, N_c, ...) added as a
    potential by an exact change of variables (see :mod:`bayes_scaling.laws.base`); ``sigma``,
    the noise scale of log-loss.
    """
    import pymc as pm
    import pytensor.tensor as pt

    law = spec.law
    n = len(data.log_loss)
    with pm.Model(coords={"run": np.arange(n)}) as model:
        x = {k: pm.Data(f"log_{k}", v, dims="run") for k, v in data.log_inputs.items()}
        ref = {k: pm.Data(f"ref_log_{k}", np.asarray(v)) for k, v in data.ref.items()}
        y = pm.Data("log_loss", data.log_loss, dims="run")
        p = {}
        for name in law.direct_names:
            prior = spec.priors[name]
            p[name] = getattr(pm, prior.dist)(name, **prior.pymc_kwargs)
        z = {name: pm.Flat(name) for name in law.internal}
        logc = law.from_internal(pt, z, p, ref)
        prior_terms = [law.log_jacobian(pt, z, p)]
        for c in law.positive_names:
            pm.Deterministic(c, pt.exp(logc[f"log_{c}"]))
            prior = spec.priors[c]
            log_v = logc[f"log_{c}"] - (ref[prior.relative_to] if prior.relative_to else 0.0)
            # density of log v = density of v times v (the Jacobian of v = exp(log v))
            prior_terms.append(pm.logp(prior.pymc_dist(), pt.exp(log_v)) + log_v)
        pm.Potential("positive_params_prior", pt.sum(pt.stack(prior_terms)))
        s = spec.likelihood.sigma
        sigma = getattr(pm, s.dist)("sigma", **s.pymc_kwargs)
        mu = law.log_loss(pt, x, {**p, **logc})
        if spec.likelihood.family == "student_t":
            pm.StudentT("obs", nu=np.float64(spec.likelihood.nu), mu=mu, sigma=sigma, observed=y, dims="run")
        else:
            pm.Normal("obs", mu=mu, sigma=sigma, observed=y, dims="run")
    return model
