"""One module per source; importing this package imports each, and each registers its loader(s).

A loader is ``fn(get, **options) -> RunTable`` decorated with ``@register("NAME")``, where ``get(file)``
reads one of the manifest entry's files as a DataFrame. A new dataset needs only its module here and
its entry in ``manifest.toml``.
"""

from __future__ import annotations

import importlib
import pkgutil

from bayes_scaling.datasets.registry import sort_registry

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")
sort_registry()
