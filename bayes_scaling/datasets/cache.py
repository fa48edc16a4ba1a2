"""The data home and its hash-pinned download cache (through pooch).

A dataset file lives at ``<data_home>/<folder>/<file>``. :func:`fetch` returns that path after checking
its pinned SHA-256; a missing file is downloaded with ``pooch.retrieve`` (``known_hash="sha256:..."``),
from a mirror of the data-home layout first, then the pinned source URLs. pooch writes a temporary
file next to the target and moves it into place only when the hash matches.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import logging
import os
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pooch

from bayes_scaling.datasets.registry import info
from bayes_scaling.errors import BayesScalingError

ENV_HOME = "BAYES_SCALING_DATASETS"
ENV_MIRROR = "BAYES_SCALING_DATASETS_MIRROR"
DEFAULT_HOME = Path("~/.cache/bayes_scaling/datasets")
DOWNLOAD_TIMEOUT_S = 60.0
_CHUNK = 1 << 16
_HINT = f"set {ENV_HOME} to a folder with a local copy"


def data_home(path: str | os.PathLike | None = None) -> Path:
    """The data home: ``path``, else ``$BAYES_SCALING_DATASETS``, else ``~/.cache/bayes_scaling/datasets``."""
    if path is None or str(path) == "":
        path = os.environ.get(ENV_HOME) or DEFAULT_HOME
    return Path(path).expanduser()


_data_home = data_home  # ``fetch`` takes an argument of the same name


class _UrlDownloader:
    """A pooch downloader over ``urllib`` (http(s) and file:// URLs) that keeps the SHA-256 of what it wrote."""

    def __init__(self, timeout: float = DOWNLOAD_TIMEOUT_S):
        self.timeout = timeout
        self.sha256: str | None = None

    def __call__(self, url: str, output_file, pooch_instance=None) -> None:
        h = hashlib.sha256()
        with urllib.request.urlopen(url, timeout=self.timeout) as resp, open(output_file, "wb") as out:
            while chunk := resp.read(_CHUNK):
                h.update(chunk)
                out.write(chunk)
        self.sha256 = h.hexdigest()


@contextlib.contextmanager
def _quiet_pooch():
    """Silence pooch's "Downloading data from ..." lines (errors still come back as exceptions)."""
    logger = pooch.get_logger()
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(level)


def _reason(err: BaseException) -> str:
    if isinstance(err, urllib.error.HTTPError):
        return f"HTTP {err.code} {err.reason}"
    if isinstance(err, urllib.error.URLError):
        return f"{err.reason}"
    return str(err) or type(err).__name__


def _retrieve(url: str, local: Path, sha256: str) -> str | None:
    """Download ``url`` to ``local`` through pooch, pinned to ``sha256``: None when done, else why not (one line)."""
    download = _UrlDownloader()
    try:
        with _quiet_pooch():
            pooch.retrieve(url, known_hash=f"sha256:{sha256}", fname=local.name, path=local.parent,
                           downloader=download, progressbar=False)
    except ValueError as e:
        if download.sha256 is not None and download.sha256 != sha256:
            return (f"downloaded bytes have SHA-256 {download.sha256}, expected {sha256} (the file changed upstream "
                    f"or the download was corrupted); nothing was written")
        return _reason(e)
    except (urllib.error.URLError, http.client.HTTPException, OSError) as e:
        return _reason(e)
    mask = os.umask(0)
    os.umask(mask)
    os.chmod(local, 0o666 & ~mask)  # pooch's temporary file is 0600: give the permissions a plain write would
    return None


def _mirror_url(mirror: str, rel: str) -> str:
    return mirror.rstrip("/") + "/" + urllib.parse.quote(rel)


def fetch(
    name: str,
    data_home: str | os.PathLike | None = None,
    download: bool = True,
    *,
    file: str | None = None,
    mirror: str | None = None,
) -> Path:
    """Local path of one file of dataset ``name`` (default: its first file), verified against its pinned SHA-256.

    A file already at ``<data_home>/<folder>/<file>`` is hashed and returned (a mismatch raises).
    Otherwise, with ``download``, it is fetched from ``mirror`` (or ``$BAYES_SCALING_DATASETS_MIRROR``,
    a URL laid out like the data home) and then the source repository's raw file at the pinned
    commit, into the data home. Every failure is one :class:`BayesScalingError`.
    """
    ds = info(name)
    f = ds.file(file)
    home = _data_home(data_home)
    local = home / f.path
    if local.is_file():
        got = pooch.file_hash(str(local), alg="sha256")
        if got != f.sha256:
            raise BayesScalingError(
                f"dataset {ds.name!r} file {str(local)!r} has SHA-256 {got}, expected {f.sha256}: it is not the pinned "
                f"version; delete it to re-download, or replace it with the pinned copy"
            )
        return local
    where = f"not found in {str(home)!r}"
    if not download:
        raise BayesScalingError(f"dataset {ds.name!r} file {f.path!r} {where} and download=False; {_HINT}",
                                quantity="data_home")
    mirror = mirror or os.environ.get(ENV_MIRROR) or None
    urls = ([_mirror_url(mirror, f.path)] if mirror else []) + list(f.urls)
    if not urls:
        raise BayesScalingError(
            f"dataset {ds.name!r} file {f.path!r} {where}, and it has no byte-identical public copy to download "
            f"(it was converted from {f.derived_from}); {_HINT} (or {ENV_MIRROR} to a mirror of that layout)",
            quantity="data_home")
    created = [p for p in (local.parent, *local.parent.parents) if not p.exists()]
    try:
        local.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise BayesScalingError(f"dataset {ds.name!r}: cannot create {str(local.parent)!r} to download into "
                                f"({e.strerror or e}); {_HINT}", quantity="data_home") from None
    failures = []
    for url in urls:
        why = _retrieve(url, local, f.sha256)
        if why is None:
            return local
        failures.append(f"{url}: {why}")
    for p in created:  # leave the data home as it was (the folders are empty: nothing was written)
        with contextlib.suppress(OSError):
            p.rmdir()
    raise BayesScalingError(
        f"dataset {ds.name!r} file {f.path!r} {where} and could not be downloaded from {'; '.join(failures)}; {_HINT}",
        quantity="data_home")
