"""(Mis)Fitting Scaling Laws: the open_lm sweep (``misfitting``)."""

from __future__ import annotations

from bayes_scaling.data.runs import RunTable, load_runs
from bayes_scaling.datasets.options import choice
from bayes_scaling.datasets.registry import register


@register("misfitting")
def load_misfitting(get, checkpoints: str = "last", params_kind: str = "total", best_lr: bool = False) -> RunTable:
    """N = ``N`` (total, 57M-1.18B) or ``N_no_emb`` with ``params_kind="non-embedding"``; D = ``D``
    (tokens seen); C = the file's ``C`` or ``C_no_emb`` (FLOPs; though described as the authors' more
    precise estimates, they equal 6ND with the matching N to 1e-9 in every row); loss = C4 eval loss (nats/token). ``checkpoints``: "last" (final checkpoint of each of 261 runs) or "all" (4,852
    mid-schedule checkpoints, correlated within a run). ``best_lr`` keeps the lowest loss per
    (model, planned tokens, checkpoint) over the learning-rate sweeps. Without it, the 42 final checkpoints
    of the 17m model's sweep 2024_11_10 form 21 pairs with the same N, D, C and loss to the last digit (in the
    source file): 13 pairs differ in peak LR, 8 repeat the same peak LR (7 of these differ in
    ``total_epochs``; 1 is the same row twice, in every column). Loading them warns of 21 copied rows."""
    choice(checkpoints, ("last", "all"), "checkpoints", "misfitting")
    choice(params_kind, ("total", "non-embedding"), "params_kind", "misfitting")
    frame = get("scaling_results_last_ckpt_only.csv" if checkpoints == "last" else "scaling_results.csv")
    if best_lr:
        keys = ["model", "train_tokens", "current_steps"]
        frame = frame.loc[frame.groupby(keys)["loss"].idxmin()].reset_index(drop=True)
    emb = params_kind == "total"
    return load_runs(frame, params_col="N" if emb else "N_no_emb", tokens_col="D", compute_col="C" if emb else "C_no_emb",
                     loss_col="loss", params_kind=params_kind)
