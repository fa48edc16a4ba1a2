"""``EnsembleResult``: several laws (or specs) fitted to the same runs, with the weights that mix them
(leave-future-out or PSIS-LOO stacking, :mod:`bayes_scaling.inference.ensemble`). Its evaluator is a
:class:`~bayes_scaling.posterior.mixture.MixtureEvaluator`, so every answer is the mixture's; each
member's own answer and the share of an interval that the law form contributes come with it.

On disk: one netCDF file, the ensemble's attributes at the root and each member's fit as a group.
"""

from __future__ import annotations

import json
import os
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from bayes_scaling.conventions import CI_PROB, check_ci_prob
from bayes_scaling.errors import BayesScalingError
from bayes_scaling.posterior.diagnostics import Diagnostics
from bayes_scaling.posterior.mixture import MixtureEvaluator, normalised_weights
from bayes_scaling.result.fit import ENSEMBLE_FORMAT, FORMAT, FitResult, write_tree


def law_form_share(per_member: dict[str, xr.DataArray], weights: dict[str, float], log: bool = True) -> xr.DataArray:
    """Share of the mixture's variance of log(value) (of the value, ``log=False``: e.g. a difference) that
    lies between members (the law form), by the law of total variance: Var = E_k[Var_k] + Var_k[E_k],
    weights w_k; 0 = the forms agree."""
    logs = {k: np.log(v) if log else v for k, v in per_member.items()}
    means = {k: v.mean(("chain", "draw")) for k, v in logs.items()}
    within = sum(weights[k] * v.var(("chain", "draw")) for k, v in logs.items())
    grand = sum(weights[k] * means[k] for k in logs)
    between = sum(weights[k] * (means[k] - grand) ** 2 for k in logs)
    return between / (between + within)


def require_fit(value, argument: str = "result", *, ensemble: bool = True):
    """``value`` if it is a fit (a :class:`FitResult`, or with ``ensemble`` an :class:`EnsembleResult`);
    anything else (None, a path, a runs table) fails with one line naming ``argument``."""
    kinds = (FitResult, EnsembleResult) if ensemble else (FitResult,)
    if not isinstance(value, kinds):
        what = ("a fit (FitResult or EnsembleResult: from fit, fit_ensemble or load_fit" if ensemble
                else "one law's fit (a FitResult, not an ensemble: from fit or load_fit")
        raise BayesScalingError(f"{argument} must be {what}), got "
                                f"{type(value).__name__} {str(value)[:60]!r}", quantity=argument)
    return value


class EnsembleResult:
    """Members (name -> :class:`FitResult` on the same runs), normalised ``weights`` and ``info`` (how
    the weights were found: method, cuts, weights per cut, held-out log scores)."""

    def __init__(self, members: dict[str, FitResult], weights: dict[str, float], info: dict | None = None,
                 *, seed: int = 0):
        if not isinstance(members, dict) or not members or not isinstance(weights, dict):
            raise BayesScalingError("an ensemble needs members {name: FitResult} (at least one) and weights {name: "
                                    "weight}", quantity="members")
        for name, m in members.items():
            require_fit(m, f"members[{name!r}]", ensemble=False)
        if set(members) != set(weights):
            raise BayesScalingError(f"ensemble weights {sorted(weights)} do not match its members {sorted(members)}")
        first = next(iter(members.values())).runs.frame["loss"].to_numpy()
        for name, m in members.items():
            if not np.array_equal(m.runs.frame["loss"].to_numpy(), first):
                raise BayesScalingError(f"ensemble member {name!r} was fitted to other runs: members share one runs table")
        units = {name: m.loss_unit for name, m in members.items()}
        if len(set(units.values())) > 1:
            raise BayesScalingError(f"ensemble members have different loss units {dict(sorted(units.items()))}: "
                                    f"fit every member with the same --loss-unit", quantity="loss_unit")
        self.weights = {k: float(v) for k, v in normalised_weights(
            weights, list(weights), "ensemble weights must be finite numbers >= 0 with a positive sum").items()}
        self.members = dict(members)
        self.info = dict(info or {})
        self.seed = int(seed)

    # -- views shared with FitResult ------------------------------------------------------------
    @property
    def runs(self):
        return next(iter(self.members.values())).runs

    @property
    def runs_metadata(self) -> dict:
        return next(iter(self.members.values())).runs_metadata

    @property
    def loss_unit(self) -> str:
        """The members' loss unit (they share the runs)."""
        return next(iter(self.members.values())).loss_unit

    @property
    def predictor_unit(self) -> str | None:
        """Unit of a metric law's predictor L as the members' runs (the same runs) record it; None: unknown."""
        return next(iter(self.members.values())).predictor_unit

    @property
    def hierarchy(self) -> dict | None:
        """The groups every member shares (``{vary, tau, group_col, groups}`` of the first), or ``None``."""
        hs = [m.hierarchy for m in self.members.values()]
        if any(h is None for h in hs) or len({(h["group_col"], tuple(h["groups"])) for h in hs}) != 1:
            return None
        return hs[0]

    @property
    def law(self):
        """The first member's law: the inputs every member shares (answers specific to a law form are
        per member, in :attr:`members`)."""
        return next(iter(self.members.values())).law

    @property
    def covariates(self):
        return None

    @property
    def discrepancy(self):
        """The extrapolation discrepancy the members share (calibrated on the mixture), or ``None``."""
        return next(iter(self.members.values())).discrepancy

    @property
    def sampler_config(self) -> dict:
        return {"seed": self.seed, "members": {k: m.sampler_config for k, m in self.members.items()}}

    @property
    def laws(self) -> dict:
        return {k: m.law for k, m in self.members.items()}

    @cached_property
    def evaluator(self) -> MixtureEvaluator:
        return MixtureEvaluator({k: m.evaluator for k, m in self.members.items()}, self.weights, seed=self.seed)

    @cached_property
    def diagnostics(self) -> Diagnostics:
        """The worst member's: max R-hat, min ESS, all divergences (weights do not hide a bad member)."""
        ds = [m.diagnostics for m in self.members.values()]
        return Diagnostics(r_hat_max=max(d.r_hat_max for d in ds), ess_bulk_min=min(d.ess_bulk_min for d in ds),
                           ess_tail_min=min(d.ess_tail_min for d in ds), divergences=sum(d.divergences for d in ds),
                           n_chains=min(d.n_chains for d in ds), n_draws=min(d.n_draws for d in ds))

    # -- answers ----------------------------------------------------------------------------------
    def predict(self, N=None, D=None, C=None, *, seed: int | None = None, group: str | None = None,
                covariates: dict | None = None, **extra) -> xr.Dataset:
        """The mixture's ``loss`` and ``loss_predictive`` (nats/token, dims chain, draw, query), with a
        ``member`` coordinate per draw; see :meth:`FitResult.predict`."""
        if covariates:
            raise BayesScalingError("ensembles take no covariates: their effects are per member")
        if extra.get("se") is not None:
            raise BayesScalingError("an ensemble's predictive takes no new run's evaluation standard error se: give it to a "
                                    "member's predict (ensemble.members[name]) fitted with run noise and SEs", quantity="SE")
        if group is not None and self.hierarchy is None:
            raise BayesScalingError(f"group {group!r}: this ensemble's members share no groups (fit it with a group column)")
        return self.evaluator.predict({"N": N, "D": D, "C": C, **extra}, seed=seed, group=group)

    def member_answers(self, query) -> dict[str, xr.DataArray]:
        """``query(fit)`` for each member (a function of one :class:`FitResult` returning draws)."""
        return {k: query(m) for k, m in self.members.items()}

    def pooled(self, per_member: dict[str, xr.DataArray]) -> xr.DataArray:
        """Member draws (dims chain, draw, ...) pooled by weight into the mixture's draws."""
        return self.evaluator.pool(per_member)

    def summary(self, ci_prob: float = CI_PROB) -> pd.DataFrame:
        """One row per member: law, weight, and its diagnostics (member parameters: ``members[k].summary``)."""
        rows = []
        for k, m in self.members.items():
            d = m.diagnostics
            rows.append({"member": k, "law": m.law.name, "formula": m.law.formula, "weight": self.weights[k],
                         "r_hat_max": d.r_hat_max, "ess_bulk_min": d.ess_bulk_min, "divergences": d.divergences})
        df = pd.DataFrame(rows).set_index("member")
        df.attrs["ci_prob"] = check_ci_prob(ci_prob)  # recorded with the table, so checked like any interval mass
        return df

    # -- persistence -------------------------------------------------------------------------------
    def save(self, path: str | os.PathLike) -> Path:
        """Write the ensemble to one netCDF file atomically (each member a group)."""
        tree = xr.DataTree()
        for name, m in self.members.items():
            tree[name] = m.tree
        tree.attrs = {"bayes_scaling_format": ENSEMBLE_FORMAT, "members": json.dumps(list(self.members)),
                      "weights": json.dumps(self.weights), "info": json.dumps(self.info, default=float),
                      "seed": self.seed}
        return write_tree(tree, path, "ensemble file")

    @classmethod
    def load(cls, path: str | os.PathLike) -> "EnsembleResult":
        """Read an ensemble written by :meth:`save` (members checked as :meth:`FitResult.load` checks a fit);
        anything else fails with one line (:func:`bayes_scaling.result.load_fit` reads either kind)."""
        path = Path(path)
        if not path.is_file():
            raise BayesScalingError(f"ensemble file {str(path)!r} does not exist: run `bayes-scaling ensemble ... "
                                    f"--out {path}` first")
        try:
            with xr.open_datatree(path, engine="h5netcdf") as tree:
                tree = tree.load()
        except Exception:
            raise BayesScalingError(f"{str(path)!r} is not a bayes_scaling ensemble file (not readable as netCDF/HDF5: "
                                    f"truncated, damaged or another format)") from None
        if tree.attrs.get("bayes_scaling_format") != ENSEMBLE_FORMAT:
            single = tree.attrs.get("bayes_scaling_format") == FORMAT
            what = "a single fit, not an ensemble: read it with load_fit or FitResult.load" if single else \
                "not a bayes_scaling ensemble"
            raise BayesScalingError(f"{str(path)!r} is {what}")
        try:
            names = json.loads(tree.attrs["members"])
            weights = json.loads(tree.attrs["weights"])
            info = json.loads(tree.attrs.get("info", "{}"))
            trees = {k: tree[k].copy() for k in names}
            seed = int(tree.attrs.get("seed", 0))
            if not isinstance(weights, dict) or not isinstance(info, dict):
                raise TypeError("weights and info are JSON objects")
        except Exception:
            raise BayesScalingError(f"{str(path)!r} is not a readable bayes_scaling ensemble file (truncated, damaged "
                                    f"or edited): refit it with `bayes-scaling ensemble`") from None
        members = {k: FitResult.checked(t, f"{path} (member {k})") for k, t in trees.items()}
        return cls(members, weights, info, seed=seed)

    def __repr__(self) -> str:
        ws = ", ".join(f"{k} {w:.2f}" for k, w in self.weights.items())
        return f"<EnsembleResult runs={len(self.runs)} weights: {ws}>"
