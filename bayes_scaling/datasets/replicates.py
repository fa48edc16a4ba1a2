"""Noise components from replicate runs: the spread of replicates at the same (N, D) split into the
per-run evaluation noise (checkpoint-to-checkpoint scatter around each run's own trend) and the
run-to-run noise (seed, data order), total^2 = run-to-run^2 + evaluation^2.

Units follow the columns: losses in nats/token, bits-per-byte, accuracy as a fraction.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
import pandas as pd

from bayes_scaling.errors import BayesScalingError


def pooled_replicate_sd(final: pd.DataFrame, column: str, cell: Sequence[str]) -> tuple[float, int]:
    """(pooled within-cell SD, degrees of freedom) of ``column`` over the cells ``cell`` (e.g. N and D)
    that hold two or more replicate runs: sqrt(sum (n_i - 1) s_i^2 / sum (n_i - 1))."""
    g = final.groupby(list(cell))[column]
    n, var = g.count(), g.var(ddof=1)
    keep = n >= 2
    dof = int((n[keep] - 1).sum())
    if dof == 0:
        raise BayesScalingError(f"no (N, D) cell holds two replicates of {column!r}: no run-to-run spread to measure")
    return float(np.sqrt(((n[keep] - 1) * var[keep]).sum() / dof)), dof


def evaluation_sd(checkpoints: pd.DataFrame, column: str, run: str = "run_id", step: str = "step",
                  last: int = 10) -> float:
    """Pooled SD of ``column`` around a straight line in log step over each run's ``last`` checkpoints:
    the scatter of one evaluation around the run's own trajectory."""
    ss, dof = 0.0, 0
    for _, g in checkpoints.sort_values(step).groupby(run):
        g = g.tail(last)
        if len(g) < 4:
            continue
        x, y = np.log(g[step].to_numpy(float)), g[column].to_numpy(float)
        resid = y - np.polyval(np.polyfit(x, y, 1), x)
        ss += float(resid @ resid)
        dof += len(g) - 2
    if dof == 0:
        raise BayesScalingError(f"too few checkpoints per run to measure the evaluation noise of {column!r}")
    return float(np.sqrt(ss / dof))


def replicate_noise(final: pd.DataFrame, checkpoints: pd.DataFrame, columns: Sequence[str], *,
              cell: Sequence[str] = ("N", "D_tokens"), last: int = 10) -> pd.DataFrame:
    """Per column: ``total_sd`` (replicates at one (N, D)), ``eval_sd`` (checkpoint scatter),
    ``run_sd`` = sqrt(max(total^2 - eval^2, 0)), and the replicates' degrees of freedom."""
    rows = []
    for col in columns:
        total, dof = pooled_replicate_sd(final, col, cell)
        ev = evaluation_sd(checkpoints, col, last=last)
        rows.append({"column": col, "total_sd": total, "eval_sd": ev,
                     "run_sd": float(np.sqrt(max(total ** 2 - ev ** 2, 0.0))), "replicate_dof": dof})
    return pd.DataFrame(rows).set_index("column")


def olmo_ladder_noise(columns: Sequence[str] = ("val_ce_c4_en", "acc_mmlu_avg_test"), *,
                      data_home: str | os.PathLike | None = None, last: int = 10) -> pd.DataFrame:
    """:func:`replicate_noise` on the OLMo ladder (Bhagia et al. 2024): replicates ``orig``, ``rerun``,
    ``seed-1``, ``seed-1-init`` at the same (N, D); checkpoints of every run for the evaluation noise."""
    from bayes_scaling.datasets.cache import fetch

    final = pd.read_csv(fetch("olmo_ladder", data_home, file="olmo_ladder_final.csv"))
    ckpt = pd.read_csv(fetch("olmo_ladder", data_home, file="olmo_ladder_checkpoints.csv"),
                       usecols=["run_id", "step", *columns])
    return replicate_noise(final, ckpt, columns, last=last)
