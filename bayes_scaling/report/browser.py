"""Render a report in headless Chromium and check it: no script errors, every image decoded,
every expected section present; optionally save a screenshot.

The report carries a tiny inline script that writes ``data-js-errors``, ``data-images-total``,
``data-images-loaded`` and ``data-render-check`` onto ``<body>`` after the page loads;
``--dump-dom`` returns the DOM with those attributes.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--hide-scrollbars", "--virtual-time-budget=10000")


@dataclass
class RenderCheck:
    """What the browser saw."""

    js_errors: int
    js_error_messages: str
    images_total: int
    images_loaded: int
    sections: list[str]
    screenshot: Path | None
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def find_chromium() -> str | None:
    """Path of a Chromium binary: ``$CHROMIUM``, /usr/bin/chromium, or one on PATH."""
    for cand in (os.environ.get("CHROMIUM"), CHROMIUM, shutil.which("chromium"), shutil.which("chromium-browser"),
                 shutil.which("google-chrome")):
        if cand and Path(cand).exists():
            return cand
    return None


def _run(binary: str, args: list[str], timeout: float) -> subprocess.CompletedProcess:
    with tempfile.TemporaryDirectory(prefix="bs-chromium-") as profile:
        cmd = [binary, *FLAGS, f"--user-data-dir={profile}", *args]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)


def check_report_html(path: str | os.PathLike, *, screenshot: str | os.PathLike | None = None,
                      expected_sections=(), window=(1280, 4000), timeout: float = 120.0,
                      chromium: str | None = None) -> RenderCheck:
    """Load ``path`` in headless Chromium: read the body's check attributes from ``--dump-dom``, and
    save a ``window``-sized screenshot to ``screenshot`` when given."""
    binary = chromium or find_chromium()
    if binary is None:
        raise FileNotFoundError("no Chromium found (looked at $CHROMIUM, /usr/bin/chromium and PATH)")
    url = Path(path).resolve().as_uri()
    dom = _run(binary, ["--dump-dom", url], timeout)
    body = re.search(r"<body([^>]*)>", dom.stdout)
    attrs = dict(re.findall(r'(data-[a-z-]+)="([^"]*)"', body.group(1))) if body else {}
    sections = re.findall(r'<section id="([^"]+)"', dom.stdout)
    problems = []
    if dom.returncode != 0 or body is None:
        problems.append(f"chromium --dump-dom failed (exit {dom.returncode}): {dom.stderr.strip()[-300:]}")
    if attrs.get("data-render-check") != "done":
        problems.append("the page's load handler did not run (data-render-check is not 'done')")
    js_errors = int(attrs.get("data-js-errors", "0") or 0)
    total = int(attrs.get("data-images-total", "0") or 0)
    loaded = int(attrs.get("data-images-loaded", "0") or 0)
    if js_errors:
        problems.append(f"{js_errors} script error(s): {attrs.get('data-js-error-messages', '')}")
    if loaded != total:
        problems.append(f"{total - loaded} of {total} images did not load")
    missing = [s for s in expected_sections if s not in sections]
    if missing:
        problems.append(f"missing section(s) {missing}")
    shot = None
    if screenshot is not None:
        shot = Path(screenshot).resolve()
        res = _run(binary, [f"--screenshot={shot}", f"--window-size={window[0]},{window[1]}", url], timeout)
        if res.returncode != 0 or not shot.exists() or shot.stat().st_size == 0:
            problems.append(f"screenshot failed (exit {res.returncode}): {res.stderr.strip()[-300:]}")
    return RenderCheck(js_errors, attrs.get("data-js-error-messages", ""), total, loaded, sections, shot, problems)
