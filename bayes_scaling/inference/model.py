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
from bayes_scaling.laws.base import summed_log_loss
from bayes_scaling.posterior.evaluator import group_params
from bayes_scaling.specs.spec import LawSpec


@dataclass(frozen=True)
class ModelData:
    """The numbers a model is built or updated with (all natural logs)."""

    log_inputs: dict[str, np.ndarray]
    ref: dict[str, float]
    log_loss: np.ndarray
    #: Hierarchical fits: each run's group index, the group labels and the group column.
    group_idx: np.ndarray | None = None
    groups: tuple[str, ...] = ()
    group_col: str | None = None
    #: Covariates entering log-loss linearly: centred matrix (run x covariate), names, centres.
    covariates: np.ndarray | None = None
    covariate_names: tuple[str, ...] = ()
    covariate_means: tuple[float, ...] = ()
    #: Fits with run noise: each run's configuration (cell: runs sharing ``cell_by``, e.g. N and D, are
    #: replicates), the number of cells, and each run's evaluation standard error on the family's scale.
    cell_idx: np.ndarray | None = None
    n_cells: int = 0
    cell_by: tuple[str, ...] = ()
    se: np.ndarray | None = None
    se_given: bool = False

    def containers(self) -> dict[str, np.ndarray]:
        """Values keyed by ``pm.Data`` name."""
        out = {f"log_{k}": v for k, v in self.log_inputs.items()}
        out.update({f"ref_log_{k}": np.asarray(v) for k, v in self.ref.items()})
        out["log_loss"] = self.log_loss
        if self.group_idx is not None:
            out["group_idx"] = self.group_idx
        if self.covariates is not None:
            out["covariates"] = self.covariates
        if self.cell_idx is not None:
            out["cell_idx"], out["se"] = self.cell_idx, self.se
        return out

    def run_noise_record(self) -> dict | None:
        """What a fit with run noise stores: configurations, those with replicates, what defines one, SE given."""
        if self.cell_idx is None:
            return None
        return {"cells": int(self.n_cells), "replicate_cells": int(np.sum(np.bincount(self.cell_idx) >= 2)),
                "cell_by": list(self.cell_by), "se": bool(self.se_given)}


def configurations(law, runs: RunTable, groups=None) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """(configuration index per run, runs per configuration, the columns that define one): runs with the same N
    and D (or, without both, the same law inputs), the same value of every other law input (e.g. U of
    data_constrained, the recorded steps and batch behind Kaplan's S_min, which moves with each run's loss: C aside
    where N and D define it), every covariate, every group column the table declares (runs on different datasets
    or architectures were set apart on purpose, whether or not the fit varies by them) and ``groups`` (a label per
    run, or None) are one configuration; two or more there are replicates, whose expected loss is one.
    A metric law's input L is each run's own measured loss, so it is keyed on what was set instead: N and D (or C)
    where the table has them. The one rule of run noise and of held-out misses' weights."""
    return input_configurations(law.input_names, runs, groups)


def input_configurations(input_names, runs: RunTable, groups=None) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """:func:`configurations` of a law whose inputs are ``input_names`` (quantity symbols, e.g. ("N", "D", "U")),
    for a caller that knows the inputs but not yet the law (``datasets``' hint of run noise). An input ``L`` (a
    metric law's measured loss, which differs by seed) is keyed on what was set: N and D, else C."""
    nd = runs.has("N") and runs.has("D")
    names = tuple(input_names)
    if "L" in names and (set_by := ("N", "D") if nd else ("C",) if runs.has("C") else ()):
        names = set_by + tuple(q for q in names if q != "L")  # L differs by seed: the run's N, D were chosen
    inputs = (("N", "D") if nd else ()) + tuple(q for q in names if not (nd and q in ("N", "D", "C")))
    if "S" in inputs and "steps_raw" in runs.frame:  # Kaplan's S_min depends on each run's own loss: key on what was set
        inputs = tuple(q for q in inputs if q != "S") + ("steps_raw",) + (("B",) if "B" in runs.frame else ())
    covs = tuple(c for c in runs.covariate_names if c in runs.frame)
    cols = [np.round(np.log(runs.frame[c].to_numpy(float)), 9) for c in inputs]
    cols += [np.round(runs.frame[c].to_numpy(float), 9) for c in covs]
    key = np.unique(np.column_stack(cols), axis=0, return_inverse=True)[1].reshape(-1)
    labels = {g: np.unique(np.array([str(v) for v in runs.frame[g]]), return_inverse=True)[1].reshape(-1)
              for g in runs.columns.groups if g in runs.frame}  # declared groups: runs set apart on purpose
    labels = {g: v for g, v in labels.items() if len(np.unique(np.column_stack([key, v]), axis=0)) > key.max() + 1}
    by = inputs + covs + tuple(labels)  # a label that splits none (a size label, one per N) is left out; a name per run splits all
    cols += [v.astype(float) for v in labels.values()]
    if groups is not None:
        cols.append(np.unique(np.asarray(groups), return_inverse=True)[1].reshape(-1).astype(float))
    _, idx, counts = np.unique(np.column_stack(cols), axis=0, return_inverse=True, return_counts=True)
    return idx.reshape(-1).astype(np.int64), counts, tuple(by)


def replicate_shares(laws, runs: RunTable, group_col: str | None = None) -> np.ndarray:
    """Each run's share of its configuration (:func:`configurations`, groups from ``group_col`` where given): 1/k
    for one of k replicates, which share the configuration's offset from the law, so as held-out runs they count
    as one (the calibration's misses and the ensemble's stacking weights). ``laws``: a law or the members of an
    ensemble, whose configurations are those of every member's inputs together (independent of their order)."""
    groups = None if group_col is None else runs.frame[group_col].to_numpy()
    each = np.column_stack([configurations(law, runs, groups)[0] for law in (laws if isinstance(laws, (list, tuple))
                                                                              else [laws])])
    _, idx, counts = np.unique(each, axis=0, return_inverse=True, return_counts=True)
    return 1.0 / counts[idx.reshape(-1)]


def replicate_cells(spec: LawSpec, runs: RunTable, group_idx: np.ndarray | None = None
                    ) -> tuple[np.ndarray, int, tuple[str, ...]]:
    """(cell index per run, number of cells, the columns that define a cell): :func:`configurations`, refused
    where no configuration has replicates."""
    from bayes_scaling.errors import BayesScalingError

    idx, counts, by = configurations(spec.law, runs, group_idx)
    if not np.any(counts >= 2):
        raise BayesScalingError(f"run noise needs replicates: two or more runs at the same {', '.join(by)} "
                                f"(e.g. training seeds); every configuration here has one run", quantity="seed", column=True)
    return idx, int(len(counts)), by


def _run_noise(spec: LawSpec, runs: RunTable, data: ModelData, run_noise: bool) -> ModelData:
    from dataclasses import replace

    from bayes_scaling.errors import BayesScalingError

    has_se = runs.has("SE")
    if not run_noise:
        if has_se:  # refits of a run-noise fit's runs (sensitivity, backtests) come here too: warn, not fail
            import warnings

            warnings.warn("the evaluation standard errors (SE column) enter a fit only with run noise "
                          "(run_noise=True, --run-noise); this fit ignores them", UserWarning, stacklevel=3)
        return data
    from bayes_scaling.specs.families import Normal

    if not isinstance(spec.likelihood.dist, Normal):
        raise BayesScalingError(f"run noise adds Normal components on the family's scale: use family = \"normal\" or "
                                f"\"logit_normal\" (the spec has {spec.likelihood.family!r})", quantity="run_noise")
    idx, n_cells, by = replicate_cells(spec, runs, data.group_idx)
    se = np.zeros(len(runs))
    if has_se:
        raw = runs.frame["SE"].to_numpy(float)
        if np.any(raw < 0):
            raise BayesScalingError("evaluation standard errors (SE) must be >= 0", quantity="SE", column=True)
        se = raw * np.abs(spec.likelihood.dist.location_slope(runs.frame["loss"].to_numpy(float)))
    return replace(data, cell_idx=idx, n_cells=n_cells, cell_by=by, se=se, se_given=bool(has_se))


def model_data(spec: LawSpec, runs: RunTable, group_col: str | None = None, run_noise: bool = False) -> ModelData:
    """Validate ``runs`` against the law and compute log inputs and reference points; with a
    hierarchy in ``spec``, also the runs' groups (``group_col``, default the first group column); with
    ``run_noise``, the replicate cells and evaluation standard errors (:func:`replicate_cells`)."""
    from bayes_scaling.errors import BayesScalingError

    law = spec.law
    runs.require(law, proper_priors=spec.priors_proper)
    logs = runs.log_inputs(law.compute_unit)
    x = {k: logs[k] for k in law.input_names}
    ref = {k: float(np.mean(v)) for k, v in x.items()}
    y = np.log(runs.frame["loss"].to_numpy(float))
    cov = {}
    if runs.covariate_names:
        raw = np.column_stack([runs.frame[c].to_numpy(float) for c in runs.covariate_names])
        means = raw.mean(axis=0)
        cov = {"covariates": raw - means, "covariate_names": runs.covariate_names,
               "covariate_means": tuple(float(m) for m in means)}
    if spec.hierarchy is None:
        return _run_noise(spec, runs, ModelData(x, ref, y, **cov), run_noise)
    if group_col is None:
        if not runs.group_cols:
            raise BayesScalingError(f"varying {list(spec.hierarchy.vary)} by group needs a group column",
                                    quantity="group", column=True)
        group_col = runs.group_cols[0]
    if group_col not in runs.frame:
        raise BayesScalingError(f"group column {group_col!r} is not among the runs' group columns {list(runs.group_cols)}")
    labels = runs.frame[group_col].astype(str)
    groups = tuple(sorted(labels.unique()))
    if len(groups) < 2:
        raise BayesScalingError(f"group column {group_col!r} has one group ({groups[0]!r}); a hierarchy needs 2 or more")
    idx = np.searchsorted(np.array(groups), labels.to_numpy())
    return _run_noise(spec, runs, ModelData(x, ref, y, idx.astype(np.int64), groups, group_col, **cov), run_noise)


def replicate_loglik(xp, family, log_mu, log_y, cell, n_cells: int, sigma_law, sigma_run, se):
    """log density of the runs with the configurations' offsets integrated out: on the family's scale,
    residual r_i = u_k + e_i with u_k ~ Normal(0, sigma_law) shared by the runs of configuration k and
    e_i ~ Normal(0, s_i), s_i^2 = sigma_run^2 + se_i^2. Per configuration (w_i = 1 / s_i^2, W = sum w_i):
    sum_i log Normal(r_i; 0, s_i) - log(1 + sigma_law^2 W) / 2 + sigma_law^2 (sum w_i r_i)^2 / (2 (1 + sigma_law^2 W))."""
    r = family.location(xp, log_y) - family.location(xp, log_mu)
    s2 = sigma_run ** 2 + se ** 2
    w = 1.0 / s2
    base = -0.5 * xp.sum(r ** 2 * w + xp.log(2 * np.pi * s2))
    def per_cell(values):
        return np.bincount(cell, values, n_cells) if xp is np else xp.inc_subtensor(xp.zeros(n_cells)[cell], values)

    big_w, wr = per_cell(w), per_cell(w * r)
    v = sigma_law ** 2
    return base + xp.sum(-0.5 * xp.log1p(v * big_w) + 0.5 * v * wr ** 2 / (1 + v * big_w))


def _prior_data(name: str, prior) -> dict[str, tuple[str, np.ndarray]]:
    return {k: (f"prior_{name}_{k}", np.asarray(v, dtype=np.float64)) for k, v in prior.pymc_kwargs.items()}


def prior_containers(spec: LawSpec) -> dict[str, np.ndarray]:
    """The numbers of the positive parameters' priors (E, G, A ...), keyed by ``pm.Data`` name: a
    model holds them as data, so specs that differ only there (e.g. ``m4`` and ``m4_error_rate``)
    share one compiled model, fed each spec's numbers."""
    return {key: v for c in spec.law.positive_names for key, v in _prior_data(c, spec.priors[c]).values()}


def slope_coordinates(spec: LawSpec) -> dict[str, str]:
    """The law's exponents sampled through local-slope coordinates (:meth:`ScalingLaw.slope_coordinates`),
    except those that vary by group or have a tight prior (sampled directly, as before)."""
    vary = set(spec.hierarchy.vary) if spec.hierarchy is not None else set()
    return {name: coord for name, coord in spec.law.slope_coordinates().items()
            if name not in vary and spec.priors[name].positive_support() and _log_prior_draws(spec.priors[name]).std() >= 0.1}


def _log_prior_draws(prior) -> np.ndarray:
    import pymc as pm

    return np.log(np.asarray(pm.draw(prior.pymc_dist(), draws=400, random_seed=0), float))


def build_model(spec: LawSpec, data: ModelData, *, summed: bool = False):
    """The PyMC model. Free variables: exponents with their priors (or, for the law's slope
    coordinates, the log local slope, flat, with the exponent's prior in the potential); the law's internal centred
    coordinates (flat), with the priors on the positive parameters (E, A, N_c, ...) added as a
    potential by an exact change of variables (see :mod:`bayes_scaling.laws.base`); ``sigma``,
    the noise scale of log-loss. With run noise (``data.cell_idx``), ``sigma`` splits into ``sigma_law``
    (each configuration's shared offset from the law: its replicates move together) and ``sigma_run``
    (run to run), both on the family's scale with the spec's sigma prior; a run's evaluation standard
    error adds in quadrature to ``sigma_run``, and ``sigma`` = sqrt(sigma_law^2 + sigma_run^2) is a new
    run's noise at a new configuration (what predictions use). The configurations' offsets are integrated
    out (:func:`replicate_loglik`): Normal on the family's scale, so run noise needs a Normal family
    (``normal``, ``logit_normal``). Hierarchies: per varying parameter ``tau_<name>`` and the group offsets
    ``eps_<name>`` = tau z, ``z_eps_<name>`` ~ ZeroSumNormal(1) (non-centred; centred, ``eps_<name>`` ~
    ZeroSumNormal(tau), for the spec's ``hierarchy.centred``), and ``<name>_group``. ``summed``: the law as log(sum(exp(terms))) where it states its
    terms (:func:`~bayes_scaling.laws.base.summed_log_loss`; big tables: fewer calls per row).
    """
    import pymc as pm
    import pytensor.tensor as pt

    from bayes_scaling.files import keep_generated_source_in_cache

    keep_generated_source_in_cache()
    law = spec.law
    n = len(data.log_loss)
    coords = {"run": np.arange(n)}
    if data.group_idx is not None:
        coords["group"] = list(data.groups)
    if data.covariates is not None:
        coords["covariate"] = list(data.covariate_names)
    with pm.Model(coords=coords) as model:
        x = {k: pm.Data(f"log_{k}", v, dims="run") for k, v in data.log_inputs.items()}
        ref = {k: pm.Data(f"ref_log_{k}", np.asarray(v)) for k, v in data.ref.items()}
        y = pm.Data("log_loss", data.log_loss, dims="run")
        p = {}
        slopes = slope_coordinates(spec)
        for name in law.direct_names:
            if name not in slopes:
                prior = spec.priors[name]
                p[name] = getattr(pm, prior.dist)(name, **prior.pymc_kwargs)
        z = {name: pm.Flat(name) for name in law.internal}
        prior_terms = []
        for name, coord in slopes.items():
            # exponent = exp(log slope + f(z)): its prior's density times the exponent (d exponent /
            # d coordinate; unit derivative of the log), started at the prior's median slope region
            z[coord] = pm.Flat(coord, initval=float(np.median(_log_prior_draws(spec.priors[name]))))
            log_v = law.exponent_from_slope(pt, name, z, p)
            p[name] = pm.Deterministic(name, pt.exp(log_v))
            prior_terms.append(pm.logp(spec.priors[name].pymc_dist(), p[name]) + log_v)
        logc = law.from_internal(pt, z, p, ref)
        prior_terms.append(law.log_jacobian(pt, z, p, ref))
        for c in law.positive_names:
            pm.Deterministic(c, pt.exp(logc[f"log_{c}"]))
            prior = spec.priors[c]
            log_v = logc[f"log_{c}"] - (ref[prior.relative_to] if prior.relative_to else 0.0)
            # the prior's numbers are data (prior_containers): specs that differ only there share one compiled model
            dist = getattr(pm, prior.dist).dist(**{k: pm.Data(name, v) for k, (name, v) in _prior_data(c, prior).items()})
            # density of log v = density of v times v (the Jacobian of v = exp(log v))
            prior_terms.append(pm.logp(dist, pt.exp(log_v)) + log_v)
        pm.Potential("positive_params_prior", pt.sum(pt.stack(prior_terms)))
        params = {**p, **logc}
        if spec.hierarchy is not None and data.group_idx is not None:
            idx = pm.Data("group_idx", data.group_idx, dims="run")
            t = spec.hierarchy.tau
            tau = {k: getattr(pm, t.dist)(f"tau_{k}", **t.pymc_kwargs) for k in spec.hierarchy.vary}
            # sum-to-zero offsets on the log scale, the population value the groups' mean (identified by the
            # data: no ridge along which it and every offset move together), sampled non-centred: eps = tau z,
            # z ~ ZeroSumNormal(1), so a small tau (a parameter the groups share) is no funnel neck for NUTS
            # (docs: HierarchySpec; benchmarks/README, "Sampler diagnostics of default fits"); the spec's
            # hierarchy.centred, centred. eps_<name> is in the posterior either way (an unseen group: PosteriorEvaluator.params)
            eps = {k: pm.ZeroSumNormal(f"eps_{k}", sigma=tau[k], dims="group") if k in spec.hierarchy.centred else
                   pm.Deterministic(f"eps_{k}", tau[k] * pm.ZeroSumNormal(f"z_eps_{k}", sigma=1.0, dims="group"), dims="group")
                   for k in spec.hierarchy.vary}
            p_g, logc_g = group_params(pt, law, spec.hierarchy, p, logc, ref, offsets=eps)
            for k in law.param_names:  # every parameter that differs by group, varying or pivoting
                value = p_g[k] if k in law.direct_names else pt.exp(logc_g[f"log_{k}"])
                if value.ndim == 1:
                    pm.Deterministic(f"{k}_group", value, dims="group")
            params = {k: (v[idx] if getattr(v, "ndim", 0) == 1 else v) for k, v in {**p_g, **logc_g}.items()}
        s = spec.likelihood.sigma
        if data.cell_idx is None:
            sigma = getattr(pm, s.dist)("sigma", **s.pymc_kwargs)
        else:
            sigma_law = getattr(pm, s.dist)("sigma_law", **s.pymc_kwargs)
            sigma_run = getattr(pm, s.dist)("sigma_run", **s.pymc_kwargs)
            pm.Deterministic("sigma", pt.sqrt(sigma_law ** 2 + sigma_run ** 2))
        mu = summed_log_loss(law, pt, x, params) if summed else law.log_loss(pt, x, params)
        if data.covariates is not None:
            # effect on log-loss per unit of each (centred) covariate, centred at no effect
            cov = pm.Data("covariates", data.covariates, dims=("run", "covariate"))
            g = spec.covariate_prior
            gamma = getattr(pm, g.dist)("gamma", **g.pymc_kwargs, dims="covariate")
            mu = mu + pt.dot(cov, gamma)
        if data.cell_idx is not None:
            cell = pm.Data("cell_idx", data.cell_idx, dims="run")
            se = pm.Data("se", data.se, dims="run")
            pm.Potential("obs", replicate_loglik(pt, spec.likelihood.dist, mu, y, cell, data.n_cells, sigma_law,
                                                 sigma_run, se))
            return model
        spec.likelihood.dist.observe(pm, "obs", mu, sigma, y, dims="run")
    return model
