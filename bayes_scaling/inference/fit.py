"""Fit a law to runs with NUTS (nutpie), reusing one compiled model per (law, spec).

nutpie samples the model's log-density and gradient compiled with numba: once per process per spec
(the machine code is cached on disk across processes: :mod:`bayes_scaling.inference.compile`);
later fits of the same spec on new runs swap the data (``with_data``) and skip compilation.
A low-rank mass-matrix adaptation handles the E/A/B correlations of additive laws.
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
import warnings
from dataclasses import replace
from typing import Any

import numpy as np

from bayes_scaling.conventions import DEFAULT_LOSS_UNIT, as_number, check_count, check_seed, derived_seed
from bayes_scaling.cost import CostLaw, store_cost, training_cost, with_cost
from bayes_scaling.data.runs import METRIC_COLUMN, RunTable
from bayes_scaling.errors import BayesScalingError, DiagnosticsError
from bayes_scaling.inference.checks import check_posterior, check_runs, check_sampler_counts
from bayes_scaling.inference.compile import compile_jax_model, compile_nutpie_model
from bayes_scaling.inference.model import build_model, model_data, prior_containers
from bayes_scaling.inference.retry import (DEFAULT_DRAWS, DEFAULT_TUNE, MAX_RETRIES, RETRY_BUDGET_S,  # noqa: F401
                                           RETRY_CLOCKS, RETRY_SCHEDULES, RETRY_SEED_STRIDE, better_attempt,
                                           default_floor, double_retry, escalate, escalate_to_ess, expected_factor,
                                           fit_to_budget, may_retry, next_centred, next_settings, offset_variables,
                                           retry_centred)
from bayes_scaling.inference.sampling import sample_nuts, stuck_chains  # noqa: F401
from bayes_scaling.inference.whiten import (BIG_TUNE, WHITE_CHOL, WHITE_MEAN, big_backend, feed, is_big, pilot,
                                            whitened_model)
from bayes_scaling.specs.metric import spec_for_metric_runs
from bayes_scaling.specs.spec import LawSpec, default_spec, load_spec
from bayes_scaling.specs.units import check_loss_unit, check_params_kind

_COMPILED: dict[str, Any] = {}
#: Unconstrained starting point of the plain model of each whitened compiled model (by model key).
_STARTS: dict[str, np.ndarray] = {}


def resolve_spec(law: str | None = None, spec: LawSpec | str | None = None) -> LawSpec:
    """A spec from an object, a shipped name or path, or the default spec of ``law``."""
    if spec is not None and law is not None:
        parsed = spec if isinstance(spec, LawSpec) else load_spec(spec)
        if parsed.law_name != law:
            raise BayesScalingError(f"law {law!r} disagrees with the spec's law {parsed.law_name!r}: give one of them",
                                    quantity="law")
        return parsed
    if isinstance(spec, LawSpec):
        return spec
    if spec is not None:
        return load_spec(spec)
    if law is None:
        raise BayesScalingError("choose a law (e.g. chinchilla) or a spec (a shipped name or a TOML file)", quantity="law")
    return default_spec(law)


#: A chain whose log density sits far below the best chain's never reached the typical set (e.g. started
#: many prior sds away under a tight published prior); the whole sampling restarts from new seeds.
MAX_RESTARTS = 2
RESTART_SEED_STRIDE = 7919


#: Priors narrower than this (sd of the log of prior draws, or of the draws when they can be <= 0) are
#: "tight": chains start at their support point instead of a +-1 jitter in unconstrained space, which
#: would put them thousands of prior sds away (e.g. the published constants held at sd 1e-4).
TIGHT_PRIOR_SD = 0.1


_SPREADS: dict[str, float] = {}


def check_units(spec: LawSpec, runs) -> None:
    """Refuse, before sampling, losses in a unit the spec's loss-scale priors are not in, N counted in another
    kind of parameters than its scale priors, and a loss unit on the runs of a metric law (its response is a
    fraction, not a loss)."""
    if spec.law.response_unit != DEFAULT_LOSS_UNIT:
        if runs.loss_unit not in (None, DEFAULT_LOSS_UNIT):
            raise BayesScalingError(f"loss unit {runs.loss_unit} does not apply to the response of law "
                                    f"{spec.law_name!r}, a {spec.law.response_unit}: load the runs with "
                                    f"loss_unit=None and give the unit of its predictor L as predictor_unit",
                                    quantity="loss_unit")
        return
    if runs.loss_unit is None:
        raise BayesScalingError(f"the runs' response, column {runs.columns.loss!r}, is a metric (e.g. accuracy as a "
                                f"fraction, no loss unit): fit a metric law of a loss L (sigmoid_metric, exp_metric), "
                                f"not the loss law {spec.law_name!r}"
                                + ("; a loss goes in a column named 'loss'" if runs.columns.loss == METRIC_COLUMN else ""),
                                quantity="loss", column=True)
    check_loss_unit(spec, runs.loss_unit)
    check_params_kind(spec, runs.params_kind, "N" in runs.frame)


def _prior_spread(prior) -> float:
    import pymc as pm

    key = repr(prior)
    if key not in _SPREADS:
        with warnings.catch_warnings():  # a prior numba has no kernel for (TruncatedNormal) is drawn in
            warnings.filterwarnings("ignore", message="Numba will use object mode")  # object mode: harmless here
            x = np.asarray(pm.draw(prior.pymc_dist(), draws=400, random_seed=0), float)
        _SPREADS[key] = float(np.std(np.log(x)) if np.all(x > 0) else np.std(x))
    return _SPREADS[key]


def jittered_rvs(spec: LawSpec, model) -> set:
    """Free variables whose initial values get nutpie's random jitter: all but those with tight priors
    and centred group offsets (``eps_*``; non-centred ``z_eps_*`` are jittered); the law's internal coordinates
    (which carry the positive parameters' priors) only when none of those priors is tight."""
    law = spec.law
    tight = {name for name, prior in spec.priors.items() if _prior_spread(prior) < TIGHT_PRIOR_SD}
    positive_tight = bool(tight & set(law.positive_names))
    out = set()
    for rv in model.free_RVs:
        # group offsets are sampled non-centred (z_eps_<name>: offsets in units of tau), so +-1 starts them
        # within one tau; centred offsets (eps_, fits before) started at 0, +-1 on the log scale being ~20 tau
        if rv.name in tight or (rv.name in law.internal and positive_tight) or rv.name.startswith("eps_"):
            continue
        out.add(rv)
    return out


def model_key(spec: LawSpec, data) -> str:
    """Cache key of a compiled model: everything that changes the graph's structure (law, priors,
    hierarchy and number of groups, covariates), not the data it is fed (runs, and the numbers of the
    positive parameters' priors)."""
    hier = spec.hierarchy
    shape = f"{hier.vary}|{hier.tau}|{len(data.groups)}" if hier and data.group_idx is not None else ""
    # the positive parameters' prior numbers are data (prior_containers): only their families and
    # whether they are tight (which decides the chains' starting jitter, jittered_rvs) shape the graph
    positive = set(spec.law.positive_names)
    priors = sorted((k, repr(v) if k not in positive else repr((v.dist, sorted(v.kwargs), v.relative_to,
                                                                 _prior_spread(v) < TIGHT_PRIOR_SD)))
                    for k, v in spec.priors.items())
    structure = repr((spec.law_name, priors, repr(spec.likelihood), repr(hier), repr(spec.covariate_prior)))
    covs = f"{len(data.covariate_names)}|{spec.covariate_prior}" if data.covariates is not None else ""
    noise = f"\nrun_noise|{data.n_cells}" if data.cell_idx is not None else ""
    return hashlib.sha256(f"{structure}\n{shape}\n{covs}{noise}".encode()).hexdigest()


def compiled_model(spec: LawSpec, data, *, progress: bool = False, route: str | None = None, whiten: bool = False):
    """The compiled nutpie model for ``spec``, built once per process and fed ``data``. ``route``:
    ``"cached"`` (default, or ``$BAYES_SCALING_COMPILE``) or ``"nutpie"``
    (:mod:`bayes_scaling.inference.compile`); a model compiled by either is reused. ``whiten``: the
    whitened model of big tables (:mod:`bayes_scaling.inference.whiten`); its pilot starts at
    ``_STARTS[key]`` (where the plain model's chains start, unconstrained)."""
    key = model_key(spec, data) + (f"|whitened|{big_backend()}" if whiten else "")
    compiled = _COMPILED.get(key)
    if compiled is None:
        if progress:
            print("compiling the model with numba (once per law and spec in a process; cached on disk) ...",
                  file=sys.stderr, flush=True)
        model = build_model(spec, data, summed=whiten)  # big tables: log(sum(exp(terms))), laws.base.summed_log_loss
        if whiten:
            white, start = whitened_model(model)
            if big_backend() == "jax":
                compiled = compile_jax_model(white, jitter_rvs=set(white.free_RVs))
            else:
                compiled = compile_nutpie_model(white, jitter_rvs=set(white.free_RVs), route=route)
            _STARTS[key] = start
        else:
            compiled = compile_nutpie_model(model, jitter_rvs=jittered_rvs(spec, model), route=route)
        _COMPILED[key] = compiled
        return compiled
    # nutpie keeps only the data containers its compiled graph reads (e.g. no ref_log_U when the
    # law never centres U): feed those, so reuse works for every law.
    known = set(compiled._shared_data) if whiten and big_backend() == "jax" else \
        {var.name for var in compiled.shared_var_keys}
    return feed(compiled, **{k: v for k, v in {**data.containers(), **prior_containers(spec)}.items() if k in known})


def _whitened(spec: LawSpec, data, *, progress: bool):
    """The whitened model of a big table fed its pilot's mode and Laplace factor, and the pilot's
    record; (None, record) when the pilot finds no usable mode (the fit then samples as usual)."""
    t0 = time.perf_counter()
    compiled = compiled_model(spec, data, progress=progress, whiten=True)
    if progress:
        print("big table: finding the posterior mode (pilot) ...", file=sys.stderr, flush=True)
    t1 = time.perf_counter()
    found = pilot(compiled, _STARTS[model_key(spec, data) + f"|whitened|{big_backend()}"])
    record = {"rows": len(data.log_loss), "backend": big_backend(), "compile_seconds": round(t1 - t0, 2),
              "seconds": round(time.perf_counter() - t1, 2), "ok": found is not None}
    if found is None:
        return None, record
    record.update(gradients=found.gradients, max_whitened_gradient=found.max_grad_z)
    return feed(compiled, **{WHITE_MEAN: found.mean, WHITE_CHOL: found.chol}), record


def _sample(compiled, *, draws: int, tune: int, chains: int, seed: int, progress: bool, target_accept: float):
    """One NUTS run (restarted from new seeds while a chain is stuck): (trace, restarts, stuck chains).
    An interrupt cancels the sampling and propagates (:func:`~bayes_scaling.inference.sampling.sample_nuts`),
    so no caller mistakes a stopped run for a finished one."""
    for restart in range(MAX_RESTARTS + 1):
        trace = sample_nuts(compiled, draws=draws, tune=tune, chains=chains,
                            seed=derived_seed(seed, restart * RESTART_SEED_STRIDE),
                            progress_bar=progress, adaptation="low_rank", save_warmup=False,
                            target_accept=target_accept)
        stuck = stuck_chains(trace)
        if not stuck or restart == MAX_RESTARTS:
            return trace, restart, stuck
    raise AssertionError("unreachable")


def fit(
    runs: RunTable,
    law: str | None = None,
    spec: LawSpec | str | None = None,
    *,
    draws: int = DEFAULT_DRAWS,
    tune: int | None = None,
    chains: int = 4,
    seed: int | None = None,
    progress: bool | None = None,
    strict: bool = False,
    command: str = "",
    vary: tuple[str, ...] | list[str] | None = None,
    group_col: str | None = None,
    target_accept: float | None = None,
    calibrate_extrapolation: bool = False,
    columns: dict | None = None,
    retries: int = MAX_RETRIES,
    retry_budget_s: float = RETRY_BUDGET_S,
    retry_clock: str = "wall",
    retry_schedule: str = "double",
    cost=None,
    run_noise: bool = False,
):
    """Sample the posterior of ``law`` (or ``spec``) given ``runs``; return a :class:`FitResult`.

    ``runs``: a :class:`RunTable`, or a DataFrame or file read with :func:`load_runs` and the keyword
    arguments in ``columns`` (e.g. ``{"params_col": "n_params", "params_kind": "non-embedding"}``).

    ``tune`` tuning steps per chain (default 1000). Big tables (:data:`~bayes_scaling.inference.whiten.BIG_TABLE_ROWS`
    rows or more, without hierarchy or run noise) are sampled in whitened coordinates from the posterior
    mode (:mod:`bayes_scaling.inference.whiten`; the same posterior), with ``tune`` defaulting to
    :data:`~bayes_scaling.inference.whiten.BIG_TUNE`.

    Diagnostics are always computed; failures warn, or raise :class:`DiagnosticsError` when
    ``strict``. ``seed`` makes the fit reproducible (one is drawn and recorded when absent).
    ``vary`` (or the spec's ``[hierarchy]``) names the parameters that vary by ``group_col``
    (default: the runs' first group column), partially pooled around population values.
    ``target_accept`` (default 0.8; 0.95 for hierarchical fits, whose tau-offset geometry needs
    smaller steps) is NUTS's target acceptance rate. ``calibrate_extrapolation`` also fits the runs
    below one decade under the largest and learns, from how its predictions miss the larger ones,
    a discrepancy that widens predictions beyond the data
    (:mod:`bayes_scaling.inference.discrepancy`). ``run_noise`` splits the noise into ``sigma_run`` (run to
    run: replicates at the same N, D and other law inputs, e.g. seeds) and ``sigma_law`` (each configuration's shared offset
    from the law), with each run's evaluation standard error (an ``SE`` column, in the loss column's units)
    added to the run's own noise (:func:`~bayes_scaling.inference.model.build_model`).

    When the diagnostics fail, the fit is sampled again (new seed) up to ``retries`` times with longer
    tuning, more draws (unless only divergences failed), and a higher target acceptance (:func:`escalate`);
    with the ``"double"`` schedule a retry samples at least a default fit's first attempt where that fits the
    budget, else the plain doubling (:func:`double_retry`); a retry starts only if its
    expected time fits in ``retry_budget_s`` seconds from the fit's start, measured on ``retry_clock``:
    ``"wall"`` (default) or ``"cpu"`` (this process's CPU seconds, :func:`time.process_time`: the same
    retries on a loaded machine as on an idle one, for batch workers sampling on one thread; all threads
    count, so with N sampler threads it runs out about N times sooner in wall time). A hierarchical fit whose
    attempt fails R-hat or ESS on a varying parameter with few divergences samples its offsets centred on the
    retry (:func:`~bayes_scaling.inference.retry.next_centred`; the stored hierarchy says how the returned trace
    was sampled, ``result.spec`` what the spec asked, which a refit starts from). Every attempt (settings, centred
    offsets, wall and CPU seconds, problems) is recorded in ``sampler_config["attempts"]``; the last one is returned
    unless an earlier one is less bad (by its worst problem's size; ``"returned_attempt"``, counted from 1:
    :func:`~bayes_scaling.inference.retry.better_attempt`).
    ``retry_schedule``: ``"double"`` (default, :func:`escalate`) or ``"ess"`` (:func:`escalate_to_ess`: draws
    sized by the ESS shortfall, smaller steps only after divergences).
    A KeyboardInterrupt while sampling propagates (it is never taken for a failed attempt).
    ``cost`` (a :class:`~bayes_scaling.cost.CostLaw`, e.g. :func:`~bayes_scaling.cost.fit_cost` of the
    runs' recorded compute) is stored with the fit: allocation, frontiers and design price budgets with it;
    or a rule that makes one from runs (a function of a runs table, e.g. a cost fitted to their recorded compute):
    the fit stores the rule's law of ``runs``, and the extrapolation calibration's inner fit the rule's law of its
    own training runs (:func:`~bayes_scaling.cost.training_cost`), so the runs it holds out never shape its cost law.
    """
    from bayes_scaling.result import FitResult

    if not isinstance(runs, RunTable):
        from bayes_scaling.data.runs import load_runs

        try:
            runs = load_runs(runs, **(columns or {}))
        except TypeError as e:
            raise BayesScalingError(f"columns takes load_runs' options (params_col, tokens_col, ...): {e}") from None
    elif columns:
        raise BayesScalingError("columns maps the columns of a DataFrame or file; these runs are already a RunTable")
    check_runs(runs, strict=strict)  # implausible values (wrong units) refused before sampling
    cost_rule = cost if callable(cost) and not isinstance(cost, CostLaw) else None  # the calibration applies it again
    cost = training_cost(cost, runs)  # a CostLaw or None, else one error naming the cost
    runs = with_cost(runs, cost)  # a C or D derived as 6ND at loading, derived with the cost law the fit stores
    if vary is not None and (not isinstance(vary, (list, tuple)) or not all(isinstance(v, str) for v in vary)):
        raise BayesScalingError(f"vary must be a list of parameter names (e.g. ['A', 'B']), got {vary!r}",
                                quantity="vary")
    spec = resolve_spec(law, spec).with_vary(vary).synced()
    check_units(spec, runs)
    spec = spec_for_metric_runs(spec, runs)  # a metric law's floor at the table's chance level; runs below refused
    if calibrate_extrapolation:  # a split the runs cannot give is refused before the sampling, not after it
        from bayes_scaling.inference.discrepancy import inner_split

        inner_split(runs, spec.law)
    draws, tune, chains = check_sampler_counts(draws, tune, chains)
    retries = check_count("retries", retries, 0)
    try:
        budget_ok = float(retry_budget_s) >= 0  # NaN fails
    except (TypeError, ValueError):
        budget_ok = False
    if not budget_ok:
        raise BayesScalingError(f"retry_budget_s must be a number of seconds >= 0, got {retry_budget_s!r}",
                                quantity="retry_budget_s")
    if retry_clock not in RETRY_CLOCKS:
        raise BayesScalingError(f"retry_clock must be 'wall' or 'cpu', got {retry_clock!r}", quantity="retry_clock")
    clock = RETRY_CLOCKS[retry_clock]
    if retry_schedule not in RETRY_SCHEDULES:
        raise BayesScalingError(f"retry_schedule must be 'double' or 'ess', got {retry_schedule!r}",
                                quantity="retry_schedule")
    if seed is None:
        seed = int(np.random.SeedSequence().generate_state(1)[0])
    seed = check_seed(seed)
    if target_accept is not None and not 0.5 <= as_number(target_accept) < 1:  # before compiling: NaN, text fail
        raise BayesScalingError(f"target_accept must be in [0.5, 1), got {target_accept!r}", quantity="target_accept")
    if group_col is not None and (spec.hierarchy is None or not isinstance(group_col, str)):
        raise BayesScalingError(f"group_col {group_col!r} names the groups of a hierarchical fit: give vary (the "
                                f"parameters that vary by group) too, or drop it", quantity="group_col")
    data = model_data(spec, runs, group_col, run_noise=bool(run_noise))
    if progress is None:
        progress = sys.stderr.isatty()
    compiled, big = None, None
    if is_big(len(data.log_loss)) and data.group_idx is None and data.cell_idx is None:
        try:
            compiled, big = _whitened(spec, data, progress=progress)
        except Exception as e:  # noqa: BLE001 - any failure of the pilot route falls back to the plain one (interrupts are BaseException)
            compiled, big = None, {"rows": len(data.log_loss), "ok": False, "error": f"{type(e).__name__}: {e}"[:300]}
    if compiled is None:
        compiled = compiled_model(spec, data, progress=progress)
    if tune is None:
        tune = BIG_TUNE if big and big["ok"] else DEFAULT_TUNE
    if target_accept is None:
        target_accept = 0.95 if data.group_idx is not None else 0.8
    settings = {"draws": draws, "tune": tune, "target_accept": float(target_accept)}
    hier = spec.hierarchy if data.group_idx is not None else None
    attempts: list[dict] = []
    tried: list[tuple] = []  # (result, config, diagnostics) of each attempt
    mixed_badly: tuple = ()  # varying parameters that failed by mixing non-centred (retry.retry_centred)
    start = clock()
    while True:
        t0, c0, t_wall = clock(), time.process_time(), time.perf_counter()
        attempt_seed = derived_seed(seed, len(attempts) * RETRY_SEED_STRIDE)
        trace, restarts, stuck = _sample(compiled, chains=chains, seed=attempt_seed,
                                         progress=bool(progress), **settings)
        config = {"sampler": "nutpie", "adaptation": "low_rank", **settings, "chains": chains, "seed": seed,
                  "stuck_chain_restarts": restarts, "stuck_chains": stuck, **({"big_table_pilot": big} if big else {})}
        result = FitResult.from_trace(trace, spec=spec, runs=runs, data=data, command=command, sampler_config=config)
        diag = result.diagnostics
        seconds = clock() - t0
        attempts.append({**settings, "seed": attempt_seed, **({"centred": list(spec.hierarchy.centred)} if hier else {}),
                         "seconds": round(time.perf_counter() - t_wall, 2),
                         "cpu_seconds": round(time.process_time() - c0, 2), "ok": diag.ok, "problems": diag.problems})
        tried.append((result, config, diag))
        if diag.ok or len(attempts) > retries:
            break
        nxt = next_settings(retry_schedule, settings, diag, len(attempts), retries=retries, last_s=seconds,
                            elapsed_s=clock() - start, budget_s=retry_budget_s, hierarchical=hier is not None,
                            floor=default_floor(BIG_TUNE if big and big["ok"] else DEFAULT_TUNE))
        if not may_retry(len(attempts), retries, seconds, clock() - start, retry_budget_s,
                          expected_factor(retry_schedule, settings, nxt)):
            break
        settings = nxt
        if hier is not None:  # a mixing failure without divergences: the offsets it names centred (retry.next_centred)
            centred, mixed_badly = retry_centred(result.posterior, diag, vary=hier.vary, centred=spec.hierarchy.centred,
                                                 spec_centred=hier.centred, mixed_badly=mixed_badly)
            if centred != spec.hierarchy.centred:  # synced: the stored spec_text says how the trace was sampled
                spec = replace(spec, hierarchy=replace(spec.hierarchy, centred=centred)).synced()
                compiled = compiled_model(spec, data, progress=progress)
                attempts[-1]["next_centred"] = list(centred)
        if progress:
            print(f"diagnostics failed ({'; '.join(diag.problems)}): retrying with {settings}"
                  + (f", centred offsets: {list(spec.hierarchy.centred)}" if hier else ""), file=sys.stderr, flush=True)
    # the last attempt, unless an earlier one is less bad (retry.better_attempt); "seed" is the fit's seed,
    # "seed_used" drew the returned trace (a retry moves to a stream of its own).
    kept = better_attempt([d for _, _, d in tried])
    result, config, diag = tried[kept]
    result.tree.attrs["sampler_config"] = json.dumps({**config, "seed_used": attempts[kept]["seed"], "attempts": attempts,
                                                      "returned_attempt": kept + 1}, sort_keys=True)
    if not diag.ok:
        msg = "sampler diagnostics failed: " + "; ".join(diag.problems) + \
              f" after {len(attempts)} attempt(s) (increase the tuning steps and draws, check the data, or use a more informative spec)"
        if strict:
            raise DiagnosticsError(msg)
        warnings.warn(msg, UserWarning, stacklevel=2)
    check_posterior(result, strict=strict)  # prior-data conflicts: warn, or raise under strict
    store_cost(result, cost)  # before the calibration: its distance d measures C in the stored cost law's currency
    if calibrate_extrapolation:
        from bayes_scaling.inference.discrepancy import calibrate

        result = result.with_discrepancy(calibrate(result, fit, cost_rule=cost_rule))
    return result

