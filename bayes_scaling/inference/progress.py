"""A one-line progress report on stderr for long batches (e.g. ``fit-many``): done/total, rate, ETA,
failures. On a terminal the line is rewritten in place (at most 10 times a second); on a file or
pipe a full line is written at most every ``every_s`` seconds, and once at the end."""

from __future__ import annotations

import sys
import time
from typing import TextIO


def _duration(seconds: float) -> str:
    s = int(round(seconds))
    return f"{s // 3600}h{s % 3600 // 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s" if s >= 60 else f"{s}s"


class ProgressLine:
    """``update(done, failed_diagnostics, errors)`` as each item finishes; ``close()`` at the end."""

    def __init__(self, total: int, *, label: str = "curves", stream: TextIO | None = None, every_s: float = 5.0):
        self.total = int(total)
        self.label = label
        self.stream = sys.stderr if stream is None else stream
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.every_s = 0.1 if self.tty else float(every_s)
        self.start = time.perf_counter()
        self._last = -float("inf")
        self._state = (0, 0, 0)
        self._width = 0
        self._written = None

    def text(self, done: int, failed: int = 0, errors: int = 0) -> str:
        """The line: ``fit-many 120/1000 curves (12%) | 3.41 curves/s | ETA 4m18s | 2 failed diagnostics, 0 not fitted``."""
        elapsed = time.perf_counter() - self.start
        rate = done / elapsed if elapsed > 0 else 0.0
        eta = _duration((self.total - done) / rate) if rate > 0 and done < self.total else ("-" if done < self.total else "0s")
        pct = 100 * done / self.total if self.total else 100.0
        return (f"fit-many {done}/{self.total} {self.label} ({pct:.0f}%) | {rate:.2f} {self.label}/s | "
                f"elapsed {_duration(elapsed)} | ETA {eta} | {failed} failed diagnostics, {errors} not fitted")

    def update(self, done: int, failed: int = 0, errors: int = 0) -> None:
        self._state = (done, failed, errors)
        now = time.perf_counter()
        if now - self._last < self.every_s and done < self.total:
            return
        self._last = now
        self._written = self._state
        self._write(self.text(done, failed, errors))

    def _write(self, line: str) -> None:
        if self.tty:
            pad = max(0, self._width - len(line))
            self.stream.write("\r" + line + " " * pad)
            self._width = len(line)
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def close(self, *, interrupted: bool = False) -> None:
        """The final state (always written), ending the terminal line."""
        line = self.text(*self._state) + (" | interrupted" if interrupted else "")
        if self.tty:
            self._write(line)
            self.stream.write("\n")
            self.stream.flush()
        elif interrupted or self._written != self._state:
            self._write(line)
