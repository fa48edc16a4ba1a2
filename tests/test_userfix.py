"""Regressions from a new user's session on real data (no sampling): chained metric answers carry both fits'
diagnostics and the extrapolation guard, Pythia's checkpoints are marked as one run's, ``design`` proposes runs
in the fit's own shapes, ``frontier`` has the guard, and a hierarchical ``predict`` names the population."""

from __future__ import annotations

import json
import warnings

import pytest

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
    assert "extrapolation: " in text and "decades beyond the data" in text and "WARNING: extrapolates" in text
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


def test_rows_of_one_run_keep_their_run_id_and_fit_warns(tmp_path):
    import numpy as np

    import bayes_scaling as bs
    from bayes_scaling import BayesScalingError
    from bayes_scaling.data.runs import load_runs
    from bayes_scaling.testing import runs_frame

    frame = runs_frame().drop(columns="compute")  # checkpoints: each run holds 4 D at its one N
    frame = frame.assign(run_id=np.repeat(["a", "b", "c", "d"], 4), params=np.repeat(frame["params"][::4], 4).to_numpy())
    runs = load_runs(frame)
    runs.to_csv(tmp_path / "runs.csv")
    back = load_runs(tmp_path / "runs.csv")  # the run id survives the CSV round trip
    assert back.frame["run_id"].tolist() == frame["run_id"].tolist()
    # the check runs before the sampler's counts are checked, so draws=1 stops the fit right after it
    # loading it (here inside fit, from the CSV) warns once, before the sampler's counts are checked
    with pytest.warns(UserWarning, match=r"16 rows come from 4 training runs .* fitted as independent runs") as w, \
            pytest.raises(BayesScalingError, match="draws"):
        bs.fit(tmp_path / "runs.csv", law="chinchilla", draws=1)
    assert sum("training runs" in str(x.message) for x in w) == 1
    one = load_runs(frame.assign(run_id=[f"r{i}" for i in range(16)]))  # one row per run: no warning
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(BayesScalingError, match="draws"):
            bs.fit(one, law="chinchilla", draws=1)


def test_datasets_pythia_says_rows_are_checkpoints_and_offers_final(tmp_path, capsys):
    import pandas as pd

    from conftest import dataset

    home = str(dataset("pythia_evals_biderman2023").parent)
    assert main(["datasets", "pythia_evals", "--data-home", home, "--out", str(tmp_path / "p.csv")]) == 0
    printed = capsys.readouterr().out
    assert "256 rows come from 16 training runs" in printed and "--option final=true" in printed
    assert pd.read_csv(tmp_path / "p.csv").groupby("run_id").size().eq(16).all()
    assert main(["datasets", "pythia_evals", "--data-home", home, "--out", str(tmp_path / "f.csv"),
                 "--option", "final=true"]) == 0
    assert "training runs" not in capsys.readouterr().out
    assert pd.read_csv(tmp_path / "f.csv")["run_id"].is_unique


def test_frontier_has_the_extrapolation_guard(tmp_path, capsys):
    from test_kaplan_frontier import KAPLAN_NS

    path = str(fake_fit(draws=100).save(tmp_path / "fit.nc"))  # runs up to 1e21 FLOPs
    assert main(["frontier", path, "--compute-min", "1e21", "--compute-max", "1e24", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    ext = out["extrapolation"]
    assert ext["decades_beyond"]["C"] == pytest.approx(3.0, abs=1e-6)  # the largest budget, 3 decades beyond
    assert ext["decades_beyond"]["N"] > 0 and ext["flag"] and "extrapolates" in ext["notes"][0]
    assert main(["frontier", path, "--compute-min", "1e21", "--compute-max", "1e24"]) == 0
    text = capsys.readouterr().out
    assert "decades beyond the data (per input, beyond the largest run: N +" in text and "WARNING: extrapolates 3.0 decades" in text
    kp = str(fake_fit("kaplan_ns", KAPLAN_NS, rel_sd=0.0, draws=50).save(tmp_path / "ns.nc"))
    assert main(["frontier", kp, "--compute-min", "1e21", "--compute-max", "1e24", "--json"]) == 0
    assert set(json.loads(capsys.readouterr().out)["extrapolation"]["decades_beyond"]) == {"N", "S"}


def test_allocate_warns_once_about_a_fitted_cost_beyond_its_runs(tmp_path, capsys):
    path = str(fake_fit(draws=100).save(tmp_path / "fit.nc"))  # runs up to N ~ 9e9: N* at 1e24 is ~10x that
    for argv in (["allocate", path, "--compute", "1e24", "--cost", "fitted"],
                 ["frontier", path, "--compute-min", "1e22", "--compute-max", "1e24", "--cost", "fitted"]):
        assert main(argv) == 0
        err = capsys.readouterr().err
        assert err.count("the largest run the fitted cost law saw") == 1, (argv, err)  # the asked budget's, only


def test_predict_on_a_hierarchical_fit_names_the_population(tmp_path, capsys):
    from bayes_scaling.testing import fake_hierarchical_fit

    path = str(fake_hierarchical_fit(draws=100).save(tmp_path / "h.nc"))
    assert main(["predict", path, "--params", "1e9", "--tokens", "2e10"]) == 0
    assert capsys.readouterr().out.startswith("for the population (population values of the varying parameters")
    assert main(["predict", path, "--params", "1e9", "--tokens", "2e10", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["group"] is None and out["answer_for"].startswith("the population")
    assert main(["predict", path, "--params", "1e9", "--tokens", "2e10", "--group", "y", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["answer_for"] == "group 'y'"
    plain = str(fake_fit(draws=50).save(tmp_path / "plain.nc"))  # no groups: no such key
    assert main(["predict", plain, "--params", "1e9", "--tokens", "2e10", "--json"]) == 0
    assert "answer_for" not in json.loads(capsys.readouterr().out)
