"""The runs table: observed training runs in canonical units (:class:`RunTable`), which source
column held each quantity (:class:`ColumnMap`), and its rebuilding from a saved fit.

Columns of the canonical table (one row per run, dim ``run``):

- ``N``: parameters (count; ``params_kind`` says total or non-embedding),
- ``D``: training tokens (count),
- ``C``: training compute in FLOPs (derived as 6ND when absent),
- ``loss``: final loss in the table's ``loss_unit`` (nats/token by default), or a metric (accuracy as a
  fraction) where ``loss_unit`` is None; written to CSV (:meth:`RunTable.to_csv`) as column ``loss`` or, for a
  metric, :data:`METRIC_COLUMN`, so that reading the file back knows which it is,
- optional further inputs some laws need (``EXTRA_QUANTITIES``): ``U`` unique tokens,
  ``X`` a generic scale axis (e.g. training-set size of a learning curve), ``S`` optimizer steps
  and ``B`` batch size in tokens (with both, S becomes Kaplan's S_min = S / (1 + B_crit(L)/B)),
  ``L`` a predictor loss (LM loss or task bits-per-byte) that metric laws map to ``loss``, then the
  metric (e.g. accuracy as a fraction); ``SE`` each run's evaluation standard error of its loss (or
  metric) column, in that column's units (e.g. sqrt(p (1 - p) / n) for an accuracy p on n examples), which
  a fit with ``run_noise`` separates from the run-to-run noise;
- optional group columns (architecture, dataset, ...) and ``seed``.

Build a table with :func:`bayes_scaling.data.runs.load_runs`.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from bayes_scaling.conventions import DEFAULT_LOSS_UNIT, flops_to_unit
from bayes_scaling.errors import BayesScalingError
from bayes_scaling.quantities import label

#: Further positive inputs a law may use, with their units.
EXTRA_QUANTITIES = {"U": "unique tokens", "X": "units of the scale axis", "S": "optimizer steps",
                    "B": "batch size in tokens", "L": "predictor loss (nats/token, bits/byte or nats/word)",
                    "SE": "evaluation standard error (units of the loss column)"}


#: The CSV column of a metric response (accuracy as a fraction, no loss unit): a runs file with this column and no
#: ``loss`` column is read as a metric (``loss_unit`` None), which only a metric law fits.
METRIC_COLUMN = "metric"
#: The column of a run's identity (a source column of that name is read by default): rows that share it are
#: checkpoints of one training run, not independent runs (:func:`~bayes_scaling.data.runs.load_runs` warns).
RUN_ID_COLUMN = "run_id"
#: The CSV column of a metric's chance level (one value in every row), read back into ``RunTable.chance``.
CHANCE_COLUMN = "chance"
#: The CSV column of a table's notes (units, conventions, provenance a loader records): one note a row, from the
#: first row on, empty below; read back into ``RunTable.notes``, so that a fit of a written dataset keeps them. A
#: reserved name: a source column of that name holds notes (no quantity, group or seed may be read from it).
NOTES_COLUMN = "data_note"
#: The beginnings of the notes :func:`~bayes_scaling.data.runs.load_runs` derives from the rows (checkpoints, compute
#: away from 6ND, implausible values): never written to :data:`NOTES_COLUMN` and dropped where read from it (an older
#: file's), since loading derives them again from the rows it has (a subset's would go stale).
ROW_NOTE_PATTERNS = (r"\d+ rows come from \d+ training runs", r"\d+ run\(s\) have compute more than ",
                     r"implausible runs: ")


def is_row_note(note: str) -> bool:
    """Whether ``note`` is one :func:`~bayes_scaling.data.runs.load_runs` derives from the rows
    (:data:`ROW_NOTE_PATTERNS`), not a loader's note about units and conventions."""
    import re

    return any(re.match(p, str(note).strip()) for p in ROW_NOTE_PATTERNS)
#: Canonical columns -> the CSV column names a runs file is read with by default (the response: ``loss``, or
#: :data:`METRIC_COLUMN` for a metric).
EXPORT_NAMES = {"N": "params", "D": "tokens", "C": "compute", "loss": "loss"}


def _needed(symbol: str) -> str:
    """How :meth:`RunTable.require` names a missing input, with the inputs it can be derived from."""
    alternatives = {"D": ("C", "N"), "C": ("N", "D")}.get(symbol)
    if alternatives:
        return f"{label(symbol)} (or {label(alternatives[0])} and {label(alternatives[1])})"
    return label(symbol)


def log_in_unit(symbol: str, values, compute_unit: str = "FLOPs") -> np.ndarray:
    """Natural log of a quantity's values; compute C (given in FLOPs) is first converted to
    ``compute_unit``, a law's unit ("FLOPs" or "PF-days", either spelling)."""
    v = np.asarray(values, float)
    return np.log(flops_to_unit(v, compute_unit) if symbol == "C" else v)


@dataclass(frozen=True)
class ColumnMap:
    """Which source column holds each quantity (``None``: absent)."""

    params: str | None = "params"
    tokens: str | None = "tokens"
    compute: str | None = "compute"
    loss: str = "loss"
    groups: tuple[str, ...] = ()
    seed: str | None = None
    extra: tuple[tuple[str, str], ...] = ()
    covariates: tuple[str, ...] = ()
    shape: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {
            "covariates": list(self.covariates),
            "shape": list(self.shape),
            "params": self.params,
            "tokens": self.tokens,
            "compute": self.compute,
            "loss": self.loss,
            "groups": list(self.groups),
            "seed": self.seed,
            "extra": dict(self.extra),
        }


@dataclass(frozen=True)
class RunTable:
    """Validated runs in canonical units. Build it with :func:`load_runs`."""

    frame: pd.DataFrame
    params_kind: str
    columns: ColumnMap
    source: str = "<DataFrame>"
    sha256: str = ""
    derived: tuple[str, ...] = ()
    notes: tuple[str, ...] = field(default_factory=tuple)
    #: The unit compute was read in ("flops" or "pf-days"; stored in FLOPs either way); None: not recorded.
    compute_unit: str | None = None
    #: The unit of the loss column (:data:`bayes_scaling.conventions.LOSS_UNITS`); a label, not converted.
    loss_unit: str | None = DEFAULT_LOSS_UNIT  # None: the column is a metric, not a loss
    #: The unit of the predictor loss L of a metric law (one of ``LOSS_UNITS``); None: not recorded.
    predictor_unit: str | None = None
    #: A metric's chance level (the accuracy of a guess, a fraction in [0, 1)), the prior of a metric law's
    #: floor; written to CSV as the column :data:`CHANCE_COLUMN`; None: not recorded.
    chance: float | None = None

    def __len__(self) -> int:
        return len(self.frame)

    @property
    def group_cols(self) -> tuple[str, ...]:
        return self.columns.groups

    @property
    def covariate_names(self) -> tuple[str, ...]:
        """Covariates (numeric columns entering log-loss linearly, e.g. ``log_aspect_ratio``)."""
        return (*(("log_aspect_ratio",) if self.columns.shape else ()), *self.columns.covariates)

    def subset(self, mask) -> "RunTable":
        """The runs where ``mask`` is true (same columns, units and provenance)."""
        from dataclasses import replace

        return replace(self, frame=self.frame[np.asarray(mask, bool)].reset_index(drop=True).rename_axis("run"))

    def implausible(self) -> list[str]:
        """Implausible features of the runs, a sign of wrong units; one line each
        (:mod:`bayes_scaling.data.plausibility`)."""
        from bayes_scaling.data.plausibility import plausibility_problems

        return plausibility_problems(self.frame, metric=self.is_metric, loss_unit=self.loss_unit)

    @property
    def is_metric(self) -> bool:
        """Whether the response is a metric (no loss unit, or a predictor loss L given), not a loss."""
        return self.loss_unit is None or "L" in self.frame

    @property
    def response_label(self) -> str:
        """The response as messages name it: ``"metric (column 'acc')"`` or ``"loss (column 'loss', nats/token)"``."""
        if self.loss_unit is None:
            return f"metric (column {self.columns.loss!r}, a fraction: no loss unit)"
        return f"loss (column {self.columns.loss!r}, {self.loss_unit})"

    def export_frame(self) -> pd.DataFrame:
        """The runs as a CSV that :func:`~bayes_scaling.data.runs.load_runs` reads back with its default column
        names (:data:`EXPORT_NAMES`): a metric response (no loss unit) is named :data:`METRIC_COLUMN`. With S and B
        the table's S is Kaplan's S_min, derived from the raw steps: S is written as the raw steps, so that reading
        the file back derives the same S_min once. The notes go to column :data:`NOTES_COLUMN`, but those derived
        from the rows (:func:`is_row_note`), which reading the file derives again."""
        names = {**EXPORT_NAMES, **({"loss": METRIC_COLUMN} if self.loss_unit is None else {})}
        frame = self.frame.rename(columns=names)
        if self.chance is not None:
            frame = frame.assign(**{CHANCE_COLUMN: self.chance})
        notes = [n for n in self.notes if not is_row_note(n)]
        if notes:  # one note a row; where the notes outnumber the rows, the last row holds the rest
            k = len(frame)
            cells = [*notes[:k - 1], " | ".join(notes[k - 1:])] + [""] * max(0, k - len(notes))
            frame = frame.assign(**{NOTES_COLUMN: cells[:k]})
        if "steps_raw" in frame:
            frame = frame.assign(S=frame["steps_raw"]).drop(columns="steps_raw")
        return frame

    def to_csv(self, path) -> None:
        """Write :meth:`export_frame` to ``path`` (atomically: a failed write leaves no file)."""
        from bayes_scaling.files import atomic_path

        with atomic_path(path) as tmp:
            self.export_frame().to_csv(tmp, index=False)

    def has(self, quantity: str) -> bool:
        return quantity in self.frame.columns and self.frame[quantity].notna().all()

    def log_inputs(self, compute_unit: str = "FLOPs") -> dict[str, np.ndarray]:
        """Natural logs of the inputs present (N, D, C with C in ``compute_unit``, U, X)."""
        return {q: log_in_unit(q, self.frame[q].to_numpy(float), compute_unit)
                for q in ("N", "D", "C", *EXTRA_QUANTITIES) if self.has(q)}

    def require(self, law, *, proper_priors: bool = False) -> None:
        """Check that this table can fit ``law``: inputs present (an error names the missing quantity)
        and a design that can determine the law (2 or more distinct values of each input the law
        raises to an exponent, ``law.exponent_inputs``). Fewer runs than parameters + 2 are refused
        unless every prior is proper (``proper_priors``): then the fit goes ahead with a one-line
        warning that the posterior is dominated by the prior."""
        missing = [name for name in law.input_names if not self.has(name)]
        if missing:  # the error points at the first missing quantity's column
            raise BayesScalingError(*(f"law {law.name!r} needs {_needed(m)}, which the runs table lacks"
                                      for m in missing), quantity=missing[0], column=True)
        for name in getattr(law, "exponent_inputs", law.input_names):
            if self.frame[name].nunique() < 2:
                raise BayesScalingError(
                    f"law {law.name!r} needs runs at 2 or more distinct values of {name}; all runs share {name} = "
                    f"{self.frame[name].iloc[0]:.4g}: add runs at other sizes or fit a law without {name}",
                    quantity=name, column=True)
        min_runs = len(law.params) + 2
        if len(self) >= min_runs:
            return
        if not proper_priors:
            raise BayesScalingError(
                f"law {law.name!r} has {len(law.params)} parameters plus noise and needs at least {min_runs} runs; "
                f"got {len(self)}: add runs or choose a law with fewer parameters"
            )
        warnings.warn(f"{len(self)} runs for law {law.name!r} with {len(law.params)} parameters plus noise: the "
                      f"posterior is dominated by the prior (see the contraction column of the summary)",
                      UserWarning, stacklevel=3)

    def metadata(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "sha256": self.sha256,
            "params_kind": self.params_kind,
            "columns": self.columns.as_dict(),
            "derived": list(self.derived),
            "n_runs": len(self),
            **({"compute_unit": self.compute_unit} if self.compute_unit else {}),
            "loss_unit": self.loss_unit,
            **({"predictor_unit": self.predictor_unit} if self.predictor_unit else {}),
            **({"chance": self.chance} if self.chance is not None else {}),
            **({"notes": list(self.notes)} if self.notes else {}),
        }


def runs_from_frame(frame: pd.DataFrame, metadata: dict[str, Any]) -> RunTable:
    """Rebuild a RunTable from its canonical frame and :meth:`RunTable.metadata` (used by load)."""
    cols = metadata.get("columns", {})
    cmap = ColumnMap(cols.get("params"), cols.get("tokens"), cols.get("compute"), cols.get("loss", "loss"),
                     tuple(cols.get("groups", ())), cols.get("seed"), tuple(cols.get("extra", {}).items()),
                     tuple(cols.get("covariates", ())), tuple(cols.get("shape", ())))
    return RunTable(frame, metadata.get("params_kind", "total"), cmap, metadata.get("source", ""),
                    metadata.get("sha256", ""), tuple(metadata.get("derived", ())), tuple(metadata.get("notes", ())),
                    compute_unit=metadata.get("compute_unit"), loss_unit=metadata.get("loss_unit", DEFAULT_LOSS_UNIT),
                    predictor_unit=metadata.get("predictor_unit"), chance=metadata.get("chance"))
