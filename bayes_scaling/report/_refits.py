"""Refits behind the report's sensitivity and breakdown sections: another likelihood, an outlier
rule, the other parameter-count convention, and the break test (unbroken vs broken power law).

Every refit is a real NUTS fit with fewer draws than the user's fit (``RefitConfig``); its
diagnostics are reported beside its answers, never hidden.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from bayes_scaling.accounting import PEARCE_SONG_OMEGA, total_from_non_embedding
from bayes_scaling.conventions import derived_seed
from bayes_scaling.plots.common import envelope_runs, is_nd, run_draws
from bayes_scaling.specs.spec import LawSpec, parse_spec

#: Runs whose log-loss residual is farther than this many robust SDs (1.4826 x MAD) from the median
#: residual are dropped by the outlier rule.
OUTLIER_ROBUST_SDS = 3.0
MAD_TO_SD = 1.4826


@dataclass(frozen=True)
class RefitConfig:
    """Sampler settings of the report's refits (fewer draws than a full fit)."""

    draws: int = 500
    tune: int = 500
    chains: int = 4
    break_draws: int = 1000
    break_tune: int = 1000


def other_likelihood_spec(spec: LawSpec) -> LawSpec:
    """The same spec with the other likelihood (Student-t -> Gaussian; Gaussian or Laplace -> Student-t),
    same noise prior."""
    family = "normal" if spec.likelihood.family == "student_t" else "student_t"
    return replace(spec.with_family(family), origin=f"{spec.origin} (likelihood: {family})")


def _quiet_fit(runs, spec, *, seed, draws, tune, chains, settings=None):
    """``fit`` with its diagnostics warning captured (the report shows the diagnostics itself)."""
    from bayes_scaling.inference.fit import fit

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fit(runs, spec=spec, seed=seed, draws=draws, tune=tune, chains=chains, progress=False,
                   **(settings or {}))


@dataclass(frozen=True)
class FitJob:
    """One refit: runs, the spec as text (it travels to a worker process), sampler settings, and what a refit
    of the report's fit keeps (:func:`~bayes_scaling.result.refit.refit_settings`: cost law, run noise,
    hierarchy; empty for the break test's fits of the loss envelope, which are not refits of the fit's runs)."""

    key: str
    runs: object
    spec_text: str
    spec_origin: str
    seed: int
    draws: int
    tune: int
    chains: int
    settings: tuple = ()  #: (keyword, value) pairs of :func:`~bayes_scaling.result.refit.refit_settings`


def _fit_job(job: FitJob) -> tuple[object, str | None]:
    """(FitResult, None), or (None, one-line reason) when the refit fails: a failed refit is shown
    in the report next to what it concerns instead of stopping the report."""
    try:
        spec = parse_spec(job.spec_text, job.spec_origin)
        return _quiet_fit(job.runs, spec, seed=job.seed, draws=job.draws, tune=job.tune, chains=job.chains,
                          settings=dict(job.settings)), None
    except Exception as e:  # noqa: BLE001
        return None, " ".join(f"{type(e).__name__}: {e}".split())


class RefitRunner:
    """Runs each refit job once, in this process, when a section first asks for it (the compiled
    model of a spec is reused by later jobs of the same spec)."""

    def __init__(self, jobs: list[FitJob]):
        self._jobs = {job.key: job for job in jobs}
        self._done: dict[str, tuple[object, str | None]] = {}

    def __contains__(self, key: str) -> bool:
        return key in self._jobs

    def get(self, key: str):
        """(FitResult, None) or (None, reason) of the job ``key``."""
        if key not in self._done:
            self._done[key] = _fit_job(self._jobs[key])
        return self._done[key]


def _job(key, runs, spec, cfg: RefitConfig, seed: int, result=None, *, break_fit: bool = False) -> FitJob:
    """A job; with ``result``, a refit of it (:func:`~bayes_scaling.result.refit.refit_settings`)."""
    from bayes_scaling.result.refit import refit_settings

    settings = () if result is None else tuple(refit_settings(result, spec).items())
    return FitJob(key, runs, spec.synced().text, spec.origin, seed,
                  cfg.break_draws if break_fit else cfg.draws, cfg.break_tune if break_fit else cfg.tune, cfg.chains,
                  settings)


def outlier_mask(result) -> tuple[np.ndarray, np.ndarray, float]:
    """(keep mask, residual per run, robust SD): residuals are log observed loss minus the posterior
    median of the law's log-loss for that run."""
    law_draws, _ = run_draws(result)
    resid = np.log(result.runs.frame["loss"].to_numpy(float)) - np.median(np.log(law_draws), axis=1)
    centre = np.median(resid)
    rsd = MAD_TO_SD * np.median(np.abs(resid - centre))
    keep = np.abs(resid - centre) <= OUTLIER_ROBUST_SDS * rsd if rsd > 0 else np.ones(len(resid), bool)
    return keep, resid, float(rsd)


def non_embedding_from_total(n_total, omega: float = PEARCE_SONG_OMEGA) -> np.ndarray:
    """Invert Pearce & Song's N_T = N_E + omega N_E^(1/3): the real root u = N_E^(1/3) of
    u^3 + omega u - N_T = 0 (Newton from above; the cubic is increasing and convex for u > 0)."""
    n_total = np.asarray(n_total, float)
    u = np.cbrt(n_total)
    for _ in range(60):
        u = u - (u ** 3 + omega * u - n_total) / (3 * u ** 2 + omega)
    return u ** 3


def convert_params(n, to_kind: str) -> np.ndarray:
    """Parameter counts converted to ``to_kind`` ("total" or "non-embedding") by Pearce & Song."""
    return total_from_non_embedding(n) if to_kind == "total" else non_embedding_from_total(n)


def runs_in_other_params_kind(runs):
    """(runs with N in the other convention by Pearce & Song, D and C unchanged; that convention)."""
    other = "non-embedding" if runs.params_kind == "total" else "total"
    frame = runs.frame.copy()
    frame["N"] = np.asarray(convert_params(frame["N"].to_numpy(float), other), float)
    return replace(runs, frame=frame, params_kind=other), other


@dataclass
class RefitPlan:
    """What the sensitivity and breakdown sections refit, decided before any fitting starts."""

    jobs: list
    other_family: str
    keep: np.ndarray
    resid: np.ndarray
    robust_sd: float
    outlier_note: str | None
    other_kind: str | None
    break_info: object  # (axis label, how, n points, law names) or a reason string


def plan_refits(result, cfg: RefitConfig, seed: int) -> RefitPlan:
    """Every refit job of a report: the other likelihood, the outlier rule, the other parameter
    convention, and the two laws of the break test."""
    spec = result.spec
    other_spec = other_likelihood_spec(spec)
    jobs = [_job("likelihood", result.runs, other_spec, cfg, derived_seed(seed, 1), result)]
    keep, resid, rsd = outlier_mask(result)
    n_out = int((~keep).sum())
    note = None
    if n_out and keep.sum() >= len(result.law.params) + 2:
        jobs.append(_job("outliers", result.runs.subset(keep), spec, cfg, derived_seed(seed, 2), result))
    elif n_out:
        note = f"dropping {n_out} runs would leave too few to fit; not refitted"
    other_kind = None
    if "N" in result.law.input_names and spec.params_kind is None:  # a declared kind refuses the other one
        converted, other_kind = runs_in_other_params_kind(result.runs)
        jobs.append(_job("params_kind", converted, spec, cfg, derived_seed(seed, 3), result))
    got = break_runs(result)
    if isinstance(got, str):
        break_info = got
    else:
        break_info = _break_jobs(result, got, cfg, seed, jobs)
    return RefitPlan(jobs, other_spec.likelihood.describe(), keep, resid, rsd, note, other_kind, break_info)


def _break_jobs(result, got, cfg: RefitConfig, seed: int, jobs: list):
    """Append the break test's fits to ``jobs``; its ``break_info``, or a reason string. On the fit's runs a fit is
    a refit with the fit's likelihood and hierarchy (:func:`~bayes_scaling.result.refit.counterpart_spec`); on the
    loss envelope both laws are fitted with their default specs (neither is the fit, both alike)."""
    from bayes_scaling.errors import BayesScalingError
    from bayes_scaling.result.refit import counterpart_spec
    from bayes_scaling.specs.spec import default_spec

    runs, axis, label, how = got
    names = {"unbroken": f"power_{axis.lower()}", "broken": f"bnsl1_{axis.lower()}"}
    refit_of_fit = runs is result.runs
    new = []
    for i, (role, law_name) in enumerate(names.items()):
        if refit_of_fit and result.law.name == law_name:
            continue  # the fit itself
        try:
            spec = counterpart_spec(result, law_name) if refit_of_fit else default_spec(law_name)
        except BayesScalingError as e:
            return f"no break test: {e}"
        new.append(_job(f"break_{role}", runs, spec, cfg, derived_seed(seed, 10 + i),
                        result if refit_of_fit else None, break_fit=True))
    jobs.extend(new)
    return label, how, len(runs), names


# -- break test ------------------------------------------------------------------------------

def break_runs(result):
    """(runs for the break test, axis label, how they were chosen), or a reason string when a
    break test does not apply. Laws of N and D: the lowest-loss run per compute budget on X = C;
    single-axis laws: the runs themselves."""
    from bayes_scaling.data.runs import load_runs

    law = result.law
    frame = result.runs.frame
    if is_nd(law):
        if result.hierarchy is not None:
            return "the break test on the loss envelope is not run for hierarchical fits (groups share budgets)"
        idx, how = envelope_runs(result)
        sub = pd.DataFrame({"compute_flops": frame["C"].to_numpy(float)[idx], "loss": frame["loss"].to_numpy(float)[idx]})
        if len(sub) < 8:
            return (f"the envelope has {len(sub)} points ({how}); the broken law needs at least 8: "
                    f"add runs at more budgets")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            runs = load_runs(sub, params_col=None, tokens_col=None, compute_col=None, extra_cols={"X": "compute_flops"})
        return runs, "X", "compute C (FLOPs)", how
    if len(law.input_names) != 1:
        return f"no break test for a {law.name!r} fit (several inputs); it applies to laws of N and D or of one input"
    axis = law.input_names[0]
    if axis == "C":  # kaplan_c: test on X = C in FLOPs
        sub = pd.DataFrame({"compute_flops": frame["C"].to_numpy(float), "loss": frame["loss"].to_numpy(float)})
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            runs = load_runs(sub, params_col=None, tokens_col=None, compute_col=None, extra_cols={"X": "compute_flops"})
        return runs, "X", "compute C (FLOPs)", "all runs"
    label = {"N": "parameters N", "D": "tokens D", "X": "the scale axis X"}[axis]
    return result.runs, axis, label, "all runs"


def break_test_from(result, plan: RefitPlan, runner: RefitRunner, ci_prob: float):
    """P(break) by PSIS-LOO between the unbroken (power law with a floor) and the one-break law
    (Caballero et al. 2022) fitted by ``runner``. Returns a dict, or a reason string."""
    from bayes_scaling.queries.compare_laws import break_test

    if isinstance(plan.break_info, str):
        return plan.break_info
    label, how, n_points, names = plan.break_info
    fits = {}
    for role, law_name in names.items():
        if f"break_{role}" not in runner:
            fits[role] = result
            continue
        fit, err = runner.get(f"break_{role}")
        if fit is None:
            return f"the break test could not fit {law_name}: {err}"
        fits[role] = fit
    test = break_test(fits["unbroken"], fits["broken"], ci_prob)
    test.update({"n_points": n_points, "how": how, "axis_label": label, "fits": fits})
    return test

