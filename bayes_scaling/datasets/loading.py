"""Loading a registered dataset as a validated runs table, and listing a learning-curve dataset's curves."""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pandas as pd

from bayes_scaling.data.runs import RunTable
from bayes_scaling.datasets.cache import fetch
from bayes_scaling.datasets.registry import REGISTRY, Dataset, info
from bayes_scaling.errors import BayesScalingError


class _Getter:
    """Fetches a dataset's files for its loader and records which ones were read."""

    def __init__(self, ds: Dataset, data_home, download: bool, mirror: str | None):
        self.ds, self.home, self.download, self.mirror = ds, data_home, download, mirror
        self.used: list[tuple[Path, str]] = []

    def __call__(self, file: str | None = None) -> pd.DataFrame:
        path = fetch(self.ds.name, self.home, self.download, file=file, mirror=self.mirror)
        self.used.append((path, self.ds.file(file).sha256))
        return pd.read_csv(path)


def _call(fn: Callable, ds: Dataset, get: _Getter, options: dict, what: str):
    params = inspect.signature(fn).parameters
    allowed = [p for p in params if p != "get"]
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise BayesScalingError(f"dataset {ds.name!r} {what} has no option(s) {unknown}; its options are {allowed}",
                                quantity="dataset_option")
    return fn(get, **options)


def load(
    name: str,
    *,
    data_home: str | os.PathLike | None = None,
    download: bool = True,
    mirror: str | None = None,
    **options,
) -> RunTable:
    """Load dataset ``name`` (see :func:`list_datasets`) as a validated :class:`RunTable`.

    ``options`` are the dataset's own (e.g. ``paper_subset=True`` for datablations, ``variant=`` for
    Gemstones, ``curve=`` for the revisiting benchmark); the table's ``source`` and ``sha256`` name
    the files read.
    """
    ds = info(name)
    get = _Getter(ds, data_home, download, mirror)
    runs = _call(ds.loader, ds, get, options, "loader")
    paths = [str(p) for p, _ in get.used]
    shas = [s for _, s in get.used]
    note = f"dataset {ds.name!r}: {ds.title}. {ds.citation}. License: {ds.license}."
    return replace(runs, source="; ".join(paths), sha256=",".join(shas), notes=(*runs.notes, note))


def curves(name: str = "revisiting", *, data_home=None, download: bool = True, mirror: str | None = None,
           **options) -> list[str]:
    """Curve ids of a learning-curve dataset (``revisiting``), for ``load(name, curve=...)``."""
    ds = info(name)
    if ds.curves is None:
        raise BayesScalingError(f"dataset {name!r} is not a set of learning curves; "
                                f"curves exist for {[n for n, d in REGISTRY.items() if d.curves]}")
    return _call(ds.curves, ds, _Getter(ds, data_home, download, mirror), options, "curves()")
