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
