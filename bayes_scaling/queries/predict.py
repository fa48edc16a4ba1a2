"""Predicted loss at new (N, D, C) and at the runs of a table: thin views of the fit's evaluator
(:class:`bayes_scaling.posterior.evaluator.PosteriorEvaluator`). Draws keep ``chain`` and ``draw``,
so every answer carries its interval; losses in nats/token."""

from __future__ import annotations

import numpy as np
import xarray as xr

from bayes_scaling.posterior.inputs import query_inputs
from bayes_scaling.result import require_fit

__all__ = ["predict_loss", "log_mu_at_runs", "predictive_at_runs", "query_inputs"]


def predict_loss(result, N=None, D=None, C=None, *, seed: int | None = None, group: str | None = None,
                 covariates: dict[str, float] | None = None, **extra) -> xr.Dataset:
    """``loss`` (the law) and ``loss_predictive`` (a new run) at query points: see :meth:`FitResult.predict`."""
    require_fit(result)
    return result.predict(N=N, D=D, C=C, seed=seed, group=group, covariates=covariates, **extra)


def log_mu_at_runs(result, runs, *, seed: int | None = None) -> xr.DataArray:
    """The law's log-loss at each run of a runs table (dims chain, draw, run), each run in its own group
    (an unseen group gets ``"new"``'s draws, seeded by ``seed``, default the fit's) with its covariates centred
    as in the fit."""
    return result.evaluator.log_mean_at_runs(runs, seed=seed)


def predictive_at_runs(result, runs, *, seed: int = 0) -> np.ndarray:
    """Posterior predictive draws of each run's loss (nats/token; array run x draws): the law at the run,
    the fitted noise and, when the fit carries one, the extrapolation discrepancy."""
    return result.evaluator.predictive_at_runs(runs, seed=seed)
