"""Broken Neural Scaling Laws: 4-digit addition (``bnsl_addition``)."""

from __future__ import annotations

from bayes_scaling.data.runs import RunTable, load_runs
from bayes_scaling.datasets.options import choice, with_columns
from bayes_scaling.datasets.registry import register


@register("bnsl_addition")
def load_bnsl(get, split: str | None = None) -> RunTable:
    """X = ``train_dataset_size`` (training examples, 160-928), loss = ``test_loss`` (test
    cross-entropy, nats), with the script's ``split`` kept as a column ("fit" for the first 14
    points, "extrapolate" for the last 3); ``split=`` keeps only one part."""
    frame = get()
    if split is not None:
        choice(split, ("fit", "extrapolate"), "split", "bnsl_addition")
        frame = frame[frame["split"] == split].reset_index(drop=True)
    runs = load_runs(frame, params_col=None, tokens_col=None, compute_col=None, loss_col="test_loss",
                     extra_cols={"X": "train_dataset_size"})
    return with_columns(runs, split=frame["split"].astype(str).to_numpy())
