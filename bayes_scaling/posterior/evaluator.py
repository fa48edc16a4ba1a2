"""One evaluator of a posterior: the law at any inputs, for the population, a fitted group, an unseen
group or each run (its own group and covariates), and predictive draws of a new run's loss with the
likelihood family's noise and, where the fit carries one, the extrapolation discrepancy.

Every query, plot and report evaluates a fit through :class:`PosteriorEvaluator`. A weighted mixture
of fits (an ensemble of law forms) answers the calls queries make of draws (``predict``, ``log_mean_at_runs``,
``predictive_at_runs``) through :class:`~bayes_scaling.posterior.mixture.MixtureEvaluator`.
Losses are in nats/token; draws keep the dims ``(chain, draw, <points>)``.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from bayes_scaling.conventions import QUERY_DIM, RUN_DIM, derived_seed, loss_unit_of, check_seed, seeded_rng
from bayes_scaling.errors import BayesScalingError
from bayes_scaling.posterior.inputs import check_query_size, query_inputs

SAMPLE_DIMS = ("chain", "draw")


def noise_with_se(sigma, se):
    """A held-out run's noise scale on the family's scale: the fit's ``sigma`` and the run's own evaluation standard
    error ``se`` (on the family's scale: :func:`~bayes_scaling.result.noise.held_out_se`) added in quadrature; a fit
    with run noise and SEs fitted its sigma apart from them, so an observed run's scatter carries both. ``sigma`` and
    ``se`` broadcast (NumPy arrays or xarray objects); ``se`` None or all 0: ``sigma`` itself."""
    if se is None or not np.any(np.asarray(se, float) > 0):
        return sigma
    return np.sqrt(sigma ** 2 + se ** 2)


def group_params(xp, law, hierarchy, p: dict, logc: dict, ref: dict, tau: dict | None = None,
                 eps: dict | None = None, *, offsets: dict | None = None) -> tuple[dict, dict]:
    """Group-level parameters from population ``p`` (exponents), ``logc`` (log constants) and the
    ``offsets`` of the varying parameters (arrays over groups; or ``tau[k] * eps[k]``): exponents
    multiply by exp(offset), real-valued offset parameters add it, constants shift their centred
    term at the reference point. ``xp`` is NumPy or PyTensor (the model's graph uses the same function)."""
    vary = set(hierarchy.vary)
    additive = set(law.offset_names)
    if offsets is None:
        offsets = {k: tau[k] * eps[k] for k in vary}

    def shifted(j):
        if j not in vary:
            return p[j]
        return p[j] + offsets[j] if j in additive else p[j] * xp.exp(offsets[j])

    p_g = {j: shifted(j) for j in law.direct_names}
    cen = law.centre(xp, logc, p, ref)
    cen_g = {k: (cen[k] + offsets[k] if k in vary else cen[k]) for k in law.positive_names}
    return p_g, law.uncentre(xp, cen_g, p_g, ref)


#: ``hierarchy["offsets"]`` of fits whose group offsets sum to zero (population = the groups' mean).
ZERO_SUM = "zero_sum"


def new_group_scale(hierarchy: dict) -> float:
    """sd of an unseen group's log-scale offset from the population value, in units of tau.

    Offsets that sum to zero are the iid model's delta_g = tau e_g (e_g ~ Normal(0, 1), around a
    mean mu of all possible groups) minus their mean: population m = mu + tau e_bar, e_bar ~
    Normal(0, 1/G). The data see m and the centred offsets, never e_bar, so (under the broad prior
    on mu) its posterior stays Normal(0, 1/G), independent of a new group's e_new. A new group's
    offset from m is tau (e_new - e_bar) ~ Normal(0, tau^2 (1 + 1/G)). Older fits (iid offsets
    around mu = the population): scale 1."""
    if hierarchy.get("offsets") != ZERO_SUM:
        return 1.0
    return float(np.sqrt(1.0 + 1.0 / len(hierarchy["groups"])))


def new_group_rng(seed: int, stream: int = 0) -> np.random.Generator:
    """The generator of an unseen group's deviations: a stream of its own (``stream`` for the k-th
    unseen group), never the one the predictive noise draws from with the same ``seed``."""
    return np.random.default_rng(np.random.SeedSequence([check_seed(seed), 0x6E6577, int(stream)]))


def law_log_loss(law, x: dict, params: dict, dim: str) -> xr.DataArray:
    """``law.log_loss`` of draws ``params`` (DataArrays, dims chain, draw) at points ``x`` (1-D arrays, one
    value per point, every input the same length), dims (chain, draw, ``dim``). Evaluated on plain NumPy
    arrays, draws x 1 against the points: the same elementwise operations as on DataArrays, so the same
    numbers, without xarray's index alignment at each of the law's operations (most of the time of an
    implicit law such as ``m4``). A group's draws are sliced to (chain, draw) before they get here; draws
    with further dims take the DataArray route, those dims last."""
    sizes = {k: len(np.atleast_1d(v)) for k, v in x.items()}
    if len(set(sizes.values())) > 1:
        raise BayesScalingError(f"the law's inputs need one value per point each; got {sizes}")
    if not params or not all(isinstance(v, xr.DataArray) and v.dims == SAMPLE_DIMS for v in params.values()):
        return law.log_loss(np, {k: xr.DataArray(np.asarray(v), dims=dim) for k, v in x.items()},
                            params).transpose(*SAMPLE_DIMS, dim, ...)
    first = next(iter(params.values()))
    values = law.log_loss(np, {k: np.asarray(v, float) for k, v in x.items()},
                          {k: v.values[..., None] for k, v in params.items()})
    n = next(iter(sizes.values()))
    values = np.asarray(values, float)
    if values.shape != (*first.shape, n):
        values = np.array(np.broadcast_to(values, (*first.shape, n)))
    return xr.DataArray(values, dims=(*SAMPLE_DIMS, dim), coords={d: first.coords[d].values for d in SAMPLE_DIMS
                                                                   if d in first.coords})


class PosteriorEvaluator:
    """The posterior draws of one fit, evaluated.

    ``posterior``: law parameters in user units, ``sigma`` and (hierarchical fits) ``<name>_group``,
    ``tau_<name>``; ``family``: the likelihood family object; ``ref``: the reference log-inputs of the
    fit; ``hierarchy``: ``{vary, groups, group_col}`` and ``hierarchy_spec`` (for unseen groups);
    ``covariates``: ``{names, means}``; ``discrepancy``: a :class:`Discrepancy` or ``None``;
    ``seed``: the fit's seed (default streams of the predictive draws derive from it).
    """

    def __init__(self, law, family, posterior: xr.Dataset, *, ref: dict, hierarchy: dict | None = None,
                 hierarchy_spec=None, covariates: dict | None = None, discrepancy=None, seed: int = 0,
                 loss_unit: str | None = None, cost=None):
        self.law = law
        self.cost = cost  # the fit's stored CostLaw completing N, D, C at query points (None: C = 6ND)
        self.loss_unit = loss_unit  # of the fitted losses (labels only; None: nats/token)
        self.family = family
        self.posterior = posterior
        self.ref = ref
        self.hierarchy = hierarchy
        self.hierarchy_spec = hierarchy_spec
        self.covariates = covariates
        self.discrepancy = discrepancy
        self.seed = int(seed)

    @property
    def shape(self) -> tuple[int, int]:
        """(chains, draws)."""
        return self.posterior.sizes["chain"], self.posterior.sizes["draw"]

    @property
    def sigma(self) -> xr.DataArray:
        """Noise scale of log-loss per draw (dims chain, draw)."""
        return self.posterior["sigma"]

    # -- parameters --------------------------------------------------------------------------
    def params(self, group: str | None = None, *, seed: int | None = None, stream: int = 0) -> dict[str, xr.DataArray]:
        """Draws in the law function's convention (positive parameters as ``log_<name>``).

        ``group``: ``None`` for the population (the groups' mean on the log scale: offsets at 0), a fitted group's
        label, or ``"new"`` for an unseen group (deviations drawn from the fitted spread: ``seed``, default the
        fit's, so ``predict``, allocation and every other query of one fit draw the same unseen group, and
        ``stream`` to tell several unseen groups apart; a stream of its own, independent of the noise
        draws made with the same seed)."""
        seed = self.seed if seed is None else check_seed(seed)
        law, post = self.law, self.posterior
        params = law.to_law_params(post)
        if group is None:
            return params
        h = self.hierarchy
        if h is None:
            raise BayesScalingError(f"this fit has no groups; group {group!r} is not available (fit with groups)",
                                    quantity="group")
        if group == "new":
            rng = new_group_rng(seed, stream)
            tau = {k: post[f"tau_{k}"].values for k in h["vary"]}
            scale = new_group_scale(h)
            eps = {k: scale * rng.standard_normal(self.shape) for k in h["vary"]}
            expo = {k: v.values for k, v in params.items() if k in law.direct_names}
            logc = {k: v.values for k, v in params.items() if k not in law.direct_names}
            p_g, logc_g = group_params(np, law, self.hierarchy_spec, expo, logc, self.ref, tau, eps)
            return {k: xr.DataArray(np.broadcast_to(v, self.shape), dims=SAMPLE_DIMS)
                    for k, v in {**p_g, **logc_g}.items()}
        if group not in h["groups"]:
            raise BayesScalingError(f"unknown group {group!r}; the fit's groups are {h['groups']} (or 'new')",
                                    quantity="group")
        return self._with_groups(params, lambda v: v.sel(group=group, drop=True))

    def _with_groups(self, params: dict, pick) -> dict:
        """``params`` with each group-level parameter replaced by ``pick(<name>_group)``."""
        out = dict(params)
        for name in self.law.param_names:
            if f"{name}_group" in self.posterior:
                v = pick(self.posterior[f"{name}_group"])
                key = name if name in self.law.direct_names else f"log_{name}"
                out[key] = v if name in self.law.direct_names else np.log(v)
        return out

    # -- the law's mean -----------------------------------------------------------------------
    def _covariate_shift(self, shift: np.ndarray, dim: str) -> xr.DataArray:
        return xr.DataArray(shift, dims=(dim, "covariate")).dot(self.posterior["gamma"], dim="covariate")

    def log_mean(self, values: dict, *, group: str | None = None, seed: int | None = None,
                 covariates: dict | None = None) -> xr.DataArray:
        """log of the law's loss at query points (dims chain, draw, query); ``values`` by symbol (N
        parameters, D tokens, C FLOPs ...; two of N, D, C suffice). ``covariates``: values by name
        (one, or one per point); those not given stay at the runs' mean."""
        q = query_inputs(self.law, **values, cost=self.cost)
        if covariates is not None and not isinstance(covariates, dict):
            raise BayesScalingError(f"covariates must be a dict {{name: value}}, got {covariates!r}"[:200],
                                    quantity="covariates")
        check_query_size(int(np.prod(next(iter(q["values"].values())).shape)), self.shape[0] * self.shape[1])
        log_mu = law_log_loss(self.law, q["logs"], self.params(group, seed=seed), QUERY_DIM)
        if covariates:
            log_mu = log_mu + self._covariate_shift(self._query_shift(covariates, log_mu.sizes[QUERY_DIM]), QUERY_DIM)
        return log_mu.transpose(*SAMPLE_DIMS, QUERY_DIM)

    def covariate_settings(self, covariates: dict | None = None) -> list[dict]:
        """The covariate values a query answers at, one record per covariate of the fit: ``name``, ``value`` (the
        covariate's own unit, e.g. log aspect ratio) and ``source``, ``"given"`` or ``"mean of the runs"`` (the
        default: the value at which the law's parameters are the fit's). Empty for a fit without covariates;
        a name the fit lacks, or covariates given to a fit without any, fail in one line naming the fit's."""
        given = self._check_covariates(covariates or {})
        bad = [k for k, v in given.items() if isinstance(v, (bool, np.bool_)) or np.ndim(v) != 0]
        if bad:
            raise BayesScalingError(f"covariate value(s) of {bad} must each be one number here (one setting of the "
                                    f"answer), got {[given[k] for k in bad]!r}"[:300], quantity="covariates")
        cov = self.covariates or {"names": [], "means": []}
        return [{"name": c, "value": float(given[c]) if c in given else float(m),
                 "source": "given" if c in given else "mean of the runs"} for c, m in zip(cov["names"], cov["means"])]

    def covariate_log_shift(self, covariates: dict | None = None) -> np.ndarray:
        """The covariates' effect on log-loss per draw at one setting (``covariates``: values by name, the rest
        at the runs' mean): array (chain, draw), 0 at the runs' means or for a fit without covariates."""
        if not covariates or self.covariates is None:
            self._check_covariates(covariates or {})
            return np.zeros(self.shape)
        shift = self._covariate_shift(self._query_shift(covariates, 1), QUERY_DIM)
        return shift.isel({QUERY_DIM: 0}).transpose(*SAMPLE_DIMS).values

    def _check_covariates(self, covariates: dict) -> dict:
        if not isinstance(covariates, dict):
            raise BayesScalingError(f"covariates must be a dict {{name: value}}, got {covariates!r}"[:200],
                                    quantity="covariates")
        cov = self.covariates
        if covariates and cov is None:
            raise BayesScalingError(f"covariate(s) {sorted(covariates)} given, but this fit has no covariates: leave "
                                    f"them out, or fit with --covariate COLUMN", quantity="covariates")
        unknown = sorted(set(covariates) - set(cov["names"] if cov else []))
        if unknown:
            raise BayesScalingError(f"unknown covariate(s) {unknown}; the fit's covariates are {cov['names']}",
                                    quantity="covariates")
        bad = [k for k, v in covariates.items() if not _finite(v)]
        if bad:
            raise BayesScalingError(f"covariate value(s) of {bad} must be finite numbers", quantity="covariates")
        return covariates

    def _query_shift(self, covariates: dict, n: int) -> np.ndarray:
        cov = self.covariates
        self._check_covariates(covariates)
        try:
            return np.stack([np.broadcast_to(np.asarray(covariates.get(c, m), float) - m, (n,))
                             for c, m in zip(cov["names"], cov["means"])], axis=-1)
        except ValueError:
            raise BayesScalingError(f"covariate values must be one number or one per query point ({n})") from None

    def log_mean_at_runs(self, runs, *, seed: int | None = None) -> xr.DataArray:
        """log of the law's loss at each run of a runs table (dims chain, draw, run), as the fit sees
        it: each run's own group (a group the fit never saw gets ``"new"``'s draws, ``seed``) and its
        covariate values centred as in the fit."""
        log_inputs, labels, shift = self.run_inputs(runs)
        return self.log_mean_runs(log_inputs, labels=labels, shift=shift, seed=seed)

    def run_inputs(self, runs) -> tuple[dict, np.ndarray | None, np.ndarray | None]:
        """What :meth:`log_mean_runs` takes for each run of a runs table: its log-inputs, its group
        label (hierarchical fits) and its covariates centred as in the fit (run x covariate)."""
        logs = runs.log_inputs(self.law.compute_unit)
        labels = None
        if self.hierarchy is not None:
            col = self.hierarchy["group_col"]
            if col not in runs.frame:
                raise BayesScalingError(f"the runs lack the fit's group column {col!r}")
            labels = runs.frame[col].astype(str).to_numpy()
        shift = None
        if self.covariates is not None:
            shift = np.column_stack([runs.frame[n].to_numpy(float) - m
                                     for n, m in zip(self.covariates["names"], self.covariates["means"])])
        return {k: logs[k] for k in self.law.input_names}, labels, shift

    def log_mean_runs(self, log_inputs: dict, *, labels=None, shift=None, seed: int | None = None) -> xr.DataArray:
        """log of the law's loss at runs given their log-inputs (dims chain, draw, run): with a group
        label per run (``labels``; a group the fit never saw as ``"new"``) and the runs' centred
        covariates ``shift`` (run x covariate)."""
        x = {k: np.asarray(v, float) for k, v in log_inputs.items()}
        if labels is None:
            mu = law_log_loss(self.law, x, self.params(None), RUN_DIM)
        else:
            labels = np.asarray(labels)
            groups, parts, n_new = self.hierarchy["groups"], [], 0
            for lab in dict.fromkeys(labels.tolist()):
                sel = np.flatnonzero(labels == lab)
                unseen = lab not in groups
                params = self.params("new" if unseen else lab, seed=seed, stream=n_new if unseen else 0)
                n_new += unseen
                m = law_log_loss(self.law, {k: v[sel] for k, v in x.items()}, params, RUN_DIM)
                parts.append(m.transpose(*SAMPLE_DIMS, RUN_DIM).assign_coords({RUN_DIM: sel}))
            mu = xr.concat(parts, dim=RUN_DIM).sortby(RUN_DIM).drop_vars(RUN_DIM)
        if shift is not None:
            mu = mu + self._covariate_shift(shift, RUN_DIM)
        return mu.transpose(*SAMPLE_DIMS, RUN_DIM)

    # -- a new run ----------------------------------------------------------------------------
    def log_predictive(self, log_mu: xr.DataArray, axis_values=None, *, rng: np.random.Generator,
                       discrepancy: bool = True, se: float | None = None, run_se=None) -> xr.DataArray:
        """Draws of a new run's log-loss around ``log_mu`` (dims chain, draw, points): the family's
        noise with the fitted scale and, when the fit carries one and ``discrepancy``, the
        extrapolation discrepancy at ``axis_values`` (the points' N, D, C as a mapping or table, or their
        values on its split axis; :meth:`Discrepancy.distance`); with a
        residual process, beyond the data the noise's sd drops to the process's white part se (its
        conditional variance replaces the rest: :meth:`Discrepancy.noise_factor`). ``se``:
        the new run's evaluation standard error (response units), added in quadrature on the family's
        scale (for fits with run noise, whose ``sigma`` leaves the evaluation noise out when SEs were given).
        ``run_se``: each point's own evaluation SE already on the family's scale (an observed run's,
        :func:`~bayes_scaling.result.noise.held_out_se`; one per point, or None), added as :func:`noise_with_se`."""
        noise = xr.DataArray(self.family.draws(rng, log_mu.shape), dims=log_mu.dims)
        disc = self.discrepancy if discrepancy else None
        sigma = self.sigma
        if disc is not None and disc.residual is not None:  # beyond the data: the process's white part only
            sigma = sigma * disc.noise_factor(sigma, axis_values, self.family.sd_per_scale).rename(query=log_mu.dims[-1])
        scale = sigma
        if se is not None:
            scale = self.family.scale_with_se(sigma, log_mu, se)
        if run_se is not None:
            scale = noise_with_se(scale, xr.DataArray(np.asarray(run_se, float), dims=log_mu.dims[-1]))
        out = self.family.add_noise(np, log_mu, scale, noise)
        if disc is not None:
            s = disc.scale(axis_values).rename(query=log_mu.dims[-1])
            out = out + disc.shift(axis_values).rename(query=log_mu.dims[-1]) \
                + s * xr.DataArray(rng.standard_normal(log_mu.shape), dims=log_mu.dims)
        return out.transpose(*log_mu.dims)

    def default_rng(self, offset: int = 1, seed: int | None = None) -> np.random.Generator:
        """The predictive draws' generator: ``seed``, or the fit's seed + ``offset``."""
        return np.random.default_rng(derived_seed(self.seed, offset)) if seed is None else seeded_rng(seed)

    def predict(self, values: dict, *, group: str | None = None, seed: int | None = None,
                covariates: dict | None = None, se: float | None = None) -> xr.Dataset:
        """``loss`` (the law) and ``loss_predictive`` (a new run: noise, discrepancy and, with ``se``, its
        evaluation standard error), nats/token, dims (chain, draw, query), with the query's inputs as coords."""
        q = query_inputs(self.law, **values, cost=self.cost)
        log_mu = self.log_mean(values, group=group, covariates=covariates)  # an unseen group: the fit's seed
        axis = None if self.discrepancy is None else q["values"]
        log_pred = self.log_predictive(log_mu, axis, rng=self.default_rng(1, seed), se=se)
        ds = xr.Dataset({"loss": np.exp(log_mu), "loss_predictive": np.exp(log_pred)})
        ds = ds.assign_coords({k: (QUERY_DIM, v) for k, v in q["values"].items()})
        from bayes_scaling.quantities import QUANTITIES

        ds["loss"].attrs["units"] = loss_unit_of(self)
        ds["loss_predictive"].attrs["units"] = loss_unit_of(self)
        for k in q["values"]:
            ds[k].attrs["units"] = QUANTITIES[k].unit
        return ds

    def values_at_runs(self, runs) -> dict[str, np.ndarray]:
        """``runs``' (a ``RunTable``) values where the discrepancy and residual process are asked about them, in
        the fit's currency (:func:`~bayes_scaling.posterior.discrepancy.scale_values`: for laws of N and D, C is
        the cost law's C(N, D) in FLOPs, not a recorded C), so the fit's own runs lie inside its data."""
        from bayes_scaling.posterior.discrepancy import scale_values

        return scale_values(self.law, runs.frame, self.cost)

    def predictive_at_runs(self, runs, *, seed: int = 0, discrepancy: bool = True, run_se=None) -> np.ndarray:
        """Draws of each run's loss as a new run (nats/token; array run x draws): the law at the run
        (:meth:`log_mean_at_runs`), the fitted noise and (``discrepancy``) the extrapolation
        discrepancy, if the fit carries one; ``run_se`` (run, family's scale, or None): each run's own evaluation
        SE added to the noise (an observed held-out run's predictive: :func:`~bayes_scaling.result.noise.heldout_predictive`)."""
        log_mu = self.log_mean_at_runs(runs)  # unseen groups from the fit's seed; ``seed`` draws the noise
        axis = None if self.discrepancy is None else self.values_at_runs(runs)
        log_pred = self.log_predictive(log_mu, axis, rng=seeded_rng(seed), discrepancy=discrepancy, run_se=run_se)
        return np.exp(log_pred.values).reshape(-1, log_mu.shape[-1]).T

    def pointwise_loglik(self, log_mu: xr.DataArray, log_loss, run_se=None) -> xr.DataArray:
        """log p(observed log-loss | draw) per point (dims chain, draw, run), on the family's scale; ``run_se``
        (run, family's scale, or None): each run's own evaluation SE added to the noise (:func:`noise_with_se`)."""
        fam = self.family
        y = xr.DataArray(fam.location(np, np.asarray(log_loss)), dims=log_mu.dims[-1])
        sigma = self.sigma
        scale = noise_with_se(sigma, None if run_se is None else
                              xr.DataArray(np.asarray(run_se, float), dims=log_mu.dims[-1]))
        if scale is sigma:  # every run's noise is sigma's
            z = ((y - fam.location(np, log_mu)) / sigma).transpose(*log_mu.dims)
            ll = self.family.logpdf(z.values) - np.log(sigma.values[..., None])
            return xr.DataArray(ll, dims=log_mu.dims)
        scale = scale.transpose(*log_mu.dims)
        z = ((y - fam.location(np, log_mu)) / scale).transpose(*log_mu.dims)
        ll = self.family.logpdf(z.values) - np.log(scale.values)
        return xr.DataArray(ll, dims=log_mu.dims)


def _finite(v) -> bool:
    """Whether ``v`` is a finite number or an array of them."""
    try:
        return bool(np.all(np.isfinite(np.asarray(v, float))))
    except (TypeError, ValueError):
        return False
