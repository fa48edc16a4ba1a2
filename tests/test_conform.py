"""Leftovers found checking issues 12 and 15 from the command line (no sampling): one wording for a
dimensionless unit, the stop-or-go verdict over every scored batch, an empty fit path named by its
argument, and the loss unit a fit records."""

from __future__ import annotations

import json

import numpy as np

import pytest

from bayes_scaling import BayesScalingError
from bayes_scaling.cli import main
from bayes_scaling.conventions import DIMENSIONLESS, unit_text
from bayes_scaling.queries.design import best_go, verdict_text
from bayes_scaling.data.runs import load_runs
from bayes_scaling.examples import EXAMPLE
from bayes_scaling.result import EnsembleResult, load_fit
from bayes_scaling.testing import fake_fit, runs_frame

TRUTH = EXAMPLE["truth"]


@pytest.fixture(scope="module")
def ens_path(tmp_path_factory):
    """An ensemble of two forms of L(N, D) that disagree on beta (so on N* and the data requirement)."""
    folder = tmp_path_factory.mktemp("conform_ens")
    a, b = fake_fit(seed=1, draws=50), fake_fit(truth={**TRUTH, "beta": 0.30}, runs_truth=TRUTH, seed=1, draws=50)
    return str(EnsembleResult({"right": a, "other": b}, {"right": 0.75, "other": 0.25}, {"method": "test"}).save(
        folder / "ens.nc"))


def test_summary_text_json_and_report_say_dimensionless_for_exponents(tmp_path, capsys):
    path = str(fake_fit("chinchilla", draws=100).save(tmp_path / "f.nc"))
    assert unit_text("1") == DIMENSIONLESS and unit_text("nats/token") == "nats/token"
    assert main(["summary", path]) == 0
    rows = {line.split()[0]: line for line in capsys.readouterr().out.splitlines() if line.split()}
    assert rows["alpha"].split()[1] == DIMENSIONLESS and rows["beta"].split()[1] == DIMENSIONLESS
    assert main(["summary", path, "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["alpha"]["unit"] == DIMENSIONLESS and record["E"]["unit"] == "nats/token"
    assert main(["report", path, "--out", str(tmp_path / "r.md"), "--no-refits"]) == 0
    text = (tmp_path / "r.md").read_text()
    assert f"| alpha | {DIMENSIONLESS} |" in text and "| alpha | 1 |" not in text


def _sg(reported_nets, alternatives):
    steps = [{"net_flops": v} for v in reported_nets]
    go = max(range(len(steps) + 1), key=lambda k: ([0.0] + reported_nets)[k])
    return {"steps": steps, "go_runs": go, "alternatives": alternatives}


def _alt(rule, net, go_runs=1):
    return {"rule": rule, "go_runs": go_runs, "runs": 2, "net_flops": net,
            "picks": [{"N": 1e9, "D": 2e10}, {"N": 2e9, "D": 4e10}]}


def test_stop_or_go_names_the_batch_with_the_largest_expected_net_saving():
    # the reported batch pays, an alternative pays more: GO with the alternative, named with its runs
    sg = _sg([1e20, 3e20], [_alt("gain", 5e20, go_runs=2)])
    sg.update(best_go(sg))
    assert (sg["verdict"], sg["go_batch"], sg["best_net_flops"]) == ("go", "gain", 5e20)
    text = verdict_text(sg)
    assert text.startswith("GO: run the first 2 pick(s) of the greedy batch by gain")
    assert "[N = 1e+09, D = 2e+10; N = 2e+09, D = 4e+10]" in text and "+5e+20" in text and "+3e+20" in text
    # the reported batch loses, an alternative pays: GO, not STOP
    sg = _sg([-1e20], [_alt("paced", 2e19)])
    sg.update(best_go(sg))
    assert (sg["verdict"], sg["go_batch"]) == ("go", "paced")
    # the reported batch is the best: GO with it
    sg = _sg([4e20, 2e20], [_alt("gain", 1e20)])
    sg.update(best_go(sg))
    assert (sg["verdict"], sg["go_batch"], sg["best_net_flops"]) == ("go", "reported", 4e20)
    assert verdict_text(sg).startswith("GO: run the first 1 pick(s) of the batch above")
    # nothing pays: STOP
    sg = _sg([-1e20, -2e20], [_alt("gain", 0.0, go_runs=0)])
    sg.update(best_go(sg))
    assert (sg["verdict"], sg["go_batch"]) == ("stop", None) and verdict_text(sg).startswith("STOP")


@pytest.mark.parametrize("argv,argument", [(["report", "", "--out", "r.md"], "FIT"), (["summary", ""], "FIT"),
                                           (["predict", "", "--params", "1e9", "--tokens", "2e10"], "FIT"),
                                           (["predict-metric", "", "", "--params", "1e9", "--tokens", "2e10"],
                                            "LOSS_FIT")])
def test_an_empty_fit_path_names_its_argument(argv, argument, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and f"the {argument} argument (a fit file path) is empty" in err, err
    assert "'.'" not in err and not (tmp_path / "r.md").exists()
    with pytest.raises(BayesScalingError, match="FIT argument"):
        load_fit("  ")


@pytest.fixture(scope="module")
def kaplan_ens_path(tmp_path_factory):
    """An ensemble of two Kaplan L(N, D) fits that disagree on alpha_D (so on the data requirement)."""
    k = {"alpha_N": 0.076, "alpha_D": 0.103, "N_c": 6.4e13, "D_c": 1.8e13}
    a = fake_fit("kaplan_nd", k, seed=1, draws=50)
    b = fake_fit("kaplan_nd", {**k, "alpha_D": 0.09}, seed=1, draws=50, runs=a.runs)
    return str(EnsembleResult({"right": a, "other": b}, {"right": 0.75, "other": 0.25}, {"method": "test"}).save(
        tmp_path_factory.mktemp("conform_kens") / "kens.nc"))


@pytest.mark.parametrize("argv,label,unit", [
    (["predict", "{e}", "--params", "1e9", "--tokens", "2e10"], "loss by law form", "nats/token"),
    (["allocate", "{e}", "--compute", "1e22"], "N* by law form", "parameters"),
    (["target", "{e}", "--loss", "2.6"], "compute by law form", "FLOPs"),
    (["frontier", "{e}", "--compute-min", "1e21", "--compute-max", "1e23", "--points", "2"], "N* at 1e+23 FLOPs by law form",
     "parameters"),
    (["breakdown", "{k}", "--budget", "1e24"], "gamma by law form", "")])
def test_every_planning_query_shows_each_member_with_unit_interval_and_law_form_share(argv, label, unit, ens_path,
                                                                                      kaplan_ens_path, capsys):
    argv = [a.format(e=ens_path, k=kaplan_ens_path) for a in argv]
    assert main(argv) == 0
    lines = capsys.readouterr().out.splitlines()
    i = next(k for k, line in enumerate(lines) if line.startswith(label))
    for member, w in (("right", "0.75"), ("other", "0.25")):
        row = next(line for line in lines[i:] if line.strip().startswith(f"{member} (weight {w})"))
        assert "90% interval [" in row and (unit in row if unit else True), row
    assert any(line.strip().startswith("share of the variance of log(") for line in lines[i:])
    assert main(argv + ["--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    block = next(v for k, v in record.items() if k.endswith("by_law_form") or k == "members")
    block = block if "members" in block else record
    assert set(block["members"]) == {"right", "other"} and 0 <= record.get("law_form_share", block.get(
        "law_form_share")) <= 1


def test_allocation_on_an_ensemble_with_a_member_of_c_only_names_that_member(tmp_path, capsys):
    a = fake_fit(seed=1, draws=50)
    c = fake_fit("power_c", {"E": 1.7, "B": 50.0, "c0": 0.1}, draws=50, seed=1, runs=a.runs)
    path = str(EnsembleResult({"nd": a, "conly": c}, {"nd": 0.5, "conly": 0.5}, {"method": "test"}).save(
        tmp_path / "e.nc"))
    for argv in (["allocate", path, "--compute", "1e22"], ["target", path, "--loss", "2.5"], ["breakdown", path]):
        assert main(argv) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and "'conly' has ['C']" in err, err


def test_a_fit_records_its_loss_unit_and_prints_it_with_every_loss(tmp_path, capsys):
    frame = runs_frame()
    frame.to_csv(tmp_path / "runs.csv", index=False)
    assert load_runs(frame).loss_unit == "nats/token"
    with pytest.raises(BayesScalingError, match="--loss-unit"):
        load_runs(frame, loss_unit="bits/nat")
    runs = load_runs(frame, loss_unit="bits/byte")
    fit = fake_fit(draws=50, runs=runs)
    path = str(fit.save(tmp_path / "bpb.nc"))
    assert load_fit(path).loss_unit == "bits/byte" and load_fit(path).runs.loss_unit == "bits/byte"
    assert main(["predict", path, "--params", "1e9", "--tokens", "2e10"]) == 0
    out = capsys.readouterr().out
    assert "bits/byte, 90% interval" in out and "nats/token" not in out
    assert main(["predict", path, "--params", "1e9", "--tokens", "2e10", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["units"]["loss"] == "bits/byte"
    assert main(["summary", path]) == 0
    rows = {line.split()[0]: line for line in capsys.readouterr().out.splitlines() if line.split()}
    assert rows["E"].split()[1] == "bits/byte" and rows["sigma"].split()[1] == "log(bits/byte)"
    assert main(["allocate", path, "--compute", "1e22"]) == 0
    out = capsys.readouterr().out
    assert "loss at the decision (bits/byte)" in out and "nats/token" not in out
    mp = str(fake_fit("sigmoid_metric", {"b": 0.25, "r": 2 / 3, "L0": 2.5, "k": 4.0}, draws=50,
                      sigma=0.02).save(tmp_path / "metric.nc"))
    assert main(["predict-metric", path, mp, "--params", "1e9", "--tokens", "2e10"]) == 0
    assert "loss of a new run (bits/byte): median" in capsys.readouterr().out
    assert main(["report", path, "--out", str(tmp_path / "r.md"), "--no-refits"]) == 0
    text = (tmp_path / "r.md").read_text()
    assert "| loss | bits/byte |" in text and "nats/token" not in text.split("## Reproducibility")[0]
    # a fit saved before the unit was recorded reads as nats/token
    meta = json.loads(fit.tree.attrs["runs_metadata"])
    del meta["loss_unit"]
    fit.tree.attrs["runs_metadata"] = json.dumps(meta)
    assert fit.loss_unit == "nats/token"


def test_compare_on_a_hierarchical_ensemble_shows_each_member_difference(tmp_path, capsys):
    from bayes_scaling.testing import fake_hierarchical_fit

    a, b = fake_hierarchical_fit(seed=0), fake_hierarchical_fit(seed=0, draws=100)
    path = str(EnsembleResult({"a": a, "b": b}, {"a": 0.5, "b": 0.5}).save(tmp_path / "h.nc"))
    assert main(["compare", path, "--compute", "1e21"]) == 0
    out = capsys.readouterr().out
    assert "L(y) - L(x) by law form" in out and "share of the variance of L(y) - L(x) from the law form:" in out
    assert "a (weight 0.50): median" in out and "nats/token, 90% interval [" in out
    assert main(["compare", path, "--compute", "1e21", "--json"]) == 0
    block = json.loads(capsys.readouterr().out)["loss_diff_by_law_form"]
    assert set(block["members"]) == {"a", "b"} and block["law_form_share_of"] == "value"
    # the share is between / (between + within) of the difference's variance (law of total variance, member
    # weights): the mixture's variance is within / (1 - share), within = the weighted members' variances
    from bayes_scaling.queries.compare_groups import compare_groups
    from bayes_scaling.result import load_fit

    ens = load_fit(path)
    per = ens.member_answers(lambda m: compare_groups(m, compute=1e21)["loss_diff"])
    w = ens.weights
    within = sum(w[k] * float(v.var()) for k, v in per.items())
    between = sum(w[k] * (float(v.mean()) - sum(w[j] * float(per[j].mean()) for j in per)) ** 2 for k, v in per.items())
    share = block["law_form_share"]
    assert share == pytest.approx(between / (between + within), rel=1e-9)
    x = np.concatenate([v.values.ravel() for v in per.values()])  # the mixture: draw weights w_k / n_k
    dw = np.concatenate([np.full(v.size, w[k] / v.size) for k, v in per.items()])
    pooled_var = float(np.average((x - np.average(x, weights=dw)) ** 2, weights=dw))
    assert pooled_var == pytest.approx(within / (1 - share), rel=1e-9)
    assert main(["compare", str(a.save(tmp_path / "a.nc")), "--compute", "1e21", "--json"]) == 0
    assert "loss_diff_by_law_form" not in json.loads(capsys.readouterr().out)  # a single fit: none


def test_the_report_of_a_fit_with_fewer_runs_than_parameters_plus_two_says_prior_dominated(tmp_path):
    frame = runs_frame().iloc[[0, 5, 10, 15, 3]]
    fit = fake_fit(draws=50, runs=load_runs(frame))
    assert main(["report", str(fit.save(tmp_path / "f.nc")), "--out", str(tmp_path / "r.md"), "--no-refits"]) == 0
    text = (tmp_path / "r.md").read_text()
    assert "5 runs for law 'chinchilla' with 5 parameters plus noise: the posterior is dominated by the prior" in text
    fit = fake_fit(draws=50)
    assert main(["report", str(fit.save(tmp_path / "g.nc")), "--out", str(tmp_path / "s.md"), "--no-refits"]) == 0
    assert "dominated by the prior" not in (tmp_path / "s.md").read_text()


def test_member_answers_of_a_hierarchical_ensemble_are_for_the_group_asked(tmp_path, capsys):
    from bayes_scaling.queries.allocate import compute_optimal
    from bayes_scaling.testing import fake_hierarchical_fit

    a, b = fake_hierarchical_fit(seed=0), fake_hierarchical_fit(seed=0, draws=100)
    path = str(EnsembleResult({"a": a, "b": b}, {"a": 0.5, "b": 0.5}).save(tmp_path / "h.nc"))
    assert main(["predict", path, "--params", "1e9", "--tokens", "2e10", "--group", "y", "--json"]) == 0
    got = json.loads(capsys.readouterr().out)["members"]["a"]["median"]
    want = float(a.predict(N=1e9, D=2e10, group="y")["loss"].median())
    assert got == pytest.approx(want, rel=1e-9) and got != pytest.approx(float(a.predict(N=1e9, D=2e10)["loss"].median()),
                                                                         rel=1e-4)
    assert main(["allocate", path, "--compute", "1e21", "--group", "y", "--json"]) == 0
    got = json.loads(capsys.readouterr().out)["N_opt_by_law_form"]["members"]["b"]["median"]
    assert got == pytest.approx(float(compute_optimal(b, 1e21, group="y")["N_opt"].median()), rel=1e-9)
