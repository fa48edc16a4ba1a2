"""Fixes from the review of downstream metrics, comparisons and breakdown: the chance level of a metric fit,
one bisection on log compute for ``target`` and ``target-metric``, repeated ``--groups``, and the break's
location shown only where a break is supported."""

from __future__ import annotations

import json

import numpy as np
import pytest

import bayes_scaling as bs
from bayes_scaling.cli import main
from bayes_scaling.errors import BayesScalingError
from bayes_scaling.testing import fake_fit, fake_hierarchical_fit


def test_compare_refuses_a_repeated_group(tmp_path, capsys):
    from bayes_scaling.queries.compare_groups import compare_groups

    r = fake_hierarchical_fit(seed=0, chains=2, draws=50)
    with pytest.raises(BayesScalingError, match="more than once") as e:
        compare_groups(r, ["x", "x", "y"], compute=1e21)
    assert e.value.quantity == "groups"
    path = r.save(tmp_path / "h.nc")
    assert main(["compare", str(path), "--groups", "x", "x", "y", "--compute", "1e21"]) != 0
    err = capsys.readouterr().err
    assert "--groups" in err and "more than once" in err and "Traceback" not in err


@pytest.fixture(scope="module")
def chain_fits():
    """A loss fit (chinchilla) and a metric fit whose midpoint L0 = 5 nats sits at small budgets (~1e16 FLOPs)."""
    import warnings

    lf = fake_fit("chinchilla", chains=2, draws=100)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mf = fake_fit("sigmoid_metric", truth={"b": 0.25, "r": 0.9, "L0": 5.0, "k": 4.0}, chains=2, draws=100,
                      sigma=0.05)
    return lf, mf


def test_target_metric_below_the_old_grid_matches_a_brute_force_grid(chain_fits):
    from bayes_scaling.conventions import seeded_rng
    from bayes_scaling.queries.allocate import compute_optimal
    from bayes_scaling.queries.metric_chain import compute_for_metric, metric_at_loss, prob_reach_metric

    lf, mf = chain_fits
    target = 0.4
    c = compute_for_metric(lf, mf, target)["compute"].values.ravel()
    assert np.isfinite(c).all() and c.max() < 1e17  # every draw reaches it below the old grid's first budget
    grid = np.geomspace(1e8, 1e18, 4001)  # brute force: the first budget of a fine grid where the metric passes
    mu, _ = metric_at_loss(mf, compute_optimal(lf, grid)["loss_opt"].values, rng=seeded_rng(0))
    hit = mu >= target
    assert hit[..., -1].all() and not hit[..., 0].any()
    brute = grid[np.argmax(hit, axis=-1)].ravel()
    step = grid[1] / grid[0]
    assert np.all(c <= brute * 1.0001) and np.all(c >= brute / step / 1.0001)
    assert np.median(c) == pytest.approx(np.median(brute), rel=2 * (step - 1))
    assert prob_reach_metric(lf, mf, target, float(np.median(c))) == pytest.approx(0.5, abs=0.01)


def test_target_and_target_metric_answer_with_the_same_record(chain_fits, tmp_path, capsys):
    lf, mf = chain_fits
    lp, mp = lf.save(tmp_path / "lf.nc"), mf.save(tmp_path / "mf.nc")
    assert main(["target", str(lp), "--loss", "2.3", "--json"]) == 0
    loss_rec = json.loads(capsys.readouterr().out)["compute"]
    assert main(["target-metric", str(lp), str(mp), "--target", "0.5", "--json"]) == 0
    met = json.loads(capsys.readouterr().out)
    assert set(met["compute"]) == set(loss_rec) >= {"median", "mean", "ci_low", "ci_high", "ci_prob"}
    # above the metric law's ceiling (0.25 + 0.9 * 0.75 = 0.925): unreachable in every draw, null in JSON
    assert main(["target-metric", str(lp), str(mp), "--target", "0.99", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["p_unreachable"] == 1.0 and out["compute"]["median"] is None and "null_means" in out["compute"]


def test_a_target_every_budget_meets_is_said_so_not_answered_with_the_searchs_lower_end(chain_fits, tmp_path,
                                                                                          capsys):
    """A metric target below chance (0.2 < 0.25) or a loss above what the smallest budget searched reaches is met
    at any budget: compute 0 in those draws and said so, not the bracket's lower end (6e6 FLOPs) as a figure."""
    from bayes_scaling.queries.allocate import compute_for_loss, compute_optimal
    from bayes_scaling.queries.draws import LOG_COMPUTE_BRACKET

    lf, mf = chain_fits
    lp, mp = lf.save(tmp_path / "lf.nc"), mf.save(tmp_path / "mf.nc")
    for args, where in ((["target-metric", str(lp), str(mp), "--target", "0.2"], "below"),  # a metric: higher is better
                        (["target", str(lp), "--loss", "1000"], "above")):
        assert main(args) == 0
        text = capsys.readouterr().out
        assert f"reached at any budget (the target is at or {where} what the smallest budget already reaches)" in text
        assert "6e+06" not in text and "interval" not in text
        assert main(args + ["--json"]) == 0
        out = json.loads(capsys.readouterr().out)
        assert out["p_met_at_any_budget"] == 1.0 and out["compute"]["ci_high"] == 0.0
        assert out["extrapolation"] is None and "meets the target at any budget" in out["extrapolation_note"]
    # a loss some draws already reach at the smallest budget searched and others need more for
    bottom = 6.0 * np.exp(LOG_COMPUTE_BRACKET[0])
    l0 = compute_optimal(lf, [bottom])["loss_opt"].values.reshape(-1)
    target = float(np.median(l0))
    c = compute_for_loss(lf, target)["compute"].values.reshape(-1)
    clear = np.abs(l0 / target - 1) > 1e-6
    np.testing.assert_array_equal((c == 0)[clear], (l0 <= target)[clear])
    assert np.all(c[c > 0] > bottom * 0.999)
    assert main(["target", str(lp), "--loss", repr(target), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert 0.3 < out["p_met_at_any_budget"] < 0.7 and out["compute_where_a_budget_is_needed"]["ci_low"] > bottom * 0.999
    assert main(["target", str(lp), "--loss", repr(target)]) == 0
    assert "compute over the draws that need a budget and reach it" in capsys.readouterr().out


# -- the chance level of a metric fit --------------------------------------------------------------------------

def _metric_runs(truth, **kw):
    from bayes_scaling.testing import runs_frame

    frame = runs_frame("sigmoid_metric", truth)
    return frame, bs.load_runs(frame, params_col=None, tokens_col=None, compute_col=None, extra_cols={"L": "L"},
                               loss_unit=None, **kw)


def test_a_table_records_its_chance_level_and_it_survives_the_csv(tmp_path):
    _, runs = _metric_runs({"b": 0.5, "r": 0.9, "L0": 1.0, "k": 4.0}, chance=0.5)
    assert runs.chance == 0.5
    runs.to_csv(tmp_path / "m.csv")
    back = bs.load_runs(tmp_path / "m.csv", params_col=None, tokens_col=None, compute_col=None, extra_cols={"L": "L"})
    assert back.chance == 0.5 and back.loss_unit is None
    for bad in (1.0, -0.1, float("nan"), "x"):
        with pytest.raises(BayesScalingError, match="chance must be a fraction in") as e:
            _metric_runs({"b": 0.5, "r": 0.9, "L0": 1.0, "k": 4.0}, chance=bad)
        assert e.value.quantity == "chance"
    with pytest.raises(BayesScalingError, match="response is a loss"):  # a loss table has no chance level
        bs.load_runs(bs.testing.runs_frame(), chance=0.25)
    frame = runs.export_frame().assign(chance=[0.5] * 8 + [0.25] * 8)
    with pytest.raises(BayesScalingError, match="one value in every row"):
        bs.load_runs(frame, params_col=None, tokens_col=None, compute_col=None, extra_cols={"L": "L"})


def test_the_floor_prior_comes_from_chance_then_the_table_then_the_spec():
    from bayes_scaling.specs.metric import spec_for_metric_runs
    from bayes_scaling.specs.moments import scipy_dist

    _, runs = _metric_runs({"b": 0.5, "r": 0.9, "L0": 1.0, "k": 4.0}, chance=0.5)
    spec = bs.load_spec("sigmoid_metric")
    median = lambda s: float(scipy_dist(s.priors["b"]).median())  # noqa: E731
    assert median(spec_for_metric_runs(spec, runs)) == pytest.approx(0.5)  # the table's
    assert spec_for_metric_runs(spec, runs).provenance["chance_source"] == "the runs table"
    assert median(spec_for_metric_runs(spec, runs, chance=1 / 3)) == pytest.approx(1 / 3)  # --chance wins
    from dataclasses import replace

    from bayes_scaling.specs.spec import PriorSpec

    own = replace(spec, priors={**spec.priors, "b": PriorSpec("LogNormal", {"mu": np.log(0.2), "sigma": 0.1})})
    assert median(spec_for_metric_runs(own, runs)) == pytest.approx(0.2)  # a floor prior set in a spec is kept
    assert median(spec_for_metric_runs(bs.with_chance(spec, 0.2), runs)) == pytest.approx(0.2)  # as is with_chance's
    open_ended = bs.with_chance(spec, 0.0)
    assert open_ended.priors["b"].dist == "HalfNormal" and scipy_dist(open_ended.priors["b"]).ppf(0.95) < 0.03
    with pytest.raises(BayesScalingError, match="applies to a metric law.s floor"):
        spec_for_metric_runs(bs.load_spec("chinchilla"), runs, chance=0.25)


def test_a_metric_table_below_the_floor_prior_is_refused_naming_chance(tmp_path, capsys):
    from bayes_scaling.specs.metric import spec_for_metric_runs

    frame, runs = _metric_runs({"b": 0.02, "r": 0.9, "L0": 0.8, "k": 6.0})  # open-ended: accuracy down to ~0.03
    spec = bs.load_spec("sigmoid_metric")
    with pytest.raises(BayesScalingError, match="clearly below the prior of the floor b") as e:
        spec_for_metric_runs(spec, runs)
    assert e.value.quantity == "chance" and "--chance" in str(e.value)
    assert spec_for_metric_runs(spec, runs, chance=0.0).priors["b"].dist == "HalfNormal"  # chance 0: accepted
    frame.rename(columns={"loss": "metric"}).to_csv(tmp_path / "m.csv", index=False)
    argv = ["fit", str(tmp_path / "m.csv"), "--law", "sigmoid_metric", "--params-col", "", "--tokens-col", "",
            "--compute-col", "", "--col", "L=L", "--out", str(tmp_path / "m.nc")]
    assert main(argv) != 0
    err = capsys.readouterr().err
    assert "--chance" in err and len(err.strip().splitlines()) == 1 and not (tmp_path / "m.nc").exists()
    # values just under the floor (noise around a sigmoid that sits on it) are not refused
    _, near = _metric_runs({"b": 0.25, "r": 0.9, "L0": 0.6, "k": 4.0})
    spec_for_metric_runs(spec, near)


def test_fit_centres_the_floor_on_the_chance_level_and_says_so(tmp_path, capsys):
    frame, _ = _metric_runs({"b": 0.5, "r": 0.9, "L0": 1.0, "k": 4.0})
    frame.rename(columns={"loss": "metric"}).assign(chance=0.5).to_csv(tmp_path / "m.csv", index=False)
    argv = ["fit", str(tmp_path / "m.csv"), "--law", "sigmoid_metric", "--params-col", "", "--tokens-col", "",
            "--compute-col", "", "--col", "L=L", "--chains", "2", "--draws", "300", "--seed", "3"]
    assert main([*argv, "--out", str(tmp_path / "m.nc")]) == 0
    out = capsys.readouterr().out
    assert "floor b: prior centred on the chance level 0.5, recorded in the runs table" in out
    b = load_fit_b(tmp_path / "m.nc")
    assert abs(np.median(b) - 0.5) < 0.06  # truth 0.5; the default prior (0.25, 10%) cannot reach it
    assert main([*argv, "--chance", "0.25", "--out", str(tmp_path / "q.nc")]) == 0
    assert "chance level 0.25, given (--chance)" in capsys.readouterr().out
    assert np.median(load_fit_b(tmp_path / "q.nc")) < 0.4


def load_fit_b(path):
    from bayes_scaling.result import load_fit

    return load_fit(path).posterior["b"].values.ravel()


def test_loaders_record_each_tasks_chance_level_and_datasets_suggests_it(tmp_path, capsys):
    from conftest import DATASETS, dataset

    from bayes_scaling import datasets as ds
    from bayes_scaling.datasets.loaders import olmo_ladder, pythia_evals

    assert set(olmo_ladder.CHANCE) == set(olmo_ladder.TASKS)
    assert set(pythia_evals.CHANCE) == set(pythia_evals._TASKS)
    assert (olmo_ladder.CHANCE["piqa"], olmo_ladder.CHANCE["hellaswag"], pythia_evals.CHANCE["lambada_openai"]) == (
        0.5, 0.25, 0.0)
    dataset("olmo_ladder_bhagia2024/olmo_ladder_final.csv")
    home = str(DATASETS)
    assert ds.load("olmo_ladder", data_home=home, target="acc", task="piqa").chance == 0.5
    assert ds.load("olmo_ladder", data_home=home, target="c4").chance is None
    out = tmp_path / "piqa.csv"
    assert main(["datasets", "olmo_ladder", "--option", "target=acc", "--option", "task=piqa", "--out", str(out),
                 "--data-home", home]) == 0
    assert "--chance 0.5 " in capsys.readouterr().out
    dataset("pythia_evals_biderman2023/pythia_evals_final.csv")
    assert ds.load("pythia_evals", data_home=home, task="lambada_openai", final=True).chance == 0.0


# -- breakdown: a break location only where a break is supported -----------------------------------------------

def test_breakdown_gives_no_break_location_without_a_break(tmp_path, capsys):
    """A false alarm: runs simulated from a power law with a floor (no break); the break test's P(break) falls far
    below the 0.5 rule (0.007 on the review's machine, seed 11), so no location is printed; JSON flags it."""
    import pandas as pd

    rng = np.random.default_rng(11)
    x = np.geomspace(1e2, 1e6, 16)
    y = (1.0 + 5.0 * x ** -0.3) * np.exp(0.01 * rng.standard_normal(x.size))
    pd.DataFrame({"X": x, "loss": y}).to_csv(tmp_path / "p.csv", index=False)
    fit = tmp_path / "p.nc"
    assert main(["fit", str(tmp_path / "p.csv"), "--law", "power_x", "--params-col", "", "--tokens-col", "",
                 "--compute-col", "", "--col", "X=X", "--draws", "200", "--tune", "200", "--chains", "2", "--seed", "2",
                 "--out", str(fit)]) == 0
    capsys.readouterr()
    assert main(["breakdown", str(fit), "--seed", "2"]) == 0
    text = capsys.readouterr().out
    assert "no break is supported" in text and "break location d1" not in text
    assert main(["breakdown", str(fit), "--seed", "2", "--json"]) == 0
    test = json.loads(capsys.readouterr().out)["break_test"]
    assert test["p_break"] < 0.2 and test["break_supported"] is False
    assert "d1" in test["break_location"] and "not supported" in test["break_location_note"]


# -- replicates and checkpoints ---------------------------------------------------------------------------------

def test_rows_sharing_a_run_id_are_checkpoints_and_load_runs_warns(tmp_path):
    from bayes_scaling.testing import runs_frame

    frame = runs_frame()
    one_each = frame.assign(run_id=[f"r{i}" for i in range(len(frame))])
    with __import__("warnings").catch_warnings():
        __import__("warnings").simplefilter("error")  # one row per run: no warning
        runs = bs.load_runs(one_each)
    assert list(runs.frame["run_id"]) == list(one_each["run_id"])
    shared = frame.drop(columns="compute")  # checkpoints: each run holds 4 D at its one N
    shared = shared.assign(run_id=[f"r{i // 4}" for i in range(len(frame))],
                           params=frame["params"].to_numpy()[::4].repeat(4))
    with pytest.warns(UserWarning, match="16 rows come from 4 training runs") as w:
        runs = bs.load_runs(shared)
    assert "fitted as independent runs" in str(w[0].message) and "--residual-process" in str(w[0].message)
    assert any("come from 4 training runs" in n for n in runs.notes)
    runs.to_csv(tmp_path / "c.csv")  # the run identity survives the CSV, and the warning with it
    with pytest.warns(UserWarning, match="come from 4 training runs"):
        bs.load_runs(tmp_path / "c.csv")


def test_one_learning_curve_is_not_warned_as_checkpoints_of_a_ladder():
    """fit-many --by run_id loads each run's rows on their own: one run id for every row is one learning curve,
    so no warning (before: one per curve); the whole two-run table still warns, once."""
    import warnings

    from bayes_scaling.testing import runs_frame

    frame = runs_frame().drop(columns="compute")  # two runs, each 8 D at its one N
    frame = frame.assign(run_id=["r0"] * 8 + ["r1"] * 8, params=frame["params"].to_numpy()[[0, 8]].repeat(8))
    with pytest.warns(UserWarning, match="16 rows come from 2 training runs") as w:
        bs.load_runs(frame)
    assert len([x for x in w if "training runs" in str(x.message)]) == 1
    for _, part in frame.groupby("run_id"):  # as fit-many --by run_id splits the table
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            runs = bs.load_runs(part.reset_index(drop=True))
        assert not any("training run" in n for n in runs.notes)


def test_datasets_suggests_run_noise_for_replicates_and_not_for_checkpoints(tmp_path, capsys):
    from conftest import DATASETS, dataset

    dataset("olmo_ladder_bhagia2024/olmo_ladder_checkpoints.csv")
    home = str(DATASETS)
    base = ["datasets", "olmo_ladder", "--data-home", home]
    assert main([*base, "--option", "target=acc", "--option", "task=piqa", "--out", str(tmp_path / "a.csv")]) == 0
    text = capsys.readouterr().out  # replicates at 190M-1xC and 1B-1xC (keyed on N, D: each seed measures its own L)
    assert "--run-noise --law METRIC_LAW" in text.splitlines()[-1]
    assert main([*base, "--out", str(tmp_path / "c4.csv")]) == 0
    text = capsys.readouterr().out
    assert "(N, D) hold runs of several seeds (replicates): add --run-noise" in text and "--run-noise --law" not in text
    assert main([*base, "--option", "checkpoints=true", "--out", str(tmp_path / "ck.csv")]) == 0
    out, err = capsys.readouterr()
    assert "--run-noise" not in out and "come from 34 training runs" in err
