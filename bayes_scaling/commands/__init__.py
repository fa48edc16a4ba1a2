"""Subcommands beyond fitting: planning (allocate, target, frontier, breakdown), comparison (compare,
shape, compare-laws), validation (backtest) and data (datasets). Each module registers its parsers on the
main CLI."""


def add_all(sub, positive_float, ci_type) -> None:
    """Register every subcommand of this package on the main parser's subparsers."""
    from bayes_scaling.commands import compare, data, planning, validate

    planning.add_parsers(sub, positive_float, ci_type)
    compare.add_parsers(sub, positive_float, ci_type)
    validate.add_parsers(sub, positive_float)
    data.add_parsers(sub)
