"""The pointwise log-likelihood of a fit (chain x draw x run) and PSIS-LOO from it, stored or lazy.

A fit stores ``log_likelihood.obs`` (float64) only while draws x runs <= :data:`STORE_MAX_VALUES`
(5e6 values, 40 MB: 4,000 draws x 1,250 runs; every ladder of training runs). A learning-curve table
(1e5-1e6 rows of runs x logged steps) would need 3-32 GB in memory and in the file, so its fit stores
none, and the queries that need it (PSIS-LOO in ``compare-laws`` and break tests, LOO stacking of an
ensemble) compute it here from the stored posterior and runs with the fit's evaluator, at most
:data:`CHUNK_VALUES` values at a time. The numbers are the same either way: the stored array was
computed by the same evaluator (:meth:`PosteriorEvaluator.pointwise_loglik`).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator

import numpy as np
import xarray as xr

from bayes_scaling.conventions import RUN_DIM

#: Largest draws x runs whose pointwise log-likelihood a fit stores (float64: 40 MB).
STORE_MAX_VALUES = 5_000_000
#: Values (draws x runs) of one chunk of a lazily computed log-likelihood (float64: 16 MB).
CHUNK_VALUES = 2_000_000
SAMPLE_DIMS = ("chain", "draw")


def stores_loglik(n_samples: int, n_runs: int) -> bool:
    """Does a fit of ``n_runs`` runs and ``n_samples`` draws (all chains) store its log-likelihood?"""
    return int(n_samples) * int(n_runs) <= STORE_MAX_VALUES


def loglik_group(ev, data, run_coord: dict) -> dict:
    """``{"log_likelihood": Dataset(obs)}`` of a new fit (``ev``: its evaluator, ``data``: its
    :class:`~bayes_scaling.inference.model.ModelData`) when :func:`stores_loglik`, else ``{}``."""
    if not stores_loglik(ev.shape[0] * ev.shape[1], len(data.log_loss)):
        return {}
    labels = None if data.group_idx is None else np.asarray(data.groups)[data.group_idx]
    mu = ev.log_mean_runs(data.log_inputs, labels=labels, shift=data.covariates)
    return {"log_likelihood": xr.Dataset({"obs": ev.pointwise_loglik(mu, data.log_loss).assign_coords(run_coord)})}


def has_stored_loglik(result) -> bool:
    """Does the fit carry its pointwise log-likelihood (``log_likelihood.obs``)?"""
    return "log_likelihood" in result.tree.children and "obs" in result.tree["log_likelihood"].data_vars


def row_chunks(n_runs: int, n_samples: int, max_values: int = CHUNK_VALUES) -> list[slice]:
    """Consecutive row slices covering ``n_runs`` rows, each at most ``max_values`` draws x rows."""
    step = max(1, int(max_values) // max(1, int(n_samples)))
    return [slice(a, min(a + step, n_runs)) for a in range(0, n_runs, step)]


def loglik_chunks(result, max_values: int = CHUNK_VALUES) -> Iterator[xr.DataArray]:
    """The fit's pointwise log-likelihood (dims chain, draw, run; run coords the row numbers), one row
    chunk at a time: sliced from the stored array, or computed from the posterior and the stored runs."""
    chains, draws = result.evaluator.shape
    n = len(result.tree["observed_data"]["loss"])
    stored = has_stored_loglik(result)
    if not stored:
        ev = result.evaluator
        log_inputs, labels, shift = ev.run_inputs(result.runs)
        y = np.log(result.tree["observed_data"]["loss"].values.astype(float))
    for rows in row_chunks(n, chains * draws, max_values):
        if stored:
            yield result.tree["log_likelihood"]["obs"].isel({RUN_DIM: rows})
            continue
        mu = ev.log_mean_runs({k: v[rows] for k, v in log_inputs.items()},
                              labels=None if labels is None else labels[rows],
                              shift=None if shift is None else shift[rows])
        yield ev.pointwise_loglik(mu, y[rows]).assign_coords({RUN_DIM: np.arange(rows.start, rows.stop)})


def pointwise_loglik(result) -> xr.DataArray:
    """The whole pointwise log-likelihood (dims chain, draw, run): stored or computed. Mind its size
    (draws x runs float64); :func:`loglik_chunks` and :func:`loo` never hold it whole."""
    if has_stored_loglik(result):
        return result.tree["log_likelihood"]["obs"]
    return xr.concat(list(loglik_chunks(result)), dim=RUN_DIM)


def relative_efficiency(posterior: xr.Dataset) -> float:
    """PSIS's relative efficiency of the draws: the mean ESS (method "mean") over every posterior
    variable, divided by the number of draws, as :func:`arviz_stats.loo` computes it; 1 for one chain."""
    import arviz_stats  # noqa: F401  (registers the azstats accessor)

    if posterior.sizes["chain"] == 1:
        return 1.0
    ess = posterior.azstats.ess(method="mean")
    n = posterior.sizes["chain"] * posterior.sizes["draw"]
    return float(np.hstack([ess[v].values.ravel() for v in ess.data_vars]).mean() / n)


def loo(result, max_values: int = CHUNK_VALUES):
    """PSIS-LOO of a fit (an :class:`arviz_stats.ELPDDataLOO`, pointwise): :func:`arviz_stats.loo` of the
    fit's tree when it stores its log-likelihood; otherwise the same estimator row chunk by row chunk
    (Pareto smoothing is per run; the relative efficiency is the whole posterior's), so a table of 1e6
    rows never holds draws x rows at once. The smoothed weights are not kept."""
    import arviz_stats as azs
    from arviz_stats.utils import ELPDDataLOO

    if has_stored_loglik(result):
        return azs.loo(result.tree, pointwise=True)
    post = result.posterior
    reff = relative_efficiency(post)
    parts = [ll.azstats.loo(sample_dims=list(SAMPLE_DIMS), r_eff=reff) for ll in loglik_chunks(result, max_values)]
    elpd_i, pareto_k, p_loo_i = (xr.concat([p[j] for p in parts], dim=RUN_DIM) for j in range(3))
    elpd, se, p_loo, _ = elpd_i.azstats.loo_summary(p_loo_i)
    n_samples = post.sizes["chain"] * post.sizes["draw"]
    good_k = min(1 - 1 / np.log10(n_samples), 0.7) if n_samples > 1 else 0.7
    high = int(np.sum(pareto_k.values > good_k))
    if high:
        warnings.warn(f"Pareto k above {good_k:.2f} for {high} run(s): PSIS-LOO is unreliable there (influential "
                      f"runs; a more robust likelihood may help)", UserWarning, stacklevel=2)
    return ELPDDataLOO(elpd=elpd, se=se, p=p_loo, n_samples=n_samples, n_data_points=elpd_i.size, scale="log",
                       warning=bool(high), good_k=good_k, elpd_i=elpd_i.rename("obs"),
                       pareto_k=pareto_k.rename("obs"), approx_posterior=False)
