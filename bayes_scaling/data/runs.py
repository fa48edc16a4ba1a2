"""Loading runs: map the columns of a runs file or DataFrame to quantities, check the values and
convert them to canonical units (N parameters, D tokens, C FLOPs, loss nats/token).

The table itself is :class:`~bayes_scaling.data.table.RunTable` (re-exported here with
:class:`ColumnMap` and :func:`runs_from_frame`); reading files is :mod:`bayes_scaling.data.sources`.
Errors name the quantity at fault (``BayesScalingError(quantity=..., column=True)``), never an option
of the command line.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from bayes_scaling.conventions import (
    FLOPS_PER_PARAM_TOKEN,
    KAPLAN_ALPHA_B,
    KAPLAN_B_STAR_TOKENS,
    COMPUTE_UNIT_NAMES,
    COMPUTE_UNITS,
    DEFAULT_LOSS_UNIT,
    PARAMS_KINDS,
    as_number,
    canonical_compute_unit,
    check_loss_unit,
    compute_to_flops,
)
from bayes_scaling.data.plausibility import UNIT_FACTOR, check_plausible, plausibility_problems, refuse_impossible
from bayes_scaling.data.repeats import repeated_runs_note
from bayes_scaling.data.sources import read_source
from bayes_scaling.data.table import (CHANCE_COLUMN, EXTRA_QUANTITIES, METRIC_COLUMN, NOTES_COLUMN, RUN_ID_COLUMN,
                                      ColumnMap, RunTable, is_row_note, runs_from_frame)
from bayes_scaling.errors import BayesScalingError
from bayes_scaling.quantities import QUANTITIES

__all__ = ["COMPUTE_MISMATCH_FACTOR", "EXTRA_QUANTITIES", "METRIC_COLUMN", "ColumnMap", "RunTable", "load_runs",
           "require_runs",
           "runs_from_frame"]

#: Given compute may differ from 6ND by this factor before a warning (Hoffmann et al. 2022 Table A4
#: shows exact counts within 10% of 6ND; a 2x gap means mismatched units or conventions).
COMPUTE_MISMATCH_FACTOR = 2.0
#: Columns of the canonical table, which group and covariate columns must not overwrite.
_OWN_COLUMNS = {"N": "parameters", "D": "tokens", "C": "compute", "loss": "loss", **EXTRA_QUANTITIES,
                "steps_raw": "optimizer steps before the S_min conversion"}
#: Source columns that hold no quantity, by role (the ``quantity`` their errors carry).
COLUMN_ROLES = ("group", "seed", "covariate", "shape")


def _column_label(role: str) -> str:
    """How a message names the column of ``role`` (a quantity symbol or one of ``COLUMN_ROLES``):
    ``"parameters N"``, ``"loss"``, ``"group"``."""
    q = QUANTITIES.get(role)
    return role if q is None or q.name == q.symbol else q.label


def _numeric(frame: pd.DataFrame, col: str, label: str, unit: str, problems: list[str]) -> np.ndarray | None:
    """Column ``col`` as finite positive floats (in ``unit``), or None after adding a problem."""
    raw = frame[col]
    kind = raw.dtype.kind
    odd = (raw.map(lambda x: isinstance(x, (bool, np.bool_, complex, np.complexfloating))).to_numpy(bool)
           if kind == "O" else np.full(len(raw), kind in "bcmM"))
    if odd.any():  # booleans, complex numbers, times: never coerced to numbers
        rows = (np.flatnonzero(odd) + 1).tolist()[:5]
        problems.append(f"column {col!r} ({label}) holds {raw.dtype if kind != 'O' else type(raw[odd].iloc[0]).__name__} "
                        f"values in data row(s) {rows}, not numbers: {label} must be real numbers in {unit}")
        return None
    values = pd.to_numeric(raw, errors="coerce")
    bad_text = values.isna() & raw.notna()  # text only where a value failed to parse (not per row: 1e6 rows)
    if bad_text.any():
        bad_text[bad_text] = raw[bad_text].astype(str).str.strip().str.lower() != "nan"
    if bad_text.any():
        rows = (np.flatnonzero(bad_text.to_numpy()) + 1).tolist()[:5]
        problems.append(
            f"column {col!r} ({label}) has non-numeric text in data row(s) {rows}, e.g. {str(raw[bad_text].iloc[0])!r}: "
            f"{label} must be numbers in {unit}"
        )
        return None
    arr = values.to_numpy(float)
    missing = ~np.isfinite(arr)
    if missing.any():
        rows = (np.flatnonzero(missing) + 1).tolist()[:5]
        problems.append(f"column {col!r} ({label}) has missing, NaN or infinite values in data row(s) {rows}: "
                        f"drop those runs or fill them in ({unit})")
        return None
    nonpos = arr <= 0
    if nonpos.any():
        rows = (np.flatnonzero(nonpos) + 1).tolist()[:5]
        problems.append(f"column {col!r} ({label}) must be > 0 but is {arr[nonpos][0]:g} in data row(s) {rows}: "
                        f"{label} is a positive quantity in {unit}")
        return None
    return arr


def _check_names(group_cols: tuple[str, ...], covariate_cols: tuple[str, ...], seed_col: str | None,
                 shape_cols: tuple[str, ...]) -> None:
    """Group and covariate columns keep their names in the table: refuse a name taken by one of the
    table's own columns (or used twice), which it would silently overwrite."""
    own = {**_OWN_COLUMNS, **({"seed": "the seed column's values"} if seed_col else {}),
           **({"log_aspect_ratio": "log(d_model/n_layer) from the shape columns"} if shape_cols else {})}
    seen: dict[str, str] = {}
    for role, names in (("group", group_cols), ("covariate", covariate_cols)):
        for col in names:
            if not str(col).strip() or "/" in str(col):
                raise BayesScalingError(f"{role} column name {col!r} cannot be stored in a fit file (empty, or with "
                                        f"a '/'): rename that column in the runs file", quantity=role, column=True)
            if col in own:
                raise BayesScalingError(f"{role} column {col!r} has the name of the runs table's own column {col!r} "
                                        f"({own[col]}), which it would overwrite: rename that column in the runs file",
                                        quantity=role, column=True)
            if col in seen:
                raise BayesScalingError(f"column {col!r} is given twice ({seen[col]} column and {role} column): "
                                        f"name it once", quantity=role, column=True)
            seen[col] = role


def _check_notes_column(roles: dict[str, str | None]) -> None:
    """Refuse :data:`~bayes_scaling.data.table.NOTES_COLUMN` as the column of any quantity or role (``{role:
    column}``): it is reserved for the table's notes, which a written table would put there in its place."""
    for role, col in roles.items():
        if col == NOTES_COLUMN:
            raise BayesScalingError(f"column {NOTES_COLUMN!r} is reserved for the table's notes (units and "
                                    f"conventions, one a row) and cannot be read as the {_column_label(role)} "
                                    f"column: rename that column in the runs file", quantity=role, column=True)


def load_runs(
    source: str | Path | pd.DataFrame,
    *,
    params_col: str | None = "params",
    tokens_col: str | None = "tokens",
    compute_col: str | None = "compute",
    loss_col: str | None = None,
    params_kind: str = "total",
    compute_unit: str = "flops",
    loss_unit: str | None = DEFAULT_LOSS_UNIT,
    predictor_unit: str | None = None,
    chance: float | None = None,
    group_cols: tuple[str, ...] | list[str] = (),
    seed_col: str | None = None,
    run_col: str | None = RUN_ID_COLUMN,
    extra_cols: dict[str, str] | None = None,
    critical_batch: tuple[float, float] = (KAPLAN_B_STAR_TOKENS, KAPLAN_ALPHA_B),
    shape_cols: tuple[str, str] | None = None,
    covariate_cols: tuple[str, ...] | list[str] = (),
    strict: bool = False,
) -> RunTable:
    """Load observed runs from CSV, Parquet or a DataFrame and convert to canonical units.

    ``params_kind`` declares whether N counts total or non-embedding parameters. Compute is read in
    ``compute_unit`` ("flops" or "pf-days"; "FLOPs" or "PF-days" too) and stored in FLOPs. Absent compute is derived as
    C = 6ND (the ladder's nominal budget: it groups and splits runs under any cost law); absent tokens as D = C / 6N
    (derived again as C / f(N) by a fit that stores another cost law, :func:`~bayes_scaling.cost.with_cost`). A given C more than 2x away from 6ND triggers a warning.
    ``loss_unit`` (one of :data:`~bayes_scaling.conventions.LOSS_UNITS`) is the loss column's unit, recorded
    with the table (and a fit of it) to label every loss; values are not converted. ``None``: the column is
    a metric (e.g. accuracy, for a metric law), not a loss. ``loss_col`` None reads column ``loss`` or, where
    there is none, :data:`~bayes_scaling.data.table.METRIC_COLUMN` (``metric``); a response column named
    ``metric`` is a metric whatever ``loss_unit`` says (a loss unit other than the default is refused).
    ``predictor_unit``: the unit of the predictor loss L of a metric law (``extra_cols["L"]``), recorded so that a chain of fits can check it; None: unknown.
    ``chance``: a metric's chance level (a fraction in [0, 1), the prior of a metric law's floor); None reads the
    column :data:`~bayes_scaling.data.table.CHANCE_COLUMN` of a metric table where there is one (one value).
    ``run_col``: the column of each row's training run (default ``run_id``, where there is one). A run is its group
    columns, seed and run id (ids may restart per group; replicates may share one); where a run holds several distinct
    D at one N its rows are checkpoints of it, not independent runs, and load_runs warns
    (:func:`~bayes_scaling.data.repeats.repeated_runs_note`; not when every row is one run: one learning curve).
    ``*_col`` name the source column of each quantity (``None``: absent; a default name may be absent,
    a name given explicitly must exist). Errors carry the quantity (or column role) at fault.
    A column ``run_id`` (:data:`~bayes_scaling.data.repeats.RUN_ID_COLUMN`), where the source has one, is kept: it
    names the training run of each row (checkpoints of one run share it), which ``fit`` warns about.
    Implausible values (a sign of wrong units: :mod:`bayes_scaling.data.plausibility`) warn, or
    raise with ``strict``; the warnings are kept in ``notes``.
    """
    if params_kind not in PARAMS_KINDS:
        raise BayesScalingError(f"params_kind must be one of {PARAMS_KINDS}, got {params_kind!r}")
    if canonical_compute_unit(compute_unit) is None:
        raise BayesScalingError(f"compute_unit must be one of {COMPUTE_UNITS}, got {compute_unit!r}")
    compute_unit = canonical_compute_unit(compute_unit)
    loss_unit = None if loss_unit is None else check_loss_unit(loss_unit)
    predictor_unit = None if predictor_unit is None else check_loss_unit(predictor_unit)
    if predictor_unit is not None and "L" not in (extra_cols or {}):
        raise BayesScalingError(f"the predictor loss unit {predictor_unit} applies to a predictor loss L, which these "
                                f"runs lack: give its column (--col L=COLUMN) or drop the unit", quantity="L")
    frame, name, sha = read_source(source)
    if len(frame) == 0:
        raise BayesScalingError(f"runs table {name!r} has a header but no runs: add one row per training run")
    if loss_col is None:  # the default response: a loss, else a metric written by RunTable.to_csv or by hand
        loss_col = METRIC_COLUMN if "loss" not in frame.columns and METRIC_COLUMN in frame.columns else "loss"
    if loss_col == METRIC_COLUMN:
        if loss_unit not in (None, DEFAULT_LOSS_UNIT):
            raise BayesScalingError(f"column {METRIC_COLUMN!r} holds a metric (a fraction, no loss unit), but the loss "
                                    f"unit {loss_unit} was given: drop the loss unit (for a metric law it is the unit "
                                    f"of the predictor L), or name a loss column 'loss'", quantity="loss_unit")
        loss_unit = None
    group_cols = tuple(group_cols)
    extra_cols = dict(extra_cols or {})
    unknown = sorted(set(extra_cols) - set(EXTRA_QUANTITIES))
    if unknown:
        raise BayesScalingError(f"unknown quantity {unknown} in extra_cols; known: {sorted(EXTRA_QUANTITIES)} "
                                f"(parameters, tokens, compute and loss have their own arguments)")
    shape_cols = tuple(shape_cols or ())
    if shape_cols and (len(shape_cols) != 2 or shape_cols[0] == shape_cols[1]):  # one column twice: log(1) = 0
        raise BayesScalingError(f"shape columns are two different columns (d_model, n_layer), got {list(shape_cols)}",
                                quantity="shape", column=True)
    if seed_col is not None and not str(seed_col).strip():
        raise BayesScalingError("seed column name is empty: name the column, or give none", quantity="seed",
                                column=True)
    covariate_cols = tuple(covariate_cols)
    _check_names(group_cols, covariate_cols, seed_col, shape_cols)
    _check_notes_column({"N": params_col, "D": tokens_col, "C": compute_col, "loss": loss_col, **extra_cols,
                         "seed": seed_col, "run": None if run_col == RUN_ID_COLUMN else run_col,
                         **{"group": g for g in group_cols if g == NOTES_COLUMN},
                         **{"covariate": c for c in covariate_cols if c == NOTES_COLUMN},
                         **{"shape": c for c in shape_cols if c == NOTES_COLUMN}})
    cmap = ColumnMap(params_col, tokens_col, compute_col, loss_col, group_cols, seed_col, tuple(extra_cols.items()),
                     covariate_cols, shape_cols)
    available = list(frame.columns)

    missing: list[str] = []  # roles (quantity symbols or COLUMN_ROLES) of named columns not in the source

    def present(col: str | None, role: str, required: bool) -> str | None:
        if col is None:
            return None
        if col in frame.columns:
            return col
        if required:
            missing.append(role)
            hint = (f" (a metric, e.g. accuracy as a fraction, goes in column {METRIC_COLUMN!r})"
                    if role == "loss" and col == "loss" else "")
            problems.append(f"{_column_label(role)} column {col!r} not found; columns are: {available}{hint}")
        return None

    problems: list[str] = []
    loss_c = present(loss_col, "loss", True)
    # A column named by the user explicitly but missing is an error; a default name missing is fine.
    params_c = present(params_col, "N", params_col != "params")
    tokens_c = present(tokens_col, "D", tokens_col != "tokens")
    compute_c = present(compute_col, "C", compute_col != "compute")
    for g in group_cols:
        present(g, "group", True)
    if seed_col:
        present(seed_col, "seed", True)
    for q, col in extra_cols.items():
        present(col, q, True)
    for col in shape_cols:
        present(col, "shape", True)
    for col in covariate_cols:
        present(col, "covariate", True)
    if problems:  # the error points at the first missing column's quantity
        raise BayesScalingError(*problems, quantity=missing[0], column=True)
    if not (params_c or tokens_c or compute_c or extra_cols):
        raise BayesScalingError(
            f"no {', '.join(_column_label(q) for q in 'NDC')} or {_column_label('X')} column found: name the column "
            f"of at least one (columns are: {available})", quantity="N", column=True)
    out = pd.DataFrame(index=pd.RangeIndex(len(frame), name="run"))
    specs = [("N", params_c, "parameters", "parameters"), ("D", tokens_c, "tokens", "tokens"),
             ("C", compute_c, "compute", COMPUTE_UNIT_NAMES[compute_unit]),
             ("loss", loss_c, "metric" if loss_unit is None else "loss",
              "fractions (0 to 1)" if loss_unit is None else loss_unit),
             *((q, col, EXTRA_QUANTITIES[q], EXTRA_QUANTITIES[q]) for q, col in extra_cols.items())]
    for key, col, label, unit in specs:
        if col is None:
            continue
        arr = _numeric(frame, col, label, unit, problems)
        if arr is not None:
            out[key] = compute_to_flops(arr, compute_unit) if key == "C" else arr
    if problems:
        raise BayesScalingError(*problems)

    derived = []
    notes = table_notes(frame)  # the notes a written table carries (RunTable.to_csv)
    # Loading knows no cost law yet: a missing C or D is derived as 6ND here. A derived D (read by the law) is derived
    # again with the cost law a fit stores (cost.with_cost, in fit); a derived C is the ladder's nominal budget and
    # stays (it groups and splits runs; queries price C(N, D) with the cost law).
    if "D" not in out and "C" in out and "N" in out:
        out["D"] = out["C"] / (FLOPS_PER_PARAM_TOKEN * out["N"])
        derived.append("D = C / (6 N)")
    refuse_impossible(out, {"N": params_c, "D": tokens_c, "C": compute_c}, compute_unit)
    if "C" not in out and "N" in out and "D" in out:
        out["C"] = FLOPS_PER_PARAM_TOKEN * out["N"] * out["D"]
        derived.append("C = 6 N D")
    elif {"C", "N", "D"} <= set(out.columns) and "D = C / (6 N)" not in derived:
        # 6ND is the yardstick of a unit check, not a cost: every cost law is within a few x of it (Kaplan et al.
        # 2020 Table 1's context term adds n_ctx / (12 d_model), under 2x above d_model ~ n_ctx / 12)
        ratio = out["C"] / (FLOPS_PER_PARAM_TOKEN * out["N"] * out["D"])
        off = (ratio > COMPUTE_MISMATCH_FACTOR) | (ratio < 1 / COMPUTE_MISMATCH_FACTOR)
        if off.any() and 1 / UNIT_FACTOR <= ratio.median() <= UNIT_FACTOR:  # else a unit problem, below
            msg = (f"{int(off.sum())} run(s) have compute more than {COMPUTE_MISMATCH_FACTOR:g}x away from 6*N*D "
                   f"(e.g. data row {int(np.flatnonzero(off.to_numpy())[0]) + 1}: C/(6ND) = {ratio[off].iloc[0]:.3g}); "
                   f"check the unit compute was read in (FLOPs or PF-days) and the parameter convention")
            warnings.warn(msg, UserWarning, stacklevel=2)
            notes.append(msg)
    if "S" in out and "B" in out:
        # Kaplan et al. 2020 Eq. 5.4: steps at B << B_crit that reach the same loss.
        out["steps_raw"] = out["S"]
        b_crit = critical_batch[0] / out["loss"] ** (1 / critical_batch[1])
        out["S"] = out["S"] / (1 + b_crit / out["B"])
        derived.append(f"S = S_min = steps / (1 + B_crit(L)/B), B_crit = {critical_batch[0]:.3g} tokens / "
                       f"L^(1/{critical_batch[1]:g})")
    for g in group_cols:
        empty = (frame[g].isna() | (frame[g].astype(str).str.strip() == "")).to_numpy()
        if empty.any():
            raise BayesScalingError(f"group column {g!r} is empty in data row(s) {(np.flatnonzero(empty) + 1).tolist()[:5]}: "
                                    f"give every run a group or drop those runs", quantity="group", column=True)
        out[g] = frame[g].astype(str).to_numpy()
    if seed_col:  # a seed may be unknown (empty): only rows equal in every column kept are told apart by it
        out["seed"] = frame[seed_col].to_numpy()
    if run_col is not None and run_col != RUN_ID_COLUMN and run_col not in frame.columns:  # named, so it must exist
        raise BayesScalingError(f"run column {run_col!r} not found; columns are: {available}", quantity="run",
                                column=True)
    if run_col is not None and run_col in frame.columns:
        out[RUN_ID_COLUMN] = frame[run_col].astype(str).to_numpy()
        if note := repeated_runs_note(out, groups=group_cols):
            warnings.warn(note, UserWarning, stacklevel=2)
            notes.append(note)
    if shape_cols:
        width = _numeric(frame, shape_cols[0], "d_model (width)", "units", problems)
        depth = _numeric(frame, shape_cols[1], "n_layer (depth)", "layers", problems)
        if problems:
            raise BayesScalingError(*problems, quantity="shape", column=True)
        out["log_aspect_ratio"] = np.log(width / depth)
    for col in covariate_cols:
        values = pd.to_numeric(frame[col], errors="coerce").to_numpy(float)
        if not np.all(np.isfinite(values)):
            raise BayesScalingError(f"covariate column {col!r} must be finite numbers in every run",
                                    quantity="covariate", column=True)
        out[col] = values
    chance = table_chance(frame, chance, metric=loss_unit is None or "L" in out)
    implausible = plausibility_problems(out, metric=loss_unit is None or "L" in out, loss_unit=loss_unit)
    check_plausible(implausible, strict=strict)
    notes += [f"implausible runs: {p}" for p in implausible]
    notes = list(dict.fromkeys(notes))  # a note the file carries and loading says again, once
    return RunTable(out, params_kind, cmap, name, sha, tuple(derived), tuple(notes), compute_unit, loss_unit,
                    predictor_unit, chance)


def check_chance(chance, quantity: str = "chance") -> float:
    """``chance`` as a float in [0, 1): the accuracy of a guess (a fraction: 1 / the number of choices)."""
    value = as_number(chance)
    if not (np.isfinite(value) and 0.0 <= value < 1.0):
        raise BayesScalingError(f"chance must be a fraction in [0, 1) (the accuracy of a guess: 0.25 for 4-way "
                                f"multiple choice, 0.5 for 2-way, 0 for an open-ended answer), got {chance!r}",
                                quantity=quantity)
    return float(value)


def table_chance(frame: pd.DataFrame, chance, *, metric: bool) -> float | None:
    """A metric table's chance level: ``chance`` where given, else its column ``chance`` (one value in every
    row); None for a loss table (a ``chance`` column there is just a column) or where none is recorded."""
    if chance is not None:
        if not metric:
            raise BayesScalingError("a chance level applies to a metric (e.g. accuracy as a fraction), but this "
                                    "table's response is a loss: drop it", quantity="chance")
        return check_chance(chance)
    if not metric or CHANCE_COLUMN not in frame.columns:
        return None
    values = pd.to_numeric(frame[CHANCE_COLUMN], errors="coerce").unique()
    if len(values) != 1:
        raise BayesScalingError(f"column {CHANCE_COLUMN!r} (the metric's chance level) must hold one value in every "
                                f"row, got {sorted(map(str, values))[:5]}: fit one task at a time", quantity="chance")
    return check_chance(values[0])


def require_runs(runs, argument: str = "runs") -> RunTable:
    """``runs`` if it is a :class:`RunTable`; a data frame, a path or anything else fails with one line
    saying how to make one."""
    if not isinstance(runs, RunTable):
        raise BayesScalingError(f"{argument} must be a RunTable: make one with load_runs(frame_or_path), got "
                                f"{type(runs).__name__}", quantity=argument)
    return runs


def table_notes(frame: pd.DataFrame) -> list[str]:
    """The notes column :data:`~bayes_scaling.data.table.NOTES_COLUMN` of a written table (one note a row, empty
    cells skipped), less those derived from the rows
    (:func:`~bayes_scaling.data.table.is_row_note`), which loading derives again from the rows it has; none where
    there is no such column."""
    if NOTES_COLUMN not in frame.columns:
        return []
    return [n for n in (str(v).strip() for v in frame[NOTES_COLUMN] if isinstance(v, str))
            if n and not is_row_note(n)]
