"""Render a bayes-scaling HTML report in headless Chromium, check it and save a screenshot.

    .venv/bin/python benchmarks/render_report.py REPORT.html OUT.png [--height 4000]

Checks (the same helper as tests/test_report_browser.py, ``bayes_scaling.report.check_report_html``):
no script errors, every image decoded (naturalWidth > 0), every section present. Exit 0 when all
pass, 1 when a check fails, 2 on bad input.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from bayes_scaling.report import SECTION_IDS, check_report_html, find_chromium


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("report", help="HTML report from `bayes-scaling report`")
    p.add_argument("out", help="screenshot PNG to write")
    p.add_argument("--width", type=int, default=1280, help="window width in pixels (default %(default)s)")
    p.add_argument("--height", type=int, default=4000, help="window height in pixels (default %(default)s)")
    args = p.parse_args(argv)
    report = Path(args.report)
    if not report.is_file():
        print(f"error: report {str(report)!r} does not exist", file=sys.stderr)
        return 2
    if find_chromium() is None:
        print("error: no Chromium found (set $CHROMIUM or install /usr/bin/chromium)", file=sys.stderr)
        return 2
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    expected = [s for s in SECTION_IDS if s != "groups"]
    t0 = time.perf_counter()
    chk = check_report_html(report, screenshot=out, expected_sections=expected, window=(args.width, args.height))
    print(f"rendered {report} in {time.perf_counter() - t0:.1f} s: {len(chk.sections)} sections "
          f"({', '.join(chk.sections)}), images {chk.images_loaded}/{chk.images_total} loaded, "
          f"script errors {chk.js_errors}; screenshot {out} ({out.stat().st_size / 1024:.0f} KiB)"
          if out.exists() else "")
    for problem in chk.problems:
        print(f"FAIL: {problem}")
    return 0 if chk.ok else 1


if __name__ == "__main__":
    sys.exit(main())
