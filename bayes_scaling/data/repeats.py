"""Rows of one training run: a runs table whose column ``run_id`` names the run each row comes from (e.g. the
checkpoints of Pythia or the OLMo ladder) can hold several rows per run. A fit treats every row as an
independent run, so rows of one run (a) shrink the intervals with the number of rows per run, though a run's
checkpoints share its seed, data order and schedule, and (b) are read as final losses of runs trained to that
D, though a checkpoint is a mid-schedule loss (its learning rate not yet decayed; Hoffmann et al. 2022,
arXiv:2203.15556, Sec. 3.1 and Fig. A1: intermediate losses of a longer cosine schedule overestimate the loss).
This module finds such tables and words the warning once, for ``fit`` and ``datasets`` alike."""

from __future__ import annotations

import pandas as pd

from bayes_scaling.data.table import RUN_ID_COLUMN  # noqa: F401 (the one definition; re-exported)


def rows_per_run(frame: pd.DataFrame) -> pd.Series | None:
    """Rows per run id (a Series indexed by run id), or None where ``frame`` has no :data:`RUN_ID_COLUMN`."""
    if RUN_ID_COLUMN not in frame.columns:
        return None
    return frame.groupby(RUN_ID_COLUMN, sort=False).size()


def repeated_runs_note(frame: pd.DataFrame, fix: str | None = None) -> str | None:
    """One line where some run id holds several rows (checkpoints of one run fitted as independent runs), with
    ``fix`` (what keeps one row per run) or a generic one; None where every run has one row, no run id is given,
    or every row shares one run id (one learning curve, e.g. a group of ``fit-many --by run_id``, fitted as a
    curve and not as runs of a ladder)."""
    n = rows_per_run(frame)
    if n is None or not (n > 1).any() or len(n) == 1:
        return None
    many = int((n > 1).sum())
    size = f"{int(n.min())} to {int(n.max())}" if n.min() != n.max() else f"{int(n.max())}"
    return (f"{len(frame)} rows come from {len(n)} training runs (column {RUN_ID_COLUMN!r}; {many} of them with "
            f"{size} rows each): the rows of one run, its checkpoints, are fitted as independent runs, so the "
            f"intervals narrow with the number of checkpoints, and a checkpoint's mid-schedule loss is read as the "
            f"final loss of a run trained to that D; "
            + (fix or f"keep one row per run (its final checkpoint), or fit each run's learning curve on its own "
                    f"(fit-many --by {RUN_ID_COLUMN} with a law of D such as power_d, and --residual-process for its "
                    f"correlated residuals)"))
