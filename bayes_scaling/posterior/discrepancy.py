"""The extrapolation discrepancy as stored with a fit: posterior draws of its scales and where the
data end (calibrated in :mod:`bayes_scaling.inference.discrepancy`).

A new run's log-loss = law + noise + delta, delta ~ Normal(0, s(d)), s(d) = sqrt(tau0^2 + (tau1 d)^2),
d = decades beyond the largest fitted run on the split axis (0 inside the data).
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
class Discrepancy:
    """Posterior draws of the discrepancy scales (dims chain, draw) and where the data end."""

    tau0: xr.DataArray
    tau1: xr.DataArray
    axis: str
    log10_axis_max: float
    info: dict = field(default_factory=dict)

    def scale(self, axis_values) -> xr.DataArray:
        """s(d) per draw and query (dims chain, draw, query) for values on the split axis."""
        d = np.maximum(0.0, np.log10(np.asarray(axis_values, float)) - self.log10_axis_max)
        d = xr.DataArray(np.atleast_1d(d), dims="query")
        return np.sqrt(self.tau0 ** 2 + (self.tau1 * d) ** 2).transpose("chain", "draw", "query")

    def to_dataset(self) -> xr.Dataset:
        ds = xr.Dataset({"tau0": self.tau0, "tau1": self.tau1})
        ds["tau0"].attrs["units"] = "log-loss"
        ds["tau1"].attrs["units"] = "log-loss per decade beyond the data"
        ds.attrs.update({"axis": self.axis, "log10_axis_max": self.log10_axis_max, "info": json.dumps(self.info)})
        return ds

    @classmethod
    def from_dataset(cls, ds: xr.Dataset) -> "Discrepancy":
        return cls(ds["tau0"], ds["tau1"], str(ds.attrs["axis"]), float(ds.attrs["log10_axis_max"]),
                   json.loads(ds.attrs.get("info", "{}")))
