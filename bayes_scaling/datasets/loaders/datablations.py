"""Scaling Data-Constrained Language Models (``datablations``)."""

from __future__ import annotations

from bayes_scaling.data.runs import RunTable, load_runs
from bayes_scaling.datasets.registry import register


@register("datablations")
def load_datablations(get, paper_subset: bool = False) -> RunTable:
    """N = ``params`` (total), D = ``tokens`` (total tokens trained), U = ``unique_tokens``, C = 6ND
    (derived), loss = final C4 validation loss (nats/token), ``seed`` for the replicates (NaN
    otherwise). ``paper_subset=True`` keeps the 182 runs behind the published data-constrained fit."""
    frame = get()
    if paper_subset:
        frame = frame[frame["in_paper_fit_182"] == 1].reset_index(drop=True)
    return load_runs(frame, params_col="params", tokens_col="tokens", compute_col=None, loss_col="val_loss",
                     params_kind="total", extra_cols={"U": "unique_tokens"}, seed_col="seed")
