"""Fit many runs tables (datasets, learning curves) with one compiled model per worker.

Each worker process compiles the model of a (law, spec) once (module-level cache in
:mod:`bayes_scaling.inference.fit`) and swaps the data for every further table, so N curves cost
one compilation per worker, not N. Work runs in-process (``workers=1``), on a local process pool
(the default), or on a Dask distributed cluster (``scheduler``: an address or a ``Client``).
:func:`fit_ensembles` does the same for ensembles of law forms (local processes), each worker
keeping every member's compiled model for its later tables and stacking cuts.

Tables travel in chunks (one task fits several curves in turn), finished chunks are collected as
they complete (:func:`concurrent.futures.as_completed` / ``distributed.as_completed``), which
drives the progress line. Each worker samples its chains on one thread (one core per worker, so the
throughput grows with the workers). With ``out`` each worker writes its own fit files (atomically: a file is
either complete or absent) and sends back a small record per curve instead of the posterior.

An interrupt (Ctrl-C, SIGTERM in the CLI) cancels the chunks not started, stops the local workers
and is raised again; the fit files already written stay (each is complete), no temporary file is
left by a stopped local worker. On a Dask cluster a chunk already running finishes on its worker
(Dask cannot stop a running task) and may still write its files, each complete.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from bayes_scaling.conventions import check_count
from bayes_scaling.data.runs import RunTable, require_runs
from bayes_scaling.files import check_out_file
from bayes_scaling.errors import BayesScalingError
from bayes_scaling.inference.checks import check_sampler_counts

#: Curves per task: at most this many, and at least 16 tasks per worker when there are enough curves
#: (so the progress line moves and the last tasks balance across workers).
MAX_CHUNK = 8
TASKS_PER_WORKER = 16

_SPECS: dict[tuple[str, str], Any] = {}


def curve_record(result) -> dict[str, Any]:
    """What a batch reports per fitted curve: runs, posterior medians, diagnostics and attempts."""
    d = result.diagnostics
    return {"n_runs": len(result.runs),
            **{k: float(result.posterior[k].median()) for k in result.law.param_names},
            "r_hat_max": d.r_hat_max, "ess_bulk_min": d.ess_bulk_min, "ess_tail_min": d.ess_tail_min,
            "divergences": d.divergences, "ok": d.ok, "problems": d.problems,
            "attempts": len(result.sampler_config.get("attempts", []))}


def _fit_chunk(chunk: list[tuple[str, RunTable, str | None]], law: str | None, spec_text: str | None,
               spec_origin: str, fit_kw: dict[str, Any], keep: bool,
               threads: int | None = None) -> list[tuple[str, Any, dict | None, str | None]]:
    """Worker task: fit each (name, runs, out path) in turn, sampling on ``threads`` threads; (name, fit or
    None, record, error) per curve. The spec travels as text (parsed once per worker process)."""
    from bayes_scaling.inference.sampling import sampler_threads

    with sampler_threads(threads):
        return _fit_each(chunk, law, spec_text, spec_origin, fit_kw, keep)


def _fit_each(chunk, law, spec_text, spec_origin, fit_kw, keep):
    import warnings

    from bayes_scaling.inference.fit import fit
    from bayes_scaling.specs.spec import parse_spec

    spec = None
    if spec_text is not None:
        spec = _SPECS.get((spec_text, spec_origin))
        if spec is None:
            spec = _SPECS[(spec_text, spec_origin)] = parse_spec(spec_text, spec_origin)
    fit_kw = dict(fit_kw)
    process = fit_kw.pop("residual_process", False)
    out = []
    for name, runs, path in chunk:
        t0, c0 = time.perf_counter(), time.process_time()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                res = _fit_one(fit, runs, law, spec, fit_kw, process)
            except BayesScalingError as e:
                out.append((name, None, None, (str(e), e.quantity)))
                continue
        record = curve_record(res)
        if path is not None:
            _save(res, path)
            record["out"] = str(path)
        # wall and CPU seconds of this curve in its worker: fit, diagnostics, write (the first includes the compile)
        record.update(seconds=round(time.perf_counter() - t0, 3), cpu_seconds=round(time.process_time() - c0, 3))
        out.append((name, res if keep or path is None else None, record, None))
    return out


def _fit_one(fit, runs, law, spec, fit_kw, process: bool):
    """One curve's fit; with ``process``, its residual process too (checked before the sampling, fitted after)."""
    if not process:
        return fit(runs, law=None if spec else law, spec=spec, progress=False, **fit_kw)
    from bayes_scaling.inference.fit import resolve_spec
    from bayes_scaling.inference.residual_process import check_process_runs, with_residual_process

    resolved = spec or resolve_spec(law)
    check_process_runs(runs, [resolved.law], grouped=fit_kw.get("group_col") is not None,
                       families=[resolved.likelihood.dist], cost=fit_kw.get("cost"))
    return with_residual_process(fit(runs, law=None if spec else law, spec=spec, progress=False, **fit_kw))


def _save(result, path: str) -> None:
    """Write a fit file; in a Dask worker, xarray would guard the in-memory netCDF write with a cluster-wide
    lock that is not there (an error), so the write runs under dask's local scheduler."""
    import sys

    if "distributed" not in sys.modules:
        result.save(path)
        return
    import dask

    with dask.config.set(scheduler="synchronous"):
        result.save(path)


def _worker_init() -> None:
    """Local workers leave Ctrl-C to the parent, which stops them (SIGTERM, then SIGKILL) and removes
    the temporary file of a write they were in."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


@dataclass
class BatchResult:
    """Per table name: the fit (unless dropped after writing), a record (runs, medians, diagnostics,
    attempts, seconds, ``out``), or the one-line reason it could not be fitted (and in ``error_quantities``
    the quantity at fault, where the error names one)."""

    fits: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    records: dict[str, dict] = field(default_factory=dict)
    seconds: float = 0.0
    error_quantities: dict[str, str] = field(default_factory=dict)

    @property
    def passed(self) -> int:
        """How many fits pass their sampler diagnostics (R-hat, bulk/tail ESS, divergences)."""
        return sum(bool(r["ok"]) for r in self.records.values())


def chunk_size(n: int, workers: int) -> int:
    """Curves per task for ``n`` curves on ``workers`` workers (see :data:`MAX_CHUNK`)."""
    return max(1, min(MAX_CHUNK, n // (TASKS_PER_WORKER * max(1, workers))))


def fit_many(tables: Mapping[str, RunTable], *, law: str | None = None, spec=None, workers: int | None = None,
             scheduler: Any = None, out: Mapping[str, str | os.PathLike] | None = None, keep: bool = True,
             progress: bool | Callable[[int, int, int], None] | None = None, chunk: int | None = None,
             **fit_kw) -> BatchResult:
    """Fit every table with the same law/spec and fit options (``draws``, ``seed`` ...).

    ``workers``: local processes (default: CPU count, at most the number of tables; 1 runs
    in-process). ``scheduler``: a Dask ``Client`` or scheduler address instead of the local pool.
    ``out``: {name: fit file} written by the workers (atomically); with ``keep=False`` the fits
    written are not sent back (``records`` still are), which saves memory and transfer for
    thousands of curves. ``progress``: ``True`` for a progress line on stderr, or a callable
    ``(done, failed_diagnostics, not_fitted)`` called as curves finish. ``chunk``: curves per task
    (default :func:`chunk_size`). ``residual_process=True``: each fit's discrepancy also continues its
    correlated residuals beyond the data (:mod:`~bayes_scaling.inference.residual_process`); a curve it
    refuses (checked before its sampling where the runs alone decide) is not fitted, and no file is written for it.
    """
    from bayes_scaling.inference.fit import check_units, resolve_spec
    from bayes_scaling.inference.progress import ProgressLine

    if not isinstance(tables, Mapping) or not tables:
        raise BayesScalingError(f"tables must be a non-empty dict {{name: RunTable}}, got {type(tables).__name__}"
                                f"{'' if tables else ' (empty)'}", quantity="tables")
    for name, runs in tables.items():
        require_runs(runs, f"tables[{name!r}]")
    chunk = None if chunk is None else check_count("chunk", chunk, 1)
    workers = None if workers is None else check_count("workers", workers, 1)
    # counts every curve would refuse are refused once, before any worker starts (fit's defaults otherwise)
    check_sampler_counts(fit_kw.get("draws", 1000), fit_kw.get("tune"), fit_kw.get("chains", 4))
    if out is not None and not isinstance(out, Mapping):
        raise BayesScalingError(f"out must be a dict {{name: fit file}}, got {type(out).__name__}", quantity="out")
    out = {k: check_out_file(v, "give a fit file in an existing folder", "out") for k, v in (out or {}).items()}
    unknown = sorted(set(out) - set(tables))
    if unknown:
        raise BayesScalingError(f"out names tables that are not being fitted: {unknown[:5]}")
    parsed = resolve_spec(law, spec).synced()
    for runs in tables.values():  # a unit every curve's fit would refuse is refused before any worker starts
        check_units(parsed, runs)
    args = (law, parsed.text, parsed.origin, dict(fit_kw), keep)
    items = [(name, runs, None if out.get(name) is None else str(out[name])) for name, runs in tables.items()]
    line = ProgressLine(len(items)) if progress is True else None
    report = line.update if line else (progress if callable(progress) else None)
    res = BatchResult()
    t0 = time.perf_counter()

    def collect(results) -> None:
        for name, fitted, record, err in results:
            if err is not None:
                res.errors[name], quantity = err
                if quantity is not None:
                    res.error_quantities[name] = quantity
                continue
            res.records[name] = record
            if fitted is not None:
                res.fits[name] = fitted
        if report:
            done = len(res.records) + len(res.errors)
            report(done, done - len(res.errors) - res.passed, len(res.errors))

    try:
        if scheduler is not None:
            _dask_run(items, (*args, 1), scheduler, chunk, collect)
        else:
            workers = min(workers or os.cpu_count() or 1, len(items))
            size = chunk or chunk_size(len(items), workers)
            chunks = [items[i:i + size] for i in range(0, len(items), size)]
            if workers == 1:  # in-process: the chains may use every core
                for c in chunks:
                    collect(_fit_chunk(c, *args))
            else:  # one core per worker: near-linear in the workers
                _pool_run(chunks, (*args, 1), workers, collect, out.values())
    except KeyboardInterrupt:
        if line:
            line.close(interrupted=True)
        raise
    if line:
        line.close()
    order = {name: i for i, name in enumerate(tables)}
    res.fits = dict(sorted(res.fits.items(), key=lambda kv: order[kv[0]]))
    res.records = dict(sorted(res.records.items(), key=lambda kv: order[kv[0]]))
    res.errors = dict(sorted(res.errors.items(), key=lambda kv: order[kv[0]]))
    res.seconds = time.perf_counter() - t0
    return res


def _pool_run(chunks, args, workers, collect, paths) -> None:
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn"), initializer=_worker_init)
    try:
        futures = [pool.submit(_fit_chunk, c, *args) for c in chunks]
        for fut in as_completed(futures):
            collect(fut.result())
    except BaseException:
        # stop now: queued chunks cancelled, running workers terminated (their atomic writes clean up)
        procs = list(getattr(pool, "_processes", {}).values())
        pool.shutdown(wait=False, cancel_futures=True)
        for p in procs:
            if p.is_alive():
                p.terminate()
        for p in procs:
            p.join(5)
            if p.is_alive():
                p.kill()
                p.join(5)
        _remove_temporaries(paths)
        raise
    pool.shutdown()


def _remove_temporaries(paths) -> None:
    """Temporary siblings (``.<name>.*.tmp``) a killed writer may have left next to the fit files."""
    for path in paths:
        path = Path(path)
        for tmp in path.parent.glob(f".{path.name}.*.tmp"):
            tmp.unlink(missing_ok=True)


def _dask_run(items, args, scheduler, chunk, collect) -> None:
    try:
        from distributed import Client, as_completed as dask_completed
    except ImportError:  # pragma: no cover - dask is a declared dependency
        raise BayesScalingError("a Dask scheduler needs the 'distributed' package: pip install 'dask[distributed]'") from None
    client = scheduler if isinstance(scheduler, Client) else None
    own = client is None
    if own:
        try:  # not the process's default client: one that failed to start would stay the default of later writes
            client = Client(scheduler, timeout="10s", set_as_default=False)
        except (OSError, ValueError, TypeError) as e:  # unreachable, or a malformed address
            raise BayesScalingError(f"cannot reach the Dask scheduler at {scheduler!r}: "
                                    f"{' '.join(str(e).split())} (expected tcp://host:port)") from None
    futures = []
    try:
        workers = sum(client.nthreads().values()) or 1
        size = chunk or chunk_size(len(items), workers)
        chunks = [items[i:i + size] for i in range(0, len(items), size)]
        futures = client.map(_fit_chunk, chunks, *([a] * len(chunks) for a in args), pure=False)
        for fut in dask_completed(futures):
            collect(fut.result())
    except BaseException:
        client.cancel(futures)
        raise
    finally:
        if own:
            client.close()


def _ensemble_one(item, laws, spec_texts, kw, threads=None):
    """Worker task of :func:`fit_ensembles`: one table's ensemble (specs travel as text, parsed once per
    process, so every member's compiled model is reused for later tables and cuts), its chains sampled on
    ``threads`` threads."""
    import warnings

    from bayes_scaling.inference.ensemble import fit_ensemble
    from bayes_scaling.inference.sampling import sampler_threads
    from bayes_scaling.specs.spec import parse_spec

    name, runs = item
    with warnings.catch_warnings(), sampler_threads(threads):
        warnings.simplefilter("ignore")
        try:
            specs = [_SPECS.get((text, origin)) or _SPECS.setdefault((text, origin), parse_spec(text, origin))
                     for text, origin in spec_texts]
            kw = dict(kw)
            process = kw.pop("residual_process", False)
            ens = fit_ensemble(runs, laws, specs or None, **kw)
            return name, _with_process(ens) if process else ens, None
        except BayesScalingError as e:
            return name, None, str(e)


def _with_process(ens):
    """``ens`` with the residual process (:mod:`~bayes_scaling.inference.residual_process`), or as it is
    with the reason in its ``info`` when its runs are too few to fit one."""
    from bayes_scaling.inference.residual_process import with_residual_process

    try:
        return with_residual_process(ens)
    except BayesScalingError as e:
        ens.info["residual_process"] = f"not fitted: {e}"
        return ens


def fit_ensembles(tables, laws=None, specs=None, *, members=None, workers: int | None = None, **kw):
    """:func:`~bayes_scaling.inference.ensemble.fit_ensemble` on every table (learning curves, datasets)
    with the same members and options ``kw``, on ``workers`` local processes (default: CPU count; 1 runs in-process). ``members``:
    ``{table name: (laws, specs)}`` for tables whose members differ (e.g. a spec for error rates). Each
    worker samples on one core, compiles every member's model once and swaps the data for the later tables
    and cuts (as :func:`fit_many`). ``residual_process=True``: each ensemble's discrepancy also continues
    its correlated residuals beyond the data (:mod:`~bayes_scaling.inference.residual_process`). Returns a :class:`BatchResult` of ensembles
    (:class:`~bayes_scaling.result.ensemble.EnsembleResult`)."""
    from bayes_scaling.inference.fit import resolve_spec

    if not tables:
        raise BayesScalingError("no runs tables to fit")
    unknown = sorted(set(members or {}) - set(tables))
    if unknown:
        raise BayesScalingError(f"members names tables that are not being fitted: {unknown[:5]}")

    def texts(specs_):
        return [(s.text, s.origin) for s in (resolve_spec(spec=x).synced() for x in (specs_ or []))]

    for name, value in (members or {}).items():
        if not (isinstance(value, (tuple, list)) and len(value) == 2
                and all(x is None or (isinstance(x, (list, tuple)) and not isinstance(x, str)) for x in value)):
            raise BayesScalingError(f"members[{name!r}] must be a pair (laws, specs), each a list or None, "
                                    f"e.g. (['power_x'], None); got {value!r}")
    default = (laws, texts(specs))
    own = {name: (lw, texts(sp)) for name, (lw, sp) in (members or {}).items()}
    items = list(tables.items())
    per = [own.get(name, default) for name, _ in items]
    workers = min(workers or os.cpu_count() or 1, len(items))
    if workers == 1:
        results = [_ensemble_one(item, lw, st, dict(kw)) for item, (lw, st) in zip(items, per)]
    else:
        with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as pool:
            # one core per worker, as fit_many: nutpie's default would start a thread per chain in every worker
            results = list(pool.map(_ensemble_one, items, [lw for lw, _ in per], [st for _, st in per],
                                    [dict(kw)] * len(items), [1] * len(items), chunksize=1))
    return BatchResult({n: r for n, r, e in results if r is not None}, {n: e for n, r, e in results if e is not None})
