"""The registry of datasets: each loader module registers its loader under a manifest entry."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from bayes_scaling.data.runs import RunTable
from bayes_scaling.datasets.manifest import DataFile, entry, read_manifest
from bayes_scaling.errors import BayesScalingError


@dataclass(frozen=True)
class Dataset:
    """A registered dataset: files, provenance and the loader mapping it to a :class:`RunTable`."""

    name: str
    title: str
    files: tuple[DataFile, ...]
    citation: str
    license: str
    units: str
    loader: Callable[..., RunTable]
    curves: Callable[..., list[str]] | None = None

    def file(self, name: str | None = None) -> DataFile:
        if name is None:
            return self.files[0]
        for f in self.files:
            if name in (f.name, f.path):
                return f
        raise BayesScalingError(f"dataset {self.name!r} has no file {name!r}; its files are {[f.name for f in self.files]}")


REGISTRY: dict[str, Dataset] = {}


def register(name: str, *, curves: Callable[..., list[str]] | None = None):
    """Decorator: register the loader ``fn(get, **options) -> RunTable`` of the manifest entry ``name``
    (``curves``: the curve ids of a learning-curve dataset)."""
    e = entry(name)

    def decorate(loader: Callable[..., RunTable]) -> Callable[..., RunTable]:
        REGISTRY[name] = Dataset(name=name, title=e.title, files=e.files, citation=e.citation, license=e.license,
                                 units=e.units, loader=loader, curves=curves)
        return loader

    return decorate


def sort_registry() -> None:
    """Put the registry in manifest order (the order :func:`list_datasets` gives)."""
    order = list(read_manifest())
    items = sorted(REGISTRY.items(), key=lambda kv: order.index(kv[0]) if kv[0] in order else len(order))
    REGISTRY.clear()
    REGISTRY.update(items)


def list_datasets() -> list[str]:
    """Names of the registered datasets, for :func:`load`."""
    return list(REGISTRY)


def info(name: str) -> Dataset:
    """The descriptor of dataset ``name``: files with hashes and URLs, citation, license and units."""
    try:
        return REGISTRY[name]
    except KeyError:
        raise BayesScalingError(f"unknown dataset {name!r}; known datasets are {list_datasets()}") from None
