"""The runs table: observed training runs with units.

Columns of the canonical table (one row per run, dim ``run``):

- ``N``: parameters (count; ``params_kind`` says total or non-embedding),
- ``D``: training tokens (count),
- ``C``: training compute in FLOPs (derived as 6ND when absent),
- ``loss``: final loss in nats/token,
- optional further inputs some laws need (``EXTRA_QUANTITIES``): ``U`` unique tokens,
  ``X`` a generic scale axis (e.g. training-set size of a learning curve), ``S`` optimizer steps
  and ``B`` batch size in tokens (with both, S becomes Kaplan's S_min = S / (1 + B_crit(L)/B));
- optional group columns (architecture, dataset, ...) and ``seed``.
"""

from __future__ import annotations

import csv
import hashlib
import io
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bayes_scaling.conventions import (
    FLOPS_PER_PARAM_TOKEN,
    KAPLAN_ALPHA_B,
    KAPLAN_B_STAR_TOKENS,
    PARAMS_KINDS,
    PF_DAY_FLOPS,
)
from bayes_scaling.errors import BayesScalingError

#: Given compute may differ from 6ND by this factor before a warning (Hoffmann et al. 2022 Table A4
#: shows exact counts within 10% of 6ND; a 2x gap means mismatched units or conventions).
COMPUTE_MISMATCH_FACTOR = 2.0
_COMPUTE_UNITS = ("flops", "pf-days")
#: Further positive inputs a law may use, with their units.
EXTRA_QUANTITIES = {"U": "unique tokens", "X": "units of the scale axis", "S": "optimizer steps",
                    "B": "batch size in tokens"}
_REQUIRE_DISTINCT = ("N", "D", "C", "X", "S")
#: Columns of the canonical table, which group and covariate columns must not overwrite.
_OWN_COLUMNS = {"N": "parameters", "D": "tokens", "C": "compute", "loss": "loss", **EXTRA_QUANTITIES,
                "steps_raw": "optimizer steps before the S_min conversion"}


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

    def has(self, quantity: str) -> bool:
        return quantity in self.frame.columns and self.frame[quantity].notna().all()

    def log_inputs(self, compute_unit: str = "FLOPs") -> dict[str, np.ndarray]:
        """Natural logs of the inputs present (N, D, C with C in ``compute_unit``, U, X)."""
        out = {}
        for q in ("N", "D", "C", *EXTRA_QUANTITIES):
            if self.has(q):
                v = self.frame[q].to_numpy(float)
                if q == "C" and compute_unit == "PF-days":
                    v = v / PF_DAY_FLOPS
                out[q] = np.log(v)
        return out

    def require(self, law) -> None:
        """Check that this table can fit ``law``: inputs present and enough distinct values."""
        problems = []
        for name in law.input_names:
            if not self.has(name):
                what = {"N": "parameters (--params-col)", "D": "tokens (--tokens-col, or compute and parameters)",
                        "C": "compute (--compute-col, or parameters and tokens)",
                        **{k: f"{v} (--col {k}=COLUMN)" for k, v in EXTRA_QUANTITIES.items()}}[name]
                problems.append(f"law {law.name!r} needs {what}, which the runs table lacks")
        if problems:
            raise BayesScalingError(*problems)
        min_runs = len(law.params) + 2
        if len(self) < min_runs:
            raise BayesScalingError(
                f"law {law.name!r} has {len(law.params)} parameters plus noise and needs at least {min_runs} runs; "
                f"got {len(self)}: add runs or choose a law with fewer parameters"
            )
        for name in (n for n in law.input_names if n in _REQUIRE_DISTINCT):
            distinct = self.frame[name].nunique()
            if distinct < 2:
                raise BayesScalingError(
                    f"law {law.name!r} needs runs at 2 or more distinct values of {name}; all runs share {name} = "
                    f"{self.frame[name].iloc[0]:.4g}: add runs at other sizes or fit a law without {name}"
                )

    def metadata(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "sha256": self.sha256,
            "params_kind": self.params_kind,
            "columns": self.columns.as_dict(),
            "derived": list(self.derived),
            "n_runs": len(self),
            **({"compute_unit": self.compute_unit} if self.compute_unit else {}),
            **({"notes": list(self.notes)} if self.notes else {}),
        }


def _read_source(source: str | Path | pd.DataFrame) -> tuple[pd.DataFrame, str, str]:
    if isinstance(source, pd.DataFrame):
        dup = source.columns[source.columns.duplicated()].tolist()
        if dup:
            raise BayesScalingError(f"duplicate column names {dup}: rename them so each column is unique")
        return source.copy(), "<DataFrame>", ""
    path = Path(source)
    if not path.exists():
        raise BayesScalingError(f"runs file {str(path)!r} does not exist: check the path")
    if path.is_dir():
        raise BayesScalingError(f"runs path {str(path)!r} is a directory: give a .csv or .parquet file")
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise BayesScalingError(f"cannot read runs file {str(path)!r}: {e.strerror}") from None
    sha = hashlib.sha256(raw).hexdigest()
    suffix = path.suffix.lower()
    if suffix in (".parquet", ".pq"):
        try:
            frame = pd.read_parquet(io.BytesIO(raw))
        except Exception as e:  # pyarrow raises several types for corrupt files
            raise BayesScalingError(f"runs file {str(path)!r} is not a readable Parquet file ({type(e).__name__})") from None
        return frame, str(path), sha
    if suffix not in (".csv", ".tsv", ".txt"):
        raise BayesScalingError(f"runs file {str(path)!r} has unsupported extension {suffix!r}: use .csv or .parquet")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise BayesScalingError(f"runs file {str(path)!r} is not UTF-8 text: save it as UTF-8 CSV") from None
    if not text.strip():
        raise BayesScalingError(f"runs file {str(path)!r} is empty: it needs a header row and one row per run")
    sep = "\t" if suffix == ".tsv" else ","
    header = _csv_header(text, sep, str(path))
    stripped = [h.strip() for h in header]
    dup = sorted({h for h in stripped if stripped.count(h) > 1})
    if dup:
        raise BayesScalingError(f"runs file {str(path)!r} has duplicate column names {dup}: rename them")
    try:
        frame = pd.read_csv(io.StringIO(text), sep=sep, skipinitialspace=True, index_col=False)
    except pd.errors.ParserError as e:
        first = str(e).strip().splitlines()[0]
        raise BayesScalingError(f"runs file {str(path)!r} is not valid CSV: {first}") from None
    frame.columns = [str(c).strip() for c in frame.columns]
    return frame, str(path), sha


def _csv_header(text: str, sep: str, name: str) -> list[str]:
    """The header row, after checking that every data row has as many fields as it (pandas would shift
    the columns of a longer row, or silently drop its extra field)."""
    reader = csv.reader(io.StringIO(text, newline=None), delimiter=sep, skipinitialspace=True, strict=True)
    header: list[str] = []
    row, start = 0, 1  # data rows so far; line where the next record starts
    limit = csv.field_size_limit(max(csv.field_size_limit(), len(text) + 1))  # pandas reads any field length
    try:
        for fields in reader:
            line, start = start, reader.line_num + 1
            if len(fields) <= 1 and not "".join(fields).strip():
                continue  # a blank line, skipped as pandas does
            if not header:
                header = fields
                continue
            row += 1
            if len(fields) != len(header):
                fix = (f"remove the trailing {sep!r}" if len(fields) == len(header) + 1 and not fields[-1].strip()
                       else f"quote values that contain {sep!r} and give one value per column")
                raise BayesScalingError(f"runs file {name!r} is not valid CSV: data row {row} (line {line}) has "
                                        f"{len(fields)} fields but the header has {len(header)}: {fix}")
    except csv.Error as e:
        raise BayesScalingError(f"runs file {name!r} is not valid CSV from line {start}: {e}; check the quoting "
                                f"(an unclosed quote runs to the end of the file)") from None
    finally:
        csv.field_size_limit(limit)
    return header


def _numeric(frame: pd.DataFrame, col: str, label: str, unit: str, problems: list[str]) -> np.ndarray | None:
    raw = frame[col]
    values = pd.to_numeric(raw, errors="coerce")
    bad_text = values.isna() & raw.notna() & (raw.astype(str).str.strip().str.lower() != "nan")
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
    own = {**_OWN_COLUMNS, **({"seed": "the --seed-col values"} if seed_col else {}),
           **({"log_aspect_ratio": "log(d_model/n_layer) from --shape-cols"} if shape_cols else {})}
    seen: dict[str, str] = {}
    for option, names in (("--group-col", group_cols), ("--covariate", covariate_cols)):
        for col in names:
            if col in own:
                raise BayesScalingError(f"{option} {col!r} has the name of the runs table's own column {col!r} "
                                        f"({own[col]}), which it would overwrite: rename that column in the runs file")
            if col in seen:
                raise BayesScalingError(f"column {col!r} is given twice ({seen[col]} and {option}): name it once")
            seen[col] = option


def load_runs(
    source: str | Path | pd.DataFrame,
    *,
    params_col: str | None = "params",
    tokens_col: str | None = "tokens",
    compute_col: str | None = "compute",
    loss_col: str = "loss",
    params_kind: str = "total",
    compute_unit: str = "flops",
    group_cols: tuple[str, ...] | list[str] = (),
    seed_col: str | None = None,
    extra_cols: dict[str, str] | None = None,
    critical_batch: tuple[float, float] = (KAPLAN_B_STAR_TOKENS, KAPLAN_ALPHA_B),
    shape_cols: tuple[str, str] | None = None,
    covariate_cols: tuple[str, ...] | list[str] = (),
) -> RunTable:
    """Load observed runs from CSV, Parquet or a DataFrame and convert to canonical units.

    ``params_kind`` declares whether N counts total or non-embedding parameters. Compute is read in
    ``compute_unit`` ("flops" or "pf-days") and stored in FLOPs. Absent compute is derived as
    C = 6ND; absent tokens as D = C / 6N. A given C more than 2x away from 6ND triggers a warning.
    """
    if params_kind not in PARAMS_KINDS:
        raise BayesScalingError(f"params_kind must be one of {PARAMS_KINDS}, got {params_kind!r}")
    if compute_unit not in _COMPUTE_UNITS:
        raise BayesScalingError(f"compute_unit must be one of {_COMPUTE_UNITS}, got {compute_unit!r}")
    frame, name, sha = _read_source(source)
    if len(frame) == 0:
        raise BayesScalingError(f"runs table {name!r} has a header but no runs: add one row per training run")
    group_cols = tuple(group_cols)
    extra_cols = dict(extra_cols or {})
    unknown = sorted(set(extra_cols) - set(EXTRA_QUANTITIES))
    if unknown:
        raise BayesScalingError(f"unknown quantity {unknown} in --col; known: {sorted(EXTRA_QUANTITIES)} "
                                f"(parameters, tokens, compute and loss have their own options)")
    shape_cols = tuple(shape_cols or ())
    if shape_cols and len(shape_cols) != 2:
        raise BayesScalingError(f"shape columns are (d_model, n_layer), got {list(shape_cols)}")
    covariate_cols = tuple(covariate_cols)
    _check_names(group_cols, covariate_cols, seed_col, shape_cols)
    cmap = ColumnMap(params_col, tokens_col, compute_col, loss_col, group_cols, seed_col, tuple(extra_cols.items()),
                     covariate_cols, shape_cols)
    available = list(frame.columns)

    def present(col: str | None, option: str, required: bool) -> str | None:
        if col is None:
            return None
        if col in frame.columns:
            return col
        if required:
            problems.append(f"column {col!r} not found (set it with {option}); columns are: {available}")
        return None

    problems: list[str] = []
    loss_c = present(loss_col, "--loss-col", True)
    # A column named by the user explicitly but missing is an error; a default name missing is fine.
    params_c = present(params_col, "--params-col", params_col != "params")
    tokens_c = present(tokens_col, "--tokens-col", tokens_col != "tokens")
    compute_c = present(compute_col, "--compute-col", compute_col != "compute")
    for g in group_cols:
        present(g, "--group-col", True)
    if seed_col:
        present(seed_col, "--seed-col", True)
    for q, col in extra_cols.items():
        present(col, f"--col {q}=COLUMN", True)
    for col in shape_cols:
        present(col, "--shape-cols", True)
    for col in covariate_cols:
        present(col, "--covariate", True)
    if problems:
        raise BayesScalingError(*problems)
    if not (params_c or tokens_c or compute_c or extra_cols):
        raise BayesScalingError(
            f"no parameters, tokens, compute or scale-axis column found; map yours with --params-col/--tokens-col/"
            f"--compute-col or --col X=COLUMN (columns are: {available})"
        )
    out = pd.DataFrame(index=pd.RangeIndex(len(frame), name="run"))
    specs = [("N", params_c, "parameters", "parameters"), ("D", tokens_c, "tokens", "tokens"),
             ("C", compute_c, "compute", "PF-days" if compute_unit == "pf-days" else "FLOPs"),
             ("loss", loss_c, "loss", "nats/token"),
             *((q, col, EXTRA_QUANTITIES[q], EXTRA_QUANTITIES[q]) for q, col in extra_cols.items())]
    for key, col, label, unit in specs:
        if col is None:
            continue
        arr = _numeric(frame, col, label, unit, problems)
        if arr is not None:
            out[key] = arr * (PF_DAY_FLOPS if key == "C" and compute_unit == "pf-days" else 1.0)
    if problems:
        raise BayesScalingError(*problems)

    derived = []
    notes = []
    if "D" not in out and "C" in out and "N" in out:
        out["D"] = out["C"] / (FLOPS_PER_PARAM_TOKEN * out["N"])
        derived.append("D = C / (6 N)")
    if "C" not in out and "N" in out and "D" in out:
        out["C"] = FLOPS_PER_PARAM_TOKEN * out["N"] * out["D"]
        derived.append("C = 6 N D")
    elif {"C", "N", "D"} <= set(out.columns) and "D = C / (6 N)" not in derived:
        ratio = out["C"] / (FLOPS_PER_PARAM_TOKEN * out["N"] * out["D"])
        off = (ratio > COMPUTE_MISMATCH_FACTOR) | (ratio < 1 / COMPUTE_MISMATCH_FACTOR)
        if off.any():
            msg = (f"{int(off.sum())} run(s) have compute more than {COMPUTE_MISMATCH_FACTOR:g}x away from 6*N*D "
                   f"(e.g. data row {int(np.flatnonzero(off.to_numpy())[0]) + 1}: C/(6ND) = {ratio[off].iloc[0]:.3g}); "
                   f"check the compute unit (--compute-unit) and the parameter convention")
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
        out[g] = frame[g].astype(str).to_numpy()
    if seed_col:
        out["seed"] = frame[seed_col].to_numpy()
    if shape_cols:
        width = _numeric(frame, shape_cols[0], "d_model (width)", "units", problems)
        depth = _numeric(frame, shape_cols[1], "n_layer (depth)", "layers", problems)
        if problems:
            raise BayesScalingError(*problems)
        out["log_aspect_ratio"] = np.log(width / depth)
    for col in covariate_cols:
        values = pd.to_numeric(frame[col], errors="coerce").to_numpy(float)
        if not np.all(np.isfinite(values)):
            raise BayesScalingError(f"covariate column {col!r} must be finite numbers in every run")
        out[col] = values
    return RunTable(out, params_kind, cmap, name, sha, tuple(derived), tuple(notes), compute_unit)


def runs_from_frame(frame: pd.DataFrame, metadata: dict[str, Any]) -> RunTable:
    """Rebuild a RunTable from its canonical frame and :meth:`RunTable.metadata` (used by load)."""
    cols = metadata.get("columns", {})
    cmap = ColumnMap(cols.get("params"), cols.get("tokens"), cols.get("compute"), cols.get("loss", "loss"),
                     tuple(cols.get("groups", ())), cols.get("seed"), tuple(cols.get("extra", {}).items()),
                     tuple(cols.get("covariates", ())), tuple(cols.get("shape", ())))
    return RunTable(frame, metadata.get("params_kind", "total"), cmap, metadata.get("source", ""),
                    metadata.get("sha256", ""), tuple(metadata.get("derived", ())), tuple(metadata.get("notes", ())),
                    compute_unit=metadata.get("compute_unit"))
