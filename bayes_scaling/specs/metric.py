"""Specs of metric laws: the benchmark's chance level as the prior of the law's floor, where it comes from
(``fit --chance``, else the runs table's recorded chance level, else the spec's default), and the refusal of a
metric table that lies clearly below that prior."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from bayes_scaling.conventions import as_number
from bayes_scaling.data.runs import check_chance
from bayes_scaling.errors import BayesScalingError
from bayes_scaling.specs.spec import LawSpec, PriorSpec

#: The floor's prior at chance 0 (an open-ended task such as LAMBADA, whose answer is one word of a
#: vocabulary of ~50k: a guess is right ~never): HalfNormal(0.01), 95% below 0.02 (two percentage points).
OPEN_ENDED_FLOOR_SD = 0.01
#: A metric value is clearly below the floor's prior when, on the family's scale (logit), it lies more than
#: ``BELOW_FLOOR_SDS`` times the noise prior's median below the floor prior's 0.1% quantile: a value the law
#: (never below its floor) and its noise put out of reach, whatever the data; one such run is refused.
BELOW_FLOOR_SDS = 3.0
FLOOR_QUANTILE = 0.001


def with_chance(spec: LawSpec, chance: float, rel_sd: float = 0.1, *, source: str = "given") -> LawSpec:
    """``spec`` (of a metric law) with its floor's prior centred on ``chance`` (accuracy as a fraction, e.g. 0.25
    for 4-way multiple choice): LogNormal(log chance, rel_sd), median ``chance``, about ``rel_sd`` relative
    spread; at chance 0 (open-ended), HalfNormal(:data:`OPEN_ENDED_FLOOR_SD`). ``source``: where the level
    comes from, kept in the spec's provenance (``chance``, ``chance_source``)."""
    floor = getattr(spec.law, "floor_param", None)
    if floor is None:
        raise BayesScalingError(f"law {spec.law_name!r} is not a metric law: it has no chance floor", quantity="chance")
    chance = check_chance(chance)
    rel = as_number(rel_sd)
    if isinstance(rel_sd, bool) or not (np.isfinite(rel) and rel > 0):
        raise BayesScalingError(f"rel_sd must be a finite number > 0 (the floor prior's relative spread), got "
                                f"{rel_sd!r}", quantity="rel_sd")
    prior = (PriorSpec("LogNormal", {"mu": math.log(chance), "sigma": float(rel)}) if chance > 0 else
             PriorSpec("HalfNormal", {"sigma": OPEN_ENDED_FLOOR_SD}))
    return replace(spec, priors={**spec.priors, floor: prior}, origin=f"{spec.origin} (chance {chance:g})",
                   provenance={**spec.provenance, "chance": chance, "chance_source": source}).synced()


def spec_for_metric_runs(spec: LawSpec, runs, *, chance=None) -> LawSpec:
    """The spec a metric law is fitted with on ``runs``: its floor's prior at ``chance`` where given (``--chance``),
    else at the chance level the runs table records (``runs.chance``: a dataset loader's, or a ``chance`` column)
    where the spec's floor prior is the shipped default one (a prior set in a spec or by :func:`with_chance` is
    kept), else the spec as it is. Then refuses runs clearly below the floor's prior (:func:`check_floor_support`).
    A loss law's spec is returned unchanged (``chance`` refused)."""
    from bayes_scaling.specs.spec import default_spec

    floor = getattr(spec.law, "floor_param", None)
    if floor is None:
        if chance is not None:
            raise BayesScalingError(f"a chance level applies to a metric law's floor; law {spec.law_name!r} has "
                                    f"none: drop it", quantity="chance")
        return spec
    recorded = getattr(runs, "chance", None)
    if chance is not None:
        spec = with_chance(spec, chance)
    elif (recorded is not None and "chance" not in spec.provenance
          and spec.priors[floor] == default_spec(spec.law_name).priors[floor]):
        spec = with_chance(spec, recorded, source="the runs table")
    check_floor_support(spec, runs)
    return spec


def check_floor_support(spec: LawSpec, runs) -> None:
    """Refuse a metric table with values clearly below the floor's prior (:data:`BELOW_FLOOR_SDS`): the law
    never predicts less than its floor, so such runs say the floor's chance level is wrong."""
    from bayes_scaling.specs.moments import scipy_dist

    floor = spec.law.floor_param
    y = np.asarray(runs.frame["loss"], float)
    family = spec.likelihood.dist
    lo = float(scipy_dist(spec.priors[floor]).ppf(FLOOR_QUANTILE))
    sigma_prior = spec.likelihood.sigma
    noise = float(scipy_dist(sigma_prior).ppf(0.75 if sigma_prior.dist == "HalfStudentT" else 0.5))  # |T|: median
    with np.errstate(divide="ignore"):
        bound = family.location(np, np.log(lo)) - BELOW_FLOOR_SDS * noise
        below = family.location(np, np.log(np.clip(y, 0.0, None))) < bound
    if below.any():
        level = spec.provenance.get("chance")
        median = scipy_dist(spec.priors[floor]).median()
        now = f"chance {level:g}" if level is not None else f"the spec's default, median {median:.3g}"
        raise BayesScalingError(
            f"{int(below.sum())} of {y.size} metric values lie clearly below the prior of the floor {floor} ({now}; "
            f"lowest {y.min():.3g}): the law never falls below its floor, so the chance level is wrong: give the "
            f"benchmark's with --chance P (0.5 for 2-way, 0.25 for 4-way, 0 for an open-ended answer) or as a column "
            f"'chance' of the runs file",
            quantity="chance")


def floor_prior_text(spec: LawSpec) -> str | None:
    """One line on where a metric law's floor prior comes from (None for a loss law)."""
    from bayes_scaling.specs.moments import scipy_dist

    floor = getattr(spec.law, "floor_param", None)
    if floor is None:
        return None
    level = spec.provenance.get("chance")
    if level is None:
        median = float(scipy_dist(spec.priors[floor]).median())
        return (f"floor {floor}: the spec's prior, median {median:.3g}; no chance level was given or recorded "
                f"(fit --chance P sets the benchmark's)")
    where = {"the runs table": "recorded in the runs table (--chance overrides)", "given": "given (--chance)"}
    return (f"floor {floor}: prior centred on the chance level {float(level):g}, "
            f"{where.get(spec.provenance.get('chance_source'), spec.provenance.get('chance_source'))}")
