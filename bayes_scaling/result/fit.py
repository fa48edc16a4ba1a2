"""``FitResult``: a fitted posterior wrapping an ``xarray.DataTree``, with save/load.

Groups: ``posterior`` (law parameters in user units, ``sigma``, the law's centred sampling coordinates),
``sample_stats``, ``log_likelihood`` (``obs``, per run, while draws x runs is small: ``result.loglik``),
``observed_data`` (``loss``), ``constant_data`` (``N``, ``D``, ``C``, groups). Root attributes: the spec
text, the runs' provenance, the sampler configuration and the diagnostics."""

from __future__ import annotations

import json
import os
from dataclasses import replace
from functools import cache, cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from bayes_scaling.conventions import CI_PROB, DEFAULT_LOSS_UNIT, RUN_DIM
from bayes_scaling.cost import stored_cost, with_nominal_c
from bayes_scaling.data.runs import RunTable, runs_from_frame
from bayes_scaling.errors import BayesScalingError
from bayes_scaling.files import given_path
from bayes_scaling.posterior.diagnostics import Diagnostics, compute_diagnostics
from bayes_scaling.posterior.discrepancy import GROUP, Discrepancy
from bayes_scaling.posterior.evaluator import ZERO_SUM, PosteriorEvaluator
from bayes_scaling.posterior.intervals import summarize
from bayes_scaling.result.loglik import loglik_group
from bayes_scaling.result.noise import check_new_run_se
from bayes_scaling.specs.spec import HierarchySpec, LawSpec, parse_prior, parse_spec
from bayes_scaling.specs.units import summary_unit

FORMAT = "bayes_scaling.fit/1"
#: The marker of an ensemble file (:mod:`bayes_scaling.result.ensemble`), recognised here to say so.
ENSEMBLE_FORMAT = "bayes_scaling.ensemble/1"

#: Packages whose versions every fit records (with Python's), for the reproducibility of reports.
RECORDED_PACKAGES = ("bayes_scaling", "pymc", "pytensor", "nutpie", "arviz-base", "arviz-stats", "arviz-plots",
                     "numpy", "scipy", "xarray", "pandas", "matplotlib")


def package_versions() -> dict[str, str]:
    """Installed versions of :data:`RECORDED_PACKAGES` and Python, a fresh dict (metadata read once per process)."""
    return dict(_read_versions())


@cache
def _read_versions() -> tuple[tuple[str, str], ...]:
    import platform
    from importlib import metadata

    out = {}
    for pkg in RECORDED_PACKAGES:
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = "not installed"
    return (*out.items(), ("Python", platform.python_version()))


def _column(values: pd.Series) -> np.ndarray:
    v = values.to_numpy()
    return v.astype(str) if v.dtype == object else v


def write_tree(tree: xr.DataTree, path: str | os.PathLike, what: str) -> Path:
    """Write ``tree`` as netCDF (h5netcdf) atomically: serialised in memory, then written to a temp file
    renamed into place; a folder, a missing folder, a read-only place or a full disk is one line."""
    from bayes_scaling.files import check_out_file, write_bytes_atomic

    path = check_out_file(path, "give a file name such as fit.nc", what)
    view = tree.to_netcdf(engine="h5netcdf")  # a memoryview of an in-memory buffer
    data = bytes(view)
    view.release()  # a live export of a freed buffer crashes the interpreter (e.g. after an error)
    write_bytes_atomic(path, data)
    return path


#: The fit file's group holding R-hat and bulk/tail ESS per summarised variable.
CONVERGENCE = "convergence"
_CONVERGENCE_SUFFIXES = ("__r_hat", "__ess_bulk", "__ess_tail")
#: Reported beside the law: covariate effects, and a run-noise fit's components (configuration, run to run).
EXTRA_VARS = ("gamma", "sigma_law", "sigma_run")


def summary_draws(law, posterior: xr.Dataset) -> tuple[list[str], list[str], xr.Dataset]:
    """(law parameters + sigma, group/covariate variables, their draws with the law's derived
    parameters added): what :meth:`FitResult.summary` tabulates."""
    names = [*law.param_names, "sigma"]
    extra = [v for v in posterior.data_vars if v.endswith("_group") or v.startswith("tau_") or v in EXTRA_VARS]
    derived = {k: v for k, v in law.derived(law.to_law_params(posterior)).items() if k not in posterior}
    return names, extra, posterior[names + extra].assign(derived)


def convergence(post: xr.Dataset) -> tuple[xr.Dataset, xr.Dataset, xr.Dataset]:
    """(R-hat, bulk ESS, tail ESS) of every variable of ``post`` (arviz_stats)."""
    import arviz_stats as azs

    return azs.rhat(post), azs.ess(post, method="bulk"), azs.ess(post, method="tail")


class FitResult:
    """A fitted scaling law: posterior draws plus the spec and runs that produced them."""

    def __init__(self, tree: xr.DataTree):
        if tree.attrs.get("bayes_scaling_format") != FORMAT:
            raise BayesScalingError("not a bayes_scaling fit (missing format marker): produce one with `bayes-scaling fit`")
        self.tree = tree

    # -- construction ----------------------------------------------------------------------
    @classmethod
    def from_trace(cls, trace: xr.DataTree, *, spec: LawSpec, runs: RunTable, data, sampler_config: dict,
                   command: str = "") -> "FitResult":
        import arviz_base  # noqa: F401  (version recorded below)
        import pymc
        import pytensor

        import bayes_scaling
        from bayes_scaling.specs import moments

        law = spec.law
        posterior = trace["posterior"].to_dataset()
        keep = [v for v in posterior.data_vars if v in law.param_names or v == "sigma" or v in law.internal
                or v.endswith("_group") or v.startswith(("tau_", "eps_")) or v in EXTRA_VARS]
        posterior = posterior[keep]
        # a compiled model reused for another runs table keeps the coordinate labels it was built with
        if "group" in posterior.dims:
            posterior = posterior.assign_coords(group=list(data.groups))
        if "covariate" in posterior.dims:
            posterior = posterior.assign_coords(covariate=list(data.covariate_names))
        stats = trace["sample_stats"].to_dataset()
        run_coord = {RUN_DIM: np.arange(len(runs))}
        frame = runs.frame
        # text columns (groups, labels) as fixed-width strings: what netCDF gives back on load
        const = xr.Dataset({c: (RUN_DIM, _column(frame[c])) for c in frame.columns if c != "loss"}, coords=run_coord)
        for c, unit in (("N", "parameters"), ("D", "tokens"), ("C", "FLOPs")):
            if c in const:
                const[c].attrs["units"] = unit
        observed = xr.Dataset({"loss": (RUN_DIM, frame["loss"].to_numpy(float))}, coords=run_coord)
        observed["loss"].attrs["units"] = "nats/token"
        ev = PosteriorEvaluator(law, spec.likelihood.dist, posterior, ref=data.ref, hierarchy_spec=spec.hierarchy,
                                hierarchy=None if data.group_idx is None else {"groups": list(data.groups)})
        loglik = loglik_group(ev, data, run_coord)  # {} for big tables: computed when a query needs it
        diag = compute_diagnostics(posterior, stats, [*law.param_names, "sigma", *(
            v for v in posterior.data_vars if v.endswith("_group") or v.startswith("tau_") or v in EXTRA_VARS)])
        attrs = {
            "bayes_scaling_format": FORMAT,
            "bayes_scaling_version": bayes_scaling.__version__,
            "pymc_version": pymc.__version__,
            "pytensor_version": pytensor.__version__,
            "arviz_base_version": arviz_base.__version__,
            "package_versions": json.dumps(package_versions(), sort_keys=True),
            "law": law.name,
            "spec_text": spec.text,
            "spec_origin": spec.origin,
            "runs_metadata": json.dumps(runs.metadata(), sort_keys=True),
            "reference_log_inputs": json.dumps(data.ref, sort_keys=True),
            "sampler_config": json.dumps(sampler_config, sort_keys=True),
            "prior_moments": json.dumps(moments.prior_moments(spec, [*law.param_names, "sigma", "gamma", *(
                v for v in posterior.data_vars if v.startswith(("tau_", "sigma_")))], data.ref)),
            "diagnostics": json.dumps(diag.as_dict(), sort_keys=True),
            "command": command,
            "covariates": json.dumps(None if data.covariates is None else {
                "names": list(data.covariate_names), "means": list(data.covariate_means),
                "prior": spec.covariate_prior.as_dict()}),
            "run_noise": json.dumps(data.run_noise_record()),
            "hierarchy": json.dumps(None if spec.hierarchy is None or data.group_idx is None else {
                "vary": list(spec.hierarchy.vary), "tau": spec.hierarchy.tau.as_dict(), "group_col": data.group_col,
                "groups": list(data.groups), "offsets": ZERO_SUM, "centred": list(spec.hierarchy.centred)}),
        }
        tree = xr.DataTree.from_dict(
            {
                "posterior": posterior,
                "sample_stats": stats,
                **loglik,
                CONVERGENCE: xr.merge([d.rename({v: f"{v}{sfx}" for v in d.data_vars}) for d, sfx in
                                       zip(convergence(summary_draws(law, posterior)[2]), _CONVERGENCE_SUFFIXES)]),
                "observed_data": observed,
                "constant_data": const,
            }
        )
        tree.attrs = attrs
        return cls(tree)

    # -- persistence -----------------------------------------------------------------------
    def save(self, path: str | os.PathLike) -> Path:
        """Write the fit to netCDF (h5netcdf) atomically: serialised in memory, written to a temp file
        renamed into place; a folder, a missing folder, a read-only place or a full disk is one line
        (:class:`BayesScalingError`) and leaves no file behind."""
        return write_tree(self.tree, path, "fit file")

    @classmethod
    def load(cls, path: str | os.PathLike) -> "FitResult":
        """Read a fit written by :meth:`save`; anything else (another file, an ensemble, a damaged or
        tampered fit) fails with one clear message (see :meth:`checked`)."""
        path = given_path(path)
        if not path.is_file():
            raise BayesScalingError(f"fit file {str(path)!r} does not exist: run `bayes-scaling fit ... --out {path}` first")
        try:
            with xr.open_datatree(path, engine="h5netcdf") as tree:
                tree = tree.load()
        except Exception:
            raise BayesScalingError(f"{str(path)!r} is not a bayes_scaling fit file (not readable as netCDF/HDF5: "
                                    f"truncated, damaged or another format)") from None
        if tree.attrs.get("bayes_scaling_format") == ENSEMBLE_FORMAT:
            raise BayesScalingError(f"{str(path)!r} is an ensemble of law forms, and this reads a single fit: give one "
                                    f"law's fit (`bayes-scaling fit --law LAW ...`)")
        return cls.checked(tree, str(path))

    @classmethod
    def checked(cls, tree: xr.DataTree, name: str) -> "FitResult":
        """A fit from a tree read from disk (``name`` says where, in messages), after checking its marker,
        groups and stored values (:func:`bayes_scaling.posterior.checks.check_fit_tree`) and building every
        view a command reads, so a damaged or edited fit fails now, in one line."""
        from bayes_scaling.posterior.checks import check_fit_tree

        if tree.attrs.get("bayes_scaling_format") != FORMAT:
            raise BayesScalingError(f"{name!r} is a netCDF file but not a bayes_scaling fit (no {FORMAT!r} marker)")
        missing = [g for g in ("posterior", "sample_stats", "observed_data", "constant_data") if g not in tree.children]
        if missing:
            raise BayesScalingError(f"{name!r} is an incomplete bayes_scaling fit: missing group(s) {missing}")
        check_fit_tree(tree, name)
        result = cls(tree)
        try:
            result.runs, result.diagnostics, result.evaluator, result.sampler_config  # noqa: B018
        except BayesScalingError:
            raise
        except (KeyError, ValueError, TypeError, AttributeError, IndexError) as e:
            raise BayesScalingError(f"fit file {name!r} is damaged or was edited ({type(e).__name__}: "
                                    f"{' '.join(str(e).split())[:120]}); refit it with `bayes-scaling fit`") from None
        return result

    # -- views -----------------------------------------------------------------------------
    @cached_property
    def spec(self) -> LawSpec:
        """The spec the fit was asked with: ``centred`` offsets as the spec chose (the first attempt's), not as a retry
        switched them (:attr:`hierarchy`'s), so a refit starts from it and its own retries decide; files before
        2026-12-07 (all offsets centred, no choice then) read as none centred, today's default."""
        spec, h = parse_spec(self.tree.attrs["spec_text"], self.tree.attrs.get("spec_origin", "<fit>")), self.hierarchy
        if h is None:
            return replace(spec, hierarchy=None)
        asked = (self.sampler_config.get("attempts") or [{}])[0].get("centred", h.get("centred", ()))
        centred = tuple(k for k in h["vary"] if k in asked)
        spec = replace(spec, hierarchy=HierarchySpec(tuple(h["vary"]), parse_prior("hierarchy.tau", h["tau"]), centred))
        return spec.synced() if centred != tuple(h.get("centred", ())) else spec

    @property
    def hierarchy(self) -> dict | None:
        """``{vary, tau, group_col, groups, offsets, centred}`` (``centred``: as the returned trace sampled them)."""
        return json.loads(self.tree.attrs.get("hierarchy", "null"))

    @property
    def covariates(self) -> dict | None:
        """``{names, means, prior}`` when the fit has covariates (e.g. log aspect ratio), else ``None``."""
        return json.loads(self.tree.attrs.get("covariates", "null"))

    @property
    def groups(self) -> tuple[str, ...]:
        h = self.hierarchy
        return tuple(h["groups"]) if h else ()

    @property
    def law(self):
        return self.spec.law

    @property
    def posterior(self) -> xr.Dataset:
        return self.tree["posterior"].to_dataset()

    @property
    def sample_stats(self) -> xr.Dataset:
        return self.tree["sample_stats"].to_dataset()

    @cached_property
    def runs(self) -> RunTable:
        const = self.tree["constant_data"].to_dataset()
        frame = pd.DataFrame({c: const[c].values for c in const.data_vars})
        frame["loss"] = self.tree["observed_data"]["loss"].values
        frame.index.name = RUN_DIM
        return with_nominal_c(runs_from_frame(frame, self.runs_metadata), self.law)  # old files' rewritten C

    @property
    def runs_metadata(self) -> dict[str, Any]:
        return json.loads(self.tree.attrs["runs_metadata"])

    @property
    def loss_unit(self) -> str:
        """Unit of the fitted response: the runs' loss unit as recorded (nats/token for fits saved before it
        was), or a metric law's own (``fraction``)."""
        return self.law.response_unit if self.law.response_unit != DEFAULT_LOSS_UNIT else \
            self.runs_metadata.get("loss_unit", DEFAULT_LOSS_UNIT)

    @property
    def predictor_unit(self) -> str | None:
        """Unit of a metric law's predictor loss L as recorded with its runs (``--loss-unit`` of a metric fit, or
        the dataset's); None: unknown (not given, not a metric law, or a fit saved before it was recorded)."""
        return self.runs_metadata.get("predictor_unit")

    @property
    def sampler_config(self) -> dict[str, Any]:
        return json.loads(self.tree.attrs["sampler_config"])

    @cached_property
    def diagnostics(self) -> Diagnostics:
        d = json.loads(self.tree.attrs["diagnostics"])
        return Diagnostics(**{k: v for k, v in d.items() if k not in ("ok", "problems")})

    @cached_property
    def evaluator(self) -> PosteriorEvaluator:
        """The one evaluator of this fit's posterior (:mod:`bayes_scaling.posterior.evaluator`)."""
        return PosteriorEvaluator(self.law, self.spec.likelihood.dist, self.posterior,
                                  ref=json.loads(self.tree.attrs["reference_log_inputs"]), hierarchy=self.hierarchy,
                                  hierarchy_spec=self.spec.hierarchy, covariates=self.covariates,
                                  discrepancy=self.discrepancy, seed=int(self.sampler_config.get("seed", 0)),
                                  loss_unit=self.loss_unit, cost=stored_cost(self))

    def law_params(self, group: str | None = None, *, seed: int | None = None) -> dict[str, xr.DataArray]:
        """Posterior draws in the law function's convention (for NumPy queries): ``group`` ``None``
        for the population, a group label, or ``"new"`` for an unseen group (seeded by ``seed``, default the
        fit's seed: the unseen group ``predict`` and every query draw)."""
        return self.evaluator.params(group, seed=seed)

    @property
    def discrepancy(self):
        """The extrapolation discrepancy calibrated for this fit (see
        :mod:`bayes_scaling.inference.discrepancy`), or ``None``."""
        if GROUP not in self.tree.children:
            return None
        return Discrepancy.from_dataset(self.tree[GROUP].to_dataset())

    def with_discrepancy(self, discrepancy) -> "FitResult":
        """A copy of this fit carrying ``discrepancy`` (widens ``loss_predictive`` beyond the data)."""
        tree = self.tree.copy()
        tree[GROUP] = xr.DataTree(discrepancy.to_dataset())
        return FitResult(tree)

    # -- answers ---------------------------------------------------------------------------
    def _convergence(self, post: xr.Dataset) -> tuple[xr.Dataset, xr.Dataset, xr.Dataset]:
        """(R-hat, bulk ESS, tail ESS) per summarised variable: stored with the fit (so a query process
        need not import arviz_stats), else computed (fits saved before they were stored)."""
        if CONVERGENCE in self.tree.children:
            ds = self.tree[CONVERGENCE].to_dataset()
            if all(f"{v}{sfx}" in ds for v in post.data_vars for sfx in _CONVERGENCE_SUFFIXES):
                return tuple(ds[[f"{v}{sfx}" for v in post.data_vars]].rename({f"{v}{sfx}": v for v in post.data_vars})
                             for sfx in _CONVERGENCE_SUFFIXES)
        return convergence(post)

    def summary(self, ci_prob: float = CI_PROB) -> pd.DataFrame:
        """Parameter table in user units: median, mean, sd, equal-tailed interval, R-hat, ESS, and the
        prior-to-posterior ``contraction`` 1 - Var(posterior) / Var(prior) on ``contraction_scale``
        (``log`` for heavy-tailed positive priors, see :mod:`bayes_scaling.specs.moments`): near 1 the
        data determined the parameter, near 0 the prior did. Parameters a law derives from its own
        (e.g. chinchilla_ptied's beta) follow, without a contraction."""
        names, extra, post = summary_draws(self.law, self.posterior)
        derived = [v for v in post.data_vars if v not in names and v not in extra]
        rhat, ess_b, ess_t = self._convergence(post)
        rows = []

        for n in names + extra + derived:
            dim = next((d for d in ("group", "covariate") if d in post[n].dims), None)
            for label, sel in ([(n, {})] if dim is None else
                               [(f"{n.removesuffix('_group')}[{g}]", {dim: g}) for g in post[n][dim].values]):
                s = summarize(post[n].sel(sel), ci_prob)
                rows.append({
                    "param": label, "unit": summary_unit(self.spec, n, derived, self.loss_unit, self.predictor_unit),
                    "median": float(s["median"]), "mean": float(s["mean"]), "sd": float(s["sd"]),
                    "ci_low": float(s["ci_low"]), "ci_high": float(s["ci_high"]),
                    "r_hat": float(rhat[n].sel(sel)), "ess_bulk": float(ess_b[n].sel(sel)),
                    "ess_tail": float(ess_t[n].sel(sel)),
                    **self._contraction(n, post[n].sel(sel)),
                })
        df = pd.DataFrame(rows).set_index("param")
        df.attrs["ci_prob"] = ci_prob
        return df

    def _contraction(self, name: str, draws: xr.DataArray) -> dict[str, Any]:
        """``contraction`` and ``contraction_scale`` of one row of :meth:`summary` (:func:`specs.moments.contraction`)."""
        from bayes_scaling.specs.moments import contraction

        return contraction(self.spec, name, draws, self.tree.attrs.get("prior_moments"),
                           json.loads(self.tree.attrs["reference_log_inputs"]))

    def predict(self, N=None, D=None, C=None, *, seed: int | None = None, group: str | None = None,
                covariates: dict[str, float] | None = None, se: float | None = None, **extra) -> xr.Dataset:
        """Posterior of the law's loss (``loss``) and of a new run's (``loss_predictive``: the fitted noise,
        plus the extrapolation discrepancy when the fit carries one) at query points, nats/token, dims
        (chain, draw, query). ``N`` parameters, ``D`` tokens, ``C`` FLOPs (two of them suffice),
        ``extra``: further inputs (``U``, ``X``, ``S``, ``L``). ``group``: a group label, ``"new"`` (an unseen group,
        drawn from the fit's seed as in every query) or ``None`` (the population); ``seed``: the new run's noise
        draws (default: from the fit's seed); ``covariates``: values by name (the rest stay at the runs' mean); ``se``: the new
        run's evaluation SE (response units), only for fits with run noise given SEs (:mod:`~bayes_scaling.result.noise`)."""
        return self.evaluator.predict({"N": N, "D": D, "C": C, **extra}, group=group, seed=seed,
                                      covariates=covariates, se=check_new_run_se(self, se))

    def __repr__(self) -> str:
        d = self.diagnostics
        return (f"<FitResult law={self.law.name} runs={len(self.runs)} chains={d.n_chains} draws={d.n_draws} "
                f"r_hat_max={d.r_hat_max:.3f} divergences={d.divergences}>")
