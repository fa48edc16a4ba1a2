"""Command line: ``bayes-scaling demo | fit | summary | predict | allocate | target | frontier | breakdown | design | compare |
shape | compare-laws | fit-many | backtest | report | specs``.

This module only assembles the parser from :mod:`bayes_scaling.commands` and runs a command. Exit
codes: 0 success; 2 bad input (one line on stderr, no traceback, no output file); 1 when
``--strict`` diagnostics fail. An error about a quantity ends with the option that sets it, e.g.
``error: parameters N column 'n' not found; columns are: [...] [--params-col]``.
"""

from __future__ import annotations

import argparse
import re
import shlex
import sys
import warnings

from bayes_scaling.commands import compare, data, design, ensemble, fit, planning, predict, report, validate
from bayes_scaling.commands.args import option_for
from bayes_scaling.errors import BayesScalingError, DiagnosticsError


class _Parser(argparse.ArgumentParser):
    """argparse that reports a usage error as one line and exit code 2."""

    def error(self, message: str):  # noqa: D401
        raise BayesScalingError(f"{message} (see `{self.prog} --help`)")


def build_parser() -> argparse.ArgumentParser:
    """The ``bayes-scaling`` parser with every subcommand, in the order ``--help`` lists them."""
    parser = _Parser(prog="bayes-scaling", description="Posterior distributions over neural scaling laws.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    fit.add_parsers(sub)
    ensemble.add_parser(sub)
    predict.add_parser(sub)
    planning.add_parsers(sub)
    design.add_parser(sub)
    compare.add_parsers(sub)
    validate.add_parsers(sub)
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
    text = " ".join(str(e).split())
    option = option_for(getattr(e, "quantity", None), getattr(e, "column", False))
    if option and not re.search(rf"(?<![\w-]){re.escape(option)}(?![\w-])", text):
        text += f" [{option}]"
    return f"error: {text}"


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``bayes-scaling`` console script."""
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser()
    old = warnings.showwarning
    warnings.showwarning = _one_line_warning
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("default", UserWarning)
            for cat in (FutureWarning, DeprecationWarning, RuntimeWarning):
                warnings.simplefilter("ignore", cat)
            args = parser.parse_args(argv)
            args.command_line = "bayes-scaling " + shlex.join(argv)
            return int(args.func(args) or 0)
    except BayesScalingError as e:
        print(error_line(e), file=sys.stderr)
        return 2
    except DiagnosticsError as e:
        print(f"error: {' '.join(str(e).split())}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. `bayes-scaling ... | head`: the reader left; nothing to report
        sys.stderr.close()
        return 0
    finally:
        warnings.showwarning = old
