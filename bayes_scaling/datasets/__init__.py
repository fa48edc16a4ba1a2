"""Loaders for published scaling-law datasets, mapped to validated runs tables in canonical units.

Each dataset is a set of files under a *data home*, laid out like the project's ``shared/datasets``
folder (``<data_home>/<folder>/<file>``). :func:`data_home` resolves it from an argument, else the
environment variable ``BAYES_SCALING_DATASETS``, else ``~/.cache/bayes_scaling/datasets``.
:func:`fetch` returns a file's local path after checking its pinned SHA-256. When the file is
missing it is downloaded through pooch (from a mirror of the data-home layout given by ``mirror`` or
``BAYES_SCALING_DATASETS_MIRROR``, then from the byte-identical raw file in the source repository
at the pinned commit) and moved into place only once its hash matches. Files that were converted
from their source (datablations, Gemstones, BNSL) have no byte-identical public copy: they load only
from a data home or a mirror.

Layout: ``manifest.toml`` (files, hashes, URLs, licence, citation per source, read by
:mod:`.manifest`), :mod:`.cache` (data home and downloads), :mod:`.registry`, :mod:`.loading`
(:func:`load`, :func:`curves`) and one module per source in :mod:`.loaders`.

>>> runs = load("chinchilla_epoch")                       # doctest: +SKIP
>>> runs = load("revisiting", curve="IC|inet_5|ViT/B/16")  # doctest: +SKIP

Units follow :mod:`bayes_scaling.data.runs`: N in parameters, D in tokens, C in FLOPs, U in unique
tokens, X in the dataset's scale axis, loss as the source reports it (nats/token unless noted).
"""

from __future__ import annotations

from bayes_scaling.datasets.cache import DEFAULT_HOME, DOWNLOAD_TIMEOUT_S, ENV_HOME, ENV_MIRROR, data_home, fetch
from bayes_scaling.datasets.loading import curves, load
from bayes_scaling.datasets.manifest import DataFile
from bayes_scaling.datasets.registry import REGISTRY, Dataset, info, list_datasets, register
from bayes_scaling.datasets import loaders  # noqa: F401  (registers every loader)

__all__ = ["DEFAULT_HOME", "DOWNLOAD_TIMEOUT_S", "ENV_HOME", "ENV_MIRROR", "REGISTRY", "DataFile", "Dataset",
           "curves", "data_home", "fetch", "info", "list_datasets", "load", "register"]
