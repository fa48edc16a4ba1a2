"""CLI contract without sampling: bad inputs (exit 2, one stderr line, nothing written),
summary/predict JSON shape on a fit built from known draws, and the console script itself."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from bayes_scaling.cli import main
from bayes_scaling.testing import fake_fit, runs_frame


@pytest.fixture(scope="module")
def fit_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("fit") / "fit.nc"
    fake_fit(seed=3).save(path)
    return path


@pytest.fixture
def good_csv(tmp_path):
    path = tmp_path / "runs.csv"
    runs_frame().to_csv(path, index=False)
    return path


def _write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text)
    return p


def _bad_runs(tmp_path, kind):
    """Runs files with one problem each (all other rows valid)."""
    frame = runs_frame()
    if kind == "nan":
        frame.loc[3, "loss"] = np.nan
    elif kind == "inf":
        frame.loc[2, "params"] = np.inf
    elif kind == "zero":
        frame.loc[1, "tokens"] = 0.0
    elif kind == "negative":
        frame.loc[4, "loss"] = -2.5
    elif kind == "text":
        frame["params"] = frame["params"].astype(object)
        frame.loc[5, "params"] = "seven billion"
    elif kind == "single":
        frame = frame.iloc[:1]
    elif kind == "one_n":
        frame = frame.drop(columns="compute").assign(params=1e9)
    p = tmp_path / f"{kind}.csv"
    frame.to_csv(p, index=False)
    return p


BAD_FIT_CASES = {
    "nan_loss": lambda t: [str(_bad_runs(t, "nan")), "--law", "chinchilla"],
    "inf_params": lambda t: [str(_bad_runs(t, "inf")), "--law", "chinchilla"],
    "zero_tokens": lambda t: [str(_bad_runs(t, "zero")), "--law", "chinchilla"],
    "negative_loss": lambda t: [str(_bad_runs(t, "negative")), "--law", "chinchilla"],
    "non_numeric_text": lambda t: [str(_bad_runs(t, "text")), "--law", "chinchilla"],
    "single_run": lambda t: [str(_bad_runs(t, "single")), "--law", "chinchilla"],
    "one_distinct_N": lambda t: [str(_bad_runs(t, "one_n")), "--law", "chinchilla"],
    "missing_column": lambda t: [str(_bad_runs(t, "nan")), "--law", "chinchilla", "--loss-col", "val_loss"],
    "duplicate_columns": lambda t: [str(_write(t, "dup.csv", "params,tokens,loss,loss\n1e9,2e10,2.5,2.6\n")),
                                    "--law", "chinchilla"],
    "empty_file": lambda t: [str(_write(t, "empty.csv", "")), "--law", "chinchilla"],
    "header_only": lambda t: [str(_write(t, "header.csv", "params,tokens,compute,loss\n")), "--law", "chinchilla"],
    "missing_file": lambda t: [str(t / "nope.csv"), "--law", "chinchilla"],
    "unsupported_extension": lambda t: [str(_write(t, "runs.xlsx", "x")), "--law", "chinchilla"],
    "unknown_law": lambda t: [str(_bad_runs(t, "nan")), "--law", "gpt_law"],
    "malformed_spec": lambda t: [str(_bad_runs(t, "nan")), "--spec", str(_write(t, "s.toml", "[law\nname=1"))],
    "spec_unknown_dist": lambda t: [str(_bad_runs(t, "nan")), "--spec", str(_write(
        t, "s.toml", '[law]\nname = "kaplan_n"\n[priors.alpha_N]\ndist = "Cauchy"\n[priors.N_c]\ndist = "HalfNormal"\nsigma = 1.0\n'))],
    "spec_not_found": lambda t: [str(_bad_runs(t, "nan")), "--spec", "no_such_spec"],
    "law_spec_disagree": lambda t: [str(_bad_runs(t, "nan")), "--law", "kaplan_n", "--spec", "chinchilla"],
    "no_law_or_spec": lambda t: [str(_bad_runs(t, "nan"))],
    "zero_draws": lambda t: [str(_bad_runs(t, "nan")), "--law", "chinchilla", "--draws", "0"],
    "bad_params_kind": lambda t: [str(_bad_runs(t, "nan")), "--law", "chinchilla", "--params-kind", "embedding"],
}


@pytest.mark.parametrize("case", sorted(BAD_FIT_CASES))
def test_fit_bad_input_exits_2_with_one_line_and_no_file(case, tmp_path, capsys):
    out = tmp_path / "out" / "fit.nc"
    out.parent.mkdir()
    code = main(["fit", *BAD_FIT_CASES[case](tmp_path), "--out", str(out)])
    captured = capsys.readouterr()
    assert code == 2, captured
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), captured.err
    assert "Traceback" not in captured.err
    assert list(out.parent.iterdir()) == []


def _only_loss(tmp_path):
    return _write(tmp_path, "loss_only.csv", "loss\n3.0\n2.9\n")


FLAG_CASES = {  # (fit arguments after the runs file, message, option appended once)
    "missing_loss_column": (["--loss-col", "val_loss"], "loss column 'val_loss' not found", "--loss-col"),
    "missing_params_column": (["--params-col", "n"], "parameters N column 'n' not found", "--params-col"),
    "missing_extra_column": (["--col", "U=u"], "unique tokens U column 'u' not found", "--col U=COLUMN"),
    "group_named_like_own_column": (["--group-col", "D"], "group column 'D' has the name", "--group-col"),
    "covariate_named_like_own_column": (["--covariate", "N"], "covariate column 'N' has the name", "--covariate"),
    "law_needs_scale_axis": (["--law", "bnsl1_x"], "law 'bnsl1_x' needs scale axis X", "--col X=COLUMN"),
}


@pytest.mark.parametrize("case", sorted(FLAG_CASES))
def test_errors_about_a_quantity_end_with_its_option(case, tmp_path, good_csv, capsys):
    extra, needle, option = FLAG_CASES[case]
    law = [] if "--law" in extra else ["--law", "chinchilla"]
    code = main(["fit", str(good_csv), *law, *extra, "--out", str(tmp_path / "fit.nc")])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert needle in err and err.rstrip().endswith(f" [{option}]") and err.count(option) == 1, err


def test_no_size_column_points_at_params_col(tmp_path, capsys):
    assert main(["fit", str(_only_loss(tmp_path)), "--law", "chinchilla", "--out", str(tmp_path / "f.nc")]) == 2
    err = capsys.readouterr().err.strip()
    assert "no parameters N" in err and err.endswith("[--params-col]"), err


def test_unknown_col_quantity_names_the_option(tmp_path, good_csv, capsys):
    code = main(["fit", str(good_csv), "--law", "chinchilla", "--col", "Q=x", "--out", str(tmp_path / "f.nc")])
    err = capsys.readouterr().err
    assert code == 2 and "unknown quantity ['Q'] in --col" in err, err


def test_json_output_writes_null_for_non_finite_numbers(capsys):
    from bayes_scaling.commands.output import emit

    assert emit(lambda: "unused", {"a": float("nan"), "b": [1.0, float("inf")], "c": {"d": -float("inf")}},
                as_json=True) == 0
    text = capsys.readouterr().out
    assert "NaN" not in text and "Infinity" not in text
    assert json.loads(text) == {"a": None, "b": [1.0, None], "c": {"d": None}}
    emit(["one", "two"])
    emit([])
    assert capsys.readouterr().out == "one\ntwo\n"


def test_fit_output_folder_missing(good_csv, tmp_path, capsys):
    code = main(["fit", str(good_csv), "--law", "chinchilla", "--out", str(tmp_path / "no" / "dir" / "fit.nc")])
    err = capsys.readouterr().err
    assert code == 2 and "does not exist" in err


BAD_QUERY_CASES = {
    "fit_file_missing": lambda t, f: ["summary", str(t / "missing.nc")],
    "fit_file_not_netcdf": lambda t, f: ["summary", str(_write(t, "junk.nc", "this is not netCDF"))],
    "netcdf_not_a_fit": lambda t, f: ["predict", str(_netcdf_not_fit(t)), "--params", "1e9", "--tokens", "1e10"],
    "predict_missing_tokens": lambda t, f: ["predict", str(f), "--params", "1e9"],
    "predict_negative_params": lambda t, f: ["predict", str(f), "--params", "-5", "--tokens", "1e10"],
    "predict_non_numeric": lambda t, f: ["predict", str(f), "--params", "big", "--tokens", "1e10"],
    "ci_out_of_range": lambda t, f: ["predict", str(f), "--params", "1e9", "--tokens", "1e10", "--ci", "1.5"],
    "unknown_command": lambda t, f: ["frobnicate"],
}


def _netcdf_not_fit(tmp_path):
    p = tmp_path / "other.nc"
    xr.Dataset({"x": ("t", np.arange(3.0))}).to_netcdf(p, engine="h5netcdf")
    return p


@pytest.mark.parametrize("case", sorted(BAD_QUERY_CASES))
def test_query_bad_input_exits_2(case, tmp_path, fit_file, capsys):
    code = main(BAD_QUERY_CASES[case](tmp_path, fit_file))
    captured = capsys.readouterr()
    assert code == 2, captured
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), captured.err
    assert captured.out == ""


def test_summary_json_shape(fit_file, capsys):
    assert main(["summary", str(fit_file), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    for name in ("E", "A", "B", "alpha", "beta", "sigma"):
        assert set(out[name]) == {"median", "mean", "ci_low", "ci_high", "ci_prob", "unit", "contraction", "contraction_scale"}
        assert out[name]["ci_low"] <= out[name]["median"] <= out[name]["ci_high"]
        assert out[name]["ci_prob"] == 0.9
    assert {"r_hat_max", "ess_bulk_min", "divergences"} <= set(out["diagnostics"])
    assert out["law"] == "chinchilla"
    assert abs(out["alpha"]["median"] - 0.34) < 0.01


def test_summary_text_has_intervals_and_diagnostics(fit_file, capsys):
    assert main(["summary", str(fit_file), "--ci", "0.8"]) == 0
    out = capsys.readouterr().out
    assert "80% interval" in out and "r_hat_max" in out and "divergences" in out


def test_summary_of_a_fit_with_a_residual_process_only(tmp_path, capsys):
    """A fit with the residual process but no leave-future-out calibration: the text and JSON summaries
    name the process's scales (s, ell in decades, se) and its shift beyond the data."""
    from bayes_scaling.inference.residual_process import with_residual_process

    path = tmp_path / "rp.nc"
    fit = with_residual_process(fake_fit(seed=3))
    fit.save(path)
    r = fit.discrepancy.residual
    assert main(["summary", str(path)]) == 0
    out = capsys.readouterr().out
    assert f"s {r.s:.3g}, ell {r.ell:.3g} decades" in out and f"se {r.se:.3g}" in out
    assert "shifted by its conditional mean" in out
    assert main(["summary", str(path), "--json"]) == 0
    rec = json.loads(capsys.readouterr().out)["extrapolation_discrepancy"]["residual_process"]
    assert rec["ell_decades"] == pytest.approx(r.ell) and rec["s"] == pytest.approx(r.s)
    assert rec["se"] == pytest.approx(r.se) and rec["n_runs"] == len(fit.runs)


def test_predict_json_matches_truth_and_ci_prob(fit_file, capsys):
    from bayes_scaling.examples import EXAMPLE
    from bayes_scaling.simulate import true_loss

    assert main(["predict", str(fit_file), "--params", "7e10", "--tokens", "1.4e12", "--ci", "0.95", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    loss = out["loss"]
    assert loss["ci_prob"] == 0.95
    truth = float(true_loss("chinchilla", EXAMPLE["truth"], N=7e10, D=1.4e12))
    assert loss["ci_low"] < truth < loss["ci_high"]
    # the predictive interval of a new run is wider than the law's
    pred = out["loss_predictive"]
    assert pred["ci_high"] - pred["ci_low"] > loss["ci_high"] - loss["ci_low"]
    assert out["query"]["C"] == pytest.approx(6 * 7e10 * 1.4e12)
    assert {"r_hat_max", "ess_bulk_min", "divergences"} <= set(out["diagnostics"])


def test_ci_prob_is_an_alias_of_ci_on_every_interval_command(fit_file, capsys):
    """``--ci-prob`` (as ``report`` spells it) sets the same interval mass as ``--ci``; a bad value names it."""
    assert main(["predict", str(fit_file), "--params", "7e10", "--tokens", "1.4e12", "--ci-prob", "0.8", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["loss"]["ci_prob"] == 0.8
    assert main(["allocate", str(fit_file), "--compute", "1e21", "--ci-prob", "1.5"]) == 2
    assert "--ci/--ci-prob" in capsys.readouterr().err


def test_predict_from_compute_derives_tokens(fit_file, capsys):
    assert main(["predict", str(fit_file), "--params", "1e9", "--compute", "1.2e20", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["query"]["D"] == pytest.approx(1.2e20 / 6e9)


def test_specs_lists_laws_and_specs(capsys):
    assert main(["specs"]) == 0
    out = capsys.readouterr().out
    assert "law chinchilla" in out and "spec chinchilla_epoch2024" in out and "spec kaplan_nd_kaplan2020" in out


def test_console_script_exit_codes(tmp_path, fit_file):
    """The installed entry point: exit 0 on success, 2 and one stderr line on bad input."""
    exe = Path(sys.executable).with_name("bayes-scaling")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "bayes_scaling"]
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    ok = subprocess.run([*cmd, "predict", str(fit_file), "--params", "1e9", "--tokens", "2e10", "--json"],
                        capture_output=True, text=True, env=env, timeout=120)
    assert ok.returncode == 0, ok.stderr
    assert "loss" in json.loads(ok.stdout)
    bad = subprocess.run([*cmd, "summary", str(tmp_path / "none.nc")], capture_output=True, text=True, env=env,
                         timeout=120)
    assert bad.returncode == 2
    assert len(bad.stderr.strip().splitlines()) == 1 and bad.stdout == ""


# -- checks that come before any fitting ---------------------------------------------------------

class _Fitted(Exception):
    """Raised by the stand-ins below: the command got as far as fitting."""


@pytest.fixture
def calls(monkeypatch):
    """fit, fit_many and backtest replaced by stand-ins that record their arguments and stop the command."""
    import bayes_scaling.inference.batch as batch
    import bayes_scaling.inference.fit as fit_module
    import bayes_scaling.inference.backtest as backtest

    seen = {}

    def stand_in(name):
        def record(*args, **kwargs):
            seen[name] = (args, kwargs)
            raise _Fitted(name)
        return record

    for module, name in ((fit_module, "fit"), (batch, "fit_many"), (backtest, "backtest")):
        monkeypatch.setattr(module, name, stand_in(name))
    return seen


@pytest.fixture
def curves_csv(tmp_path):
    """Two curves (column `curve`), each with two architectures (column `arch`)."""
    frame = runs_frame()
    path = tmp_path / "curves.csv"
    pd.concat([frame.assign(curve=c, arch=["x", "y"] * 8) for c in ("a", "b")]).to_csv(path, index=False)
    return path


def _folder(path):
    path.mkdir()
    return path


def _fit_many(csv, tmp_path, *extra):
    out = tmp_path / "fits"
    out.mkdir(exist_ok=True)
    return ["fit-many", str(csv), "--by", "curve", "--law", "chinchilla", "--out-dir", str(out), *extra]


OUT_PATH_CASES = {
    "fit_out_is_a_folder": (lambda t, c: ["fit", str(c), "--law", "chinchilla", "--out", str(_folder(t / "f.nc"))],
                            "is a folder"),
    "fit_parent_is_a_file": (lambda t, c: ["fit", str(c), "--law", "chinchilla", "--out", str(c / "fit.nc")],
                             "is a file, not a folder"),
    "demo_parent_missing": (lambda t, c: ["demo", "--out", str(t / "missing" / "fit.nc")], "does not exist"),
    "demo_out_is_a_folder": (lambda t, c: ["demo", "--out", str(_folder(t / "d.nc"))], "is a folder"),
    "demo_out_not_nc": (lambda t, c: ["demo", "--out", str(t / "fit.txt")], "should end in .nc"),
    "fit_many_out_is_a_folder": (lambda t, c: _folder_in_fits(_fit_many(c, t), t / "fits" / "b.nc"), "is a folder"),
}


def _folder_in_fits(args, path):
    path.mkdir()
    return args


@pytest.mark.parametrize("case", sorted(OUT_PATH_CASES))
def test_output_path_is_checked_before_fitting(case, tmp_path, curves_csv, calls, capsys):
    make, needle = OUT_PATH_CASES[case]
    code = main(make(tmp_path, curves_csv))
    err = capsys.readouterr().err
    assert code == 2 and not calls
    assert len(err.strip().splitlines()) == 1 and needle in err, err


@pytest.mark.parametrize("workers", ["0", "-1", "two"])
def test_fit_many_workers_must_be_a_positive_whole_number(workers, tmp_path, curves_csv, calls, capsys):
    code = main(_fit_many(curves_csv, tmp_path, "--workers", workers))
    err = capsys.readouterr().err
    assert code == 2 and not calls
    assert len(err.strip().splitlines()) == 1 and "--workers" in err and ">= 1" in err, err


def _fit_kwargs(args, calls):
    with pytest.raises(_Fitted):
        main(args)
    return calls.popitem()[1][1]


@pytest.mark.parametrize("vary", [[], ["--vary", "alpha,beta"]])
def test_fit_many_and_backtest_vary_by_group_as_fit_does(vary, tmp_path, curves_csv, calls):
    group = ["--group-col", "arch", *vary]
    fit_kw = _fit_kwargs(["fit", str(curves_csv), "--law", "chinchilla", "--out", str(tmp_path / "f.nc"), *group],
                         calls)
    assert fit_kw["group_col"] == "arch" and fit_kw["vary"] == (["alpha", "beta"] if vary else ["A", "B", "alpha", "beta"])
    many_kw = _fit_kwargs(_fit_many(curves_csv, tmp_path, *group), calls)
    assert (many_kw["group_col"], many_kw["vary"]) == (fit_kw["group_col"], fit_kw["vary"])
    bt_kw = _fit_kwargs(["backtest", str(curves_csv), "--law", "chinchilla", *group], calls)
    assert (bt_kw["group_col"], bt_kw["vary"]) == (fit_kw["group_col"], fit_kw["vary"])


def test_fit_many_vary_needs_a_group_column(tmp_path, curves_csv, calls, capsys):
    assert main(_fit_many(curves_csv, tmp_path, "--vary", "alpha")) == 2 and not calls
    assert "--vary needs --group-col" in capsys.readouterr().err


def test_fit_many_tables_record_the_source_file_and_its_sha256(tmp_path, curves_csv, calls):
    import hashlib

    with pytest.raises(_Fitted):
        main(_fit_many(curves_csv, tmp_path))
    tables = calls["fit_many"][0][0]
    assert sorted(tables) == ["a", "b"] and all(len(t) == 16 for t in tables.values())
    sha = hashlib.sha256(curves_csv.read_bytes()).hexdigest()
    assert all(t.metadata()["source"] == str(curves_csv) and t.metadata()["sha256"] == sha for t in tables.values())


def test_fit_many_tables_keep_every_note_of_the_file(tmp_path, curves_csv, calls):
    """A written table's notes sit one a row from the first (column data_note): each curve keeps all of them."""
    frame = pd.read_csv(curves_csv)
    frame["data_note"] = ["N counts the authors' way", "loss is per word"] + [""] * (len(frame) - 2)
    frame.to_csv(curves_csv, index=False)
    with pytest.raises(_Fitted):
        main(_fit_many(curves_csv, tmp_path))
    tables = calls["fit_many"][0][0]
    assert all(t.notes[:2] == ("N counts the authors' way", "loss is per word") for t in tables.values())


def test_fit_many_refuses_runs_without_a_by_value(tmp_path, calls, capsys):
    frame = runs_frame().assign(curve=["a", "b"] * 8)
    frame.loc[[2, 5], "curve"] = [np.nan, " "]
    path = tmp_path / "curves.csv"
    frame.to_csv(path, index=False)
    assert main(_fit_many(path, tmp_path)) == 2 and not calls
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "'curve' is empty in data row(s) [3, 6]" in err, err


def test_frontier_of_a_kaplan_ns_fit_refuses_flops_per_token(tmp_path, capsys):
    path = tmp_path / "ns.nc"
    fake_fit("kaplan_ns", {"alpha_N": 0.076, "alpha_S": 0.76, "N_c": 6.5e13, "S_c": 2.1e3}).save(path)
    args = ["frontier", str(path), "--compute-min", "1e18", "--compute-max", "1e20", "--points", "2"]
    assert main([*args, "--flops-per-token", "4"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "--flops-per-token does not apply to a kaplan_ns fit" in err, err
    assert main([*args, "--flops-per-token", "6", "--json"]) == 0
