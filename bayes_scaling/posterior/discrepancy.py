"""The extrapolation discrepancy as stored with a fit: posterior draws of its scales and where the
data end (calibrated in :mod:`bayes_scaling.inference.discrepancy`).

A new run's log-loss = law + noise + delta, delta ~ Normal(0, s(d)), s(d) = sqrt(tau0^2 + (tau1 d)^2),
d = decades beyond the largest fitted run on the split axis (0 inside the data). With a
:class:`ResidualProcess` (optional), beyond the data delta also carries the law's correlated residuals
continued past the last fitted runs: their Gaussian-process conditional mean and variance are added.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np
import xarray as xr

#: Name of the fit file's group that holds the discrepancy.
GROUP = "extrapolation_discrepancy"


def split_axis(law) -> str:
    """The scale axis extrapolation is measured along: C for laws of N and D, else the law's input.
    Only loss laws have one: a metric law of a loss extrapolates toward *lower* loss, which no
    held-out split by the largest input (backtests, the discrepancy, leave-future-out weights) tests."""
    if getattr(law, "response", "loss") != "loss":
        from bayes_scaling.errors import BayesScalingError

        raise BayesScalingError(f"law {law.name!r} predicts a {law.response}, not a loss: backtests, the extrapolation "
                                f"discrepancy and leave-future-out weights apply to loss laws; check a metric "
                                f"law through the loss -> metric chain instead")
    return "C" if {"N", "D"} <= set(law.input_names) else law.input_names[-1]


@dataclass
class ResidualProcess:
    """Residuals of the law along the split axis as a Gaussian process: an exponential (Ornstein-Uhlenbeck)
    kernel of scale ``s`` (log-loss) and length ``ell`` (decades) plus white noise ``se`` (log-loss),
    fitted to ``resid`` (log-loss: log y minus the law's median) at the fitted runs ``log10_axis``."""

    log10_axis: np.ndarray
    resid: np.ndarray
    s: float
    ell: float
    se: float

    def conditional(self, log10_values) -> tuple[np.ndarray, np.ndarray]:
        """(mean, variance) of the process at ``log10_values`` given the residuals (log-loss, log-loss^2)."""
        t, q = np.asarray(self.log10_axis, float), np.atleast_1d(np.asarray(log10_values, float))
        k = self.s ** 2 * np.exp(-np.abs(t[:, None] - t[None, :]) / self.ell) + (self.se ** 2 + 1e-12) * np.eye(len(t))
        ks = self.s ** 2 * np.exp(-np.abs(q[:, None] - t[None, :]) / self.ell)
        a = np.linalg.solve(k, ks.T).T
        return a @ np.asarray(self.resid, float), np.maximum(self.s ** 2 - np.einsum("ij,ij->i", a, ks), 0.0)


@dataclass
class Discrepancy:
    """Posterior draws of the discrepancy scales (dims chain, draw) and where the data end."""

    tau0: xr.DataArray
    tau1: xr.DataArray
    axis: str
    log10_axis_max: float
    info: dict = field(default_factory=dict)
    residual: ResidualProcess | None = None

    def _process(self, axis_values) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(d, mean, variance) per query: decades beyond the data and the residual process there (0 inside)."""
        lv = np.atleast_1d(np.log10(np.asarray(axis_values, float)))
        d = np.maximum(0.0, lv - self.log10_axis_max)
        if self.residual is None:
            return d, np.zeros_like(d), np.zeros_like(d)
        m, v = self.residual.conditional(lv)
        return d, np.where(d > 0, m, 0.0), np.where(d > 0, v, 0.0)

    def scale(self, axis_values) -> xr.DataArray:
        """s(d) per draw and query (dims chain, draw, query) for values on the split axis (log-loss), with
        the residual process's conditional variance beyond the data."""
        d, _, v = self._process(axis_values)
        d, v = xr.DataArray(d, dims="query"), xr.DataArray(v, dims="query")
        return np.sqrt(self.tau0 ** 2 + (self.tau1 * d) ** 2 + v).transpose("chain", "draw", "query")

    def shift(self, axis_values) -> xr.DataArray:
        """The residual process's conditional mean per query beyond the data (log-loss; 0 without one)."""
        return xr.DataArray(self._process(axis_values)[1], dims="query")

    def to_dataset(self) -> xr.Dataset:
        ds = xr.Dataset({"tau0": self.tau0, "tau1": self.tau1})
        ds["tau0"].attrs["units"] = "log-loss"
        ds["tau1"].attrs["units"] = "log-loss per decade beyond the data"
        ds.attrs.update({"axis": self.axis, "log10_axis_max": self.log10_axis_max, "info": json.dumps(self.info)})
        r = self.residual
        if r is not None:
            ds["residual_log10_axis"] = xr.DataArray(np.asarray(r.log10_axis, float), dims="fit_run")
            ds["residual"] = xr.DataArray(np.asarray(r.resid, float), dims="fit_run", attrs={"units": "log-loss"})
            ds.attrs.update({"residual_s": r.s, "residual_ell_decades": r.ell, "residual_se": r.se})
        return ds

    @classmethod
    def from_dataset(cls, ds: xr.Dataset) -> "Discrepancy":
        r = None
        if "residual" in ds:
            r = ResidualProcess(ds["residual_log10_axis"].values, ds["residual"].values, float(ds.attrs["residual_s"]),
                                float(ds.attrs["residual_ell_decades"]), float(ds.attrs["residual_se"]))
        tau = {k: ds[k] for k in ("tau0", "tau1")}
        return cls(tau["tau0"], tau["tau1"], str(ds.attrs["axis"]), float(ds.attrs["log10_axis_max"]),
                   json.loads(ds.attrs.get("info", "{}")), r)
