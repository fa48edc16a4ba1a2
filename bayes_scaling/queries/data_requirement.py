"""Data requirement and sample efficiency for laws of N and D.

The overfitting penalty is delta_L(N, D) = L(N, D) / L(N, inf) - 1 (Kaplan et al. 2020, Eq. 4.2).
Per posterior draw, ``tokens_to_limit_overfitting`` finds the fewest tokens keeping it under
``delta`` (Kaplan's 2%, the seed-to-seed noise), and ``data_requirement`` summarises that as
D >= k N^gamma over a range of N (Kaplan Eq. 4.4: D >~ 5e3 N^0.74). ``tokens_for_loss`` gives the
tokens a model of size N needs to reach a target loss.

The penalty is an overfitting penalty only where the law's D is a dataset trained on to early stopping, as in
Kaplan's L(N, D) (sec. 4). In the Chinchilla form E + A/N^alpha + B/D^beta, D is the tokens seen in one epoch and
B/D^beta the loss still to gain by training longer (under-training; Hoffmann et al. 2022): asking it to fall within
2% of E + A/N^alpha demands implausibly many tokens (1e18 at N = 2e8 on OLMo's ladder, 1e8x Kaplan's Eq. 4.4), and
says nothing of overfitting. The data requirement is therefore refused for laws without the
``overfitting_penalty`` capability (:func:`overfitting_refusal` says why).
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from bayes_scaling.conventions import check_count, check_positive, is_ensemble, loss_unit_of, real_array
from bayes_scaling.errors import BayesScalingError
from bayes_scaling.queries.draws import bisect_decreasing, check_target_loss, law_draws
from bayes_scaling.result import require_fit

#: log of "infinitely many" tokens: large enough that any power-law data term vanishes.
_LOG_D_INF = 700.0
_LOG_D_MAX = 200.0


def _sizes(N) -> np.ndarray:
    n = real_array(N)
    if n is None or n.ndim != 1 or n.size == 0 or not np.all(np.isfinite(n)) or np.any(n <= 0):
        raise BayesScalingError(f"model sizes N must be finite numbers > 0, got {N!r}"[:200].replace("\n", " "),
                                quantity="N")
    return n


def _query(values, draws, attrs=None):
    da = xr.DataArray(values, dims=("chain", "draw", "N"), coords={"N": draws})
    da.attrs.update(attrs or {})
    return da


def overfitting_refusal(laws) -> str | None:
    """Why the data requirement does not apply to ``laws`` (a law, or several: an ensemble's members), or None where
    every one's D term is an overfitting penalty (capability ``overfitting_penalty``: Kaplan's L(N, D))."""
    from bayes_scaling.laws.registry import laws_with

    laws = list(laws) if isinstance(laws, (list, tuple)) else [laws]
    bad = sorted({law.name for law in laws if not law.has("overfitting_penalty")})
    if not bad:
        return None
    return (f"the data requirement bounds Kaplan's overfitting penalty, which needs a law whose D term is one (D: a "
            f"dataset's tokens, trained to early stopping; Kaplan et al. 2020 sec. 4: {', '.join(laws_with('overfitting_penalty'))}); "
            f"in {', '.join(bad)} the D term is the loss still to gain by training on more tokens (under-training), so "
            f"keeping it within a few % of the infinite-data loss would ask for implausibly many tokens")


def _require_overfitting_penalty(result) -> None:
    laws = [m.law for m in result.members.values()] if is_ensemble(result) else [result.law]
    why = overfitting_refusal(laws)
    if why is not None:
        raise BayesScalingError(why, quantity="law")


def tokens_to_limit_overfitting(result, N, delta: float = 0.02) -> xr.DataArray:
    """Fewest tokens D with L(N, D) / L(N, inf) - 1 <= ``delta``, per draw (dims chain, draw, N). Laws whose D term
    is an overfitting penalty only (Kaplan's L(N, D); others are refused, :func:`overfitting_refusal`)."""
    require_fit(result)
    delta = check_positive("delta must be a relative penalty in (0, 10), e.g. 0.02", delta, "delta", below=10.0)
    n = _sizes(N)
    _require_overfitting_penalty(result)
    d = law_draws(result)
    log_n = np.log(n)
    log_inf = d.log_loss(log_n, np.full_like(log_n, _LOG_D_INF))
    target = log_inf + np.log1p(delta)
    shape = np.broadcast_shapes(d.shape + (1,), log_n.shape)
    x = bisect_decreasing(lambda u: d.log_loss(log_n, u), target, np.zeros(shape), np.full(shape, _LOG_D_MAX))
    return _query(np.exp(x), n, {"units": "tokens", "delta": float(delta)})


def data_requirement(result, n_min: float, n_max: float, delta: float = 0.02, points: int = 25) -> xr.Dataset:
    """D >= k N^gamma fitted per draw (least squares in log-log) to the tokens that keep the
    overfitting penalty under ``delta`` for N between ``n_min`` and ``n_max``. Exact for Kaplan's
    L(N, D), where gamma = alpha_N / alpha_D."""
    require_fit(result)
    n_min = check_positive("n_min must be a finite number > 0 (parameters)", n_min, "n_min")
    n_max = check_positive("n_max must be a finite number > 0 (parameters)", n_max, "n_max")
    if not n_min < n_max:
        raise BayesScalingError(f"need n_min < n_max, got {n_min!r} and {n_max!r}", quantity="n_min")
    points = check_count("points", points, 2, 10_000, " (sizes along N; a slope needs two)")
    _require_overfitting_penalty(result)
    n = np.geomspace(n_min, n_max, points)
    dmin = tokens_to_limit_overfitting(result, n, delta)
    x = np.log(n) - np.log(n).mean()
    y = np.log(dmin.values)
    gamma = (y * x).sum(axis=-1) / (x * x).sum()
    log_k = y.mean(axis=-1) - gamma * np.log(n).mean()
    dims = ("chain", "draw")
    return xr.Dataset({"k": (dims, np.exp(log_k)), "gamma": (dims, gamma), "tokens_needed": dmin},
                      attrs={"delta": float(delta), "n_min": float(n_min), "n_max": float(n_max)})


def tokens_for_loss(result, N, target_loss: float) -> xr.DataArray:
    """Tokens a model of N parameters needs to reach ``target_loss`` (the fit's loss unit), per draw;
    ``inf`` where even infinite data cannot get there (L(N, inf) >= target)."""
    require_fit(result)
    target_loss = check_target_loss(target_loss, loss_unit_of(result))
    n = _sizes(N)
    d = law_draws(result)
    log_n = np.log(n)
    log_t = np.log(target_loss)
    shape = np.broadcast_shapes(d.shape + (1,), log_n.shape)
    reachable = d.log_loss(log_n, np.full(shape, _LOG_D_MAX)) <= log_t
    x = bisect_decreasing(lambda u: d.log_loss(log_n, u), np.full(shape, log_t), np.zeros(shape),
                           np.full(shape, _LOG_D_MAX))
    return _query(np.where(reachable, np.exp(x), np.inf), n, {"units": "tokens", "target_loss": float(target_loss)})
