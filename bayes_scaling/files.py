"""Output files: checking an output path before the work that fills it, and temporary siblings for
atomic writes (write the sibling, then ``os.replace`` it into place). Operating-system failures
(permission denied, read-only or full disk) become one-line :class:`BayesScalingError` s and never
leave a temporary file behind."""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from pathlib import Path

from bayes_scaling.errors import BayesScalingError, raise_received_interrupt

#: What a user can do about an operating-system error, by errno.
_FIXES = {
    errno.ENOSPC: "the disk is full: free some space or write elsewhere",
    errno.EDQUOT: "the disk quota is exceeded: free some space or write elsewhere",
    errno.EACCES: "permission denied: choose a folder you can write to",
    errno.EPERM: "permission denied: choose a folder you can write to",
    errno.EROFS: "the file system is read-only: choose a writable folder",
    errno.ENAMETOOLONG: "the file name is too long: choose a shorter one",
}


def require_path(path, what: str) -> None:
    """Refuse, in one line naming ``what``, a path that is not text or a path-like object (None, a number,
    a list): ``Path`` would fail with a bare TypeError."""
    if not isinstance(path, (str, os.PathLike)):
        raise BayesScalingError(f"{what} must be a file path (text or pathlib.Path), got {type(path).__name__} "
                                f"{str(path)[:60]!r}")


def given_path(path: str | os.PathLike, argument: str = "FIT") -> Path:
    """``path`` as a :class:`Path`, refused in one line when it is empty (``Path("")`` would be the current
    folder); ``argument`` names the command-line argument that gave it."""
    require_path(path, f"the {argument} argument (a fit file path)")
    if not str(path).strip():
        raise BayesScalingError(f"the {argument} argument (a fit file path) is empty: give the .nc file written by "
                                f"`bayes-scaling fit` or `bayes-scaling ensemble`")
    return Path(path)


def os_error(e: OSError, path: str | os.PathLike, doing: str = "write") -> BayesScalingError:
    """A one-line error for an :class:`OSError` met while ``doing`` ``path``: the cause and its fix."""
    fix = _FIXES.get(e.errno) or (e.strerror or type(e).__name__)
    return BayesScalingError(f"cannot {doing} {str(path)!r}: {fix}")


def _default_mode() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def temp_sibling(path: Path, suffix: str = ".tmp") -> tuple[int, Path]:
    """(open descriptor, path) of a new empty file in ``path``'s folder, with the permissions a plain
    ``open`` would give (``mkstemp`` makes them 0600, which ``os.replace`` would keep)."""
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix,
                                   dir=path.parent if str(path.parent) else ".")
    except OSError as e:
        raise os_error(e, path) from None
    os.fchmod(fd, _default_mode())
    return fd, Path(tmp)


@contextmanager
def atomic_path(path: Path, suffix: str = ".tmp") -> Iterator[Path]:
    """A temporary sibling of ``path`` to write; renamed onto ``path`` when the block ends normally,
    removed when it raises (an interrupt included), so ``path`` is never left half-written and no
    temporary file stays behind. An :class:`OSError` (full disk, permissions) becomes one line."""
    path = Path(path)
    tmp = None
    try:
        fd, tmp = temp_sibling(path, suffix)
        os.close(fd)
        yield tmp
        raise_received_interrupt()  # an interrupt lost in a finalizer: no file
        os.replace(tmp, path)
    except OSError as e:
        raise os_error(e, path) from None
    finally:  # after os.replace the sibling is gone; after a failure it is removed here
        if tmp is not None:
            tmp.unlink(missing_ok=True)


def write_bytes_atomic(path: str | os.PathLike, data: bytes | memoryview) -> Path:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_path`). The bytes are written by
    Python, so a full disk raises a clean error rather than failing inside a C library."""
    path = Path(path)
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    return path


def write_files_atomic(files: Mapping[str | os.PathLike, bytes]) -> list[Path]:
    """Write several files all or nothing: each to a temporary sibling (flushed to disk), then renamed into
    place in the given order (pass the main document last). When a rename fails (or an interrupt comes), the
    files already renamed are put back as they were (the old file restored from a hard link, or a copy where
    the file system has none; a new file removed), no temporary file stays behind and an :class:`OSError`
    becomes one line. Returns the paths, in order."""
    paths, temps, backups, done, at = [Path(p) for p in files], {}, {}, [], None
    try:
        for path, data in zip(paths, files.values()):
            at = path
            fd, temps[path] = temp_sibling(path)
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
        raise_received_interrupt()  # an interrupt lost in a finalizer: no file
        for path in paths:
            at = path
            if path.exists():
                backups[path] = _backup(path)
            os.replace(temps[path], path)
            done.append(path)
    except BaseException as e:
        for path in reversed(done):  # undo, newest first
            with suppress(OSError):
                os.replace(backups.pop(path), path) if path in backups else path.unlink()
        if isinstance(e, OSError):
            raise os_error(e, at) from None
        raise
    finally:
        for tmp in (*temps.values(), *backups.values()):
            tmp.unlink(missing_ok=True)
    return paths


def _backup(path: Path) -> Path:
    """A hidden sibling holding ``path``'s current content (a hard link; a copy where links fail)."""
    fd, bak = temp_sibling(path, ".bak")
    os.close(fd)
    bak.unlink()
    try:
        os.link(path, bak)
    except OSError:
        shutil.copy2(path, bak)
    return bak


def check_out_file(out: str | os.PathLike, fix: str, option: str = "--out") -> Path:
    """``out`` as a Path, refused with one line unless a file can be written there: not an existing
    folder (``fix`` says what to do instead), in a folder that exists and accepts a new file (a
    probe file is created and removed). Call it before the (slow) work whose result goes there."""
    require_path(out, option)
    path = Path(out)
    if not str(out).strip():
        raise BayesScalingError(f"{option} is empty: {fix}")
    if path.is_dir():
        raise BayesScalingError(f"{option} {str(out)!r} is a folder: {fix}")
    parent = path.parent
    if str(parent) not in ("", ".") and not parent.is_dir():
        what = "is a file, not a folder" if parent.exists() else "does not exist: create it first"
        raise BayesScalingError(f"{option} {str(out)!r}: its folder {str(parent)!r} {what}")
    try:
        fd, probe = temp_sibling(path, ".probe")
    except BayesScalingError as e:  # the folder refuses a new file: say which option chose it
        raise BayesScalingError(f"{option}: {e}") from None
    os.close(fd)
    probe.unlink(missing_ok=True)
    return path


def keep_generated_source_in_cache() -> None:
    """Keep the Python source PyTensor generates for each compiled kernel in its compile folder
    (``<base_compiledir>/generated_src``: one file per distinct source, pruned by PyTensor when unused),
    instead of one new file per compiled function in the system temp folder, which PyTensor never
    removes (a small fit left 22). A ``generated_src_dir`` the user set (``PYTENSOR_FLAGS``) wins.
    Call before anything is compiled. Where that folder cannot be made (e.g. a file of that name),
    PyTensor keeps its own temp-file behaviour."""
    import pytensor

    if not pytensor.config.generated_src_dir:
        folder = Path(pytensor.config.base_compiledir) / "generated_src"
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError:
            return
        pytensor.config.generated_src_dir = str(folder)
