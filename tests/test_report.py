"""`bayes-scaling report` on fits built from known draws: the sections of the HTML and Markdown
reports, self-containment (no external resources), intervals on the numbers, the CLI's one-line
errors (exit 2, nothing written), a hierarchical fit's group section, and the sensitivity refits
(real, small NUTS fits)."""

from __future__ import annotations

import base64
import json
import math
import re

import pytest
import xarray as xr

from bayes_scaling.cli import main
from bayes_scaling.report import (OPTIONAL_SECTIONS, SECTION_IDS, RefitConfig, ReportConfig, Table, build_report,
                                  render_html, write_report)
from bayes_scaling.testing import fake_fit

BASE_SECTIONS = [s for s in SECTION_IDS if s not in OPTIONAL_SECTIONS]


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tmp_path_factory.mktemp("report")


@pytest.fixture(scope="module")
def fit_file(folder):
    path = folder / "fit.nc"
    fake_fit(seed=3).save(path)
    return path


@pytest.fixture(scope="module")
def html(fit_file, folder):
    out = folder / "report.html"
    assert main(["report", str(fit_file), "--out", str(out), "--no-refits"]) == 0
    return out.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def markdown(fit_file, folder):
    """Markdown, at 80%, with given budgets and Kaplan's contradiction point from two more fits."""
    out = folder / "md" / "fit report.md"
    out.parent.mkdir()
    fake_fit("kaplan_c", {"alpha_C": 0.050, "C_c": 3.1e8}, seed=1).save(folder / "c.nc")
    fake_fit("kaplan_d", {"alpha_D": 0.095, "D_c": 5.4e13}, seed=2).save(folder / "d.nc")
    assert main(["report", str(fit_file), "--out", str(out), "--no-refits", "--ci-prob", "0.8",
                 "--budgets", "1e22", "3e23", "--kaplan-fits", str(folder / "c.nc"), str(folder / "d.nc")]) == 0
    return out


def _section(html_text: str, sid: str) -> str:
    m = re.search(rf'<section id="{sid}">(.*?)</section>', html_text, re.DOTALL)
    assert m, f"section {sid} missing"
    return m.group(1)


def test_html_has_every_section_in_order_with_a_heading(html):
    found = re.findall(r'<section id="([^"]+)">\s*<h2>([^<]+)</h2>', html)
    assert [sid for sid, _ in found] == BASE_SECTIONS  # no groups section: the fit has no groups
    assert dict(found)["frontier"] == "Compute-optimal frontier and allocation"


def test_html_is_self_contained(html):
    assert not re.search(r"https?://|<link\b|@import|url\(|<iframe|<object", html, re.IGNORECASE)
    srcs = re.findall(r'\bsrc="([^"]*)"', html)
    assert len(srcs) == 5 and all(s.startswith("data:image/png;base64,") for s in srcs)
    for s in srcs:
        assert base64.b64decode(s.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"
    assert all(h.startswith("#") for h in re.findall(r'\bhref="([^"]*)"', html))
    assert "window.onerror" in html and 'data-render-check="pending"' in html


def test_html_numbers_carry_intervals_and_units(html):
    params = _section(html, "parameters")
    rows = re.findall(r"<tr><td>(E|A|B|alpha|beta|sigma)</td><td>[^<]*</td><td>([^<]*)</td>", params)
    assert [r[0] for r in rows] == ["E", "A", "B", "alpha", "beta", "sigma"]
    assert all(re.fullmatch(r"\S+ \[\S+, \S+\]", r[1]) for r in rows)
    frontier = _section(html, "frontier")
    for budget in ("1e22", "1e23", "1e24"):  # default budgets: 10x, 100x, 1000x the largest run (1e21 FLOPs)
        assert f"<tr><td>{budget}</td>" in frontier
    assert frontier.count("[") >= 3 * 5 and "D*/N* (tokens/parameter)" in frontier
    data = _section(html, "data")
    assert "total parameters as the fit declares them (--params-kind total" in data and "FLOPs" in data and "PF-days" in data
    assert "skipped (--no-refits)" in _section(html, "sensitivity")
    assert "skipped (--no-refits)" in _section(html, "breakdown")
    assert "--kaplan-fits C.nc D.nc" in _section(html, "breakdown")
    repro = _section(html, "reproducibility")
    assert "bayes-scaling report" in repro and "--no-refits" in repro and "pymc" in repro


def test_parameter_table_reports_the_contraction(html):
    """Each parameter's prior-to-posterior contraction, marked (log) where it is on the log scale."""
    params = _section(html, "parameters")
    assert "<th>contraction</th>" in params
    rows = dict(re.findall(r"<tr><td>(E|A|alpha)</td>(?:<td>[^<]*</td>){7}<td>([^<]*)</td></tr>", params))
    assert re.fullmatch(r"[01]\.\d\d \(log\)", rows["A"]) and re.fullmatch(r"[01]\.\d\d", rows["alpha"])


def test_markdown_has_the_same_sections_and_figure_files(markdown):
    text = markdown.read_text(encoding="utf-8")
    assert re.findall(r'<a id="([^"]+)"></a>', text) == BASE_SECTIONS
    figures = re.findall(r"!\[[^\]]*\]\(<([^>]+)>\)", text)  # <...>: file names may hold spaces
    assert len(figures) == 5
    for name in figures:
        png = markdown.parent / name
        assert png.name.startswith("fit report_") and png.read_bytes()[:4] == b"\x89PNG"
    assert sorted(p.name for p in markdown.parent.iterdir()) == sorted([markdown.name, *figures])  # no temp files left
    assert "80% equal-tailed" in text and "| 1e22 |" in text and "| 3e23 |" in text
    assert "http" not in text
    assert "N\\*(C)" in text  # asterisks of N*, D* are escaped, not emphasis
    # Kaplan et al. 2020 put the contradiction point near 1e4 PF-days; with their constants it has an interval
    c_star = re.search(r"\| C\\\* \| PF-days \| (\S+) \[(\S+), (\S+)\] \|", text)
    assert c_star and 1e3 < float(c_star.group(1)) < 1e5 and float(c_star.group(2)) < float(c_star.group(3))


def _num(cell: str) -> float:
    return float(cell.rstrip("%"))


def test_design_section_ranks_runs_per_flop_and_says_stop_or_go(html, fit_file, folder):
    """'Which runs next': candidates best reduction of var(log N*) per FLOP first, a greedy batch that
    fits the ladder budget (default: the runs' own compute) and a stop-or-go verdict; --design-budget
    sets that budget."""
    sec = _section(html, "design")
    assert "<h2>Which runs next</h2>" in sec and "at C = 1e23 FLOPs" in sec
    tables = re.findall(r"<table>(.*?)</table>", sec, re.DOTALL)
    assert len(tables) == 2
    cells = lambda t: [re.findall(r"<td>([^<]*)</td>", row) for row in re.findall(r"<tr>(.*?)</tr>", t)]  # noqa: E731
    cands = [r for r in cells(tables[0]) if r]
    per_flop = [_num(r[6]) for r in cands]
    assert len(cands) == 8 and per_flop == sorted(per_flop, reverse=True) and per_flop[0] > 0
    assert all(0 < _num(r[5]) < 100 and _num(r[7]) > 0 for r in cands)  # reduction %, ESS
    budget = float(re.search(r"If the ladder got (\S+) more FLOPs", sec).group(1))
    batch = [r for r in cells(tables[1]) if r]
    assert batch and _num(batch[-1][4]) <= budget
    after = [_num(r[5]) for r in batch]
    assert after == sorted(after, reverse=True)  # each pick lowers the expected variance further
    assert re.search(r"Stop or go: .*(GO: run the first \d pick|STOP: no batch)", sec)
    out = folder / "small.html"
    assert main(["report", str(fit_file), "--out", str(out), "--no-refits", "--design-budget", "1e19"]) == 0
    small = _section(out.read_text(encoding="utf-8"), "design")
    assert "If the ladder got 1e19 more FLOPs," in small
    rows = [r for r in cells(re.findall(r"<table>(.*?)</table>", small, re.DOTALL)[-1]) if r]
    assert rows and _num(rows[-1][4]) <= 1e19


@pytest.mark.parametrize("args, message", [
    (["missing.nc", "--out", "{d}/r.html"], "does not exist"),
    (["{fit}", "--out", "{d}/r.txt"], "should end in .html or .md"),
    (["{fit}", "--out", "{d}/r.md", "--format", "html"], "make them agree"),
    (["{fit}", "--out", "{d}/no/such/folder/r.html"], "does not exist: create it first"),
    (["{fit}", "--out", "{d}/r.html", "--budgets", "1e22", "0"], "finite number > 0"),
    (["{fit}", "--out", "{d}/r.html", "--ci-prob", "1.5"], "interval mass in (0, 1)"),
    (["{power}", "--out", "{d}/r.html", "--budgets", "1e22"], "--budgets applies to laws of N and D"),
    (["{fit}", "--out", "{d}/r.html", "--kaplan-fits", "{fit}", "{fit}"], "kaplan_c fit and then a kaplan_d fit"),
])
def test_bad_input_is_one_line_exit_2_and_writes_nothing(args, message, fit_file, tmp_path, capsys):
    power = tmp_path / "power.nc"
    if any("{power}" in a for a in args):
        fake_fit("power_x", {"E": 1.5, "B": 10.0, "c0": 0.3}, seed=1).save(power)
    argv = ["report"] + [a.format(fit=fit_file, d=tmp_path, power=power) for a in args]
    before = sorted(p.name for p in tmp_path.iterdir())
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ") and message in err
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_hierarchical_fit_gets_a_paired_group_section(tmp_path):
    from bayes_scaling.testing import fake_hierarchical_fit

    report = build_report(fake_hierarchical_fit(draws=100), ReportConfig(refits=False, budgets=(1e22,), ci_prob=0.8))
    ids = [s.id for s in report.sections]
    assert ids == [s for s in SECTION_IDS if s not in ("metric", "noise")]
    html = render_html(report)
    groups = _section(html, "groups")
    assert "P(x better than y)" in groups and "compute y needs to match x (x C)" in groups
    assert re.search(r"<tr><td>y</td><td>\S+ \[\S+, \S+\]</td>", groups)
    assert "80%" in groups and groups.count("<img") == 1
    assert "not run for hierarchical fits" not in html  # refits are off: the break test says it was skipped
    written = write_report(report, tmp_path / "h.html")
    assert written == [tmp_path / "h.html"]


def test_interval_percentages_are_exact_in_the_report():
    report = build_report(fake_fit(draws=100), ReportConfig(refits=False, ci_prob=0.975))
    html = render_html(report)
    assert "Intervals are 97.5% equal-tailed" in report.subtitle
    assert "median [97.5% interval]" in html and "97.5% equal-tailed (ci_prob = 0.975)" in html
    assert not re.search(r"\b98%", html)


def _units_row(result) -> list[str]:
    data = build_report(result, ReportConfig(refits=False)).sections[0]
    return next(t for t in data.items if getattr(t, "caption", "") == "Units").rows[2]


def test_compute_unit_comes_from_the_runs_metadata_with_the_command_as_fallback(fit_file):
    import json

    from bayes_scaling.result import FitResult

    fit = FitResult.load(fit_file)
    assert fit.runs_metadata["compute_unit"] == "flops"  # recorded by load_runs, kept by save and load
    meta = fit.runs_metadata
    fit.tree.attrs["command"] = "bayes-scaling fit runs.csv --compute-unit=pf-days --out fit.nc"
    fit.tree.attrs["runs_metadata"] = json.dumps({**meta, "compute_unit": "pf-days"})
    assert "read in PF-days and converted to FLOPs" in _units_row(fit)[1]
    fit.tree.attrs["runs_metadata"] = json.dumps({**meta, "compute_unit": "flops"})
    assert _units_row(fit)[1].startswith("FLOPs, read in FLOPs")
    old = {k: v for k, v in meta.items() if k != "compute_unit"}  # a fit saved before the unit was recorded
    fit.tree.attrs["runs_metadata"] = json.dumps(old)
    fit.tree.attrs["command"] = "bayes-scaling fit runs.csv --compute-unit pf-days --out fit.nc"
    assert "read in PF-days" in _units_row(fit)[1]


def test_tables_state_units_in_headers_and_rows():
    from bayes_scaling.report import _analysis
    from bayes_scaling.report._build import _Context, report_budgets
    from bayes_scaling.report._refits import plan_refits
    from bayes_scaling.testing import fake_hierarchical_fit

    report = build_report(fake_fit(draws=100), ReportConfig(refits=False))
    headers = [h for s in report.sections for t in s.items if isinstance(t, Table) for h in t.header]
    assert "decision N (total parameters) / D (tokens), min. expected loss" in headers
    assert {"decision N (total parameters)", "decision D (tokens)"} <= set(headers)
    groups = next(s for s in build_report(fake_hierarchical_fit(draws=100), ReportConfig(refits=False)).sections
                  if s.id == "groups")
    labels = [r[0] for t in groups.items if isinstance(t, Table) for r in t.rows]
    assert {"A(y) - A(x) (nats/token x parameters^alpha)", "B(y) - B(x) (nats/token x tokens^beta)"} <= set(labels)

    class Runner:  # the sensitivity refits, replaced by another set of known draws
        def __contains__(self, key):
            return key == "likelihood"

        def get(self, key):
            return fake_fit("kaplan_c", truth, seed=5, draws=50), None

    truth = {"alpha_C": 0.050, "C_c": 3.1e8}
    fit = fake_fit("kaplan_c", truth, seed=1, draws=50)
    ctx = _Context(result=fit, ci=0.8, budgets=report_budgets(fit, None), refits=True, refit_config=RefitConfig(),
                   kaplan_fits=None, seed=0, command="", fit_path="")
    ctx.plan, ctx.runner = plan_refits(fit, ctx.refit_config, 0), Runner()
    table = next(t for t in _analysis.sensitivity_section(ctx).items if isinstance(t, Table))
    assert table.header[2:5] == ["alpha_C (dimensionless)", "C_c (PF-days)",
                                 "loss (nats/token) at compute C (FLOPs) = 1e22, 10x the largest run"]
    assert [r[0] for r in table.rows] == ["this fit", "Gaussian likelihood"]


def test_markdown_escapes_html_and_markdown_outside_code_spans():
    from bayes_scaling.report import Para, Report, Section, render_markdown

    markdown_it = pytest.importorskip("markdown_it")

    label = "<img src=x onerror=alert(1)>"
    sec = Section("s", "S").add(Para(f"groups {label}, AT&T, a_b_, [x](javascript:alert(1)), `a<b>_c` and N*"))
    sec.add(Table(["group", "loss [80% interval]"], [[label, "2.1 [2, 2.2]"]], "caption"))
    text = render_markdown(Report("t", "sub", [sec]), {})
    assert "&lt;img src=x onerror=alert(1)&gt;" in text and "AT&amp;T" in text and "a\\_b\\_" in text
    assert "`a<b>_c`" in text and "N\\*" in text and "| 2.1 [2, 2.2] |" in text  # code and intervals as they were
    rendered = markdown_it.MarkdownIt("commonmark", {"html": True}).enable("table").render(text)
    assert "<img" not in rendered and 'href="javascript' not in rendered and "<em>" not in rendered
    assert "<code>a&lt;b&gt;_c</code>" in rendered and "AT&amp;T" in rendered


@pytest.mark.sampling
def test_sensitivity_refits_move_the_allocation_with_intervals():
    """Real (small) refits: the other likelihood, the injected outlier dropped, and N counted as
    non-embedding parameters; each row carries intervals and the refit's diagnostics."""
    result = fake_fit(seed=1)  # run 8 of these simulated runs is an outlier (Student-t noise)
    cfg = ReportConfig(budgets=(1e22,), refit=RefitConfig(draws=150, tune=150, chains=2))
    html = render_html(build_report(result, cfg))
    sens = _section(html, "sensitivity")
    rows = re.findall(r"<tr><td>([^<]+)</td><td>(\d+)</td><td>([^<]+)</td><td>([^<]+)</td><td>([^<]+)</td>", sens)
    assert [r[0] for r in rows] == ["this fit", "Gaussian likelihood", "without 1 outlying run(s)",
                                    "N counted as non-embedding parameters"]
    assert [r[1] for r in rows] == ["16", "16", "15", "16"]
    assert all(re.fullmatch(r"\S+ \[\S+, \S+\]", cell) for r in rows for cell in r[2:])
    assert "Pearce &amp; Song (2024)" in sens and "run 8" in sens
    assert "the envelope has 4 points" in _section(html, "breakdown")  # too few budgets for the broken law


def test_metric_fit_gets_a_downstream_section_and_a_run_noise_fit_its_components():
    from bayes_scaling.result import FitResult

    truth = {"b": 0.25, "r": 0.9, "L0": 1.0, "k": 4.0}
    result = fake_fit("sigmoid_metric", truth, draws=100, sigma=0.05)
    report = build_report(result, ReportConfig(refits=False))
    ids = [s.id for s in report.sections]
    assert "metric" in ids and "noise" not in ids
    sec = next(s for s in report.sections if s.id == "metric")
    bounds, curve = [i for i in sec.items if isinstance(i, Table)]
    floor, at_zero, ceiling = (float(r[2].split()[0]) for r in bounds.rows)
    assert floor == pytest.approx(0.25, rel=0.05) and ceiling == pytest.approx(0.25 + 0.9 * 0.75, rel=0.05)
    assert at_zero < ceiling and at_zero == pytest.approx(0.25 + 0.9 * 0.75 / (1 + math.exp(-4.0)), rel=0.05)
    assert len(curve.rows) == 5 and "extrapolated" in curve.rows[-1][1]
    # a fit with run noise (components added by hand to a fake fit): the noise section, in the response's units
    tree = result.tree.copy()
    post = tree["posterior"].to_dataset()
    post["sigma_run"], post["sigma_law"] = post["sigma"] * 0.6, post["sigma"] * 0.8
    tree["posterior"] = xr.DataTree(post)
    tree.attrs = {**result.tree.attrs, "run_noise": json.dumps({"cells": 10, "replicate_cells": 2,
                                                                "cell_by": ["N", "D"], "se": False})}
    noisy = build_report(FitResult(tree), ReportConfig(refits=False))
    sec = next(s for s in noisy.sections if s.id == "noise")
    rows = next(i for i in sec.items if isinstance(i, Table)).rows
    assert [r[0] for r in rows] == ["sigma_run", "sigma_law", "sigma"]
    assert "fraction" in next(i for i in sec.items if isinstance(i, Table)).header[3]
