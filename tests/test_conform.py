"""Leftovers found checking issues 12 and 15 from the command line (no sampling): one wording for a
dimensionless unit, the stop-or-go verdict over every scored batch, an empty fit path named by its
argument, and the loss unit a fit records."""

from __future__ import annotations

import json

import pytest

from bayes_scaling import BayesScalingError
from bayes_scaling.cli import main
from bayes_scaling.conventions import DIMENSIONLESS, unit_text
from bayes_scaling.queries.design import best_go, verdict_text
from bayes_scaling.result import load_fit
from bayes_scaling.testing import fake_fit


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
