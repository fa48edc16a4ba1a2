"""Fit a law to runs with NUTS (nutpie), reusing one compiled model per (law, spec).

nutpie compiles the model's log-density and gradient with numba once per process per spec;
later fits of the same spec on new runs swap the data (``with_data``) and skip compilation.
A low-rank mass-matrix adaptation handles the E/A/B correlations of additive laws.
"""

from __future__ import annotations

import hashlib
import sys
import warnings
from typing import Any

import numpy as np

from bayes_scaling.data.runs import RunTable
from bayes_scaling.errors import BayesScalingError, DiagnosticsError
from bayes_scaling.inference.checks import check_posterior, check_runs
from bayes_scaling.inference.model import build_model, model_data
from bayes_scaling.inference.sampling import sample_nuts
from bayes_scaling.specs.spec import LawSpec, default_spec, load_spec

_COMPILED: dict[str, Any] = {}


def resolve_spec(law: str | None = None, spec: LawSpec | str | None = None) -> LawSpec:
    """A spec from an object, a shipped name or path, or the default spec of ``law``."""
    if spec is not None and law is not None:
        parsed = spec if isinstance(spec, LawSpec) else load_spec(spec)
        if parsed.law_name != law:
            raise BayesScalingError(f"--law {law!r} disagrees with the spec's law {parsed.law_name!r}: give one of them")
        return parsed
    if isinstance(spec, LawSpec):
        return spec
    if spec is not None:
        return load_spec(spec)
    if law is None:
        raise BayesScalingError("choose a law (--law chinchilla) or a spec file (--spec FILE)")
    return default_spec(law)


#: A chain whose log density sits far below the best chain's never reached the typical set (e.g. started
#: many prior sds away under a tight published prior); the whole sampling restarts from new seeds.
MAX_RESTARTS = 2
RESTART_SEED_STRIDE = 7919


#: Priors narrower than this (sd of the log of prior draws, or of the draws when they can be <= 0) are
#: "tight": chains start at their support point instead of a +-1 jitter in unconstrained space, which
#: would put them thousands of prior sds away (e.g. the published constants held at sd 1e-4).
TIGHT_PRIOR_SD = 0.1


def _prior_spread(prior) -> float:
    import pymc as pm

    x = np.asarray(pm.draw(prior.pymc_dist(), draws=400, random_seed=0), float)
    return float(np.std(np.log(x)) if np.all(x > 0) else np.std(x))


def jittered_rvs(spec: LawSpec, model) -> set:
    """Free variables whose initial values get nutpie's random jitter: all but those with tight priors;
    the law's internal coordinates (which carry the positive parameters' priors) only when none of
    those priors is tight."""
    law = spec.law
    tight = {name for name, prior in spec.priors.items() if _prior_spread(prior) < TIGHT_PRIOR_SD}
    positive_tight = bool(tight & set(law.positive_names))
    out = set()
    for rv in model.free_RVs:
        if rv.name in tight or (rv.name in law.internal and positive_tight):
            continue
        out.add(rv)
    return out


def stuck_chains(trace) -> list[int]:
    """Chains whose median log density is more than max(10, 5 robust sds) below the best chain's."""
    lp = np.asarray(trace["sample_stats"]["logp"].values, float)
    if lp.shape[0] < 2:
        return []
    med = np.nanmedian(lp, axis=1)
    best = int(np.nanargmax(med))
    q75, q25 = np.nanpercentile(lp[best], [75, 25])
    margin = max(10.0, 5.0 * (q75 - q25) / 1.349)
    return [int(c) for c in np.flatnonzero(~(med >= med[best] - margin))]


def _check_int(name: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise BayesScalingError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def model_key(spec: LawSpec, data) -> str:
    """Cache key of a compiled model: everything that changes the graph's structure (law, priors,
    hierarchy and number of groups, covariates), not the data it is fed."""
    hier = spec.hierarchy
    shape = f"{hier.vary}|{hier.tau}|{len(data.groups)}" if hier and data.group_idx is not None else ""
    covs = f"{len(data.covariate_names)}|{spec.covariate_prior}" if data.covariates is not None else ""
    return hashlib.sha256(f"{spec.content_key()}\n{shape}\n{covs}".encode()).hexdigest()


def compiled_model(spec: LawSpec, data, *, progress: bool = False):
    """The compiled nutpie model for ``spec``, built once per process and fed ``data``."""
    import nutpie

    key = model_key(spec, data)
    compiled = _COMPILED.get(key)
    if compiled is None:
        if progress:
            print("compiling the model with numba (once per law and spec in a process) ...", file=sys.stderr, flush=True)
        model = build_model(spec, data)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", category=FutureWarning)
            compiled = nutpie.compile_pymc_model(model, jitter_rvs=jittered_rvs(spec, model))
        _COMPILED[key] = compiled
        return compiled
    # nutpie keeps only the data containers its compiled graph reads (e.g. no ref_log_U when the
    # law never centres U): feed those, so reuse works for every law.
    known = {var.name for var in compiled.shared_var_keys}
    return compiled.with_data(**{k: v for k, v in data.containers().items() if k in known})


def fit(
    runs: RunTable,
    law: str | None = None,
    spec: LawSpec | str | None = None,
    *,
    draws: int = 1000,
    tune: int = 1000,
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
):
    """Sample the posterior of ``law`` (or ``spec``) given ``runs``; return a :class:`FitResult`.

    ``runs``: a :class:`RunTable`, or a DataFrame or file read with :func:`load_runs` and the keyword
    arguments in ``columns`` (e.g. ``{"params_col": "n_params", "params_kind": "non-embedding"}``).

    Diagnostics are always computed; failures warn, or raise :class:`DiagnosticsError` when
    ``strict``. ``seed`` makes the fit reproducible (one is drawn and recorded when absent).
    ``vary`` (or the spec's ``[hierarchy]``) names the parameters that vary by ``group_col``
    (default: the runs' first group column), partially pooled around population values.
    ``target_accept`` (default 0.8; 0.95 for hierarchical fits, whose group-scale funnels need
    smaller steps) is NUTS's target acceptance rate. ``calibrate_extrapolation`` also fits the runs
    below one decade under the largest and learns, from how its predictions miss the larger ones,
    a discrepancy that widens predictions beyond the data
    (:mod:`bayes_scaling.inference.discrepancy`).
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
    spec = resolve_spec(law, spec).with_vary(vary).synced()
    draws = _check_int("draws", draws, 10)
    tune = _check_int("tune", tune, 10)
    chains = _check_int("chains", chains, 1)
    if seed is None:
        seed = int(np.random.SeedSequence().generate_state(1)[0])
    seed = _check_int("seed", seed, 0)
    data = model_data(spec, runs, group_col)
    if progress is None:
        progress = sys.stderr.isatty()
    compiled = compiled_model(spec, data, progress=progress)
    if target_accept is None:
        target_accept = 0.95 if data.group_idx is not None else 0.8
    if not 0.5 <= float(target_accept) < 1:
        raise BayesScalingError(f"target_accept must be in [0.5, 1), got {target_accept!r}")
    restarts = 0
    for attempt in range(MAX_RESTARTS + 1):
        trace = sample_nuts(  # an interrupt propagates: never taken for a stuck chain
            compiled,
            draws=draws,
            tune=tune,
            chains=chains,
            seed=seed + attempt * RESTART_SEED_STRIDE,
            progress_bar=bool(progress),
            adaptation="low_rank",
            save_warmup=False,
            target_accept=float(target_accept),
        )
        stuck = stuck_chains(trace)
        if not stuck or attempt == MAX_RESTARTS:
            break
        restarts += 1
    config = {"sampler": "nutpie", "adaptation": "low_rank", "draws": draws, "tune": tune, "chains": chains,
              "seed": seed, "target_accept": float(target_accept), "stuck_chain_restarts": restarts,
              "stuck_chains": stuck}
    result = FitResult.from_trace(trace, spec=spec, runs=runs, data=data, sampler_config=config, command=command)
    diag = result.diagnostics
    if not diag.ok:
        msg = "sampler diagnostics failed: " + "; ".join(diag.problems) + \
              " (increase --tune/--draws, check the data, or use a more informative spec)"
        if strict:
            raise DiagnosticsError(msg)
        warnings.warn(msg, UserWarning, stacklevel=2)
    check_posterior(result, strict=strict)  # prior-data conflicts: warn, or raise under strict
    if calibrate_extrapolation:
        from bayes_scaling.inference.discrepancy import calibrate

        result = result.with_discrepancy(calibrate(result, fit))
    return result

