"""Reading a runs source: a CSV/TSV or Parquet file, or a DataFrame, as a raw frame with its origin.

Nothing here knows what the columns mean (that is :mod:`bayes_scaling.data.runs`); it only checks
that the file exists, parses cleanly and has unique column names, and hashes its bytes.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
from pathlib import Path

import pandas as pd

from bayes_scaling.errors import BayesScalingError


def read_source(source: str | Path | pd.DataFrame, what: str = "runs") -> tuple[pd.DataFrame, str, str]:
    """(raw frame, source name, SHA-256 of the file's bytes) of a runs file or a DataFrame (copied;
    name ``"<DataFrame>"`` and an empty hash). Values are left as read (no units, no value checks).
    ``what`` names the table in messages (e.g. ``"candidate runs"``)."""
    if isinstance(source, pd.DataFrame):
        if source.columns.nlevels > 1:
            raise BayesScalingError(f"the {what} DataFrame has {source.columns.nlevels} levels of column names: "
                                    f"flatten them to one (e.g. frame.columns = ['params', 'tokens', 'loss'])",
                                    quantity="source")
        dup = source.columns[source.columns.duplicated()].tolist()
        if dup:
            raise BayesScalingError(f"duplicate column names {dup}: rename them so each column is unique")
        return source.copy(), "<DataFrame>", ""
    if not isinstance(source, (str, os.PathLike)):
        raise BayesScalingError(f"{what} must be a pandas DataFrame or a .csv/.parquet file path, got "
                                f"{type(source).__name__} {str(source)[:60]!r}", quantity="source")
    if isinstance(source, str) and not source.strip():  # Path("") is ".", the current directory
        raise BayesScalingError(f"{what} path is empty: give a .csv or .parquet file")
    path = Path(source)
    if not path.exists():
        raise BayesScalingError(f"{what} file {str(path)!r} does not exist: check the path")
    if path.is_dir():
        raise BayesScalingError(f"{what} path {str(path)!r} is a directory: give a .csv or .parquet file")
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise BayesScalingError(f"cannot read {what} file {str(path)!r}: {e.strerror}") from None
    sha = hashlib.sha256(raw).hexdigest()
    suffix = path.suffix.lower()
    if suffix in (".parquet", ".pq"):
        try:
            frame = pd.read_parquet(io.BytesIO(raw))
        except Exception as e:  # pyarrow raises several types for corrupt files
            raise BayesScalingError(f"{what} file {str(path)!r} is not a readable Parquet file "
                                    f"({type(e).__name__})") from None
        return frame, str(path), sha
    if suffix not in (".csv", ".tsv", ".txt"):
        raise BayesScalingError(f"{what} file {str(path)!r} has unsupported extension {suffix!r}: use .csv or .parquet")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise BayesScalingError(f"{what} file {str(path)!r} is not UTF-8 text: save it as UTF-8 CSV") from None
    if not text.strip():
        raise BayesScalingError(f"{what} file {str(path)!r} is empty: it needs a header row and one row per run")
    sep = "\t" if suffix == ".tsv" else ","
    header = _csv_header(text, sep, f"{what} file {str(path)!r}")
    stripped = [h.strip() for h in header]
    dup = sorted({h for h in stripped if stripped.count(h) > 1})
    if dup:
        raise BayesScalingError(f"{what} file {str(path)!r} has duplicate column names {dup}: rename them")
    try:
        frame = pd.read_csv(io.StringIO(text), sep=sep, skipinitialspace=True, index_col=False)
    except pd.errors.ParserError as e:
        first = str(e).strip().splitlines()[0]
        raise BayesScalingError(f"{what} file {str(path)!r} is not valid CSV: {first}") from None
    frame.columns = [str(c).strip() for c in frame.columns]
    return frame, str(path), sha


def _uniform_header(text: str, sep: str) -> list[str] | None:
    """The header row when every line has as many fields as it (the common case, checked at C speed:
    a learning-curve table has 1e5-1e6 rows), else ``None``."""
    reader = csv.reader(io.StringIO(text, newline=None), delimiter=sep, skipinitialspace=True, strict=True)
    limit = csv.field_size_limit(max(csv.field_size_limit(), len(text) + 1))
    try:
        header = next(reader, [])
        lengths = set(map(len, reader))
    except csv.Error:
        return None
    finally:
        csv.field_size_limit(limit)
    return header if "".join(header).strip() and lengths <= {len(header)} else None


def _csv_header(text: str, sep: str, name: str) -> list[str]:
    """The header row, after checking that every data row has as many fields as it (pandas would shift
    the columns of a longer row, or silently drop its extra field)."""
    uniform = _uniform_header(text, sep)
    if uniform is not None:
        return uniform
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
                raise BayesScalingError(f"{name} is not valid CSV: data row {row} (line {line}) has "
                                        f"{len(fields)} fields but the header has {len(header)}: {fix}")
    except csv.Error as e:
        raise BayesScalingError(f"{name} is not valid CSV from line {start}: {e}; check the quoting "
                                f"(an unclosed quote runs to the end of the file)") from None
    finally:
        csv.field_size_limit(limit)
    return header
