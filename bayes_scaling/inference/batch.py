"""Fit many runs tables (datasets, learning curves) with one compiled model per worker.

Each worker process compiles the model of a (law, spec) once (module-level cache in
:mod:`bayes_scaling.inference.fit`) and swaps the data for every further table, so N curves cost
one compilation per worker, not N. Work runs in-process (``workers=1``), on a local process pool
(the default), or on a Dask distributed cluster (``scheduler``: an address or a ``Client``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from multiprocessing import get_context
from typing import Any

from bayes_scaling.data.runs import RunTable
from bayes_scaling.errors import BayesScalingError


def _fit_one(item: tuple[str, RunTable], law: str | None, spec_text: str | None, spec_origin: str,
             fit_kw: dict[str, Any]):
    """Worker task: fit one table. The spec travels as text (parsed again in the worker)."""
    import warnings

    from bayes_scaling.inference.fit import fit
    from bayes_scaling.specs.spec import parse_spec

    name, runs = item
    spec = parse_spec(spec_text, spec_origin) if spec_text is not None else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return name, fit(runs, law=None if spec else law, spec=spec, progress=False, **fit_kw), None
        except BayesScalingError as e:
            return name, None, str(e)


@dataclass
class BatchResult:
    """Fits by table name, and the one-line reason for each table that could not be fitted."""

    fits: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)


def fit_many(tables: Mapping[str, RunTable], *, law: str | None = None, spec=None, workers: int | None = None,
             scheduler: Any = None, **fit_kw) -> BatchResult:
    """Fit every table with the same law/spec and fit options (``draws``, ``seed`` ...).

    ``workers``: local processes (default: CPU count, at most the number of tables; 1 runs
    in-process). ``scheduler``: a Dask ``Client`` or scheduler address instead of the local pool.
    """
    from bayes_scaling.inference.fit import resolve_spec

    if not tables:
        raise BayesScalingError("no runs tables to fit")
    parsed = resolve_spec(law, spec).synced()
    args = (law, parsed.text, parsed.origin, dict(fit_kw))
    items = list(tables.items())
    if scheduler is not None:
        results = _dask_map(items, args, scheduler)
    else:
        workers = min(workers or os.cpu_count() or 1, len(items))
        if workers == 1:
            results = [_fit_one(item, *args) for item in items]
        else:
            with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as pool:
                results = list(pool.map(_fit_one, items, *([a] * len(items) for a in args),
                                        chunksize=max(1, len(items) // (4 * workers))))
    return BatchResult({name: res for name, res, err in results if res is not None},
                       {name: err for name, res, err in results if err is not None})


def _dask_map(items, args, scheduler):
    try:
        from distributed import Client
    except ImportError:  # pragma: no cover - dask is a declared dependency
        raise BayesScalingError("a Dask scheduler needs the 'distributed' package: pip install 'dask[distributed]'") from None
    client = scheduler if isinstance(scheduler, Client) else None
    own = client is None
    if own:
        try:
            client = Client(scheduler, timeout="10s")
        except (OSError, ValueError, TypeError) as e:  # unreachable, or a malformed address
            raise BayesScalingError(f"cannot reach the Dask scheduler at {scheduler!r}: "
                                    f"{' '.join(str(e).split())} (expected tcp://host:port)") from None
    try:
        futures = client.map(_fit_one, items, *([a] * len(items) for a in args), pure=False)
        return client.gather(futures)
    finally:
        if own:
            client.close()
