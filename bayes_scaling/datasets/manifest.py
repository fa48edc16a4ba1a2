"""The manifest of public datasets (``manifest.toml``, next to this file), read as data.

One entry per source: title, citation, license, units, and its files, each with a path under the
data home (``<folder>/<file>``), a pinned SHA-256 and either URLs or the source it was converted from.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import cache
from importlib import resources

from bayes_scaling.errors import BayesScalingError

MANIFEST = "manifest.toml"


@dataclass(frozen=True)
class DataFile:
    """One file of a dataset.

    ``path`` is relative to the data home (``<folder>/<file>``); ``urls`` are byte-identical public
    copies at pinned commits, tried in order; ``derived_from`` names the upstream source of a file
    that was converted (so it has no byte-identical copy to download).
    """

    path: str
    sha256: str
    urls: tuple[str, ...] = ()
    derived_from: str = ""

    @property
    def name(self) -> str:
        """The file's path inside its dataset folder."""
        return self.path.split("/", 1)[1]


@dataclass(frozen=True)
class Entry:
    """A source's manifest entry: its files and provenance (no loader)."""

    name: str
    title: str
    citation: str
    license: str
    units: str
    files: tuple[DataFile, ...]


@cache
def read_manifest() -> dict[str, Entry]:
    """The entries of ``manifest.toml`` by dataset name, in file order."""
    text = resources.files(__package__).joinpath(MANIFEST).read_text(encoding="utf-8")
    out = {}
    for name, raw in tomllib.loads(text).items():
        files = tuple(DataFile(**{**f, "urls": tuple(f.get("urls", ()))}) for f in raw.get("files", ()))
        out[name] = Entry(name=name, **{**raw, "files": files})
    return out


def entry(name: str) -> Entry:
    """The manifest entry of dataset ``name``."""
    try:
        return read_manifest()[name]
    except KeyError:
        raise BayesScalingError(f"dataset {name!r} has no entry in bayes_scaling/datasets/{MANIFEST}; add one "
                                f"(title, citation, license, units and its files)") from None
