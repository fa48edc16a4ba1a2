"""Specs of metric laws: the benchmark's chance level as the prior of the law's floor."""

from __future__ import annotations

import math
from dataclasses import replace

from bayes_scaling.errors import BayesScalingError
from bayes_scaling.specs.spec import LawSpec, PriorSpec


def with_chance(spec: LawSpec, chance: float, rel_sd: float = 0.1) -> LawSpec:
    """``spec`` (of a metric law) with its floor's prior LogNormal(log chance, rel_sd): median ``chance``
    (accuracy as a fraction, e.g. 0.25 for 4-way multiple choice), about ``rel_sd`` relative spread."""
    floor = getattr(spec.law, "floor_param", None)
    if floor is None:
        raise BayesScalingError(f"law {spec.law_name!r} is not a metric law: it has no chance floor")
    if not 0 < chance < 1 or rel_sd <= 0:
        raise BayesScalingError(f"chance must be a fraction in (0, 1) and rel_sd > 0, got {chance!r}, {rel_sd!r}")
    prior = PriorSpec("LogNormal", {"mu": math.log(chance), "sigma": float(rel_sd)})
    return replace(spec, priors={**spec.priors, floor: prior},
                   origin=f"{spec.origin} (chance {chance:g})").synced()
