"""Self-contained reports of a fit: data and provenance, law and priors, diagnostics, parameters,
figures (fit, posterior predictive check, IsoFLOP curves, frontier), allocation, which runs next
(value of information per FLOP, a greedy batch, stop or go), breakdown checks,
group comparison, sensitivity refits and reproducibility.

``build_report(result, ReportConfig(...))`` computes the sections; ``write_report(report, out)``
writes one HTML file (figures embedded as base64 PNG, inline CSS, no external resources) or
Markdown with the figures as PNG files next to it, atomically. ``check_report_html`` renders an
HTML report in headless Chromium and checks it.
"""

from bayes_scaling.report._build import DEFAULT_BUDGET_FACTORS, ReportConfig, build_report
from bayes_scaling.report._model import Fig, Para, Report, Section, Table
from bayes_scaling.report._refits import RefitConfig
from bayes_scaling.report._render import check_out_path, render_html, render_markdown, write_report
from bayes_scaling.report.browser import RenderCheck, check_report_html, find_chromium

#: Section ids, in order; ``groups`` appears only for hierarchical fits.
SECTION_IDS = ("data", "law", "diagnostics", "parameters", "fit", "residuals", "metric", "noise", "isoflops", "frontier",
               "design", "breakdown", "groups", "sensitivity", "reproducibility")
#: Sections only some fits have: groups (hierarchical), metric (metric laws), noise (fits with run noise).
OPTIONAL_SECTIONS = ("groups", "metric", "noise")

__all__ = ["DEFAULT_BUDGET_FACTORS", "OPTIONAL_SECTIONS", "SECTION_IDS", "Fig", "Para", "RefitConfig", "RenderCheck", "Report",
           "ReportConfig", "Section", "Table", "build_report", "check_out_path", "check_report_html", "find_chromium",
           "render_html", "render_markdown", "write_report"]
