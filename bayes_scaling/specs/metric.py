"""Specs of metric laws: the benchmark's chance level as the prior of the law's floor."""

from __future__ import annotations

import math
from dataclasses import replace

from bayes_scaling.conventions import check_positive
from bayes_scaling.errors import BayesScalingError
from bayes_scaling.specs.spec import LawSpec, PriorSpec


def with_chance(spec: LawSpec, chance: float, rel_sd: float = 0.1) -> LawSpec:
    """``spec`` (of a metric law) with its floor's prior LogNormal(log chance, rel_sd): median ``chance``
    (accuracy as a fraction, e.g. 0.25 for 4-way multiple choice), about ``rel_sd`` relative spread."""
    floor = getattr(spec.law, "floor_param", None)
    if floor is None:
        raise BayesScalingError(f"law {spec.law_name!r} is not a metric law: it has no chance floor")
    chance = check_positive("chance must be a fraction in (0, 1) (e.g. 0.25 for 4-way multiple choice)", chance,
                            "chance", below=1.0)
    rel_sd = check_positive("rel_sd must be a finite number > 0 (the floor prior's relative spread)", rel_sd, "rel_sd")
    prior = PriorSpec("LogNormal", {"mu": math.log(chance), "sigma": float(rel_sd)})
    return replace(spec, priors={**spec.priors, floor: prior},
                   origin=f"{spec.origin} (chance {chance:g})").synced()
