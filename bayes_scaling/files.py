"""Output files: checking an output path before the work that fills it, and temporary siblings for
atomic writes (write the sibling, then ``os.replace`` it into place)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bayes_scaling.errors import BayesScalingError


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


@contextmanager
def atomic_path(path: Path, suffix: str = ".tmp") -> Iterator[Path]:
    """A temporary sibling of ``path`` to write; renamed onto ``path`` when the block ends normally,
    removed when it raises, so ``path`` is never left half-written."""
    fd, tmp = temp_sibling(path, suffix)
    os.close(fd)
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def check_out_file(out: str | os.PathLike, fix: str, option: str = "--out") -> Path:
    """``out`` as a Path, refused with one line unless a file can be written there: not an existing
    folder (``fix`` says what to do instead), in a folder that exists. Call it before the (slow) work
    whose result goes there."""
    path = Path(out)
    if path.is_dir():
        raise BayesScalingError(f"{option} {str(out)!r} is a folder: {fix}")
    parent = path.parent
    if str(parent) not in ("", ".") and not parent.is_dir():
        what = "is a file, not a folder" if parent.exists() else "does not exist: create it first"
        raise BayesScalingError(f"output folder {str(parent)!r} {what}")
    return path
