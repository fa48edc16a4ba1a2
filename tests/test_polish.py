"""Regressions from a new user's first steps (no sampling): the fit command ``datasets`` suggests, the
wording of an implausible metric, the report's sampling attempts, the unit of the predictor loss in
``predict-metric`` and an empty runs path."""

from __future__ import annotations

import json
import shlex
import warnings

import numpy as np
import pytest

from bayes_scaling import BayesScalingError
from bayes_scaling.cli import main
from bayes_scaling.commands.data import export_frame, size_labels
from bayes_scaling.data.plausibility import plausibility_problems
from bayes_scaling.data.runs import load_runs
from bayes_scaling.report._model import attempts_table, sampler_settings
from bayes_scaling.testing import fake_fit, runs_frame
from conftest import dataset


def test_a_group_column_holding_one_n_per_group_is_not_suggested_as_a_grouping(tmp_path):
    frame = runs_frame()
    frame["size"] = frame["params"].map(lambda n: f"{n:.0e}")  # a model-size label: one N per group
    frame["mix"] = np.where(np.arange(len(frame)) % 2, "web", "code")  # several N per group
    runs = load_runs(frame, group_cols=("size", "mix"))
    assert size_labels(runs) == ["size"]
    _, args = export_frame(runs)
    groups = [args[i + 1] for i, a in enumerate(args) if a == "--group-col"]
    assert groups == ["mix"]


def test_datasets_olmo_ladder_suggests_no_size_grouping(tmp_path, capsys):
    home = str(dataset("olmo_ladder_bhagia2024").parent)
    out = tmp_path / "olmo.csv"
    assert main(["datasets", "olmo_ladder", "--data-home", home, "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    hint = shlex.split(printed.split("fit it with: bayes-scaling fit ", 1)[1])
    assert "--group-col" not in hint and "--seed-col" in hint
    assert "column 'size' is not suggested as --group-col" in printed


def test_an_implausible_metric_is_worded_as_a_metric_not_a_loss():
    frame = runs_frame().assign(L=lambda f: f["loss"], acc=lambda f: np.linspace(30, 60, len(f)))  # percent
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        runs = load_runs(frame, loss_col="acc", extra_cols={"L": "L"})
    problems = plausibility_problems(runs.frame)
    assert len(problems) == 1
    assert "metric (the response, a fraction) reaches 60" in problems[0] and "nats" not in problems[0]
    assert runs.implausible() == problems  # the table words it the same
    # a metric above 1 (a small accuracy in percent) is caught too; one in (0, 1) is not
    assert plausibility_problems(runs.frame.assign(loss=np.linspace(0.2, 1.5, len(frame))))
    assert not plausibility_problems(runs.frame.assign(loss=np.linspace(0.2, 0.9, len(frame))))
    loss = plausibility_problems(runs.frame.drop(columns="L").assign(loss=np.linspace(2, 45, len(frame))))
    assert len(loss) == 1 and "loss up to 45 nats/token" in loss[0]


ATTEMPTS = [{"draws": 1000, "tune": 1000, "target_accept": 0.8, "seed": 1, "seconds": 3.2, "cpu_seconds": 6.0,
             "ok": False, "problems": ["R-hat 1.05 > 1.01", "3 divergences"]},
            {"draws": 2000, "tune": 3000, "target_accept": 0.95, "seed": 1001, "seconds": 7.5, "cpu_seconds": 14.0,
             "ok": True, "problems": []}]


def test_the_report_lists_sampling_attempts_as_a_table(tmp_path, capsys, monkeypatch):
    cfg = {"sampler": "nutpie", "draws": 2000, "attempts": ATTEMPTS, "big_table_pilot": {"ok": True, "seconds": 1.5}}
    table = attempts_table(cfg)
    assert [r[0] for r in table.rows] == ["1", "2"]
    assert table.rows[0][-2:] == ["first attempt", "failed"]
    assert table.rows[1][1:3] == ["2000", "3000"]
    assert table.rows[1][-2:] == ["retry: R-hat 1.05 > 1.01; 3 divergences", "passed"]
    assert attempts_table({"sampler": "nutpie"}) is None
    settings = dict(map(tuple, sampler_settings(cfg)))
    assert "attempts" not in settings and settings["big_table_pilot"] == "(ok = True, seconds = 1.5)"
    fit = fake_fit(draws=50)
    fit.tree.attrs["sampler_config"] = json.dumps({**fit.sampler_config, "attempts": ATTEMPTS})
    path = fit.save(tmp_path / "fit.nc")
    monkeypatch.chdir(tmp_path)
    assert main(["report", str(path), "--out", "r.md", "--no-refits"]) == 0
    text = (tmp_path / "r.md").read_text()
    assert "'problems'" not in text and "{'draws'" not in text
    assert "| 2 | 2000 | 3000 | 0.95 | 1001 | 7.5 | retry: R-hat 1.05 &gt; 1.01; 3 divergences | passed |" in text


def test_predict_metric_states_the_predictor_loss_unit(tmp_path, capsys):
    lp = str(fake_fit("chinchilla", draws=100).save(tmp_path / "loss.nc"))
    mp = str(fake_fit("sigmoid_metric", {"b": 0.25, "r": 2 / 3, "L0": 2.5, "k": 4.0}, draws=100,
                      sigma=0.02).save(tmp_path / "metric.nc"))
    assert main(["predict-metric", lp, mp, "--params", "1e9", "--tokens", "2e10"]) == 0
    # the loss fit's recorded unit (--loss-unit, nats/token by default; tests/test_conform.py: bits/byte)
    assert "loss of a new run (nats/token): median" in capsys.readouterr().out
    assert main(["predict-metric", lp, mp, "--params", "1e9", "--tokens", "2e10", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["units"]["loss"] == "nats/token"


def test_an_empty_runs_path_is_called_empty(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["fit", "", "--law", "chinchilla", "--out", "f.nc"]) == 2
    err = capsys.readouterr().err
    assert "runs path is empty" in err and "directory" not in err and len(err.strip().splitlines()) == 1
    with pytest.raises(BayesScalingError, match="runs path is empty"):
        load_runs("")
    assert not (tmp_path / "f.nc").exists()
