"""Sampler diagnostics that travel with every fit: R-hat, bulk/tail ESS, divergences."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import xarray as xr

from bayes_scaling.conventions import ESS_MIN_PER_CHAIN, RHAT_MAX


@dataclass(frozen=True)
class Diagnostics:
    """Worst-case diagnostics over the reported parameters, with pass/fail."""

    r_hat_max: float
    ess_bulk_min: float
    ess_tail_min: float
    divergences: int
    n_chains: int
    n_draws: int
    r_hat_threshold: float = RHAT_MAX
    ess_threshold: float = ESS_MIN_PER_CHAIN

    @property
    def problems(self) -> list[str]:
        out = []
        if not self.r_hat_max <= self.r_hat_threshold:
            out.append(f"R-hat {self.r_hat_max:.3f} > {self.r_hat_threshold} (chains disagree)")
        need = self.ess_threshold * self.n_chains
        if not self.ess_bulk_min >= need:
            out.append(f"bulk ESS {self.ess_bulk_min:.0f} < {need:.0f}")
        if not self.ess_tail_min >= need:
            out.append(f"tail ESS {self.ess_tail_min:.0f} < {need:.0f}")
        if self.divergences > 0:
            out.append(f"{self.divergences} divergent transition(s)")
        return out

    @property
    def ok(self) -> bool:
        return not self.problems

    def as_dict(self) -> dict:
        d = asdict(self)
        d["ok"] = self.ok
        d["problems"] = self.problems
        return d


def compute_diagnostics(posterior: xr.Dataset, sample_stats: xr.Dataset, var_names: list[str]) -> Diagnostics:
    """R-hat (rank-normalised), bulk and tail ESS via arviz_stats, and the divergence count."""
    import arviz_stats as azs

    ds = posterior[var_names]
    rhat = azs.rhat(ds)
    ess_bulk = azs.ess(ds, method="bulk")
    ess_tail = azs.ess(ds, method="tail")

    def worst(d: xr.Dataset, fn) -> float:
        vals = np.concatenate([np.atleast_1d(d[v].values).ravel() for v in d.data_vars])
        vals = np.where(np.isfinite(vals), vals, np.inf if fn is np.max else 0.0)
        return float(fn(vals))

    div = int(sample_stats["diverging"].sum()) if "diverging" in sample_stats else 0
    return Diagnostics(
        r_hat_max=worst(rhat, np.max),
        ess_bulk_min=worst(ess_bulk, np.min),
        ess_tail_min=worst(ess_tail, np.min),
        divergences=div,
        n_chains=int(posterior.sizes["chain"]),
        n_draws=int(posterior.sizes["draw"]),
    )


def failing_variables(posterior: xr.Dataset, var_names: list[str], diag: Diagnostics) -> tuple[str, ...]:
    """The variables among ``var_names`` whose own R-hat or bulk/tail ESS (worst over their elements) fails
    ``diag``'s thresholds: which parameters the worst-case figures of :class:`Diagnostics` came from."""
    import arviz_stats as azs

    names = [v for v in var_names if v in posterior.data_vars]
    if not names:
        return ()
    ds = posterior[names]
    need = diag.ess_threshold * diag.n_chains
    rhat, bulk, tail = azs.rhat(ds), azs.ess(ds, method="bulk"), azs.ess(ds, method="tail")
    out = []
    for v in names:
        r = np.nan_to_num(np.atleast_1d(rhat[v].values).astype(float), nan=np.inf)
        e = np.nan_to_num(np.concatenate([np.atleast_1d(bulk[v].values), np.atleast_1d(tail[v].values)]).astype(float),
                          nan=0.0)
        if not (np.all(r <= diag.r_hat_threshold) and np.all(e >= need)):
            out.append(v)
    return tuple(out)
