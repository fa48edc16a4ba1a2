"""What a report is made of: sections holding paragraphs, tables and figures, independent of the
output format (HTML or Markdown)."""

from __future__ import annotations

import io
import math
from dataclasses import dataclass, field
from typing import Any

from bayes_scaling.plots.common import pct as pct_text
from bayes_scaling.posterior.intervals import format_interval, summary_record


@dataclass
class Para:
    """A paragraph; ``flag`` marks a warning (failed diagnostics, a poor fit, a skipped step)."""

    text: str
    flag: bool = False


@dataclass
class Table:
    """A table of strings with a header row and an optional caption."""

    header: list[str]
    rows: list[list[str]]
    caption: str = ""


@dataclass
class Fig:
    """A figure, kept as PNG bytes (rendered once, embedded or written next to the report)."""

    name: str
    png: bytes
    caption: str
    alt: str
    width_px: int = 0
    height_px: int = 0


@dataclass
class Section:
    """One ``<section id=...>`` of the report."""

    id: str
    title: str
    items: list[Any] = field(default_factory=list)

    def add(self, item) -> Section:
        self.items.append(item)
        return self


@dataclass
class Report:
    title: str
    subtitle: str
    sections: list[Section]


def figure_item(name: str, fig, caption: str, alt: str, dpi: int = 110) -> Fig:
    """Render a matplotlib Figure to PNG bytes (Agg) and wrap it."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    w, h = (round(float(v) * dpi) for v in fig.get_size_inches())
    return Fig(name, buf.getvalue(), caption, alt, w, h)


def num(v: float, digits: int = 4) -> str:
    """A number in compact form: 4 significant digits, exponents without '+' and leading zeros."""
    try:
        v = float(v)
    except (TypeError, ValueError):
        return str(v)
    if math.isnan(v):
        return "n/a"
    if math.isinf(v):
        return "∞" if v > 0 else "-∞"
    text = f"{v:.{digits}g}"
    if "e" in text:
        mant, exp = text.split("e")
        text = f"{mant}e{int(exp)}"
    return text


def interval(rec: dict, digits: int = 4, pct: bool = False) -> str:
    """``median [lo, hi]`` of a summary record (``summary_record``)."""
    return format_interval(rec, f".{max(digits - 3, 1)}%" if pct else (lambda v: num(v, digits)))


def interval_header(ci: float) -> str:
    """The header of a table column of :func:`interval` cells: ``median [90% interval]``."""
    return f"median [{pct_text(ci)} interval]"


def draws_interval(draws, ci: float, digits: int = 4, pct: bool = False) -> str:
    """``median [lo, hi]`` of posterior draws, the interval equal-tailed with mass ``ci``."""
    return interval(summary_record(draws, ci), digits, pct)


def setting_text(value) -> str:
    """A sampler setting as text: a dict as ``(key = value, ...)``, a list of problems joined by ``; ``."""
    if isinstance(value, dict):
        return "(" + ", ".join(f"{k} = {setting_text(v)}" for k, v in sorted(value.items())) + ")"
    if isinstance(value, (list, tuple)):
        return "; ".join(map(setting_text, value))
    return num(value) if isinstance(value, float) else str(value)


def sampler_settings(cfg: dict) -> list[list[str]]:
    """(setting, value) rows of a fit's sampler configuration, without its attempts (:func:`attempts_table`)."""
    return [[k, setting_text(v)] for k, v in sorted(cfg.items()) if k != "attempts"]


def attempts_table(cfg: dict) -> Table | None:
    """One row per sampling attempt of a fit (draws, tuning steps, wall seconds, the parameters whose group offsets
    it sampled centred where recorded, whether its diagnostics passed, and why it was sampled: the previous
    attempt's failed diagnostics); None when not recorded."""
    attempts = cfg.get("attempts") or []
    if not attempts:
        return None
    centred = any("centred" in a for a in attempts)
    kept = int(cfg.get("returned_attempt", len(attempts)))
    rows = []
    for i, a in enumerate(attempts):
        why = "first attempt" if i == 0 else "retry: " + ("; ".join(attempts[i - 1].get("problems") or [])
                                                         or "previous attempt failed")
        ok = a.get("ok")
        passed = "not recorded" if ok is None else ("passed" if ok else "failed")
        passed += " (returned)" if kept != len(attempts) and i + 1 == kept else ""
        rows.append([str(i + 1), str(a.get("draws", "")), str(a.get("tune", "")),
                     setting_text(a.get("target_accept", "")), str(a.get("seed", "")),
                     setting_text(a.get("seconds", "")),
                     *([", ".join(a.get("centred", [])) or "none"] if centred else []), why, passed])
    return Table(["attempt", "draws", "tune", "target_accept", "seed", "wall s",
                  *(["offsets sampled centred"] if centred else []), "why sampled", "diagnostics"], rows,
                 "Sampling attempts: a failed attempt is sampled again (new seed, more tuning or draws; a hierarchical "
                 "fit's offsets centred after a mixing failure without divergences) while the retry budget allows; "
                 f"the fit keeps {'the last' if kept == len(attempts) else f'attempt {kept}, whose worst problem was smaller'}")
