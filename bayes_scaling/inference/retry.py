"""When and how a fit whose diagnostics failed is sampled again (:func:`~bayes_scaling.inference.fit.fit`'s
retries): the settings of the next attempt, and whether it fits in the retry budget."""

from __future__ import annotations

import time

import numpy as np

from bayes_scaling.posterior.diagnostics import failing_variables

#: Refits when diagnostics fail: at most MAX_RETRIES, each with twice the tuning (and, unless only
#: divergences failed, draws) of the last and a higher target acceptance (smaller steps, fewer divergences);
#: the "double" schedule lifts a retry to a default fit's first attempt where that fits (:func:`double_retry`).
#: None starts unless its expected time (RETRY_TIME_FACTOR x the last attempt's, more where the floor lifted
#: it: :func:`expected_factor`) fits in RETRY_BUDGET_S seconds from the start.
MAX_RETRIES = 2
RETRY_BUDGET_S = 300.0
RETRY_TIME_FACTOR = 2.5
RETRY_SEED_STRIDE = 104729
#: Clocks a retry budget can be measured on: wall seconds, or this process's CPU seconds (all its
#: threads: with N sampler threads a CPU budget runs out about N times sooner in wall time).
RETRY_CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}
#: target_accept of retry 1, 2 (hierarchical fits start at 0.95: the scales tau and their offsets need small steps).
RETRY_TARGET_ACCEPT = {False: (0.95, 0.99), True: (0.99, 0.995)}


def escalate(settings: dict, retry: int, *, hierarchical: bool, more_draws: bool = True,
             floor: dict | None = None) -> dict:
    """Sampler settings of retry number ``retry`` (1, 2, ...) after ``settings`` failed: tuning doubled,
    target acceptance raised to the schedule's value (never lowered), and draws doubled when
    ``more_draws`` (R-hat or ESS failed; divergences alone need smaller steps, not more draws).

    ``floor`` (``{"draws", "tune"}``: a default fit's first attempt, :func:`default_floor`): a retry never
    samples less than it. Fewer draws or tuning steps than the defaults are a choice of speed for the first
    attempt; once it has failed, the retry is there to give a fit that passes, and doubling a short start
    (300 + 300 -> 600 + 600 -> 1200 + 1200) stays below what a default fit's first retry gets. Measured on
    5 runs of the bundled ladder at 300 + 300 draws (README, "Few runs"): 29 of 40 seeds passed after the
    retries without the floor, 38 of 40 with it, in 1.2x the wall time (43.8 s against 36.6 s for the 40
    fits)."""
    ladder = RETRY_TARGET_ACCEPT[hierarchical]
    target = ladder[min(retry, len(ladder)) - 1]
    out = {"draws": settings["draws"] * (2 if more_draws else 1), "tune": 2 * settings["tune"],
           "target_accept": max(float(settings["target_accept"]), target)}
    if floor:
        out["tune"] = max(out["tune"], int(floor["tune"]))
        if more_draws:
            out["draws"] = max(out["draws"], int(floor["draws"]))
    return out


def double_retry(settings: dict, retry: int, fits, *, hierarchical: bool, more_draws: bool, floor: dict) -> dict:
    """The ``"double"`` schedule's retry ``retry`` after ``settings`` failed: :func:`escalate` with the
    ``floor`` where ``fits(new)`` (its expected time fits the retry budget), else plain doubling (no floor),
    which a short first attempt near the budget may still afford (fit-many's 400 + 200 at 60 s under 300 s:
    1000 + 1000 is expected to take 250 s more, 800 + 400 150 s). The caller checks the returned settings'
    fit again: neither may fit."""
    new = escalate(settings, retry, hierarchical=hierarchical, more_draws=more_draws, floor=floor)
    return new if fits(new) else escalate(settings, retry, hierarchical=hierarchical, more_draws=more_draws)


#: draws and tuning steps of a default fit's first attempt (:func:`bayes_scaling.inference.fit.fit`; big
#: tables tune :data:`~bayes_scaling.inference.whiten.BIG_TUNE` steps from their pilot mode instead)
DEFAULT_DRAWS = 1000
DEFAULT_TUNE = 1000


def default_floor(tune: int = DEFAULT_TUNE) -> dict:
    """The floor of :func:`escalate`: a default fit's first attempt (``tune``: its default tuning on this route)."""
    return {"draws": DEFAULT_DRAWS, "tune": int(tune)}


#: Retry schedules: "double" (:func:`escalate`) or "ess" (:func:`escalate_to_ess`).
RETRY_SCHEDULES = ("double", "ess")
#: "ess" schedule: draws scaled by ESS_MARGIN x the ESS shortfall, between 2x and ESS_MAX_FACTOR x.
ESS_MARGIN = 1.3
ESS_MAX_FACTOR = 8.0


def escalate_to_ess(settings: dict, diag, retry: int, *, hierarchical: bool) -> dict:
    """Sampler settings of retry ``retry`` after ``settings`` failed with diagnostics ``diag``, sized by
    the failure: ESS grows about linearly with the draws, so the draws are scaled by the shortfall
    (needed / reached ESS, times :data:`ESS_MARGIN`, at least 2x while R-hat or ESS failed, at most
    :data:`ESS_MAX_FACTOR` x) and the tuning doubled; the target acceptance is raised (as :func:`escalate`)
    only when there were divergences, the one failure smaller steps cure."""
    need = diag.ess_threshold * diag.n_chains
    reached = max(1.0, min(diag.ess_bulk_min, diag.ess_tail_min))
    mixing = not (diag.r_hat_max <= diag.r_hat_threshold and reached >= need)
    factor = min(ESS_MAX_FACTOR, max(2.0, ESS_MARGIN * need / reached)) if mixing else 1.0
    out = {"draws": int(np.ceil(settings["draws"] * factor)), "tune": 2 * settings["tune"],
           "target_accept": float(settings["target_accept"])}
    if diag.divergences > 0:
        out["target_accept"] = escalate(settings, retry, hierarchical=hierarchical)["target_accept"]
    return out


def fit_to_budget(old: dict, new: dict, last_s: float, left_s: float) -> dict:
    """The ``"ess"`` schedule's ``new`` settings with the draws cut so that the attempt's expected time
    (:func:`expected_factor` x ``last_s``) fits in the ``left_s`` seconds of budget left, but never below
    twice the last attempt's draws where it asked for more: a smaller retry that fits is tried rather
    than none (``may_retry`` still refuses one whose 2x does not fit)."""
    if new["draws"] <= old["draws"] or expected_factor("ess", old, new) * last_s <= left_s:
        return new
    accept = 1.5 if new["target_accept"] > old["target_accept"] else 1.0
    steps = left_s / max(last_s, 1e-9) / accept * (old["draws"] + old["tune"])
    return {**new, "draws": int(max(2 * old["draws"], min(new["draws"], np.floor(steps - new["tune"]))))}


def expected_factor(schedule: str, old: dict, new: dict) -> float:
    """Expected time of the next attempt over the last one's: steps ratio, x1.5 when the steps shrink."""
    steps = (new["draws"] + new["tune"]) / (old["draws"] + old["tune"])
    if schedule == "double":  # more than doubled where the floor of escalate lifted the retry
        return RETRY_TIME_FACTOR * max(1.0, steps / 2.0)
    return steps * (1.5 if new["target_accept"] > old["target_accept"] else 1.0)


def may_retry(done: int, retries: int, last_s: float, elapsed_s: float, budget_s: float,
               factor: float = RETRY_TIME_FACTOR) -> bool:
    return done <= retries and elapsed_s + factor * last_s <= budget_s


def next_settings(schedule: str, settings: dict, diag, done: int, *, retries: int, last_s: float, elapsed_s: float,
                  budget_s: float, hierarchical: bool, floor: dict) -> dict:
    """The settings of the attempt after ``done`` attempts, the last sampled with ``settings`` failing ``diag``
    in ``last_s`` seconds (``elapsed_s`` since the fit's start): the ``"ess"`` schedule's
    (:func:`escalate_to_ess` cut to the budget) or the ``"double"`` one's (:func:`double_retry`, more draws
    unless only divergences failed). The caller still asks :func:`may_retry` whether it fits the budget."""
    if schedule == "ess":
        return fit_to_budget(settings, escalate_to_ess(settings, diag, done, hierarchical=hierarchical), last_s,
                             budget_s - elapsed_s)
    chains = diag.n_chains
    more_draws = not (diag.r_hat_max <= diag.r_hat_threshold and diag.ess_bulk_min >= diag.ess_threshold * chains
                      and diag.ess_tail_min >= diag.ess_threshold * chains)
    return double_retry(settings, done, lambda new: may_retry(done, retries, last_s, elapsed_s, budget_s,
                                                              expected_factor("double", settings, new)),
                        hierarchical=hierarchical, more_draws=more_draws, floor=floor)


#: Automatic centring on a retry (:func:`next_centred`). The rule, fixed before measuring: non-centred offsets
#: (eps = tau z) fail by slow mixing, not by divergences, where the data pin each group's offset while tau stays
#: loose (few groups): the posterior of z then has sd ~ (offset's sd) / tau, curving with tau (Papaspiliopoulos,
#: Roberts & Skold 2007, Statistical Science 22(1); Betancourt & Girolami 2015, arXiv:1312.0906: the centred form
#: suits strongly informative data, the non-centred one weak data). Centred offsets fail the other way, by divergences at the
#: funnel's neck (small tau). So a mixing failure (R-hat or ESS) on a varying parameter (its population value,
#: tau_<name>, <name>_group or eps_<name>) with at most a background share of divergent transitions switches
#: that parameter to centred when the data inform its offsets (:data:`INFORMED_MAX_RATIO`); more divergences than
#: that keep (or return to) non-centred, except a parameter that already mixed badly non-centred (no ping-pong:
#: it stays centred), and the retry raises target_accept as before. The background share: CENTRE_MAX_DIVERGENCE_RATE of the transitions, 2 of a
#: default fit's 4 x 1000 draws: non-centred first attempts diverged in about 1 fit of 25, once; the centred
#: funnel in 8 of 9 of the review's fits, 1-12 times each, 103 over 24 fits (benchmarks/README, "Non-centred
#: group offsets").
CENTRE_MAX_DIVERGENCE_RATE = 5e-4


def divergences_few(diag) -> bool:
    """Whether ``diag``'s divergent transitions are at most the background share CENTRE_MAX_DIVERGENCE_RATE."""
    return diag.divergences <= CENTRE_MAX_DIVERGENCE_RATE * diag.n_chains * diag.n_draws


def offset_variables(vary) -> dict[str, str]:
    """The posterior variables whose mixing speaks for each varying parameter's offsets: variable -> parameter."""
    return {v: k for k in vary for v in (k, f"tau_{k}", f"{k}_group", f"eps_{k}", f"z_eps_{k}")}


#: Centring needs offsets the data inform (:func:`informed_offsets`): the median over groups of the posterior sd of
#: eps_<name>[g], over the median of tau_<name>, below INFORMED_MAX_RATIO. From the normal model (Papaspiliopoulos
#: et al. 2007): with likelihood sd s of an offset and its prior sd tau, kappa = s^2 / (s^2 + tau^2) is the centred
#: Gibbs rate and 1 - kappa the non-centred one, and the offset's posterior sd given tau is tau sqrt(kappa). The
#: forms tie at kappa = 1/2 (ratio 0.71); 0.5 asks kappa <= 1/4 (centred at least 3x faster) as a margin because
#: the marginal sd and median tau come from an attempt that mixed badly. In the funnel (tau near 0: a shared
#: parameter) the offsets are the prior's, sd ~ tau, ratio ~ 1: they stay non-centred. Fixed before measuring.
INFORMED_MAX_RATIO = 0.5


def informed_offsets(posterior, vary) -> tuple[str, ...]:
    """The parameters of ``vary`` whose group offsets the data inform (:data:`INFORMED_MAX_RATIO`), from
    ``posterior``'s ``eps_<name>`` (chain, draw, group) and ``tau_<name>``; one without both is not informed."""
    out = []
    for k in vary:
        eps, tau = posterior.get(f"eps_{k}"), posterior.get(f"tau_{k}")
        if eps is None or tau is None:
            continue
        sd = np.asarray(eps.std(("chain", "draw")).values, dtype=float)
        t = float(np.median(np.asarray(tau.values, dtype=float)))
        if np.isfinite(t) and t > 0 and np.median(sd) / t < INFORMED_MAX_RATIO:
            out.append(k)
    return tuple(out)


def next_centred(diag, failing: tuple[str, ...] | None, *, vary, centred, spec_centred=(), informed=None,
                 mixed_badly=()) -> tuple[str, ...]:
    """The varying parameters the next attempt samples centred after an attempt that sampled ``centred``
    (among ``vary``) failed with diagnostics ``diag``; ``failing``: the variables whose own R-hat or ESS failed
    (:func:`~bayes_scaling.posterior.diagnostics.failing_variables`; None: not known, all of ``vary`` are
    suspect); ``informed``: the parameters whose offsets the data inform (:func:`informed_offsets`; None: not
    known, all); ``mixed_badly``: those that already failed by mixing while non-centred. Mixing failed with few
    divergences (:func:`divergences_few`): ``centred`` plus the suspect parameters whose offsets are informed.
    More divergences: ``spec_centred`` (the spec's own choice) and the parameters of ``mixed_badly`` that are
    centred, kept so (the retry's higher target_accept is the cure; no return to a form that mixed badly); the
    other automatic ones back to non-centred. Otherwise (only divergences, few) ``centred`` unchanged. Ordered as ``vary``."""
    mixing = not (diag.r_hat_max <= diag.r_hat_threshold
                  and min(diag.ess_bulk_min, diag.ess_tail_min) >= diag.ess_threshold * diag.n_chains)
    if not divergences_few(diag):
        keep = set(spec_centred) | (set(centred) & set(mixed_badly))
    elif mixing:
        names = offset_variables(vary)
        suspect = set(vary) if failing is None else {names[v] for v in failing if v in names}
        keep = set(centred) | (suspect & (set(vary) if informed is None else set(informed)))
    else:
        keep = set(centred)
    return tuple(k for k in vary if k in keep)


def retry_centred(posterior, diag, *, vary, centred, spec_centred, mixed_badly) -> tuple[tuple, tuple]:
    """:func:`next_centred` from a failed attempt's ``posterior``: (the next attempt's centred parameters, the
    parameters that have failed by mixing while non-centred, this attempt's added to ``mixed_badly``)."""
    failing = failing_variables(posterior, list(offset_variables(vary)), diag)
    informed = informed_offsets(posterior, vary)
    nxt = next_centred(diag, failing, vary=vary, centred=centred, spec_centred=spec_centred, informed=informed,
                       mixed_badly=mixed_badly)
    bad = set(mixed_badly) | ({k for k in nxt if k not in centred} if divergences_few(diag) else set())
    return nxt, tuple(k for k in vary if k in bad)


def badness(diag) -> float:
    """How far an attempt's diagnostics are from passing, in one number: the largest of (R-hat - 1) /
    (threshold - 1), the ESS needed over the smaller of bulk and tail ESS, and the share of divergent transitions
    over :data:`CENTRE_MAX_DIVERGENCE_RATE` (the background share the centring rule allows). The R-hat and ESS terms
    are 1 at the diagnostics' own thresholds (at most 1 when they pass); the diagnostics fail an attempt on any
    divergence, but this ranks divergences by their share on the centring rule's scale, so a few divergences rank
    like a near-miss R-hat. The worst problem's size sets it, not how many problems there are; scales fixed before
    measuring; a non-finite R-hat or an ESS of 0 counts as infinitely bad."""
    r = diag.r_hat_max if np.isfinite(diag.r_hat_max) else np.inf
    ess = min(diag.ess_bulk_min, diag.ess_tail_min)
    need = diag.ess_threshold * diag.n_chains
    rate = diag.divergences / max(1, diag.n_chains * diag.n_draws)
    return float(max((r - 1.0) / (diag.r_hat_threshold - 1.0), need / ess if ess > 0 else np.inf,
                     rate / CENTRE_MAX_DIVERGENCE_RATE))


def better_attempt(diags: list) -> int:
    """Index of the attempt a fit returns, given each attempt's diagnostics: a passing attempt over any failing
    one, else the least bad (:func:`badness`: the size of its worst problem, not their number), ties to the later
    attempt; e.g. the first attempt, not a retry sampled centred that mixed worse, or a retry with R-hat 1.011 and one
    divergence, not a first attempt with R-hat 1.9 and bulk ESS 12."""
    return min(range(len(diags)), key=lambda i: (not diags[i].ok, badness(diags[i]), -i))
