"""The report of an ensemble answers its planning sections with the mixture, through the queries the CLI
uses (its allocation equals `allocate`'s), and names the member its per-fit sections show."""

from __future__ import annotations

import json
import re

import pytest

from bayes_scaling.cli import main
from bayes_scaling.examples import EXAMPLE
from bayes_scaling.queries.allocate import compute_optimal
from bayes_scaling.report._model import num
from bayes_scaling.result import EnsembleResult
from bayes_scaling.testing import fake_fit

TRUTH = EXAMPLE["truth"]


@pytest.fixture(scope="module")
def ens_report(tmp_path_factory):
    """Two forms that disagree on beta (so on N*), weights 0.7 / 0.3; the Markdown report at 1e24 FLOPs."""
    folder = tmp_path_factory.mktemp("report_ens")
    a = fake_fit(seed=1)
    b = fake_fit(truth={**TRUTH, "beta": 0.30}, runs_truth=TRUTH, seed=1)
    ens = EnsembleResult({"right": a, "other": b}, {"right": 0.7, "other": 0.3}, {"method": "test"})
    path = str(ens.save(folder / "ens.nc"))
    assert main(["report", path, "--out", str(folder / "r.md"), "--no-refits", "--budgets", "1e24"]) == 0
    text = (folder / "r.md").read_text()
    return ens, path, {m.group(1): m.group(2) for m in re.finditer(r'<a id="(\w+)"></a>\n\n(.*?)(?=<a id=|\Z)', text,
                                                                     re.S)}


def _interval(r):
    return f"{num(r['median'])} [{num(r['ci_low'])}, {num(r['ci_high'])}]"


def test_the_reports_allocation_is_allocates_on_the_same_ensemble(ens_report, capsys):
    ens, path, sections = ens_report
    assert main(["allocate", path, "--compute", "1e24", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    row = next(line for line in sections["frontier"].splitlines() if line.startswith("| 1e24 |"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[2] == _interval(out["N_opt"]) and cells[3] == _interval(out["D_opt"])
    assert cells[5] == _interval(out["loss_opt"])
    assert cells[6] == f"{num(out['decision']['N'])} / {num(out['decision']['D'])}"
    assert cells[7] == _interval(out["loss"])
    # the heaviest member alone answers otherwise: the mixture, not it, is in the table
    top = float(compute_optimal(ens.members["right"], 1e24)["N_opt"].median())
    assert abs(top / out["N_opt"]["median"] - 1) > 0.05 and num(top) not in cells[2]
    # the breakdown's decision is the same mixture's
    assert f"| 1e24 | {num(out['decision']['N'])} | {num(out['decision']['D'])} |" in sections["breakdown"]
    # each member's N* beside the mixture's, as `allocate` prints it
    members = out["N_opt_by_law_form"]["members"]
    ens_row = next(line for line in sections["ensemble"].splitlines() if line.startswith("| 1e24 |"))
    assert all(f"{k} {num(r['median'], 3)} [" in ens_row for k, r in members.items())


def test_per_fit_sections_name_their_member_and_planning_sections_the_mixture(ens_report):
    _, _, sections = ens_report
    title = {k: v.splitlines()[0] for k, v in sections.items()}
    for sid in ("law", "diagnostics", "parameters", "reproducibility"):
        assert title[sid].endswith("(member right: chinchilla, weight 0.70)"), title[sid]
    for sid in ("fit", "residuals", "isoflops", "frontier", "design", "breakdown"):
        assert title[sid].endswith("(mixture)"), title[sid]
    assert title["data"] == "## Data and provenance"


def test_the_html_report_of_a_hierarchical_ensemble_compares_groups_by_the_mixture(tmp_path):
    from bayes_scaling.testing import fake_hierarchical_fit

    a, b = fake_hierarchical_fit(seed=0), fake_hierarchical_fit(seed=0, draws=100)
    path = str(EnsembleResult({"a": a, "b": b}, {"a": 0.6, "b": 0.4}).save(tmp_path / "h.nc"))
    assert main(["report", path, "--out", str(tmp_path / "r.html"), "--no-refits"]) == 0
    html = (tmp_path / "r.html").read_text()
    assert "Group comparison (mixture)" in html and "Parameters (member a:" in html
