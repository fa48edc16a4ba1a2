"""The report of a metric law (accuracy from a predictor loss L): its breakdown extrapolates towards better models
(lower L), as its "Downstream metrics" section does, not to 10x-1000x the largest L. Posteriors from ``fake_fit``."""

from __future__ import annotations

import numpy as np
import pytest

from bayes_scaling.report import ReportConfig, Table, build_report
from bayes_scaling.testing import fake_fit

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")


@pytest.fixture(scope="module")
def metric_report():
    truth = {"b": 0.25, "r": 0.9, "L0": 1.0, "k": 4.0}
    result = fake_fit("sigmoid_metric", truth, draws=100, sigma=0.05)
    return result, build_report(result, ReportConfig(refits=False))


def test_a_metric_laws_breakdown_extrapolates_to_lower_loss(metric_report):
    result, report = metric_report
    sec = next(s for s in report.sections if s.id == "breakdown")
    table = next(i for i in sec.items if isinstance(i, Table))
    l_min = float(result.runs.frame["L"].min())
    xs = [float(r[0].split()[0]) for r in table.rows]
    assert xs == pytest.approx([0.9 * l_min, 0.8 * l_min], rel=1e-3) and "lower L" in table.caption
    at_edge = float(np.median(result.predict(L=[l_min])["loss"]))
    medians = [float(r[1].split()[0]) for r in table.rows]
    assert at_edge < medians[0] < medians[1]  # better models: higher accuracy
    assert [r[3] for r in table.rows] == ["+0.05", "+0.10"]


def test_the_prior_tables_sigma_has_the_parameter_tables_unit(metric_report):
    """The prior table called a metric fit's sigma "log-loss scale" where the parameter table says logit(fraction)."""
    result, report = metric_report
    sec = next(s for s in report.sections if s.id == "law")
    priors = next(i for i in sec.items if isinstance(i, Table) and "prior" in i.header)
    sigma = next(r for r in priors.rows if r[0] == "sigma")
    assert sigma[2] == "logit(fraction)" == result.summary().loc["sigma", "unit"]
    assert "log-loss" not in sigma[3]


def test_a_law_without_n_gives_no_parameter_kind_and_its_losses_unit(tmp_path, capsys):
    """A power_x fit (no N) said "N = total parameters" and E in "loss units" beside sigma in log(nats/token)."""
    from bayes_scaling.cli import main

    from bayes_scaling.data.runs import load_runs
    from bayes_scaling.testing import runs_frame

    truth = {"E": 1.7, "B": 50.0, "c0": 0.3}
    frame = runs_frame("power_x", truth)[["X", "loss"]]  # runs of X alone: no N, no D, no C
    fit = fake_fit("power_x", truth, runs=load_runs(frame, extra_cols={"X": "X"}), draws=30)
    path = str(fit.save(tmp_path / "px.nc"))
    assert main(["summary", path]) == 0
    lines = capsys.readouterr().out.splitlines()
    runs = next(x for x in lines if x.startswith("runs:"))
    assert "N = " not in runs
    rows = {x.split()[0]: x for x in lines if x.split()}
    assert rows["E"].split()[1] == "nats/token" and rows["sigma"].split()[1] == "log(nats/token)"
    assert "loss units" not in "\n".join(lines)
