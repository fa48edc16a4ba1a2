"""Helpers shared by the loaders: checking an option's value, and extra per-run columns."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from bayes_scaling.data.runs import RunTable
from bayes_scaling.errors import BayesScalingError


def with_columns(runs: RunTable, **columns) -> RunTable:
    """Attach informational per-run columns (e.g. ``split``) that no law reads."""
    frame = runs.frame.copy()
    for key, values in columns.items():
        frame[key] = np.asarray(values)
    return replace(runs, frame=frame)


def choice(value, allowed: Sequence[str], option: str, dataset: str) -> None:
    """Refuse (one line) an option ``value`` that is not one of ``allowed``."""
    if value not in allowed:
        raise BayesScalingError(f"dataset {dataset!r}: {option} must be one of {list(allowed)}, got {value!r}",
                                quantity="dataset_option")


def in_range(value: float, low: float, high: float, option: str, dataset: str, meaning: str, *,
             high_open: bool = False) -> None:
    """Refuse (one line, naming ``--option <option>``) a number outside [``low``, ``high``] (``high_open``: [low, high))."""
    if not (low <= value < high if high_open else low <= value <= high):
        raise BayesScalingError(f"dataset {dataset!r}: --option {option}={value:g} is out of range: {option} is "
                                f"{meaning}, from {low:g} to {high:g}{' (exclusive)' if high_open else ''}",
                                quantity="dataset_option")


def as_list(value, option: str) -> list[str] | None:
    """None, one name, several names, or names separated by commas (``--option sizes=190M,1B`` on the
    command line), as None or a list. A value that names nothing ("", ",", []) is refused: it would
    otherwise select every name, or none."""
    if value is None:
        return None
    names = [v.strip() for v in value.split(",") if v.strip()] if isinstance(value, str) else list(value)
    if not names:
        raise BayesScalingError(f"option {option}={value!r} names no value: give one name, or several separated by "
                                f"commas", quantity="dataset_option")
    return names
