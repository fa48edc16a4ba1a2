"""Calibration cuts of an ensemble's extrapolation discrepancy (leave-future-out, cross-fitted).

At each stacking cut the members fitted below it are mixed and their misses on the runs above it
calibrate one discrepancy (:func:`with_cross_fitted_discrepancy`). Which weights mix them
(:func:`calibration_cuts`) decides whether the calibration describes the final mixture:

* **Only learned weights.** A cut is used only when its weights were learned from held-out runs below
  it (the deeper cuts' runs; nested leave-future-out, Bürkner, Gabry & Vehtari 2020). The deepest
  cut has nothing below it: its weights are the prior's equal weights, a mixture wider than any the
  procedure would end with, whose misses would understate those of a concentrated final mixture;
  it is dropped. When no cut has learned weights (a single cut), the final weights mix every cut
  instead, and ``info["weights_source"]`` says so: those weights were chosen on the very runs
  scored, so that calibration can be optimistic.
* **As concentrated as the final weights.** Weights learned from fewer runs are more spread than
  the final ones (the Dirichlet prior and fewer held-out runs both pull toward equal). Each cut's
  weights are tempered, w_k^g / sum_j w_j^g, with g chosen so that their entropy equals the final
  weights' entropy: the cut keeps its own ranking of the forms (learned below it) but commits to it
  as firmly as the final mixture does, so its misses are those of a mixture as narrow as the one
  the discrepancy is given to.
"""

from __future__ import annotations

import numpy as np

from bayes_scaling.conventions import seeded_rng
from bayes_scaling.cost import stored_cost
from bayes_scaling.errors import BayesScalingError
from bayes_scaling.inference.discrepancy import discrepancy_from_blocks, extrapolation_box, misses_block, split_axis
from bayes_scaling.result.ensemble import EnsembleResult


def run_weights(values, thresholds) -> np.ndarray:
    """1 / (number of cuts in ``thresholds`` that hold each run out, i.e. lie below its ``values``), so
    a run held out by several nested cuts counts once in all (0 for a run no cut holds out)."""
    n = (np.asarray(values, float)[:, None] > np.asarray(thresholds, float)[None, :]).sum(axis=1)
    return np.where(n > 0, 1.0 / np.maximum(n, 1), 0.0)


def heldout_weights(values, thresholds, shares=None) -> np.ndarray:
    """A held-out run's weight in the stacking objective and the held-out scores: :func:`run_weights` (a run held
    out by several nested cuts counts once) times its configuration's share ``shares`` (1/k for one of k
    replicates: :func:`~bayes_scaling.inference.model.replicate_shares`; default 1), as the calibration weighs it."""
    return run_weights(values, thresholds) * (1.0 if shares is None else np.asarray(shares, float))


def heldout_log_score(blocks, values, thresholds, shares=None) -> np.ndarray:
    """Per member, the held-out log score (nats) over all cuts: ``blocks[j]`` (runs x members) scored at the cut
    ``thresholds[j]``, its runs at ``values[j]`` on the split axis and ``shares[j]`` of their configurations
    (default 1), each run weighted by :func:`heldout_weights`, as in the stacking objective."""
    shares = shares or [None] * len(values)
    vw = np.concatenate([heldout_weights(v, thresholds, s) for v, s in zip(values, shares)])
    return vw @ np.vstack(blocks)


def entropy(w) -> float:
    """Shannon entropy (nats) of the weights ``w``."""
    w = np.asarray(w, float)
    w = w[w > 0]
    return float(-(w * np.log(w)).sum())


def temper_to_entropy(w, target) -> tuple[np.ndarray, float]:
    """(w^g / sum w^g, g): the weights ``w`` tempered so that their entropy equals that of ``target``
    (g > 1 sharpens, g < 1 flattens, the ranking kept). Equal weights have no ranking to sharpen and
    come back unchanged (g = 1)."""
    from scipy.optimize import brentq
    from scipy.special import softmax

    logw = np.log(np.clip(np.asarray(w, float), 1e-300, None))
    if np.ptp(logw) < 1e-9:
        return softmax(logw), 1.0
    h_target = entropy(target)
    gap = lambda g: entropy(softmax(g * logw)) - h_target  # noqa: E731 (decreasing in g)
    g_max = 1e4
    g = 0.0 if gap(0.0) <= 0 else g_max if gap(g_max) >= 0 else brentq(gap, 0.0, g_max, xtol=1e-8)
    return softmax(g * logw), float(g)


def learning_runs(thresholds, values) -> list[int]:
    """Per cut j, how many held-out runs of the deeper cuts lie at or below ``thresholds[j]``: the runs
    its cross-fitted weights were learned from (0: the prior's equal weights)."""
    return [int(sum(np.sum(values[k] <= tj) for k, tk in enumerate(thresholds) if tk < tj)) for tj in thresholds]


def calibration_cuts(cuts, crossed, values, final_weights) -> tuple[list, dict]:
    """The cuts that calibrate the discrepancy and the weights that mix each (module docstring).
    ``cuts``: (decades, threshold, held-out runs, member fits below the cut) per stacking cut;
    ``crossed``: their cross-fitted weights; ``values``: their held-out runs on the split axis;
    ``final_weights``: the ensemble's weights. Returns ([(decades, threshold, held-out runs, fits,
    weights)], info)."""
    thresholds = [c[1] for c in cuts]
    n_learn = learning_runs(thresholds, values)
    learned = [j for j, n in enumerate(n_learn) if n > 0]
    info = {"learning_runs": {f"{c[0]:g}": n for c, n in zip(cuts, n_learn)}}
    if not learned:
        info["weights_source"] = ("final weights at every cut: no cut had weights learned below it (in-sample: the "
                                  "runs scored also chose the weights, so the calibration can be optimistic)")
        return [(*c, np.asarray(final_weights, float)) for c in cuts], info
    out, gammas = [], {}
    for j in learned:
        w, g = temper_to_entropy(crossed[j], final_weights)
        out.append((*cuts[j], w))
        gammas[f"{cuts[j][0]:g}"] = g
    dropped = [f"{cuts[j][0]:g}" for j in range(len(cuts)) if j not in learned]
    info.update({"weights_source": "cross-fitted below each cut, tempered to the final weights' entropy "
                                   f"({entropy(final_weights):.3f} nats)", "temper_exponent": gammas,
                 "dropped_cuts": {d: "no held-out runs below it to learn weights from" for d in dropped}})
    return out, info


def check_one_family(ens: EnsembleResult):
    """The first member of ``ens``, after checking that every member has one likelihood family (the mixture's
    discrepancy is calibrated on one noise model)."""
    if len({(m.spec.likelihood.family, m.spec.likelihood.nu) for m in ens.members.values()}) > 1:
        raise BayesScalingError("calibrating one discrepancy on the mixture needs one likelihood family for every "
                                "member; these members' families differ")
    return next(iter(ens.members.values()))


def with_cross_fitted_discrepancy(ens: EnsembleResult, cuts, *, seed: int = 0, selection: dict | None = None,
                                  note: str = "cross-fitted on the mixture") -> EnsembleResult:
    """Calibrate one extrapolation discrepancy on the misses of the whole procedure, cross-fitted: at each
    cut ``(decades, threshold, held-out runs, member fits below the cut, weights)`` (:func:`calibration_cuts`,
    whose ``selection`` info is recorded; its ``method`` replaces the default) the members fitted below it are
    mixed, and the held-out misses of all cuts, each at its own distance beyond its cut, enter one grid
    posterior of (tau0, tau1), each run counting once in all (:func:`run_weights`;
    :func:`~bayes_scaling.inference.discrepancy.discrepancy_from_blocks`). Every member gets the same
    discrepancy; ``note`` goes to the ensemble's ``info["discrepancy"]``. With one cut and the final weights it
    is the mixture's calibration at one split (:func:`~bayes_scaling.inference.ensemble.with_mixture_discrepancy`)."""
    first = check_one_family(ens)
    axis = split_axis(first.law)
    cost = stored_cost(ens)  # C of held-out and fitted runs in a query's currency (scale_values)
    rng = seeded_rng(seed)
    thresholds = [c[1] for c in cuts]
    blocks = []
    for dec, thr, test, fits_j, w in cuts:
        mix = EnsembleResult(fits_j, dict(zip(fits_j, w)), seed=seed).evaluator
        mu = mix.log_mean_at_runs(test).values.reshape(-1, len(test)).T  # run x draw
        sigma = mix.pool({k: m.posterior["sigma"] for k, m in fits_j.items()}).values.ravel()
        train = next(iter(fits_j.values())).runs
        blocks.append(misses_block(mu, sigma, train, test, first.law, cost, rng, threshold=thr,
                                   fits=list(fits_j.values()),
                                   weights=run_weights(test.frame[axis].to_numpy(float), thresholds),
                                   label=f"{dec:g}", extra={"weights": dict(zip(fits_j, map(float, w)))}))
    info = {"method": "cross-fitted leave-future-out grid posterior on the ensemble's mixture", "inner_fits_reused": True,
            **(selection or {})}
    box = extrapolation_box(first.law, ens.runs.frame, cost)
    discs = discrepancy_from_blocks(blocks, first.spec.likelihood, [m.posterior for m in ens.members.values()], rng,
                                    info, law=first.law, box=box)
    out = {k: m.with_discrepancy(disc) for (k, m), disc in zip(ens.members.items(), discs)}
    return EnsembleResult(out, ens.weights, {**ens.info, "discrepancy": note}, seed=ens.seed)
