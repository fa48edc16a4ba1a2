"""Temporary siblings for atomic writes: write the sibling, then ``os.replace`` it into place."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def _default_mode() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def temp_sibling(path: Path, suffix: str = ".tmp") -> tuple[int, Path]:
    """(open descriptor, path) of a new empty file in ``path``'s folder, with the permissions a plain
    ``open`` would give (``mkstemp`` makes them 0600, which ``os.replace`` would keep)."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent if str(path.parent) else ".")
    os.fchmod(fd, _default_mode())
    return fd, Path(tmp)
