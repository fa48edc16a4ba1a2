"""Refits of a stored fit: its spec (or another: a likelihood, a law) on these runs, keeping what the fit
was fitted with (:func:`~bayes_scaling.result.refit.refit_settings`: cost law, run noise, hierarchy)."""

from __future__ import annotations

import warnings

from bayes_scaling.result.refit import refit_settings
from bayes_scaling.specs.spec import LawSpec


def refit(result, runs=None, *, spec: LawSpec | None = None, seed: int, draws: int, tune: int, chains: int,
          quiet: bool = True):
    """``spec`` (default: ``result``'s) fitted to ``runs`` (default: ``result``'s runs) with
    :func:`refit_settings`; ``quiet`` hides the refit's warnings (its diagnostics are on the result).

    Group offsets: the default spec is ``result.spec``, the parametrisation the fit was asked with (its
    ``[hierarchy] centred``), not the one a retry of the fit switched to (``result.hierarchy["centred"]``, how
    its returned trace was sampled): the refit's first attempt samples as the spec says and its own retries
    centre offsets where its own draws call for it (:func:`~bayes_scaling.inference.retry.next_centred`), so a
    parameter the fit's retry centred is not kept centred through divergences as if the spec had asked for it.
    To start from the returned parametrisation instead, pass it as the spec's own choice:
    ``spec=dataclasses.replace(result.spec, hierarchy=dataclasses.replace(result.spec.hierarchy,
    centred=tuple(result.hierarchy["centred"]))).synced()``."""
    from bayes_scaling.inference.fit import fit

    spec = result.spec if spec is None else spec
    runs = result.runs if runs is None else runs
    with warnings.catch_warnings():
        if quiet:
            warnings.simplefilter("ignore")
        return fit(runs, spec=spec, seed=seed, draws=draws, tune=tune, chains=chains, progress=False,
                   **refit_settings(result, spec))
