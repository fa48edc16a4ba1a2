"""What a lab user's day found: metric replicates, grouped answers named, impossible units, messages."""

from __future__ import annotations

import re
import shlex

import numpy as np
import pandas as pd
import pytest

from bayes_scaling.cli import main


def _metric_runs(**kw):
    """Two seeds at each of three (N, D): accuracy and its predictor loss L, both differing by seed."""
    import bayes_scaling as bs

    f = pd.DataFrame({"params": [1e8, 1e8, 4e8, 4e8, 1e9, 1e9], "tokens": [2e9, 2e9, 8e9, 8e9, 2e10, 2e10],
                      "metric": [0.30, 0.31, 0.38, 0.37, 0.45, 0.47], "L": [1.00, 0.99, 0.90, 0.91, 0.83, 0.82],
                      "seed": [1, 2, 1, 2, 1, 2]})
    return bs.load_runs(f, extra_cols={"L": "L"}, seed_col="seed", compute_col=None, **kw)


def test_metric_configurations_key_on_n_and_d_not_the_measured_loss():
    """A metric law's input L is each run's own measured loss (it differs by seed): two seeds at one N and D are
    replicates of one configuration, keyed on N and D, not one configuration per run."""
    from bayes_scaling.inference.model import configurations, replicate_shares
    from bayes_scaling.laws.registry import get_law

    runs = _metric_runs()
    assert runs.loss_unit is None and runs.frame["L"].nunique() == 6
    for name in ("sigmoid_metric", "exp_metric"):
        idx, counts, by = configurations(get_law(name), runs)
        assert by == ("N", "D") and counts[idx].tolist() == [2] * 6
        assert replicate_shares([get_law(name)], runs).tolist() == [0.5] * 6
    groups = np.array(["a", "a", "a", "b", "b", "b"])  # a group splits a configuration
    idx, counts, by = configurations(get_law("sigmoid_metric"), runs, groups)
    assert counts[idx].tolist() == [2, 2, 1, 1, 2, 2]


def test_the_fit_that_datasets_suggests_for_accuracy_runs(tmp_path, capsys):
    """The olmo_ladder accuracy table's suggested command (--run-noise, a metric law) fits: its replicates are
    runs of several seeds at one N and D, whatever their measured L."""
    import json

    from conftest import DATASETS, dataset

    dataset("olmo_ladder_bhagia2024/olmo_ladder_final.csv")
    out = tmp_path / "a.csv"
    assert main(["datasets", "olmo_ladder", "--option", "target=acc", "--option", "task=hellaswag", "--out", str(out),
                 "--data-home", str(DATASETS)]) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("fit it with: "))
    cmd = shlex.split(line.removeprefix("fit it with: bayes-scaling "))
    assert "--run-noise" in cmd
    cmd = [str(tmp_path / "x.nc") if c == "FIT.nc" else "sigmoid_metric" if c == "METRIC_LAW" else c for c in cmd]
    assert main([*cmd, "--draws", "150", "--tune", "150", "--chains", "2", "--seed", "1"]) == 0
    capsys.readouterr()
    import bayes_scaling as bs

    rec = json.loads(bs.FitResult.load(tmp_path / "x.nc").tree.attrs["run_noise"])
    assert rec["cell_by"] == ["N", "D"] and rec["replicate_cells"] >= 2 and rec["cells"] < 34


def test_grouped_fits_name_whose_answer_target_frontier_breakdown_and_isoflop_check_give(tmp_path, capsys):
    """target and frontier take --group (group y's A and B are 6% above x's: its target needs more compute and its
    frontier's L* is higher); they, breakdown and isoflop-check name whose answer it is, in JSON and text; isoflop-check
    without --group refuses to fit one parabola to every group's runs."""
    import json

    from bayes_scaling.testing import fake_fit, fake_hierarchical_fit

    path = str(fake_hierarchical_fit(draws=100).save(tmp_path / "h.nc"))

    def ask(*argv):
        assert main([*argv, "--json"]) == 0
        out = json.loads(capsys.readouterr().out)
        assert main(list(argv)) == 0
        return out, capsys.readouterr().out

    target = {g: ask("target", path, "--loss", "2.3", "--compute", "1e21", *(["--group", g] if g else []))
              for g in (None, "x", "y")}
    assert target[None][0]["answer_for"].startswith("the population") and target[None][0]["group"] is None
    assert target[None][1].startswith("for the population (population values of the varying parameters; --group")
    assert target["y"][0]["answer_for"] == "group 'y'" and target["y"][1].startswith("for group 'y'")
    cy, cx = (target[g][0]["compute"]["median"] for g in ("y", "x"))
    assert cy > 1.2 * cx
    assert target["y"][0]["p_reach"]["with_the_decisions_plan"] < target["x"][0]["p_reach"]["with_the_decisions_plan"]
    front = {g: ask("frontier", path, "--compute-min", "1e20", "--compute-max", "1e22", *(["--group", g] if g else []))
             for g in (None, "x", "y")}
    assert front[None][1].startswith("for the population") and front["y"][1].startswith("for group 'y'")
    lx, lp, ly = (front[g][0]["budgets"][-1]["loss_opt"]["median"] for g in ("x", None, "y"))
    assert lx < lp < ly and ly - lx > 0.01  # 6% of the reducible loss (~0.45 nats/token) apart
    out, text = ask("breakdown", path)
    assert out["answer_for"].startswith("the population") and "--group" not in out["answer_for"]
    assert text.startswith("for the population")
    assert main(["isoflop-check", path, "--bootstrap", "50"]) == 2
    assert "--group" in capsys.readouterr().err
    assert main(["isoflop-check", path, "--bootstrap", "50", "--group", "x", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["answer_for"] == "group 'x'"
    plain = str(fake_fit(draws=50).save(tmp_path / "plain.nc"))  # no groups: no such key, no line
    out, text = ask("target", plain, "--loss", "2.3")
    assert "answer_for" not in out and text.startswith("to reach")


def test_counts_below_one_after_unit_conversion_are_refused_not_warned(tmp_path, capsys):
    """Compute in PF-days read as FLOPs gives D = C / 6N of ~1e-10 tokens; N in billions gives 0.1 parameters: no
    run has those, so the table is refused in one line naming the column and the option, and nothing is saved."""
    import bayes_scaling as bs
    from bayes_scaling.errors import BayesScalingError

    f = pd.DataFrame({"params": [1e8, 4e8, 1e9], "tokens": [2e9, 8e9, 2e10], "compute": [0.1, 1.5, 9.0],
                      "loss": [3.1, 2.9, 2.7]})
    f.drop(columns="tokens").to_csv(tmp_path / "pf.csv", index=False)
    out = tmp_path / "o.nc"
    assert main(["fit", str(tmp_path / "pf.csv"), "--law", "chinchilla", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert "tokens D derived as C / (6 N) reach 1.67e-10" in err and "--compute-unit pf-days" in err
    assert "compute" in err and len(err.splitlines()) == 1 and not out.exists()
    with pytest.raises(BayesScalingError, match="compute column 'compute' gives 0.1 FLOPs") as e:
        bs.load_runs(f)
    assert e.value.quantity == "compute_unit"
    with pytest.raises(BayesScalingError, match="parameters column 'params' has 0.001 parameters") as e:
        bs.load_runs(f.assign(params=f["params"] / 1e11), compute_col=None)
    assert e.value.quantity == "N"
    runs = bs.load_runs(f.drop(columns="tokens"), compute_unit="pf-days")  # read in its unit: loads
    assert runs.frame["D"].min() > 1e9


def test_messages_name_the_ensemble_the_predictor_unit_and_a_budget_too_small(tmp_path, capsys):
    """predict-metric / target-metric name an ensemble loss fit's members; a metric fit's summary gives L0 and k in
    the recorded unit of L; a budget that cannot train one parameter on one token says to raise --compute."""
    import json

    import bayes_scaling as bs
    from bayes_scaling.result import EnsembleResult
    from bayes_scaling.testing import fake_fit, runs_frame

    a = fake_fit(draws=50)
    b = fake_fit("chinchilla_tied", {"E": 1.69, "A": 406.4, "B": 410.7, "alpha": 0.32}, draws=50, runs=a.runs)
    ens = str(EnsembleResult({"chinchilla": a, "chinchilla_tied": b}, {"chinchilla": 0.5, "chinchilla_tied": 0.5},
                             {"method": "test"}).save(tmp_path / "ens.nc"))
    sigmoid = {"b": 0.25, "r": 2 / 3, "L0": 2.5, "k": 4.0}
    runs = bs.load_runs(runs_frame("sigmoid_metric", sigmoid, sigma=0.02), extra_cols={"L": "L"},
                        predictor_unit="bits/byte")
    m = str(fake_fit("sigmoid_metric", sigmoid, draws=50, sigma=0.02, runs=runs).save(tmp_path / "m.nc"))
    assert main(["predict-metric", ens, m, "--params", "1e9", "--tokens", "2e10"]) == 2  # L in bits/byte, loss in nats
    assert "but the ensemble of chinchilla, chinchilla_tied fit's losses are in nats/token" in capsys.readouterr().err
    assert main(["summary", m, "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows["L0"]["unit"] == "bits/byte" and rows["k"]["unit"] == "1 / (bits/byte)"
    m = str(fake_fit("sigmoid_metric", sigmoid, draws=50, sigma=0.02).save(tmp_path / "m.nc"))  # L's unit unknown
    assert main(["predict-metric", ens, m, "--params", "1e9", "--tokens", "2e10"]) == 0
    assert "(ensemble of chinchilla, chinchilla_tied -> sigmoid_metric):" in capsys.readouterr().out
    assert main(["target-metric", ens, m, "--target", "0.6"]) == 0
    assert "(sigmoid_metric of ensemble of chinchilla, chinchilla_tied;" in capsys.readouterr().out
    assert main(["summary", m]) == 0
    assert re.search(r"^L0 +units of L ", capsys.readouterr().out, re.M)
    plain = str(a.save(tmp_path / "a.nc"))
    assert main(["allocate", plain, "--compute", "1e-5"]) == 2
    err = capsys.readouterr().err
    assert "the budget is too small" in err and "raise the compute budget [--compute]" in err
    assert main(["breakdown", plain, "--budget", "1e-5"]) == 2
    assert "[--budget]" in capsys.readouterr().err
