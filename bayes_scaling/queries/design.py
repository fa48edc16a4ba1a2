"""Which runs next: preposterior analysis of candidate ladder runs by importance reweighting.

For a candidate run x = (N, D) and a posterior draw s taken as the truth, a simulated log-loss y drawn
from draw s's predictive of a new run, as ``predict`` draws it (law + the family's noise + the fit's
extrapolation discrepancy and residual process, where it carries them:
:mod:`bayes_scaling.queries.design_outcome`), reweights every draw r by its predictive density p(y | r); the objective at the target budget C is recomputed on the reweighted draws and
averaged over simulated worlds (a true draw and an outcome each; for a fit with run noise and SEs the outcome
carries a new run's evaluation SE too, ``candidate_se``). No sampling: the worlds share their true draws and noise
across candidates (common random numbers), so candidates compare fairly.
An ensemble's law-form weights stay at the stacking weights: each member's draws are reweighted by an outcome
simulated from that member (:mod:`bayes_scaling.queries.design_preposterior`, :data:`ENSEMBLE_NOTE`).

Objectives at C (FLOPs): ``n_star``, the variance of log N*(C) (log parameters, squared); ``n_star_width``, the width
of N*'s 90% interval (decades, weighted quantiles of the reweighted draws); ``loss``, the variance of the loss
(nats/token, squared) at the decision that minimises expected loss; ``wasted_compute``, the expected wasted compute
(fraction of C) of the decision that minimises it: its reduction is the expected value of sample information, in FLOPs
once times C. In a world whose weights collapse (ESS below ``min_ess``) the objective comes from a linearised Gaussian
update instead (:mod:`bayes_scaling.queries.design_laplace`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from bayes_scaling.conventions import FLOPS_PER_PARAM_TOKEN, check_count, check_positive, check_seed, seeded_rng
from bayes_scaling.errors import BayesScalingError
from bayes_scaling.cost import CostLaw
from bayes_scaling.inference.design import check_design_family, no_refit_reason
from bayes_scaling.queries.design_exchange import exchange_batch
from bayes_scaling.queries.design_loglik import check_loglik_memory, outcome_loglik  # noqa: F401 (re-export)
from bayes_scaling.queries.design_laplace import laplace_for
from bayes_scaling.queries.design_outcome import candidate_outcome
from bayes_scaling.queries.design_shapes import FLOAT_RTOL, candidate_grid, check_candidates, optimal_shape_interval  # noqa: F401
from bayes_scaling.queries.design_preposterior import (ENSEMBLE_NOTE, OBJECTIVES, VARIANCE_POWER,  # noqa: F401
                                                      Preposterior, check_objective, draws_sigma_family, normalise)
from bayes_scaling.queries.design_verdict import (RULES, best_go, collapse_note, mc_se, refit_check, to_refit,  # noqa: F401
                                                  verdict_text, within_noise)
from bayes_scaling.queries.draws import resolve_cost
from bayes_scaling.result import require_fit

OBJECTIVE_UNITS = {"n_star": "(log parameters)^2", "n_star_width": "decades", "loss": "(nats/token)^2", "wasted_compute": "fraction of C"}


@dataclass
class Worlds:
    """Simulated worlds: a true draw each, each candidate's outcome noise there, each draw's log-likelihood of the
    picks' outcomes so far (log-weights, worlds x draws), and the picks."""

    truth: np.ndarray
    noise: np.ndarray
    logw: np.ndarray
    picks: list[int] = field(default_factory=list)
    info: np.ndarray | None = None  #: information about the law's parameters from the picks per world (Laplace), or None
    laplace: object = None  #: the Laplace fallback (:class:`~bayes_scaling.queries.design_laplace.LaplaceUpdate`)
    min_ess: float = 0.0  #: the ESS below which it scores a world
    z: np.ndarray | None = None  #: standard Normal draws of each candidate's discrepancy there (worlds x candidates)

    def copy(self) -> "Worlds":
        return Worlds(self.truth, self.noise, self.logw.copy(), list(self.picks),
                      None if self.info is None else self.info.copy(), self.laplace, self.min_ess, self.z)

    def add(self, j: int, ll: np.ndarray) -> None:
        """Condition the worlds on candidate ``j``'s outcome."""
        self.logw = self.logw + ll[j]
        self.picks.append(j)
        if self.laplace is not None:
            f = self.laplace.fisher(j, self.truth)
            self.info = f if self.info is None else self.info + f

    @classmethod
    def draw(cls, pre: Preposterior, n_candidates: int, worlds: int = 128, seed: int = 0) -> "Worlds":
        rng = seeded_rng(seed)
        truth = pre.draw_truth(rng, worlds)  # an ensemble's: one per member (worlds x members)
        noise = pre.family.draws(rng, (worlds, n_candidates))
        return cls(truth, noise, np.zeros((worlds, pre.size)), z=rng.standard_normal((worlds, n_candidates)))


@dataclass
class Gains:
    """Expected objective after each candidate (given the worlds' earlier picks), the reduction against
    ``before``, the median importance-weight ESS, the share of collapsed worlds (scored by Laplace) and the
    gain's Monte Carlo standard error ``se`` (objective units; :func:`expected_after`)."""

    before: float
    after: np.ndarray
    ess: np.ndarray
    laplace_share: np.ndarray | None = None
    se: np.ndarray | None = None

    @property
    def gain(self) -> np.ndarray:
        return self.before - self.after


def _scored(pre: Preposterior, logw: np.ndarray, worlds: Worlds, j: int | None, name: str | None):
    """Objective, ESS and collapse (ESS < min_ess: scored by the worlds' Laplace update given the picks'
    information and candidate ``j``'s, if not None) per world for log-weights ``logw`` (worlds x draws)."""
    w, e = normalise(logw, pre.member)  # an ensemble's law-form weights stay fixed
    obj = pre.objective(w, name)
    low = e < worlds.min_ess if worlds.laplace is not None else np.zeros(len(e), bool)
    if low.any():
        lap, truth = worlds.laplace, worlds.truth[low]
        info = np.zeros((len(truth),) + lap.cov.shape) if worlds.info is None else worlds.info[low]
        info = info if j is None else info + lap.fisher(j, truth)
        name = name or pre.objective_name
        obj[low] = pre.current(name) * lap.ratio(info, truth, name) ** VARIANCE_POWER[name]
    return obj, e, low


def expected_after(pre: Preposterior, ll: np.ndarray, worlds: Worlds, which=None, name: str | None = None,
                   before: float | None = None) -> Gains:
    """Preposterior expected objective after adding candidate j to the worlds' picks, for j in ``which``
    (``before``: the expected objective with the picks alone, when known; otherwise scored the same way,
    collapsed worlds by the Laplace update).

    The gain's standard error is the Monte Carlo SE over the simulated worlds, which are independent
    (each a true draw and its outcome; the thinned draws that are reweighted are fixed): sd / sqrt(worlds)
    of each world's reduction (its objective before, with the picks alone, minus after) when ``before`` is
    scored here, else of each world's objective after (``before`` then taken as given). With no picks every
    world's objective before is the current one, so both are the same."""
    which = np.arange(ll.shape[0]) if which is None else np.asarray(which, int)
    base = 0.0
    if before is None:
        base = _scored(pre, worlds.logw, worlds, None, name)[0]
        before = float(np.mean(base))
    after, ess, share, se = (np.full(ll.shape[0], np.nan) for _ in range(4))
    for j in which:
        obj, e, low = _scored(pre, worlds.logw + ll[j], worlds, j, name)
        after[j], ess[j], share[j], se[j] = np.mean(obj), np.median(e), np.mean(low), mc_se(base - obj)
    return Gains(before, after, ess, share, se)


def greedy_batch(pre: Preposterior, ll: np.ndarray, worlds: Worlds, cost: np.ndarray, budget: float,
                 batch: int, rule: str = "per_flop", first_gains: np.ndarray | None = None) -> list[dict]:
    """Pick up to ``batch`` distinct candidates within ``budget`` FLOPs, each the best gain per FLOP
    (``rule="per_flop"``), the best gain (``"gain"``) or the best gain among the runs that cost at most
    an equal share of the budget left (``"paced"``: (budget - spent) / picks left) given the earlier picks' simulated
    outcomes; ``worlds`` (no picks yet) is updated in place. One record per pick. Lazy greedy (Minoux 1978;
    CELF, Leskovec et al. 2007): a score from an earlier step bounds the score now (gains shrink as
    runs are added), so only candidates whose bound could win are re-evaluated. ``first_gains``: the
    gains before any pick, when known (from :func:`expected_after` on the same worlds).

    Heuristic here: worlds switch between reweighting and the Laplace update at the hard threshold
    ``min_ess``, so a pick can make a gain grow and a stale bound may then skip the best candidate."""
    scale = np.asarray(cost, float) if rule == "per_flop" else np.ones(len(cost))
    if first_gains is None:
        first_gains = expected_after(pre, ll, worlds).gain
    bound = np.asarray(first_gains, float) / scale
    first = pre.current()
    out, spent, before = [], 0.0, first
    for k in range(batch):
        cap = (budget - spent) / (batch - k) if rule == "paced" else budget - spent
        fits = [j for j in range(len(cost)) if j not in worlds.picks and cost[j] <= cap]
        if not fits:
            break
        fresh: dict[int, Gains] = {}
        while True:
            best = max(fits, key=lambda k: bound[k])
            if best in fresh:
                break
            fresh[best] = expected_after(pre, ll, worlds, [best], before=before)
            bound[best] = fresh[best].gain[best] / scale[best]
        g = fresh[best]
        if not g.gain[best] > 0:
            break
        worlds.add(best, ll)
        spent, before = spent + float(cost[best]), float(g.after[best])
        out.append(_record(best, g, spent, first))
    return out


def _record(j: int, g: Gains, spent: float, first: float) -> dict:  # one pick of a batch
    return {"candidate": j, "gain": float(g.gain[j]), "after": float(g.after[j]), "cumulative_cost": spent,
            "cumulative_gain": first - float(g.after[j]), "ess": float(g.ess[j]), "laplace_share": float(g.laplace_share[j])}


def exchanged(pre: Preposterior, ll: np.ndarray, worlds: Worlds, picks: list[dict], cost: np.ndarray, budget: float,
              batch: int, pool) -> tuple[list[dict], Worlds, int]:
    """The greedy batch ``picks`` improved by exchange (:func:`~bayes_scaling.queries.design_exchange.exchange_batch`,
    swaps among candidates ``pool``): its records in order, the worlds conditioned on it and the moves taken.
    ``worlds``: with no picks (not changed)."""
    def after_with(others, which):
        w = worlds.copy()
        for j in others:
            w.add(j, ll)
        return expected_after(pre, ll, w, which, before=0.0).after[which]

    left, _, moves = exchange_batch([p["candidate"] for p in picks], after_with, cost, budget, batch=batch, pool=pool)
    w, out, spent, first = worlds.copy(), [], 0.0, pre.current()
    before = first
    while left:  # in the order of gain per FLOP given the earlier ones, as stop-or-go takes them
        g = expected_after(pre, ll, w, left, before=before)
        j = max(left, key=lambda k: g.gain[k] / cost[k])
        left.remove(j)
        w.add(j, ll)
        spent, before = spent + float(cost[j]), float(g.after[j])
        out.append(_record(j, g, spent, first))
    return out, w, moves


def stop_or_go(pre: Preposterior, ll: np.ndarray, worlds: Worlds, picks: list[int], cost: np.ndarray) -> dict:
    """The value of the batch ``picks`` (in order) against its cost, in FLOPs at the target: after each
    pick, the expected reduction of the least expected waste x C (EVSI, :func:`~.design_preposterior.decision_now`) against the FLOPs spent so
    far, each with its Monte Carlo SE over the simulated worlds (``value_se_flops``, ``net_se_flops``: the cost is
    exact; the SE counts the worlds' spread only, not the error of the Laplace update that scores a
    collapsed world), and ``laplace_share``, the share of worlds scored by the Laplace update. ``go_runs``: how many of the first picks maximise value - cost (0: stop, the ladder is enough).
    ``evpi_flops`` (least expected waste now x C) bounds what any ladder could save. ``worlds``: with no
    picks (copied, not changed)."""
    now = pre.current("wasted_compute")
    wr, spent, steps = worlds.copy(), 0.0, []
    for j in picks:  # now is every world's waste before (no picks): the SE of after is the SE of the value
        g = expected_after(pre, ll, wr, [j], "wasted_compute", before=now)
        after, ess, se = float(g.after[j]), g.ess[j:j + 1], float(g.se[j]) * pre.target
        wr.add(j, ll)
        spent += float(cost[j])
        value = (now - after) * pre.target
        steps.append({"expected_wasted_after": after, "value_flops": value, "cost_flops": spent,
                      "net_flops": value - spent, "value_se_flops": se, "net_se_flops": se,
                      "ess": float(np.median(ess)), "laplace_share": float(g.laplace_share[j])})
    go = int(np.argmax([0.0] + [s["net_flops"] for s in steps]))
    last = steps[-1] if steps else {"expected_wasted_after": now, "value_flops": 0.0, "cost_flops": 0.0, "ess": pre.size}
    return {"expected_wasted_now": now, "expected_wasted_after": last["expected_wasted_after"],
            "value_flops": last["value_flops"], "batch_cost_flops": last["cost_flops"], "ess": last["ess"],
            "evpi_flops": now * pre.target, "steps": steps, "go_runs": go, "verdict": "go" if go else "stop"}


def posterior_objective(result, target_flops: float, objective: str, *, flops_per_token: float = FLOPS_PER_PARAM_TOKEN,
                        max_draws: int = 800, cost: CostLaw | None = None) -> float:
    """The objective of a fit's posterior at the target budget (used to score real refits)."""
    require_fit(result)
    target_flops = check_positive("target_flops must be a finite number of FLOPs > 0", target_flops, "target_flops")
    max_draws = check_count("max_draws", max_draws, 10)
    draws, sigma, family = draws_sigma_family(result, resolve_cost(result, cost, flops_per_token))
    return Preposterior(draws, sigma, family, target_flops, objective=objective, max_draws=max_draws).current()


@dataclass
class Design:
    """Candidates ranked by expected reduction of the objective per FLOP, the batch (greedy, or refined by exchange when
    ``exchanged`` > 0) and the stop-or-go comparison for that batch (see :func:`design_runs`)."""

    pre: Preposterior
    n_params: np.ndarray
    tokens: np.ndarray
    cost: np.ndarray
    gains: Gains
    method: list[str]
    batch: list[dict]
    stop_go: dict
    batch_refit: float | None = None
    rule: str = "per_flop"
    laplace: bool = False  #: collapsed outcomes scored by the Laplace update (False: off, or an ensemble)
    outcome: object = None  #: the candidates' predictive (:class:`~.design_outcome.Outcome`: its ``relative_se``)
    worlds: int = 0  #: simulated outcomes per candidate
    exchanged: int = 0  #: swaps (or added runs) by which the exchange changed the greedy batch
    refit_note: str | None = None  #: why this design runs no refits (a fit with a discrepancy), or None
    min_ess: float = 50.0  #: ESS below which an outcome's weights count as collapsed
    #: wall seconds: ``rank`` (every candidate's expected gain, refits excluded) and ``total``
    seconds: dict = field(default_factory=dict)
    form_weights: str | None = None  #: an ensemble's: its law-form weights stay fixed (:data:`ENSEMBLE_NOTE`)

    @property
    def cost_name(self) -> str:
        """The cost law that priced the candidates and the target budget."""
        return self.pre.cost.describe()

    def candidate_records(self) -> list[dict]:
        """One record per candidate, best gain per FLOP first (:meth:`ranked`); ``gain_se``: the gain's Monte Carlo SE (objective
        units, :func:`expected_after`; a refit row's: over its refits' worlds), ``gain_within_noise``: |gain| < 2 SE."""
        g, before = self.gains, self.gains.before
        recs = [{"N": float(self.n_params[j]), "D": float(self.tokens[j]),
                 "tokens_per_param": float(self.tokens[j] / self.n_params[j]), "cost_flops": float(self.cost[j]),
                 "expected_after": float(g.after[j]), "gain": float(g.gain[j]), "gain_se": float(g.se[j]),
                 "gain_within_noise": within_noise(float(g.gain[j]), float(g.se[j])),
                 "relative_gain": float(g.gain[j] / before) if before > 0 else 0.0,
                 "gain_per_flop": float(g.gain[j] / self.cost[j]), "ess": float(g.ess[j]),
                 "laplace_share": float(g.laplace_share[j]), "method": self.method[j]}
                for j in range(len(self.cost))]
        return [recs[j] for j in self.ranked()]

    def ranked(self) -> list[int]:  # candidate indices, best gain per FLOP first (stable: ties keep the grid's order)
        return sorted(range(len(self.cost)), key=lambda j: -float(self.gains.gain[j] / self.cost[j]))

    def batch_records(self) -> list[dict]:
        """The batch's picks in order; ``candidate``: the pick's row in :meth:`candidate_records`."""
        row = {j: i for i, j in enumerate(self.ranked())}
        return [{"N": float(self.n_params[b["candidate"]]), "D": float(self.tokens[b["candidate"]]),
                 "cost_flops": float(self.cost[b["candidate"]]), **b, "candidate": row[b["candidate"]]}
                for b in self.batch]


def design_runs(result, target_flops: float, ladder_budget: float, n_params, tokens, *, objective: str = "n_star",
                batch: int = 4, worlds: int = 128, max_draws: int = 800, min_ess: float = 50.0,
                refit=None, max_refits: int = 3, flops_per_token: float = FLOPS_PER_PARAM_TOKEN,
                seed: int = 0, cost: CostLaw | None = None, laplace: bool = True, exchange: int = 20,
                candidate_se: float | None = None) -> Design:
    """Rank candidate runs (N parameters, D tokens; priced by ``cost``, default the fit's stored cost
    law, else C = k N D with k = ``flops_per_token``) by the expected reduction of ``objective`` at
    ``target_flops`` per FLOP, and pick a greedy batch of up to ``batch`` runs within ``ladder_budget`` FLOPs. ``refit(n, d, objective)`` (e.g. built on
    :func:`bayes_scaling.inference.design.refit_expected`) gives the objective after runs (N, D) in each of a
    few simulated worlds by real refits (their mean is the estimate, its SE theirs): used for the best
    ``max_refits`` candidates whose importance-weight ESS is below ``min_ess``, for the batch when its ESS
    is, and for stop or go when the verdict's picks' ESS is (objective ``wasted_compute``): the verdict is
    then chosen again among all options, each by its refits where it has them, else by reweighting, until it
    rests on refits or on healthy weights (:func:`~bayes_scaling.queries.design_verdict.refit_check`); never for a
    fit with an extrapolation discrepancy (``refit_note``, :func:`~bayes_scaling.inference.design.no_refit_reason`). ``laplace``: score the simulated outcomes whose
    weights' ESS is below ``min_ess`` by the linearised Gaussian update (single fits; an ensemble's
    mixture of laws is reweighted only). ``exchange``: refine the best rule's batch by swaps among the
    ``exchange`` best candidates by gain and by gain per FLOP (0: greedy only). Stop or go
    (:func:`stop_or_go`) scores the reported batch in its order and the other rules' greedy batches
    (``stop_go["alternatives"]``, their best net saving in FLOPs); the verdict (:func:`best_go`) takes the
    batch of largest net saving among them, and ``stop_go["go_runs"]`` counts that batch's runs. ``candidate_se``:
    a new run's evaluation SE/loss (fits with run noise and SEs; default their runs' median: ``Design.outcome``)."""
    require_fit(result)
    check_design_family(result)
    target_flops = check_positive("target_flops must be a finite number of FLOPs > 0", target_flops, "target_flops")
    budget = check_positive("ladder_budget must be a finite number of FLOPs > 0", ladder_budget, "ladder_budget")
    batch, worlds, max_draws, max_refits, exchange = (check_count(*a) for a in (
        ("batch", batch, 1), ("worlds", worlds, 8), ("max_draws", max_draws, 10), ("max_refits", max_refits, 0),
        ("exchange", exchange, 0)))
    min_ess = check_positive("min_ess must be a finite number > 0 (effective draws)", min_ess, "min_ess")
    check_seed(seed)
    refit_note = no_refit_reason(result)  # a fit with a discrepancy: reweighting only, as an ensemble
    refit = None if refit_note else refit
    n, d = check_candidates(n_params, tokens)
    t0 = time.perf_counter()
    pre = Preposterior(*draws_sigma_family(result, resolve_cost(result, cost, flops_per_token)), target_flops,
                       objective=objective, max_draws=max_draws, seed=seed)
    cost = np.asarray(pre.cost.flops(n, d), float)
    keep = cost <= budget * (1 + FLOAT_RTOL)  # a rung priced back to the budget can land an ulp above it: then
    if not keep.any():  # (within FLOAT_RTOL, 1e-9 relative) it costs the budget
        raise BayesScalingError(f"no candidate run fits the ladder budget {budget:.3g} FLOPs (the cheapest costs "
                                f"{cost.min():.3g}): raise the budget or add smaller candidates", quantity="ladder_budget")
    cost = np.minimum(cost, budget)
    n, d, cost = n[keep], d[keep], cost[keep]
    check_loglik_memory(len(n), worlds, pre.size)
    w = Worlds.draw(pre, len(n), worlds, seed)
    outcome = candidate_outcome(result, pre, n, d, candidate_se)  # predict's: noise (+ SE), discrepancy, process
    w.laplace, w.min_ess = laplace_for(pre, n, d, outcome) if laplace else None, min_ess
    ll = outcome_loglik(pre, pre.log_mean(n, d), w, outcome)
    gains = expected_after(pre, ll, w)
    method = ["laplace" if s > 0.5 else "reweight" for s in gains.laplace_share]
    seconds = {"rank": time.perf_counter() - t0}
    first_gains = gains.gain.copy()
    for j in [] if refit is None else [j for j in np.argsort(-gains.gain / cost) if gains.ess[j] < min_ess][:max_refits]:
        scores = np.atleast_1d(np.asarray(refit(n[j:j + 1], d[j:j + 1], objective), float))
        gains.after[j], gains.se[j], method[j] = np.mean(scores), mc_se(scores), "refit"
    # the best of the rules' batches (budgeted greedy, Leskovec et al. 2007, plus a paced rule)
    tries = {}
    for rule in RULES:
        wr = w.copy()
        picks = greedy_batch(pre, ll, wr, cost, budget, batch, rule, first_gains)
        tries[rule] = (picks[-1]["cumulative_gain"] if picks else 0.0, picks, wr)
    rule = max(tries, key=lambda r: tries[r][0])
    picks, moves = tries[rule][1], 0
    if exchange and picks:  # the pool: the best candidates alone, by gain and by gain per FLOP
        pool = np.union1d(np.argsort(-first_gains)[:exchange], np.argsort(-first_gains / cost)[:exchange])
        new, wr, moves = exchanged(pre, ll, w, picks, cost, budget, batch, pool)
        if moves:  # otherwise the greedy order stands
            picks, tries[rule] = new, (new[-1]["cumulative_gain"], new, wr)
    # stop or go on the reported batch; the other rules' greedy batches only as alternatives
    shown = [p["candidate"] for p in picks]
    sg = {**stop_or_go(pre, ll, w, shown, cost), "rule": rule, "exchanged": moves, "alternatives": []}
    for st, j in zip(sg["steps"], shown):
        st.update(N=float(n[j]), D=float(d[j]))
    seen, order = [shown], {"reported": (shown, sg["steps"])}
    for r, t in tries.items():
        if t[2].picks not in seen:  # a rule whose greedy batch differs from those already scored
            seen.append(t[2].picks)
            alt = stop_or_go(pre, ll, w, t[2].picks, cost)
            k = alt["go_runs"]
            order[r] = (t[2].picks, alt["steps"])
            sg["alternatives"].append({"rule": r, "go_runs": k, "runs": len(t[2].picks),
                                       "net_flops": alt["steps"][k - 1]["net_flops"] if k else 0.0,
                                       "net_se_flops": alt["steps"][k - 1]["net_se_flops"] if k else 0.0,
                                       "ess": alt["steps"][k - 1]["ess"] if k else float("inf"),
                                       "laplace_share": alt["steps"][k - 1]["laplace_share"] if k else 0.0,
                                       "picks": [{"N": float(n[j]), "D": float(d[j])} for j in t[2].picks]})
    sg.update(best_go(sg))
    seconds["total"] = time.perf_counter() - t0
    out = Design(pre, n, d, cost, gains, method, picks, sg, rule=rule, laplace=w.laplace is not None, worlds=worlds,
                 seconds=seconds, exchanged=moves, min_ess=min_ess, refit_note=refit_note, outcome=outcome,
                 form_weights=None if pre.member is None else ENSEMBLE_NOTE)
    if refit is not None and picks and picks[-1]["ess"] < min_ess:
        out.batch_refit = float(np.mean(refit(n[shown], d[shown], objective)))
    # where the verdict's picks (a STOP: the reported batch's best) have collapsed weights, real refits score
    # them and the verdict is chosen again among all options (each by its refits where it has them)
    while refit is not None and (o := to_refit(sg, min_ess)) is not None:
        js = order[o["batch"]][0][:o["runs"]]
        scores = np.atleast_1d(np.asarray(refit(n[js], d[js], "wasted_compute"), float))
        sg.update(refit_check(sg, scores, sg["expected_wasted_now"], pre.target, float(cost[js].sum()), o["ess"],
                              o["batch"], o["runs"]))
    return out
