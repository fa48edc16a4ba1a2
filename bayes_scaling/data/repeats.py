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


def checkpoints_record(frame: pd.DataFrame) -> dict | None:
    """``{"rows", "runs", "note"}`` where some run id holds several rows (the fit's rows are checkpoints of fewer
    training runs), ``note`` the one line every query, ``summary`` and the report say it in; None where every run has
    one row, no run id is given, or every row shares one run id (one learning curve, e.g. a group of
    ``fit-many --by run_id``, fitted as a curve and not as runs of a ladder)."""
    n = rows_per_run(frame)
    if n is None or not (n > 1).any() or len(n) == 1:
        return None
    return {"rows": int(len(frame)), "runs": int(len(n)),
            "note": f"{len(frame)} rows come from {len(n)} training runs (column {RUN_ID_COLUMN!r}): the rows of one "
                    f"run, its checkpoints, are fitted as independent runs, so the intervals are too narrow (they "
                    f"narrow with the number of checkpoints)"}


def notes_say_checkpoints(notes, rec: dict | None) -> bool:
    """Whether a table's ``notes`` already hold :func:`repeated_runs_note` for :func:`checkpoints_record` ``rec``
    (this wording or an older one, which began alike), so that a view need not say it twice."""
    return rec is not None and any(n.startswith(f"{rec['rows']} rows come from {rec['runs']} training runs")
                                   for n in notes)


def repeated_runs_note(frame: pd.DataFrame, fix: str | None = None) -> str | None:
    """:func:`checkpoints_record`'s line, with how many rows each run holds, what else it implies, and ``fix`` (what
    keeps one row per run) or a generic one; None where :func:`checkpoints_record` is None."""
    rec = checkpoints_record(frame)
    if rec is None:
        return None
    n = rows_per_run(frame)
    many = int((n > 1).sum())
    size = f"{int(n.min())} to {int(n.max())}" if n.min() != n.max() else f"{int(n.max())}"
    return (f"{rec['note']}; {many} of the runs hold {size} rows each, and a checkpoint's mid-schedule loss is read "
            f"as the final loss of a run trained to that D; "
            + (fix or f"keep one row per run (its final checkpoint), or fit each run's learning curve on its own "
                    f"(fit-many --by {RUN_ID_COLUMN} with a law of D such as power_d, and --residual-process for its "
                    f"correlated residuals)"))
