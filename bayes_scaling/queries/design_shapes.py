"""Run design's candidate shapes: an IsoFLOP grid over a tokens/parameter range (the command's default: the
fit's own runs' range, :func:`data_shapes`; the library's: the trusted shapes of Hoffmann et al. 2022), extended
to where the decision lives (opt-in).

The decision at the target compute C trains at the posterior's compute-optimal shape D*/N*(C)
(tokens/parameter). Where that shape lies outside the trusted range, the decision already relies on
the law there, so ladder-sized runs at that shape test the law where it is used. With ``reach`` (the
CLI's ``design --reach-optimal-shape``; off by default: on simulated ladders it narrowed N*'s intervals
without lowering the decision's waste and cost coverage, benchmarks/README "Run design") the
candidates cover the trusted shapes and the posterior's central ``CI_PROB`` (0.9) interval of
D*/N*(C) (:func:`optimal_shape_interval`), extended beyond the trusted ends at the trusted grid's own
log spacing (:func:`shape_ratios`): a posterior whose interval lies inside the trusted range gets exactly
the trusted grid.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bayes_scaling.conventions import (CI_PROB, FLOPS_PER_PARAM_TOKEN, MAX_EXTRA_SHAPES, MAX_REACH_DECADES,
                                       TRUSTED_TOKENS_PER_PARAM, check_count)
from bayes_scaling.conventions import check_positive, real_array
from bayes_scaling.cost import CostLaw
from bayes_scaling.errors import BayesScalingError
from bayes_scaling.posterior.intervals import interval_bounds, quantiles
from bayes_scaling.queries.design_preposterior import draws_sigma_family
from bayes_scaling.queries.draws import budgets_flops, resolve_cost

#: Relative tolerance of a comparison that only float rounding can upset (a grid rung priced back to its budget).
FLOAT_RTOL = 1e-9
#: Relative tolerance of a comparison with the fit's own runs (shape D/N, N, C): runs tables record sizes rounded
#: to a few significant figures (10.01 tokens/parameter for a nominal 10), so a candidate within 1% of the data's
#: edge counts as inside. 1% is far below the grid's own step (0.44 decades), so no real extrapolation hides in it.
DATA_RTOL = 0.01

#: At most this many ratios are added beyond the trusted range (:data:`MAX_EXTRA_SHAPES`, 10: the grid at
#: most doubles). 10 ratios at the trusted grid's spacing (0.44 decades) reach 4.4 decades beyond it; a
#: wider interval is reached by spacing the added ratios more coarsely (log-evenly up to the interval's
#: end) rather than by stopping short of it.
MAX_EXTRA_RATIOS = MAX_EXTRA_SHAPES


def optimal_shape_interval(result, target_flops: float, *, cost: CostLaw | None = None,
                           ci_prob: float = CI_PROB) -> tuple[float, float]:
    """Equal-tailed ``ci_prob`` interval (tokens/parameter) of the compute-optimal shape D*/N* at
    ``target_flops`` FLOPs over the posterior draws of a fit, or over an ensemble's mixture (priced by
    ``cost``, default the fit's stored cost law, else 6ND)."""
    levels = interval_bounds(ci_prob)  # checked before the draws are priced
    (target,) = budgets_flops([target_flops], "flops")
    draws = draws_sigma_family(result, resolve_cost(result, cost))[0]
    log_ct = np.array([np.log(target / draws.cost.k)])
    log_n = np.asarray(draws.log_n_opt(log_ct), float)
    log_ratio = (np.asarray(draws.log_tokens(log_ct, log_n), float) - log_n).reshape(-1)
    log_ratio = log_ratio[np.isfinite(log_ratio)]
    if log_ratio.size == 0:
        raise BayesScalingError(f"no posterior draw has a finite compute-optimal shape at {target:.3g} FLOPs",
                                quantity="target compute")
    lo, hi = np.exp(quantiles(log_ratio, levels))
    return float(lo), float(hi)


def _side(end: float, reach: float, step: float) -> int:
    """Ratios needed beyond a trusted ``end`` at log spacing ``step`` (> 0, log units) to reach ``reach``."""
    gap = abs(np.log(reach / end))
    return int(np.ceil(gap / step - 1e-9)) if gap > 1e-12 else 0


#: Most budgets, ratios per budget or added ratios a candidate grid takes: the design scores every candidate
#: in each of its worlds, so a grid of 1e4 x 1e4 candidates could not be ranked; finer than 1e4 points
#: along one axis resolves no difference a ladder could measure.
MAX_GRID = 10_000
GRID_WHY = " (points along one axis of the candidate grid)"


def shape_ratios(ratios=TRUSTED_TOKENS_PER_PARAM, per_budget: int = 10, reach=None,
                 max_extra: int = MAX_EXTRA_RATIOS) -> np.ndarray:
    """Tokens/parameter ratios of the candidate grid, ascending: ``per_budget`` log-evenly over ``ratios``
    (LO, HI), and, where ``reach`` (LO', HI'; e.g. :func:`optimal_shape_interval`) goes beyond them, more
    at the same log spacing out to the first ratio at or beyond each end of ``reach``, itself cut at
    :data:`MAX_REACH_DECADES` beyond each end of the range. At most
    ``max_extra`` are added; when more would be needed the added ratios are spread log-evenly from the
    trusted end to ``reach``'s end instead (coarser, shared between the sides by the decades each needs)."""
    r = real_array(ratios)
    if r is None or r.shape != (2,) or not 0 < r[0] < r[1] < np.inf:
        raise BayesScalingError(f"candidate tokens/parameter range must be 0 < LO < HI (lower first), got "
                                f"{ratios!r}", quantity="shapes")
    per_budget = check_count("per_budget", per_budget, 1, MAX_GRID, GRID_WHY)
    max_extra = check_count("max_extra", max_extra, 0, MAX_GRID, GRID_WHY)
    lo, hi = float(r[0]), float(r[1])
    base = np.geomspace(lo, hi, per_budget)
    if reach is None or max_extra == 0:
        return base
    r_lo, r_hi = (float(x) for x in reach)
    if not 0 < r_lo <= r_hi < np.inf:
        raise BayesScalingError(f"the shapes to reach must be 0 < LO <= HI tokens/parameter, got {tuple(reach)}",
                                quantity="shapes")
    # never more than MAX_REACH_DECADES beyond the range (a prior-dominated interval can span 14 decades)
    r_lo, r_hi = max(r_lo, lo / 10 ** MAX_REACH_DECADES), min(r_hi, hi * 10 ** MAX_REACH_DECADES)
    step = np.log(hi / lo) / (per_budget - 1) if per_budget > 1 else np.log(10.0)
    need = [_side(lo, r_lo, step) if r_lo < lo else 0, _side(hi, r_hi, step) if r_hi > hi else 0]
    if sum(need) <= max_extra:
        below = lo * np.exp(-step * np.arange(need[0], 0, -1))
        above = hi * np.exp(step * np.arange(1, need[1] + 1))
        return np.concatenate([below, base, above])
    gaps = np.array([np.log(lo / r_lo) if need[0] else 0.0, np.log(r_hi / hi) if need[1] else 0.0])
    k = np.floor(max_extra * gaps / gaps.sum()).astype(int)
    k = np.where(gaps > 0, np.maximum(k, 1), 0)
    while k.sum() > max_extra:  # rounding up a side with a tiny gap can overshoot by one
        k[int(np.argmax(k))] -= 1
    while k.sum() < max_extra:  # the rest to the side with the widest spacing
        k[int(np.argmax(np.where(gaps > 0, gaps / np.maximum(k, 1), -1)))] += 1
    below = lo * np.exp(-gaps[0] * np.arange(k[0], 0, -1) / max(k[0], 1))
    above = hi * np.exp(gaps[1] * np.arange(1, k[1] + 1) / max(k[1], 1))
    return np.concatenate([below, base, above])


def candidate_grid(runs_compute, budget: float, *, budgets: int = 10, ratios=TRUSTED_TOKENS_PER_PARAM,
                   per_budget: int = 10, reach=None, max_extra: int = MAX_EXTRA_RATIOS,
                   flops_per_token: float = FLOPS_PER_PARAM_TOKEN, cost: CostLaw | None = None
                   ) -> tuple[np.ndarray, np.ndarray]:
    """IsoFLOP candidates (N parameters, D tokens): ``budgets`` budgets log-evenly from the ladder's smallest
    run (``runs_compute``, FLOPs) to the ladder budget (FLOPs), each at the tokens/parameter ratios of
    :func:`shape_ratios` (``per_budget`` log-evenly over ``ratios``, default the trusted shapes
    :data:`TRUSTED_TOKENS_PER_PARAM`; extended towards ``reach`` when given), priced by ``cost``
    (default C = k N D, k = ``flops_per_token``).

    The grid starts at the smallest run, never below it: a run smaller than every run so far informs the
    decision at the (larger) target only through the law's form holding below the data, where scaling laws
    fit worst (Hoffmann et al. 2022 and Kaplan et al. 2020 leave their smallest runs out of their fits), so
    its value would be an artefact of that assumption. A ladder budget below the smallest run is refused
    (a candidates file can still propose smaller runs, which design flags)."""
    r = shape_ratios(ratios, per_budget, reach, max_extra)
    budget = check_positive("the ladder budget must be a finite number of FLOPs > 0", budget, "budget")
    budgets = check_count("budgets", budgets, 1, MAX_GRID, GRID_WHY)
    cost = CostLaw("6nd", k=flops_per_token) if cost is None else cost
    c_runs = real_array(runs_compute)
    if c_runs is None or c_runs.ndim != 1 or c_runs.size == 0 or not np.all(np.isfinite(c_runs)) or np.any(c_runs <= 0):
        raise BayesScalingError(f"runs_compute must be a flat list of the ladder's run costs, finite FLOPs > 0, got "
                                f"{runs_compute!r}"[:200], quantity="runs_compute")
    lo = float(np.min(c_runs))
    if budget < lo * (1 - FLOAT_RTOL):
        raise BayesScalingError(f"the ladder budget {budget:.3g} FLOPs is below the fit's smallest run ({lo:.3g} FLOPs): "
                                f"every grid candidate would be smaller than the runs you have, where the law has no "
                                f"data; raise the ladder budget to at least {lo:.3g} FLOPs, or give candidate runs in a "
                                f"file (flagged outside the data)", quantity="ladder_budget")
    levels = np.geomspace(lo, budget, budgets) if budget > lo * (1 + FLOAT_RTOL) else np.array([budget])
    c = np.repeat(levels, len(r))
    rr = np.tile(r, len(levels))
    n = cost.params_at_ratio(c, rr)
    return n, rr * n


def data_shapes(result, *, require_range: bool = True) -> tuple[float, float]:
    """(lowest, highest) tokens/parameter D/N over a fit's (or an ensemble's) runs: the shapes the law was fitted
    and validated on, the design's default candidate range (a run outside it tests the law where it has no
    data). With ``require_range``, one shape only (hi/lo < 1.001) is refused: no range to choose candidates from."""
    frame = result.runs.frame
    if not {"N", "D"} <= set(frame.columns):
        raise BayesScalingError("run design needs runs with parameters N and tokens D", quantity="shapes")
    ratio = (frame["D"] / frame["N"]).to_numpy(float)
    lo, hi = float(np.min(ratio)), float(np.max(ratio))
    if require_range and not hi > lo * 1.001:
        raise BayesScalingError(f"the fit's runs all train at D/N = {lo:.3g} tokens/parameter: no range of shapes to "
                                f"choose candidates from; give one with --shapes LO HI (e.g. 0.04 340, the span of "
                                f"Hoffmann et al. 2022's runs), knowing the law is extrapolated beyond {lo:.3g}",
                                quantity="shapes")
    return lo, hi


def outside(tokens_per_param, ratios=TRUSTED_TOKENS_PER_PARAM, rtol: float = FLOAT_RTOL) -> np.ndarray:
    """Whether each value (e.g. a shape, tokens/parameter) lies outside ``ratios`` (LO, HI) by more than ``rtol``
    relative (default :data:`FLOAT_RTOL`, float rounding; :data:`DATA_RTOL` against the fit's runs)."""
    r = np.asarray(tokens_per_param, float)
    return (r < ratios[0] * (1 - rtol)) | (r > ratios[1] * (1 + rtol))


@dataclass(frozen=True)
class DataBox:
    """The ranges (LO, HI) of a fit's runs: shapes D/N (tokens/parameter), sizes N (parameters) and costs C (FLOPs,
    priced by the design's cost law, as the candidates are)."""

    shapes: tuple[float, float]
    params: tuple[float, float]
    compute: tuple[float, float]

    def outside(self, n, d, c) -> dict[str, np.ndarray]:
        """Per candidate (N parameters, D tokens, C FLOPs), whether it lies outside each range beyond
        :data:`DATA_RTOL`: keys ``shapes``, ``N``, ``C``."""
        n, d, c = (np.asarray(x, float) for x in (n, d, c))
        return {"shapes": outside(d / n, self.shapes, DATA_RTOL), "N": outside(n, self.params, DATA_RTOL),
                "C": outside(c, self.compute, DATA_RTOL)}

    def where(self, n, d, c) -> list[str]:
        """Per candidate, what of it lies outside the runs (e.g. "N,C"; "" when inside every range)."""
        out = self.outside(n, d, c)
        names = (("shapes", "D/N"), ("N", "N"), ("C", "C"))
        return [",".join(label for key, label in names if out[key][i]) for i in range(np.size(n))]


def data_box(result, cost: CostLaw) -> DataBox:
    """The :class:`DataBox` of a fit's (or an ensemble's) runs, C priced by ``cost`` (:func:`data_shapes`' checks)."""
    shapes = data_shapes(result, require_range=False)
    frame = result.runs.frame
    n = frame["N"].to_numpy(float)
    c = np.asarray(cost.flops(n, frame["D"].to_numpy(float)), float)  # C(N, D) in the design's law, as candidates are
    return DataBox(shapes, (float(n.min()), float(n.max())), (float(c.min()), float(c.max())))


def _round_in(x: float, figures: int, up: bool) -> float:
    """``x`` rounded to ``figures`` significant figures, up (``up``) or down."""
    unit = 10.0 ** (np.floor(np.log10(x)) - figures + 1)
    return float((np.ceil(x / unit - 1e-9) if up else np.floor(x / unit + 1e-9)) * unit)


def keep_to_shapes(fitted) -> str:
    """How ``--shapes`` keeps the grid to the fit's shapes ``fitted`` (LO, HI tokens/parameter, :func:`data_shapes`):
    LO rounded up and HI down at 3 significant figures (more where that would cross), so every grid ratio lies
    inside the fit's range. One shape (HI/LO < 1.001) has no range: an interval one step of the trusted grid
    (:func:`shape_ratios`, 0.44 decades) either side of it is offered, its candidates off that shape flagged."""
    lo, hi = (float(x) for x in fitted)
    if hi > lo * 1.001:
        for figures in range(3, 10):
            a, b = _round_in(lo, figures, True), _round_in(hi, figures, False)
            if a < b:
                return f"--shapes {a:.{figures}g} {b:.{figures}g} keeps to it"
        return f"--shapes {lo!r} {hi!r} keeps to it"
    g = shape_ratios()
    step = float(g[1] / g[0])
    a, b = _round_in(lo / step, 3, False), _round_in(lo * step, 3, True)
    return (f"one shape has no range: --shapes {a:.3g} {b:.3g} keeps the candidates within one step of the trusted grid "
            f"({np.log10(step):.2f} decades) of it")


def shapes_range(fitted) -> str:
    """The fit's shapes ``fitted`` (LO, HI tokens/parameter) in words: "LO-HI", or "one shape, LO" (HI/LO < 1.001)."""
    lo, hi = (float(x) for x in fitted)
    return f"{lo:.4g}-{hi:.4g}" if hi > lo * 1.001 else f"one shape, {lo:.4g}"


def check_candidates(n_params, tokens) -> tuple[np.ndarray, np.ndarray]:
    """Candidate runs (N parameters, D tokens) as two flat float arrays of one length, each value finite and > 0;
    otherwise one line naming ``n_params``."""
    n, d = real_array(n_params), real_array(tokens)
    if n is None or d is None or n.ndim != 1 or n.shape != d.shape or n.size == 0 or not np.all(np.isfinite(n * d)) \
            or np.any(n <= 0) or np.any(d <= 0):
        raise BayesScalingError("candidate runs need one N > 0 and one D > 0 each: n_params and tokens must be "
                                "flat lists of finite numbers > 0 of the same length (e.g. from candidate_grid)",
                                quantity="n_params")
    return n, d
