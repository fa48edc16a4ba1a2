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


#: The canonical column of a run's seed (:func:`~bayes_scaling.data.runs.load_runs` ``seed_col``).
SEED_COLUMN = "seed"


def run_keys(frame: pd.DataFrame, groups=()) -> list[str]:
    """The columns that name one training run: the group columns, the seed and :data:`RUN_ID_COLUMN` (run ids may
    restart per group, and replicates of one configuration may share a run id and differ in seed)."""
    return [c for c in (*groups, SEED_COLUMN, RUN_ID_COLUMN) if c in frame.columns]


def rows_per_run(frame: pd.DataFrame, groups=()) -> pd.Series | None:
    """Rows per training run (a Series indexed by :func:`run_keys`), or None where ``frame`` has no
    :data:`RUN_ID_COLUMN`."""
    if RUN_ID_COLUMN not in frame.columns:
        return None
    return frame.groupby(run_keys(frame, groups), sort=False, dropna=False).size()


def checkpoint_runs(frame: pd.DataFrame, groups=()) -> pd.Series | None:
    """Per training run (:func:`run_keys`), whether its rows are checkpoints: it holds several distinct D (tokens;
    the scale axis X or steps S where there is no D) at one N. None where there is no :data:`RUN_ID_COLUMN`."""
    if RUN_ID_COLUMN not in frame.columns:
        return None
    keys = run_keys(frame, groups)
    axis = next((q for q in ("D", "X", "S") if q in frame.columns), None)
    if axis is None:  # nothing tells a checkpoint from a replicate: several rows of one run are checkpoints
        return frame.groupby(keys, sort=False, dropna=False).size() > 1
    at = [*keys, "N"] if "N" in frame.columns else keys
    distinct = frame.groupby(at, sort=False, dropna=False)[axis].nunique() > 1
    return distinct.groupby(level=list(range(len(keys))), sort=False, dropna=False).any()  # runs without a seed kept


def checkpoints_record(frame: pd.DataFrame, groups=()) -> dict | None:
    """``{"rows", "runs", "note"}`` where some training run (:func:`run_keys`: group columns, seed and run id) holds
    several distinct D at one N (the fit's rows are checkpoints of fewer training runs), ``note`` the one line every
    query, ``summary`` and the report say it in; None where no run does (one row per run, or replicates and runs of
    other groups that share a run id), no run id is given, or every row is one run (one learning curve, e.g. a group
    of ``fit-many --by run_id``, fitted as a curve and not as runs of a ladder)."""
    ck = checkpoint_runs(frame, groups)
    if ck is None or not ck.any() or len(ck) == 1:
        return None
    return {"rows": int(len(frame)), "runs": int(len(ck)),
            "note": f"{len(frame)} rows come from {len(ck)} training runs (column {RUN_ID_COLUMN!r}): the rows of one "
                    f"run, its checkpoints, are fitted as independent runs, so the intervals are too narrow (they "
                    f"narrow with the number of checkpoints)"}


def notes_say_checkpoints(notes, rec: dict | None) -> bool:
    """Whether a table's ``notes`` already hold :func:`repeated_runs_note` for :func:`checkpoints_record` ``rec``
    (this wording or an older one, which began alike), so that a view need not say it twice."""
    return rec is not None and any(n.startswith(f"{rec['rows']} rows come from {rec['runs']} training runs")
                                   for n in notes)


def repeated_runs_note(frame: pd.DataFrame, fix: str | None = None, groups=()) -> str | None:
    """:func:`checkpoints_record`'s line, with how many rows each run holds, what else it implies, and ``fix`` (what
    keeps one row per run) or a generic one; None where :func:`checkpoints_record` is None."""
    rec = checkpoints_record(frame, groups)
    if rec is None:
        return None
    ck = checkpoint_runs(frame, groups)
    n = rows_per_run(frame, groups)[ck]
    many = int(len(n))
    size = f"{int(n.min())} to {int(n.max())}" if n.min() != n.max() else f"{int(n.max())}"
    return (f"{rec['note']}; {many} of the runs hold {size} rows each, and a checkpoint's mid-schedule loss is read "
            f"as the final loss of a run trained to that D; "
            + (fix or f"keep one row per run (its final checkpoint), or fit each run's learning curve on its own "
                    f"(fit-many --by {RUN_ID_COLUMN} with a law of D such as power_d, and --residual-process for its "
                    f"correlated residuals)"))
