"""The progress line of long batches (``fit-many``): counts, rate, ETA and failures; rewritten in place on
a terminal, throttled full lines on a file."""

from __future__ import annotations

import io

from bayes_scaling.inference.progress import ProgressLine


class _Tty(io.StringIO):
    def isatty(self):
        return True


def test_file_gets_throttled_full_lines_and_the_final_state():
    buf = io.StringIO()
    line = ProgressLine(10, stream=buf, every_s=3600)
    line.update(1, 0, 0)  # the first update is written
    line.update(2, 1, 0)  # throttled
    line.update(3, 1, 1)  # throttled
    line.close()
    lines = buf.getvalue().splitlines()
    assert len(lines) == 2 and lines[0].startswith("fit-many 1/10 curves (10%)")
    assert lines[1].startswith("fit-many 3/10 curves (30%)") and "1 failed diagnostics, 1 not fitted" in lines[1]
    assert "curves/s" in lines[1] and "ETA" in lines[1]


def test_terminal_line_is_rewritten_and_ends_with_a_newline():
    buf = _Tty()
    line = ProgressLine(2, stream=buf)
    line.update(1)
    line.update(2)  # the last item is always written
    line.close(interrupted=False)
    text = buf.getvalue()
    assert text.count("\r") >= 2 and text.endswith("\n") and text.count("\n") == 1
    assert "2/2 curves (100%)" in text and "ETA 0s" in text


def test_interrupted_batch_says_so():
    buf = io.StringIO()
    line = ProgressLine(5, stream=buf)
    line.update(2)
    line.close(interrupted=True)
    assert buf.getvalue().splitlines()[-1].endswith("| interrupted")
