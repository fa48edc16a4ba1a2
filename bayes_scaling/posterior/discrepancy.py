"""The extrapolation discrepancy as stored with a fit: posterior draws of its scales and where the
data end (calibrated in :mod:`bayes_scaling.inference.discrepancy`).

A new run's log-loss = law + noise + delta, delta ~ Normal(0, s(d)), s(d) = sqrt(tau0^2 + (tau1 d)^2),
d = decades beyond the fitted runs (:func:`decades_outside`: the largest of log10(value / largest fitted)
over N, D and C for laws of N and D, over the law's input otherwise; 0 inside the data). With a
:class:`ResidualProcess` (optional), beyond the data delta also carries the law's correlated residuals
continued past the last fitted runs: their Gaussian-process conditional mean and variance are added,
and the family's noise there keeps only the process's white part, matched in standard deviation
(:meth:`Discrepancy.noise_factor`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np
import xarray as xr

from bayes_scaling.cost import CostLaw
from bayes_scaling.errors import BayesScalingError

#: Why a family without a finite standard deviation cannot carry the residual process.
NO_SD = ("the residual process keeps the white part's standard deviation of the family's noise beyond the data; a "
         "Student-t likelihood with nu <= 2 has no finite standard deviation: set the likelihood's nu above 2 or "
         "fit without the process")

#: Name of the fit file's group that holds the discrepancy.
GROUP = "extrapolation_discrepancy"


def split_axis(law) -> str:
    """The scale axis extrapolation is measured along: C for laws of N and D, else the law's input.
    Only loss laws have one: a metric law of a loss extrapolates toward *lower* loss, which no
    held-out split by the largest input (backtests, the discrepancy, leave-future-out weights) tests."""
    if getattr(law, "response", "loss") != "loss":
        raise BayesScalingError(f"law {law.name!r} predicts a {law.response}, not a loss: backtests, the extrapolation "
                                f"discrepancy and leave-future-out weights apply to loss laws; check a metric "
                                f"law through the loss -> metric chain instead")
    return "C" if {"N", "D"} <= set(law.input_names) else law.input_names[-1]


def box_axes(law) -> tuple[str, ...]:
    """The scale axes a prediction can go beyond the data along: N, D and C for laws of N and D (a model
    larger than any fitted one extrapolates the law in N even at a compute inside the data), else the
    law's input (a law of C alone, e.g. Kaplan's L(C): C itself)."""
    return ("N", "D", "C") if {"N", "D"} <= set(law.input_names) else (split_axis(law),)


def scale_values(law, frame, cost=None) -> dict[str, np.ndarray]:
    """The runs' values on the law's :func:`box_axes` (``frame``: a runs table or a mapping of their values): the
    discrepancy's and residual process's query values for runs. For laws of N and D, C is in the currency of a
    query's C: the cost law's C(N, D) (``cost``: the fit's stored :class:`~bayes_scaling.cost.CostLaw`; None:
    C = k N D with the law's k), not a recorded C column, so a run asked about by its N and D lies inside the
    data (d = 0). A law of C alone reads the recorded C (FLOPs), as its fit did."""
    axes = box_axes(law)
    if len(axes) == 1:
        return {axes[0]: np.asarray(frame[axes[0]], float)}
    out = {a: np.asarray(frame[a], float) for a in ("N", "D")}
    cost = CostLaw("6nd", k=law.flops_per_param_token) if cost is None else cost
    out["C"] = np.asarray(cost.flops(out["N"], out["D"]), float)
    return out


def extrapolation_box(law, frame, cost=None) -> dict[str, float]:
    """log10 of the largest fitted value on each of the law's :func:`box_axes` (``frame``: the fitted runs'
    table or a mapping of their values; C in ``cost``'s currency, :func:`scale_values`)."""
    return {a: float(np.log10(np.max(v))) for a, v in scale_values(law, frame, cost).items()}


def decades_outside(values, box: dict[str, float]) -> np.ndarray:
    """Decades beyond the fitted runs per point: max over the axes of ``box`` (log10 of the largest fitted
    value, :func:`extrapolation_box`) of log10(value / largest fitted), 0 inside. ``values``: a mapping
    (or table) with each axis of ``box``."""
    d = [np.atleast_1d(np.log10(np.asarray(values[a], float))) - m for a, m in box.items()]
    return np.maximum(0.0, np.max(np.stack(d), axis=0))


def _on_axis(values, axis: str) -> np.ndarray:
    """The query's values on ``axis``: ``values`` is a mapping or table of axes, or already that axis's values."""
    return np.asarray(values[axis], float) if hasattr(values, "keys") else np.asarray(values, float)


def ou_kernel(t1, t2, s: float, ell: float) -> np.ndarray:
    """The exponential (Ornstein-Uhlenbeck) covariance s^2 exp(-|t1 - t2| / ell) between two sets of
    log10 axis values (``s`` in log-loss, ``ell`` in decades; log-loss^2)."""
    t1, t2 = np.asarray(t1, float), np.asarray(t2, float)
    return s ** 2 * np.exp(-np.abs(t1[:, None] - t2[None, :]) / ell)


def process_cholesky(t, s: float, ell: float, se: float) -> np.ndarray:
    """Lower Cholesky factor of the process's covariance at ``t`` (OU kernel plus white noise se^2);
    raises ``numpy.linalg.LinAlgError`` where it is not positive definite."""
    return np.linalg.cholesky(ou_kernel(t, t, s, ell) + (se ** 2 + 1e-12) * np.eye(len(t)))


@dataclass
class ResidualProcess:
    """Residuals of the law along the split axis as a Gaussian process: an exponential (Ornstein-Uhlenbeck)
    kernel of scale ``s`` (log-loss) and length ``ell`` (decades) plus white noise ``se`` (log-loss),
    fitted to ``resid`` (log-loss: log y minus the law's median) at the fitted runs ``log10_axis``.
    The Cholesky factor of the residuals' covariance is computed once, at the first query."""

    log10_axis: np.ndarray
    resid: np.ndarray
    s: float
    ell: float
    se: float
    fit_info: dict = field(default_factory=dict, compare=False)  # how the fit went (not stored with a fit)
    _factor: tuple | None = field(default=None, init=False, repr=False, compare=False)

    def conditional(self, log10_values) -> tuple[np.ndarray, np.ndarray]:
        """(mean, variance) of the process's smooth (OU) part at ``log10_values`` given the residuals
        (log-loss, log-loss^2); the white noise se^2 of a new run is not included."""
        from scipy.linalg import solve_triangular

        if self._factor is None:
            chol = process_cholesky(self.log10_axis, self.s, self.ell, self.se)
            self._factor = (chol, solve_triangular(chol, np.asarray(self.resid, float), lower=True))
        chol, w = self._factor
        q = np.atleast_1d(np.asarray(log10_values, float))
        a = solve_triangular(chol, ou_kernel(self.log10_axis, q, self.s, self.ell), lower=True)  # run x query
        return a.T @ w, np.maximum(self.s ** 2 - (a * a).sum(axis=0), 0.0)


@dataclass
class Discrepancy:
    """Posterior draws of the discrepancy scales (dims chain, draw) and where the data end: the split axis
    (the residual process's) and its largest fitted value, and ``box``, the largest fitted value on every
    axis the distance d is measured over (:func:`extrapolation_box`; None: the split axis alone, as fits
    saved before the box)."""

    tau0: xr.DataArray
    tau1: xr.DataArray
    axis: str
    log10_axis_max: float
    info: dict = field(default_factory=dict)
    residual: ResidualProcess | None = None
    box: dict | None = None

    def distance(self, values) -> np.ndarray:
        """d per query: decades beyond the fitted runs (:func:`decades_outside` over ``box``). ``values``: a
        mapping or table with the box's axes, or the split axis's values alone (then d is along it)."""
        if self.box and hasattr(values, "keys") and all(a in values for a in self.box):
            return decades_outside(values, self.box)
        return decades_outside({self.axis: _on_axis(values, self.axis)}, {self.axis: self.log10_axis_max})

    def _process(self, values) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(d, mean, variance) per query: decades beyond the data (:meth:`distance`) and the residual process
        beyond the data on its split axis (0 inside; nothing is computed when no query lies beyond it)."""
        lv = np.atleast_1d(np.log10(_on_axis(values, self.axis)))
        d = self.distance(values)
        m, v = np.zeros_like(lv), np.zeros_like(lv)
        beyond = lv > self.log10_axis_max
        if self.residual is not None and beyond.any():
            m[beyond], v[beyond] = self.residual.conditional(lv[beyond])
        return d, m, v

    def noise_factor(self, sigma: xr.DataArray, axis_values, sd_per_scale: float = 1.0) -> xr.DataArray:
        """Factor on the family's noise scale ``sigma`` (dims chain, draw) per query (dims chain, draw, query):
        min(1, se / (k sigma)) beyond the data with a residual process, else 1; k = ``sd_per_scale``, the
        family's sd per unit of scale (:attr:`~bayes_scaling.specs.families.Family.sd_per_scale`). ``sigma``
        was fitted under independent noise, so the noise's variance (k sigma)^2 already holds the process's
        marginal variance s^2 + se^2; beyond the data the process's conditional variance replaces the smooth
        part and the noise keeps the white part's sd se (se is a Gaussian sd: the process is fitted by a
        Gaussian marginal likelihood). A family without a finite sd (Student-t with nu <= 2) is refused."""
        d = np.atleast_1d(np.log10(_on_axis(axis_values, self.axis))) - self.log10_axis_max
        beyond = xr.DataArray((d > 0) & (self.residual is not None), dims="query")
        se = 0.0 if self.residual is None else self.residual.se
        if self.residual is not None and not np.isfinite(sd_per_scale):
            raise BayesScalingError(NO_SD, quantity="residual_process")
        f = np.minimum(1.0, se / (sd_per_scale * sigma))
        return xr.where(beyond, f, 1.0).transpose("chain", "draw", "query")

    def scale(self, axis_values) -> xr.DataArray:
        """s(d) per draw and query (dims chain, draw, query) for the query's values (a mapping of axes, or the
        split axis's values; log-loss), with the residual process's conditional variance beyond the data."""
        d, _, v = self._process(axis_values)
        d, v = xr.DataArray(d, dims="query"), xr.DataArray(v, dims="query")
        return np.sqrt(self.tau0 ** 2 + (self.tau1 * d) ** 2 + v).transpose("chain", "draw", "query")

    def shift(self, axis_values) -> xr.DataArray:
        """The residual process's conditional mean per query beyond the data (log-loss; 0 without one)."""
        return xr.DataArray(self._process(axis_values)[1], dims="query")

    def process_line(self) -> str | None:
        """One line on the residual process (None without one): its scales and what it does beyond the data."""
        r = self.residual
        if r is None:
            return None
        rp = self.info.get("residual_process")
        rp = rp if isinstance(rp, dict) else {}
        weak = " (ell at a bound of its range or the likelihood flat in it: ell is not identified)" if (
            rp.get("ell_at_bound") or rp.get("likelihood_flat_in_ell")) else ""
        edge = float(r.conditional([self.log10_axis_max])[0][0])
        return (f"residual process (OU in log10 {self.axis} + white noise, fitted to the law's residuals at the "
                f"{len(r.resid)} fitted runs): s {r.s:.3g}, ell {r.ell:.3g} decades{weak}, se {r.se:.3g} (log-loss); "
                f"beyond the data the predictive is shifted by its conditional mean ({edge:+.3g} log-loss at the edge, "
                f"decaying over ell) and its noise is se plus its conditional variance; law-based queries use the law alone")

    def process_record(self) -> dict | None:
        """The residual process's scales as JSON (s, se: log-loss; ell: decades), None without one."""
        r = self.residual
        if r is None:
            return None
        rp = self.info.get("residual_process")
        flags = {k: rp[k] for k in ("ell_at_bound", "likelihood_flat_in_ell") if k in rp} if isinstance(rp, dict) else {}
        return {"s": r.s, "ell_decades": r.ell, "se": r.se, "n_runs": len(r.resid), **flags,
                "beyond_the_data": "predictive shifted by the process's conditional mean; noise se plus its "
                                   "conditional variance; law-based queries use the law alone"}

    def to_dataset(self) -> xr.Dataset:
        ds = xr.Dataset({"tau0": self.tau0, "tau1": self.tau1})
        ds["tau0"].attrs["units"] = "log-loss"
        ds["tau1"].attrs["units"] = "log-loss per decade beyond the data"
        ds.attrs.update({"axis": self.axis, "log10_axis_max": self.log10_axis_max, "info": json.dumps(self.info)})
        if self.box:
            ds.attrs["log10_box_max"] = json.dumps(self.box)
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
        box = json.loads(ds.attrs["log10_box_max"]) if "log10_box_max" in ds.attrs else None
        return cls(tau["tau0"], tau["tau1"], str(ds.attrs["axis"]), float(ds.attrs["log10_axis_max"]),
                   json.loads(ds.attrs.get("info", "{}")), r, box)
