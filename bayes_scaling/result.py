"""``FitResult``: a fitted posterior wrapping an ``xarray.DataTree``, with save/load.

Groups: ``posterior`` (law parameters in user units, ``sigma``, and the law's internal
centred sampling coordinates), ``sample_stats``, ``log_likelihood`` (``obs``, per run), ``observed_data``
(``loss``) and ``constant_data`` (``N``, ``D``, ``C`` and group columns). Root attributes hold
the spec text, the runs' provenance, the sampler configuration and the diagnostics.
"""

from __future__ import annotations

import json
import os
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from bayes_scaling.files import atomic_path
from bayes_scaling.conventions import CI_PROB, RUN_DIM
from bayes_scaling.data.runs import RunTable, runs_from_frame
from bayes_scaling.errors import BayesScalingError
from bayes_scaling.inference.diagnostics import Diagnostics, compute_diagnostics
from bayes_scaling.queries.intervals import summarize
from bayes_scaling.specs.spec import LawSpec, parse_spec

FORMAT = "bayes_scaling.fit/1"


def _pointwise_loglik(spec: LawSpec, posterior: xr.Dataset, log_inputs: dict, log_loss: np.ndarray,
                      group_idx: np.ndarray | None = None, covariates: np.ndarray | None = None) -> xr.DataArray:
    """log p(log-loss_i | draw) for every run, via the NumPy law (no recompilation)."""
    from scipy import stats

    mu = log_mu_runs(spec.law, posterior, log_inputs, group_idx, covariates)
    sigma = posterior["sigma"]
    y = xr.DataArray(log_loss, dims=RUN_DIM)
    z = ((y - mu) / sigma).transpose("chain", "draw", RUN_DIM)
    sig = sigma.values[..., None]
    family = spec.likelihood.family
    if family == "student_t":
        ll = stats.t.logpdf(z.values, df=spec.likelihood.nu) - np.log(sig)
    elif family == "laplace":
        ll = stats.laplace.logpdf(z.values) - np.log(sig)
    else:
        ll = stats.norm.logpdf(z.values) - np.log(sig)
    return xr.DataArray(ll, dims=("chain", "draw", RUN_DIM))


#: Packages whose versions every fit records (with Python's), for the reproducibility of reports.
RECORDED_PACKAGES = ("bayes_scaling", "pymc", "pytensor", "nutpie", "arviz-base", "arviz-stats", "arviz-plots",
                     "numpy", "scipy", "xarray", "pandas", "matplotlib")


def package_versions() -> dict[str, str]:
    """Installed versions of :data:`RECORDED_PACKAGES` and Python."""
    import platform
    from importlib import metadata

    out = {}
    for pkg in RECORDED_PACKAGES:
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = "not installed"
    out["Python"] = platform.python_version()
    return out


def log_mu_runs(law, posterior: xr.Dataset, log_inputs: dict, group_idx: np.ndarray | None = None,
                covariates: np.ndarray | None = None) -> xr.DataArray:
    """The law's log-loss at each run for every draw (dims chain, draw, run); ``covariates`` centred
    as in the fit."""
    params = law_params_from(posterior, law)
    if group_idx is not None:
        params = per_run_params(posterior, law, params, group_idx)
    x = {k: xr.DataArray(v, dims=RUN_DIM) for k, v in log_inputs.items()}
    mu = law.log_loss(np, x, params)
    if covariates is not None:
        mu = mu + xr.DataArray(covariates, dims=(RUN_DIM, "covariate")).dot(posterior["gamma"], dim="covariate")
    return mu.transpose("chain", "draw", RUN_DIM)


def per_run_params(posterior: xr.Dataset, law, params: dict, group_idx: np.ndarray) -> dict:
    """Replace group-level parameters (``<name>_group``: the varying ones, and constants that pivot
    with a varying exponent) by each run's group value (dims chain, draw, run)."""
    idx = xr.DataArray(np.asarray(group_idx), dims=RUN_DIM)
    out = dict(params)
    for name in law.param_names:
        if f"{name}_group" in posterior:
            v = posterior[f"{name}_group"].isel(group=idx)
            key = name if name in law.direct_names else f"log_{name}"
            out[key] = v if name in law.direct_names else np.log(v)
    return out


def law_params_from(posterior: xr.Dataset, law) -> dict[str, xr.DataArray]:
    """Posterior draws in the law function's convention (positive parameters as ``log_<name>``)."""
    return law.to_law_params(posterior)


def _column(values: pd.Series) -> np.ndarray:
    v = values.to_numpy()
    return v.astype(str) if v.dtype == object else v


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

        law = spec.law
        posterior = trace["posterior"].to_dataset()
        keep = [v for v in posterior.data_vars if v in law.param_names or v == "sigma" or v in law.internal
                or v.endswith("_group") or v.startswith(("tau_", "eps_")) or v == "gamma"]
        posterior = posterior[keep]
        # a compiled model reused for another runs table keeps the coordinate labels it was built with
        if "group" in posterior.dims:
            posterior = posterior.assign_coords(group=list(data.groups))
        if "covariate" in posterior.dims:
            posterior = posterior.assign_coords(covariate=list(data.covariate_names))
        stats = trace["sample_stats"].to_dataset()
        n = len(runs)
        run_coord = {RUN_DIM: np.arange(n)}
        frame = runs.frame
        # text columns (groups, labels) as fixed-width strings: what netCDF gives back on load
        const = xr.Dataset({c: (RUN_DIM, _column(frame[c])) for c in frame.columns if c != "loss"}, coords=run_coord)
        for c, unit in (("N", "parameters"), ("D", "tokens"), ("C", "FLOPs")):
            if c in const:
                const[c].attrs["units"] = unit
        observed = xr.Dataset({"loss": (RUN_DIM, frame["loss"].to_numpy(float))}, coords=run_coord)
        observed["loss"].attrs["units"] = "nats/token"
        loglik = _pointwise_loglik(spec, posterior, data.log_inputs, data.log_loss,
                                   data.group_idx, data.covariates).assign_coords(run_coord)
        diag = compute_diagnostics(posterior, stats, [*law.param_names, "sigma", *(
            v for v in posterior.data_vars if v.endswith("_group") or v.startswith("tau_") or v == "gamma")])
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
            "diagnostics": json.dumps(diag.as_dict(), sort_keys=True),
            "command": command,
            "covariates": json.dumps(None if data.covariates is None else {
                "names": list(data.covariate_names), "means": list(data.covariate_means),
                "prior": spec.covariate_prior.as_dict()}),
            "hierarchy": json.dumps(None if spec.hierarchy is None or data.group_idx is None else {
                "vary": list(spec.hierarchy.vary), "tau": spec.hierarchy.tau.as_dict(), "group_col": data.group_col,
                "groups": list(data.groups)}),
        }
        tree = xr.DataTree.from_dict(
            {
                "posterior": posterior,
                "sample_stats": stats,
                "log_likelihood": xr.Dataset({"obs": loglik}),
                "observed_data": observed,
                "constant_data": const,
            }
        )
        tree.attrs = attrs
        return cls(tree)

    # -- persistence -----------------------------------------------------------------------
    def save(self, path: str | os.PathLike) -> Path:
        """Write the fit to netCDF (h5netcdf) atomically: a temp file renamed into place."""
        path = Path(path)
        if path.parent and not path.parent.exists():
            raise BayesScalingError(f"output folder {str(path.parent)!r} does not exist: create it first")
        with atomic_path(path) as tmp:
            self.tree.to_netcdf(tmp, engine="h5netcdf")
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> "FitResult":
        """Read a fit written by :meth:`save`; anything else fails with one clear message."""
        path = Path(path)
        if not path.is_file():
            raise BayesScalingError(f"fit file {str(path)!r} does not exist: run `bayes-scaling fit ... --out {path}` first")
        try:
            with xr.open_datatree(path, engine="h5netcdf") as tree:
                tree = tree.load()
        except Exception:
            raise BayesScalingError(f"{str(path)!r} is not a bayes_scaling fit file (not readable as netCDF/HDF5)") from None
        if tree.attrs.get("bayes_scaling_format") != FORMAT:
            raise BayesScalingError(f"{str(path)!r} is a netCDF file but not a bayes_scaling fit (no {FORMAT!r} marker)")
        missing = [g for g in ("posterior", "sample_stats", "observed_data", "constant_data") if g not in tree.children]
        if missing:
            raise BayesScalingError(f"{str(path)!r} is an incomplete bayes_scaling fit: missing group(s) {missing}")
        return cls(tree)

    # -- views -----------------------------------------------------------------------------
    @cached_property
    def spec(self) -> LawSpec:
        from dataclasses import replace

        from bayes_scaling.specs.spec import HierarchySpec, _prior

        spec = parse_spec(self.tree.attrs["spec_text"], self.tree.attrs.get("spec_origin", "<fit>"))
        h = self.hierarchy
        if h is None:
            return replace(spec, hierarchy=None)
        return replace(spec, hierarchy=HierarchySpec(tuple(h["vary"]), _prior("hierarchy.tau", h["tau"])))

    @property
    def hierarchy(self) -> dict | None:
        """``{vary, tau, group_col, groups}`` for a hierarchical fit, else ``None``."""
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
        return runs_from_frame(frame, self.runs_metadata)

    @property
    def runs_metadata(self) -> dict[str, Any]:
        return json.loads(self.tree.attrs["runs_metadata"])

    @property
    def sampler_config(self) -> dict[str, Any]:
        return json.loads(self.tree.attrs["sampler_config"])

    @cached_property
    def diagnostics(self) -> Diagnostics:
        d = json.loads(self.tree.attrs["diagnostics"])
        return Diagnostics(**{k: v for k, v in d.items() if k not in ("ok", "problems")})

    def law_params(self, group: str | None = None, *, seed: int = 0) -> dict[str, xr.DataArray]:
        """Posterior draws in the law function's convention (for NumPy queries).

        ``group``: ``None`` for the population (a typical group: all deviations at 0), a group label
        for that group, or ``"new"`` for an unseen group (deviations drawn from the fitted spread,
        seeded by ``seed``).
        """
        post = self.posterior
        params = law_params_from(post, self.law)
        if group is None:
            return params
        h = self.hierarchy
        if h is None:
            raise BayesScalingError(f"this fit has no groups; group {group!r} is not available (fit with --group-col)")
        if group == "new":
            from bayes_scaling.inference.model import group_params

            rng = np.random.default_rng(seed)
            law = self.law
            shape = (post.sizes["chain"], post.sizes["draw"])
            tau = {k: post[f"tau_{k}"].values for k in h["vary"]}
            eps = {k: rng.standard_normal(shape) for k in h["vary"]}
            expo = {k: v.values for k, v in params.items() if k in law.direct_names}
            logc = {k: v.values for k, v in params.items() if k not in law.direct_names}
            ref = json.loads(self.tree.attrs["reference_log_inputs"])
            p_g, logc_g = group_params(np, law, self.spec.hierarchy, expo, logc, ref, tau, eps)
            dims = ("chain", "draw")
            return {k: xr.DataArray(np.broadcast_to(v, shape), dims=dims) for k, v in {**p_g, **logc_g}.items()}
        if group not in h["groups"]:
            raise BayesScalingError(f"unknown group {group!r}; the fit's groups are {h['groups']} (or 'new')")
        for name in self.law.param_names:
            if f"{name}_group" in post:
                v = post[f"{name}_group"].sel(group=group, drop=True)
                if name in self.law.direct_names:
                    params[name] = v
                else:
                    params[f"log_{name}"] = np.log(v)
        return params

    @property
    def discrepancy(self):
        """The extrapolation discrepancy calibrated for this fit (see
        :mod:`bayes_scaling.inference.discrepancy`), or ``None``."""
        from bayes_scaling.inference.discrepancy import GROUP, Discrepancy

        if GROUP not in self.tree.children:
            return None
        return Discrepancy.from_dataset(self.tree[GROUP].to_dataset())

    def with_discrepancy(self, discrepancy) -> "FitResult":
        """A copy of this fit carrying ``discrepancy`` (widens ``loss_predictive`` beyond the data)."""
        from bayes_scaling.inference.discrepancy import GROUP

        tree = self.tree.copy()
        tree[GROUP] = xr.DataTree(discrepancy.to_dataset())
        return FitResult(tree)

    # -- answers ---------------------------------------------------------------------------
    def summary(self, ci_prob: float = CI_PROB) -> pd.DataFrame:
        """Parameter table in user units: median, mean, sd, equal-tailed interval, R-hat, ESS."""
        import arviz_stats as azs

        names = [*self.law.param_names, "sigma"]
        extra = [v for v in self.posterior.data_vars if v.endswith("_group") or v.startswith("tau_") or v == "gamma"]
        post = self.posterior[names + extra]
        rhat, ess_b, ess_t = azs.rhat(post), azs.ess(post, method="bulk"), azs.ess(post, method="tail")
        rows = []

        def unit_of(n: str) -> str:
            base = n.removesuffix("_group")
            if base in self.law.param_names:
                return self.law.param(base).unit
            if n == "gamma":
                return "log-loss per unit covariate"
            return "log scale" if n.startswith("tau_") else "log(nats/token)"

        for n in names + extra:
            dim = next((d for d in ("group", "covariate") if d in post[n].dims), None)
            for label, sel in ([(n, {})] if dim is None else
                               [(f"{n.removesuffix('_group')}[{g}]", {dim: g}) for g in post[n][dim].values]):
                s = summarize(post[n].sel(sel), ci_prob)
                rows.append({
                    "param": label, "unit": unit_of(n),
                    "median": float(s["median"]), "mean": float(s["mean"]), "sd": float(s["sd"]),
                    "ci_low": float(s["ci_low"]), "ci_high": float(s["ci_high"]),
                    "r_hat": float(rhat[n].sel(sel)), "ess_bulk": float(ess_b[n].sel(sel)),
                    "ess_tail": float(ess_t[n].sel(sel)),
                })
        df = pd.DataFrame(rows).set_index("param")
        df.attrs["ci_prob"] = ci_prob
        return df

    def predict(self, N=None, D=None, C=None, *, seed: int | None = None, group: str | None = None,
                covariates: dict[str, float] | None = None, **extra) -> xr.Dataset:
        """Loss posterior at new runs (see :func:`bayes_scaling.queries.predict.predict_loss`)."""
        from bayes_scaling.queries.predict import predict_loss

        return predict_loss(self, N=N, D=D, C=C, seed=seed, group=group, covariates=covariates, **extra)

    def __repr__(self) -> str:
        d = self.diagnostics
        return (f"<FitResult law={self.law.name} runs={len(self.runs)} chains={d.n_chains} draws={d.n_draws} "
                f"r_hat_max={d.r_hat_max:.3f} divergences={d.divergences}>")
