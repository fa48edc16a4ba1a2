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
