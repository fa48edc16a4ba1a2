"""Regressions from a new user's session on real data (no sampling): chained metric answers carry both fits'
diagnostics and the extrapolation guard, Pythia's checkpoints are marked as one run's, ``design`` proposes runs
in the fit's own shapes, ``frontier`` has the guard, and a hierarchical ``predict`` names the population."""

from __future__ import annotations

import json

from bayes_scaling.cli import main
from bayes_scaling.testing import fake_fit


def _chain(tmp_path):
    lp = str(fake_fit("chinchilla", draws=100).save(tmp_path / "loss.nc"))
    mp = str(fake_fit("sigmoid_metric", {"b": 0.25, "r": 2 / 3, "L0": 2.5, "k": 4.0}, draws=100,
                      sigma=0.02).save(tmp_path / "metric.nc"))
    return lp, mp


def test_predict_metric_and_target_metric_carry_both_diagnostics_and_the_guard(tmp_path, capsys):
    lp, mp = _chain(tmp_path)
    assert main(["predict-metric", lp, mp, "--params", "1e9", "--tokens", "2e10", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out["diagnostics"]) == {"loss_fit", "metric_fit"}
    assert out["diagnostics"]["metric_fit"]["r_hat_max"] > 0
    assert set(out["extrapolation"]["decades_beyond"]) >= {"N", "D"}
    m = out["metric_extrapolation"]
    assert m["L_fitted_min"] < m["L_fitted_max"]
    assert m["outside"] == (m["loss_median"] < m["L_fitted_min"] or m["loss_median"] > m["L_fitted_max"])
    # 100x the largest fake run's N and D: the loss fit's guard warns, in text too
    assert main(["predict-metric", lp, mp, "--params", "1e11", "--tokens", "2e13"]) == 0
    text = capsys.readouterr().out
    assert "extrapolation: decades beyond the largest run" in text and "WARNING: extrapolates" in text
    assert "loss fit diagnostics:" in text and "metric fit diagnostics:" in text and "metric law: median predicted loss" in text
    assert main(["target-metric", lp, mp, "--target", "0.5", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out["diagnostics"]) == {"loss_fit", "metric_fit"}
    assert out["extrapolation"]["decades_beyond"]["C"] < 0  # the plan for 0.5 lies within the fake runs' budgets
    # the fake loss (~2.5 nats/token) is above every L of the fake metric runs (0.6 .. 1.6)
    assert out["metric_extrapolation"]["outside"] and out["metric_extrapolation"]["decades_above_fitted_L"] > 0
    assert main(["target-metric", lp, mp, "--target", "0.9", "--json"]) == 0  # above the ceiling a + b = 0.75
    out = json.loads(capsys.readouterr().out)
    assert out["extrapolation"] is None and "never reaches" in out["extrapolation_note"]
    assert set(out["diagnostics"]) == {"loss_fit", "metric_fit"}
