"""Gemstones: width x depth model suite (``gemstones``)."""

from __future__ import annotations

from bayes_scaling.data.runs import RunTable, load_runs
from bayes_scaling.datasets.options import choice
from bayes_scaling.datasets.registry import register

_VARIANTS = {"cool_end": "gemstones_cool_end.csv", "cool_begin": "gemstones_cool_begin.csv",
             "hot": "gemstones_hot.csv", "hot_100bplus": "gemstones_hot_100bplus.csv",
             "lr_ablation_hot": "gemstones_lr_ablation_hot.csv"}


@register("gemstones")
def load_gemstones(get, variant: str = "cool_end") -> RunTable:
    """N = ``params`` (active parameters incl. embeddings), D = ``tokens`` (step x 2048 x 2048),
    C = 6ND (derived), loss = ``val_loss`` (nats/token), shape covariate ``log_aspect_ratio`` =
    log(width / depth). Group column ``model`` (``w<width>_d<depth>``): the runs of one model are
    checkpoints (or cooldowns) of one training run, not independent runs. ``variant``: "cool_end"
    (default: losses after the cooldowns, 199 runs), "cool_begin", "hot" (constant-LR checkpoints),
    "hot_100bplus" or "lr_ablation_hot"."""
    choice(variant, list(_VARIANTS), "variant", "gemstones")
    frame = get(_VARIANTS[variant]).copy()
    frame["model"] = [f"w{int(w)}_d{int(d)}" for w, d in zip(frame["width"], frame["depth"])]
    return load_runs(frame, params_col="params", tokens_col="tokens", compute_col=None, loss_col="val_loss",
                     params_kind="total", shape_cols=("width", "depth"), group_cols=("model",))
