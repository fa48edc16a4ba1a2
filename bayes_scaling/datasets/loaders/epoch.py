"""Epoch AI's extraction of Chinchilla Figure 4 (``chinchilla_epoch``)."""

from __future__ import annotations

import numpy as np

from bayes_scaling.data.runs import RunTable, load_runs
from bayes_scaling.datasets.registry import register
from bayes_scaling.errors import BayesScalingError


@register("chinchilla_epoch")
def load_chinchilla_epoch(get, drop_highest_loss: int = 0) -> RunTable:
    """N = ``Model Size`` (total parameters, embeddings included), C = ``Training FLOP`` (FLOPs),
    D = C / (6N) tokens (derived, as Epoch does), loss = final MassiveText training loss (nats/token,
    decoded from the marker colour). ``drop_highest_loss=5`` reproduces Epoch's n = 240 sample."""
    if not isinstance(drop_highest_loss, (int, np.integer)) or isinstance(drop_highest_loss, bool) or drop_highest_loss < 0:
        raise BayesScalingError(f"dataset 'chinchilla_epoch': drop_highest_loss must be a whole number >= 0 (5 gives "
                                f"Epoch's n = 240 sample), got {drop_highest_loss!r}")
    frame = get()
    if drop_highest_loss:
        frame = frame.drop(frame["loss"].nlargest(int(drop_highest_loss)).index).reset_index(drop=True)
    return load_runs(frame, params_col="Model Size", compute_col="Training FLOP", tokens_col=None,
                     loss_col="loss", params_kind="total")
