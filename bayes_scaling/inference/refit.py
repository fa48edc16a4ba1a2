"""Refits of a stored fit: its spec (or another: a likelihood, a law) on these runs, keeping what the fit
was fitted with. The one place that says what a refit keeps (sensitivity refits, counterpart fits, design's
warm refits): the stored cost law (so allocation and design of the refit price budgets as the fit does, and a
D derived from recorded compute is derived with it), run noise (where the refit's family is Normal: the
components add in variance only there), and the hierarchy (group column and the varied parameters)."""

from __future__ import annotations

import json
import warnings

from bayes_scaling.cost import stored_cost
from bayes_scaling.specs.spec import LawSpec


def refit_settings(result, spec: LawSpec | None = None) -> dict:
    """:func:`~bayes_scaling.inference.fit.fit` keywords a refit of ``result`` with ``spec`` (default: its own)
    keeps: ``cost`` (the stored cost law, None for 6ND), ``run_noise`` (the fit's; with another family, only a
    Normal one), ``group_col`` and ``vary`` (the fit's hierarchy, or None)."""
    from bayes_scaling.specs.families import Normal

    spec = result.spec if spec is None else spec
    run_noise = json.loads(result.tree.attrs.get("run_noise", "null") or "null") is not None
    h = result.hierarchy
    other_family = spec.likelihood.family != result.spec.likelihood.family  # e.g. the sensitivity's other likelihood
    keeps_noise = run_noise and (not other_family or isinstance(spec.likelihood.dist, Normal))
    return {"cost": stored_cost(result), "run_noise": keeps_noise,
            "group_col": None if h is None else h["group_col"], "vary": None if h is None else tuple(h["vary"])}


def refit(result, runs=None, *, spec: LawSpec | None = None, seed: int, draws: int, tune: int, chains: int,
          quiet: bool = True):
    """``spec`` (default: ``result``'s) fitted to ``runs`` (default: ``result``'s runs) with
    :func:`refit_settings`; ``quiet`` hides the refit's warnings (its diagnostics are on the result)."""
    from bayes_scaling.inference.fit import fit

    spec = result.spec if spec is None else spec
    runs = result.runs if runs is None else runs
    with warnings.catch_warnings():
        if quiet:
            warnings.simplefilter("ignore")
        return fit(runs, spec=spec, seed=seed, draws=draws, tune=tune, chains=chains, progress=False,
                   **refit_settings(result, spec))
