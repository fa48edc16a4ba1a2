"""A weighted mixture of posteriors (e.g. an ensemble of law forms fitted to the same runs): one
evaluator whose draws are pooled from its members in proportion to their weights, so every query
that takes an evaluator's draws answers with the mixture. Each draw remembers its member."""

from __future__ import annotations

import numbers

import numpy as np
import xarray as xr

from bayes_scaling.conventions import derived_seed, check_seed, seeded_rng
from bayes_scaling.errors import BayesScalingError

SAMPLE_DIMS = ("chain", "draw")


def normalised_weights(weights: dict, names, rule: str) -> dict[str, float]:
    """The weights of ``names`` (in that order) divided by their sum; a weight that is not a finite real
    number >= 0, or a zero sum, fails with ``"{rule}, got {weights}"``."""
    ok = all(isinstance(weights[k], numbers.Real) and np.isfinite(weights[k]) and weights[k] >= 0 for k in names)
    w = np.array([float(weights[k]) for k in names]) if ok else np.zeros(0)
    if not ok or w.sum() <= 0:
        raise BayesScalingError(f"{rule}, got {weights}")
    return dict(zip(names, w / w.sum()))


class MixtureEvaluator:
    """Members (name -> evaluator with the :class:`PosteriorEvaluator` calls) and their weights
    (non-negative, normalised here). ``n_draws`` pooled draws (default: the smallest member's
    count) are split by largest remainder and picked from each member without replacement
    (``seed``); the result has dims (chain = 1, draw = n_draws) and a ``member`` coordinate."""

    def __init__(self, members: dict, weights: dict[str, float], *, n_draws: int | None = None, seed: int = 0):
        if not members or set(members) != set(weights):
            raise BayesScalingError("a mixture needs one weight per member (and at least one member)")
        self.weights = normalised_weights(dict(weights), list(members), "mixture weights must be >= 0 with a positive sum")
        self.members = dict(members)
        p = np.array(list(self.weights.values()))
        sizes = [int(np.prod(m.shape)) for m in members.values()]
        self.n_draws = int(n_draws or min(sizes))
        counts = np.floor(p * self.n_draws).astype(int)
        short = self.n_draws - counts.sum()
        counts[np.argsort(-(p * self.n_draws - counts))[:short]] += 1
        if any(c > s for c, s in zip(counts, sizes)):
            raise BayesScalingError(f"n_draws = {self.n_draws} asks a member for more draws than it has ({sizes})")
        rng = seeded_rng(seed)
        self._picks = {k: np.sort(rng.choice(s, size=c, replace=False)) for (k, s, c) in zip(members, sizes, counts)}

    @property
    def shape(self) -> tuple[int, int]:
        return 1, self.n_draws

    @property
    def picks(self) -> dict[str, np.ndarray]:
        """Per member, the indices (into its chain-major flattened draws) that enter the mixture."""
        return self._picks

    @property
    def sigma(self) -> xr.DataArray:
        """Noise scale of log-loss per pooled draw (dims chain = 1, draw): each member's on the draws the mixture
        took from it, as :attr:`PosteriorEvaluator.sigma <bayes_scaling.posterior.evaluator.PosteriorEvaluator.sigma>`."""
        return self.pool({k: m.sigma for k, m in self.members.items()})

    def pool(self, per_member: dict[str, xr.DataArray]) -> xr.DataArray:
        """Member draws (dims chain, draw, ...) pooled by weight: dims (chain = 1, draw, ...)."""
        parts = []
        for name, da in per_member.items():
            flat = da.stack(_sample=SAMPLE_DIMS).transpose("_sample", ...).drop_vars(["_sample", *SAMPLE_DIMS],
                                                                                  errors="ignore")
            parts.append(flat.isel(_sample=self._picks[name]).assign_coords(member=("_sample", [name] * len(
                self._picks[name]))))
        out = xr.concat(parts, dim="_sample").rename(_sample="draw").expand_dims(chain=1)
        return out.transpose(*SAMPLE_DIMS, ...)

    def predict(self, values: dict, **kw) -> xr.Dataset:
        """``loss`` and ``loss_predictive`` (nats/token) of the mixture at query points."""
        seed = kw.pop("seed", None)
        preds = {k: m.predict(values, seed=_member_seed(m, seed, i), **kw) for i, (k, m) in enumerate(self.members.items())}
        ds = xr.Dataset({v: self.pool({k: p[v] for k, p in preds.items()}) for v in ("loss", "loss_predictive")})
        first = next(iter(preds.values()))
        for v in ("loss", "loss_predictive"):
            ds[v].attrs["units"] = first[v].attrs.get("units")
        return ds.assign_coords({c: first[c] for c in first.coords if c not in SAMPLE_DIMS})

    def log_mean_at_runs(self, runs, **kw) -> xr.DataArray:
        """log of the mixture's law at each run (dims chain, draw, run)."""
        return self.pool({k: m.log_mean_at_runs(runs, **kw) for k, m in self.members.items()})

    def predictive_at_runs(self, runs, *, seed: int = 0, discrepancy: bool = True) -> np.ndarray:
        """Draws of each run's loss as a new run (run x draws), pooled from the members."""
        per = {}
        for i, (k, m) in enumerate(self.members.items()):
            d = m.predictive_at_runs(runs, seed=_member_seed(m, seed, i), discrepancy=discrepancy)  # run x (chain*draw), chain-major
            per[k] = xr.DataArray(d.T.reshape(*m.shape, -1), dims=(*SAMPLE_DIMS, "run"))
        return self.pool(per).values.reshape(self.n_draws, -1).T


#: Members draw their noise from streams this far apart, so pooled draws are independent across members.
MEMBER_SEED_STRIDE = 1_000_003


def _member_seed(member, seed: int | None, i: int) -> int:
    """Member ``i``'s seed: ``seed`` (or the member's fit seed + 1) moved to a stream of its own."""
    base = derived_seed(getattr(member, "seed", 0), 1) if seed is None else check_seed(seed)
    return derived_seed(base, i * MEMBER_SEED_STRIDE)
