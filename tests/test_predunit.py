"""A metric fit records the unit of its predictor loss L (``--loss-unit`` of a metric law, or the dataset's),
and the loss -> metric chain refuses a loss fit in another unit; an unknown unit keeps the note."""

from __future__ import annotations

import json

import pytest
import xarray as xr

from bayes_scaling import BayesScalingError
from bayes_scaling.cli import build_parser, main
from bayes_scaling.commands.args import runs_from_args
from bayes_scaling.commands.data import export_frame
from bayes_scaling.data.runs import load_runs
from bayes_scaling.laws.registry import get_law
from bayes_scaling.queries.metric_chain import compute_for_metric, predict_metric
from bayes_scaling.result import FitResult
from bayes_scaling.testing import fake_fit, runs_frame

SIGMOID = {"b": 0.25, "r": 2 / 3, "L0": 1.0, "k": 4.0}


def metric_runs(unit):
    return load_runs(runs_frame("sigmoid_metric", SIGMOID), params_col=None, tokens_col=None, compute_col=None,
                     extra_cols={"L": "L"}, loss_unit=None, predictor_unit=unit)


def metric_fit(unit, tmp_path, name="metric.nc"):
    return str(fake_fit("sigmoid_metric", SIGMOID, draws=50, sigma=0.02, runs=metric_runs(unit)).save(tmp_path / name))


def test_runs_record_the_predictor_unit_and_refuse_a_bad_one():
    runs = metric_runs("bits/byte")
    assert runs.predictor_unit == "bits/byte" and runs.metadata()["predictor_unit"] == "bits/byte"
    assert "predictor_unit" not in metric_runs(None).metadata()  # unknown: absent, read back as None
    with pytest.raises(BayesScalingError, match="must be one of"):
        metric_runs("nats/char")
    with pytest.raises(BayesScalingError, match="predictor loss L, which these runs lack"):
        load_runs(runs_frame(), predictor_unit="bits/byte")


def test_loss_unit_of_a_metric_law_is_its_predictor_unit(tmp_path):
    runs_frame("sigmoid_metric", SIGMOID).to_csv(tmp_path / "m.csv", index=False)
    base = ["fit", str(tmp_path / "m.csv"), "--law", "sigmoid_metric", "--params-col", "", "--tokens-col", "",
            "--compute-col", "", "--col", "L=L", "--out", str(tmp_path / "m.nc")]
    law = get_law("sigmoid_metric")
    runs = runs_from_args(build_parser().parse_args(base + ["--loss-unit", "bits/byte"]), laws=[law])
    assert runs.loss_unit is None and runs.predictor_unit == "bits/byte"
    runs = runs_from_args(build_parser().parse_args(base), laws=[law])
    assert runs.loss_unit is None and runs.predictor_unit is None
    # a loss law: --loss-unit stays the loss column's unit, no predictor unit
    loss = runs_from_args(build_parser().parse_args(
        ["fit", "r.csv", "--law", "chinchilla", "--out", "f.nc", "--loss-unit", "bits/byte"]), source=runs_frame(),
                          laws=[get_law("chinchilla")])
    assert loss.loss_unit == "bits/byte" and loss.predictor_unit is None
    help_text = build_parser()._subparsers._group_actions[0].choices["fit"].format_help()
    assert "unit of its predictor" in " ".join(help_text.split())


def test_a_fit_stores_the_predictor_unit_and_an_old_file_reads_unknown(tmp_path):
    path = metric_fit("bits/byte", tmp_path)
    assert FitResult.load(path).predictor_unit == "bits/byte"
    # a file saved before the field existed has no predictor_unit in its runs metadata
    tree = xr.open_datatree(path).load()
    meta = json.loads(tree.attrs["runs_metadata"])
    meta.pop("predictor_unit")
    tree.attrs["runs_metadata"] = json.dumps(meta)
    tree.to_netcdf(tmp_path / "old.nc")
    assert FitResult.load(tmp_path / "old.nc").predictor_unit is None


def test_the_chain_refuses_a_loss_fit_in_another_unit(tmp_path, capsys):
    nats = fake_fit(draws=50)  # nats/token
    bits = fake_fit(draws=50, runs=load_runs(runs_frame(), loss_unit="bits/byte"), seed=2)
    mbits = FitResult.load(metric_fit("bits/byte", tmp_path))
    for query in (lambda lf: predict_metric(lf, mbits, N=1e9, D=2e10, seed=1),
                  lambda lf: compute_for_metric(lf, mbits, 0.5, budgets=[1e20, 1e22])):
        with pytest.raises(BayesScalingError, match="predictor L is in bits/byte but the chinchilla fit's losses "
                                                    "are in nats/token"):
            query(nats)
        query(bits)  # the same unit: no refusal
    lp, bp = str(nats.save(tmp_path / "nats.nc")), str(bits.save(tmp_path / "bits.nc"))
    mp = str(tmp_path / "metric.nc")
    for argv in (["predict-metric", lp, mp, "--params", "1e9", "--tokens", "2e10"],
                 ["target-metric", lp, mp, "--target", "0.5"]):
        assert main(argv) != 0
        captured = capsys.readouterr()
        err = captured.err.strip().splitlines()
        assert len(err) == 1 and "bits/byte" in err[0] and "nats/token" in err[0] and "--loss-unit bits/byte" in err[0]
        assert captured.out == ""
        assert main([argv[0], bp, *argv[2:]]) == 0  # units agree: no note
        assert "note" not in capsys.readouterr().out
    assert main(["predict-metric", bp, mp, "--params", "1e9", "--tokens", "2e10", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["units"]["metric_predictor_L"] == "bits/byte" and "note" not in out
    # unknown predictor unit: the note stays, naming the loss fit's unit
    up = metric_fit(None, tmp_path, "unknown.nc")
    assert main(["target-metric", lp, up, "--target", "0.5", "--json"]) == 0
    assert "assumes L was in the loss fit's unit, nats/token" in json.loads(capsys.readouterr().out)["note"]


def test_datasets_suggests_the_predictor_unit_and_the_report_states_it(tmp_path):
    frame, args = export_frame(metric_runs("bits/byte"))
    assert args[args.index("--loss-unit") + 1] == "bits/byte" and "L" in frame
    assert "--loss-unit" not in export_frame(metric_runs(None))[1]
    for unit, text in (("bits/byte", "loss L (in bits/byte, as recorded)"), (None, "its unit is not recorded")):
        path = metric_fit(unit, tmp_path, f"r{unit is None}.nc")
        assert main(["report", path, "--out", str(tmp_path / "r.md"), "--no-refits"]) == 0
        assert text in (tmp_path / "r.md").read_text()


def test_a_metric_tables_csv_round_trip_keeps_no_loss_unit_and_the_predictor_unit(tmp_path, capsys):
    """The pythia loader's accuracy tables are metrics (no loss unit) with L, LAMBADA's log-perplexity, in
    nats/word, like OLMo's acc tables (L in bits/byte); ``datasets --out`` writes the response as column
    ``metric`` and a refit of the CSV by the suggested command keeps both; a loss law on the CSV is refused."""
    import shlex

    from conftest import DATASETS, dataset

    from bayes_scaling import datasets as ds

    dataset("pythia_evals_biderman2023/pythia_evals_final.csv")
    home = str(DATASETS)
    table = ds.load("pythia_evals", data_home=home, task="piqa", final=True)
    assert (table.loss_unit, table.predictor_unit) == (None, "nats/word")
    from bayes_scaling.inference.fit import check_units, resolve_spec

    with pytest.raises(BayesScalingError, match="no loss unit"):  # a loss law is refused on it, as on OLMo's
        check_units(resolve_spec("chinchilla"), table)
    out = tmp_path / "piqa.csv"
    assert main(["datasets", "pythia_evals", "--option", "task=piqa", "--option", "final=true", "--out", str(out),
                 "--data-home", home]) == 0
    text = capsys.readouterr().out
    assert "column metric is a metric (a fraction, no loss unit)" in text and "unknown" not in text
    cmd = shlex.split(text.split("fit it with: bayes-scaling ")[1].strip())
    args = build_parser().parse_args([a if a != "METRIC_LAW" else "sigmoid_metric" for a in cmd])
    back = runs_from_args(args, laws=[get_law("sigmoid_metric")])
    assert (back.loss_unit, back.predictor_unit) == (table.loss_unit, table.predictor_unit) == (None, "nats/word")
    assert cmd[cmd.index("--loss-unit") + 1] == "nats/word" and "L" in back.frame
    loss_cmd = [a for a in cmd if a not in ("--col", "L=L", "--loss-unit", "nats/word")]
    loss_cmd = [a if a != "FIT.nc" else str(tmp_path / "loss.nc") for a in loss_cmd]
    assert main([a if a != "METRIC_LAW" else "chinchilla" for a in loss_cmd]) == 2 and not (tmp_path / "loss.nc").exists()
    err = capsys.readouterr().err
    assert "column 'metric', is a metric" in err and "not the loss law 'chinchilla'" in err and len(err.splitlines()) == 1
