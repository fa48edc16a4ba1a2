"""Command line: ``bayes-scaling demo | fit | ensemble | summary | predict | predict-metric | target-metric | allocate |
target | frontier | breakdown | design | compare | shape | compare-laws | fit-many | backtest | isoflop-check | report |
specs``.

This module only assembles the parser from :mod:`bayes_scaling.commands` and runs a command. Exit
codes: 0 success; 2 bad input or an output the system refuses (permission, full disk, memory: one
line on stderr, no traceback, no output file); 1 when ``--strict`` diagnostics fail; 130 after
Ctrl-C (SIGINT) and 143 after SIGTERM, with no partial file left. An error about a quantity ends with the option that sets it, e.g.
``error: parameters N column 'n' not found; columns are: [...] [--params-col]``.
"""

from __future__ import annotations

import argparse
import re
import shlex
import signal
import sys
import warnings
from contextlib import contextmanager

from bayes_scaling.commands import (compare, data, design, ensemble, fit, isoflop, metric, planning, predict, report,
                                    validate)
from bayes_scaling.commands.args import with_option
from bayes_scaling.errors import (RECEIVED_INTERRUPTS, BayesScalingError, DiagnosticsError, Terminated,
                                  raise_received_interrupt)


#: A negative number in any spelling (-7e9, -1.5, -inf): argparse's own pattern misses exponents and
#: infinities, and would read ``--params -7e9`` as a missing value followed by an unknown option.
_NEGATIVE_NUMBER = re.compile(r"^-(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$|^-(inf|infinity|nan)$", re.IGNORECASE)


class _Parser(argparse.ArgumentParser):
    """argparse that reports a usage error as one line and exit code 2, reads a negative number as a
    value (so its option's type can say what is wrong with it), and names the subcommand and the
    command an unknown option belongs to."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if hasattr(self, "_negative_number_matcher"):  # argparse's attribute (Python 3.12-3.14)
            self._negative_number_matcher = _NEGATIVE_NUMBER

    def error(self, message: str):  # noqa: D401
        raise BayesScalingError(f"{message} (see `{self.prog} --help`)")

    def parse_args(self, args=None, namespace=None):
        """As argparse's, but unknown options are reported by the subcommand's parser, with the
        commands that do take them."""
        parsed, extra = self.parse_known_args(args, namespace)
        if extra:
            sub = self._subparsers._group_actions[0].choices if self._subparsers else {}
            command = sub.get(getattr(parsed, "command", None), self)
            owners = [name for name, p in sub.items() if extra[0].split("=")[0] in p._option_string_actions]
            hint = f"; {extra[0].split('=')[0]} is an option of: {', '.join(owners)}" if owners else ""
            command.error(f"unrecognized arguments: {' '.join(extra)}{hint}")
        return parsed


def build_parser() -> argparse.ArgumentParser:
    """The ``bayes-scaling`` parser with every subcommand, in the order ``--help`` lists them."""
    parser = _Parser(prog="bayes-scaling", description="Posterior distributions over neural scaling laws.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    fit.add_parsers(sub)
    ensemble.add_parser(sub)
    predict.add_parser(sub)
    metric.add_parsers(sub)
    planning.add_parsers(sub)
    design.add_parser(sub)
    compare.add_parsers(sub)
    validate.add_parsers(sub)
    isoflop.add_parser(sub)
    data.add_parsers(sub)
    report.add_parser(sub)
    fit.add_specs_parser(sub)
    return parser


def _one_line_warning(message, category, filename, lineno, file=None, line=None):
    text = " ".join(str(message).split())
    print(f"warning: {text}", file=sys.stderr)


def error_line(e: BayesScalingError) -> str:
    """The one stderr line of a bad-input error: its message on one line and, when it names the
    quantity at fault, the option that sets it in brackets (once: not if the message names it)."""
    return f"error: {with_option(str(e), getattr(e, 'quantity', None), getattr(e, 'column', False))}"


def _raise_terminated(signum, frame):
    RECEIVED_INTERRUPTS.append(Terminated)
    raise Terminated()


def _raise_interrupt(signum, frame):
    RECEIVED_INTERRUPTS.append(KeyboardInterrupt)
    raise KeyboardInterrupt()


@contextmanager
def _sigterm_raises():
    """SIGTERM raises :class:`Terminated` while the command runs (main thread only), so the cleanup
    that follows an interrupt (temporary files removed) also follows a kill. Both signals are recorded
    (:data:`~bayes_scaling.errors.RECEIVED_INTERRUPTS`), so one that a finalizer swallowed is raised
    again at the next checkpoint (before sampling, before a file is renamed into place)."""
    try:
        old = signal.signal(signal.SIGTERM, _raise_terminated)
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    old_int = signal.getsignal(signal.SIGINT)
    if old_int is signal.default_int_handler:  # keep a handler someone else installed
        signal.signal(signal.SIGINT, _raise_interrupt)
    old_hook = sys.unraisablehook
    sys.unraisablehook = _quiet_lost_interrupts
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)
        if old_int is signal.default_int_handler:
            signal.signal(signal.SIGINT, old_int)
        sys.unraisablehook = old_hook
        RECEIVED_INTERRUPTS.clear()


def _quiet_lost_interrupts(unraisable) -> None:
    """An interrupt a finalizer swallowed is raised again at a checkpoint: no traceback for it here
    (the command ends with its one line); any other unraisable exception is reported as usual."""
    if isinstance(unraisable.exc_value, KeyboardInterrupt) and RECEIVED_INTERRUPTS:
        return
    sys.__unraisablehook__(unraisable)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``bayes-scaling`` console script."""
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser()
    old = warnings.showwarning
    warnings.showwarning = _one_line_warning
    try:
        with _sigterm_raises(), warnings.catch_warnings():
            warnings.simplefilter("default", UserWarning)
            for cat in (FutureWarning, DeprecationWarning, RuntimeWarning):
                warnings.simplefilter("ignore", cat)
            args = parser.parse_args(argv)
            args.command_line = "bayes-scaling " + shlex.join(argv)
            code = int(args.func(args) or 0)
            raise_received_interrupt()  # one a finalizer swallowed: the command was interrupted
            return code
    except BayesScalingError as e:
        print(error_line(e), file=sys.stderr)
        return 2
    except DiagnosticsError as e:
        print(f"error: {' '.join(str(e).split())}", file=sys.stderr)
        return 1
    except KeyboardInterrupt as e:  # Ctrl-C, or SIGTERM as Terminated
        term = isinstance(e, Terminated)
        print(f"error: interrupted by {'SIGTERM' if term else 'Ctrl-C (SIGINT)'}", file=sys.stderr)
        return 143 if term else 130
    except MemoryError:
        print("error: out of memory: ask for fewer points or draws at a time", file=sys.stderr)
        return 2
    except OSError as e:  # a file the system refused (permissions, full disk) outside the checked writes
        if isinstance(e, BrokenPipeError):
            sys.stderr.close()
            return 0
        where = f" {e.filename!r}" if e.filename else ""
        print(f"error: system error{where}: {e.strerror or type(e).__name__}", file=sys.stderr)
        return 2
    finally:
        warnings.showwarning = old


def _skip_xarray_dask_probe() -> None:
    """Spare a command-line process xarray's probe for dask arrays.

    xarray checks every new array against dask's array type, importing dask (about 0.25 s) even
    when no dask array exists. The CLI's xarray objects are all NumPy-backed (``fit-many`` schedules
    fits with dask.distributed, never dask arrays), so the console script tells xarray up front that
    there are no dask arrays. Skipped when xarray's internals differ, or when
    ``BAYES_SCALING_XARRAY_DASK_PROBE=1`` (the baseline of ``benchmarks/bench_cli_latency.py``)."""
    import os

    if os.environ.get("BAYES_SCALING_XARRAY_DASK_PROBE") == "1" or "dask.array" in sys.modules:
        return
    try:
        from packaging.version import Version
        from xarray.namedarray import pycompat

        absent = pycompat.DuckArrayModule.__new__(pycompat.DuckArrayModule)
        absent.module, absent.version, absent.type, absent.available = None, Version("0.0.0"), (), False
        pycompat._cached_duck_array_modules.setdefault("dask", absent)
    except (ImportError, AttributeError, TypeError):  # another xarray: keep its probe
        pass


def console() -> int:
    """The ``bayes-scaling`` console script and ``python -m bayes_scaling``: :func:`main` in a fresh
    process, without xarray's dask probe, and without the interpreter's last garbage collection
    (the process ends next; collecting PyMC's object graph took 0.4-2 s at exit)."""
    import gc

    _skip_xarray_dask_probe()
    code = 130  # what an interrupt that escapes main (e.g. its line meeting a closed pipe) ends with
    try:
        code = main()
        gc.freeze()  # exit handlers and finalizers of live objects still run; the OS frees the rest
    finally:
        sampling = sys.modules.get("bayes_scaling.inference.sampling")
        if sampling is not None and sampling.sampler_abandoned():
            _exit_now(code)
    return code


def _exit_now(code: int) -> None:
    """End the process at once: an interrupted sampler's chains are still finishing a draw (minutes on
    1e6 rows), which a normal shutdown would wait for. Output is flushed; no file is open for writing."""
    import os

    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)
