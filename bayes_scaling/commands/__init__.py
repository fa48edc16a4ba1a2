"""The subcommands of ``bayes-scaling``, one module per family: fitting (:mod:`.fit`: demo, fit,
fit-many, summary, specs), :mod:`.predict`, planning (:mod:`.planning`: allocate, target, frontier,
breakdown), comparison (:mod:`.compare`: compare, shape, compare-laws), validation
(:mod:`.validate`: backtest), :mod:`.data` (datasets) and :mod:`.report`. Each registers its parsers
with ``add_parsers(sub)`` (or ``add_parser``); :mod:`.args` holds the shared options and
:mod:`.output` the one helper that prints text or JSON. :mod:`bayes_scaling.cli` assembles them."""
