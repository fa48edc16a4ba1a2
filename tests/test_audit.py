"""Regressions from a new user's audit of the command line (fake fits and the simulated ladder; no
sampling): interval labels, units of the noise, the extrapolation guard of ``target``, copied rows,
dataset options and the fit command ``datasets`` prints, and a full disk while writing a report."""

from __future__ import annotations

import errno
import json
import os
import warnings
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bayes_scaling import BayesScalingError
from bayes_scaling.cli import main
from bayes_scaling.commands.data import export_frame
from bayes_scaling.conventions import pct
from bayes_scaling.data.runs import load_runs
from bayes_scaling.datasets.options import as_list
from bayes_scaling.testing import fake_fit, runs_frame


@pytest.fixture(scope="module")
def fit_path(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("audit") / "fit.nc"
    fake_fit(draws=50).save(path)
    return path


def cli(argv, capsys, code: int = 0) -> tuple[str, str]:
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert rc == code, err
    return out, err


@pytest.mark.parametrize("p, text", [(0.9, "90%"), (0.975, "97.5%"), (0.999, "99.9%"), (0.5, "50%"),
                                     (0.9999996, "99.99996%"), (0.12345678, "12.345678%"), (1e-7, "0.00001%"),
                                     (np.float64(0.95), "95%"), (1.0, "100%")])
def test_interval_masses_are_printed_exactly(p, text):
    assert pct(p) == text


@pytest.mark.parametrize("p", [1 - 1e-15, 0.9999996, 1e-7, 5e-12, 1e-300])
def test_a_mass_strictly_inside_0_and_1_never_prints_as_0_or_100_percent(p):
    text = pct(p)
    assert text not in ("100%", "0%") and "e" not in text.lower()
    assert float(Decimal(text[:-1]).scaleb(-2)) == p  # exact: the percentage reads back as p


def test_the_figures_and_the_report_use_the_one_definition_of_pct():
    import bayes_scaling.conventions as conventions
    import bayes_scaling.plots.common as common
    from bayes_scaling.report import _model

    assert common.pct is conventions.pct and _model.pct_text is conventions.pct


def test_the_command_line_never_rounds_an_interval_mass(fit_path, capsys):
    for argv in (["predict", fit_path, "--params", 1e9, "--tokens", 2e10], ["summary", fit_path],
                 ["frontier", fit_path, "--compute-min", 1e20, "--compute-max", 1e22, "--points", 2]):
        out, _ = cli([*argv, "--ci", 0.975], capsys)
        assert "97.5%" in out and "98%" not in out, out


def test_the_noise_of_a_metric_fit_is_on_the_logit_scale_of_a_fraction():
    metric = fake_fit("sigmoid_metric", truth={"b": 0.25, "r": 0.9, "L0": 0.6, "k": 5.0}, draws=50).summary()
    assert metric.loc["sigma", "unit"] == "logit(fraction)"
    assert fake_fit(draws=50).summary().loc["sigma", "unit"] == "log(nats/token)"


def test_target_carries_the_extrapolation_guard(fit_path, capsys):
    out, _ = cli(["target", fit_path, "--loss", 1.9, "--json"], capsys)
    guard = json.loads(out)["extrapolation"]
    assert guard["decades_beyond"]["C"] > 1 and any("beyond the largest" in n for n in guard["notes"])
    out, _ = cli(["target", fit_path, "--loss", 60], capsys)  # a loss only a tiny model reaches
    assert "WARNING: extrapolates" in out and "below the smallest observed run" in out
    out, _ = cli(["target", fit_path, "--loss", 0.5, "--json"], capsys)  # below every draw's floor: no plan
    record = json.loads(out)
    assert record["p_unreachable"] > 0.5 and record["extrapolation"] is None
    assert record["extrapolation_note"] == "extrapolation guard: none (the median plan is unreachable)"
    out, _ = cli(["target", fit_path, "--loss", 0.5], capsys)
    assert "extrapolation guard: none (the median plan is unreachable)" in out.splitlines()


def test_copied_rows_warn_and_fail_under_strict():
    frame = runs_frame()
    doubled = pd.concat([frame, frame.iloc[:3]], ignore_index=True)
    with pytest.warns(UserWarning, match=r"3 identical row\(s\) repeat an earlier row .*\[17, 18, 19\]"):
        load_runs(doubled)
    with pytest.raises(BayesScalingError, match="repeat an earlier row"):
        load_runs(doubled, strict=True)
    replicates = pd.concat([frame, frame.iloc[:3].assign(loss=frame["loss"].iloc[:3] * 1.01)], ignore_index=True)
    with warnings.catch_warnings():  # replicates (same N and D, another loss) are legitimate
        warnings.simplefilter("error")
        load_runs(replicates)


def test_replicates_sharing_a_rounded_loss_are_copies_only_without_their_seed_column():
    frame = runs_frame().assign(seed=0)
    replicates = pd.concat([frame, frame.assign(seed=1)], ignore_index=True)  # same loss to the last digit
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load_runs(replicates, seed_col="seed", strict=True)
    with pytest.warns(UserWarning, match="16 identical row") as record:
        load_runs(replicates)
    msg = str(record[0].message)
    assert "if these are replicates (other seeds), name the seed column with --seed-col" in msg
    assert msg.endswith("otherwise drop the copies") and "\n" not in msg


def test_a_list_option_of_a_dataset_takes_comma_separated_values(capsys):
    assert as_list("190M,1B", "sizes") == ["190M", "1B"] and as_list("3B", "sizes") == ["3B"]
    assert as_list(None, "sizes") is None and as_list(["1B"], "sizes") == ["1B"]
    _, err = cli(["datasets", "olmo_ladder", "--option", "sizes=1B", "--option", "sizes=3B", "--out", "x.csv"],
                 capsys, code=2)
    assert err.startswith("error: --option sizes is given twice") and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("value", ["", ",", " , ", []])
def test_a_list_option_that_names_nothing_is_refused(value):
    with pytest.raises(BayesScalingError, match="option sizes=.* names no value"):
        as_list(value, "sizes")


@pytest.mark.parametrize("name, option", [("isoflops", "dataset=,"), ("olmo_ladder", "sizes="),
                                          ("revisiting", "domain= ")])
def test_an_empty_dataset_option_names_the_option_and_writes_nothing(name, option, tmp_path, capsys):
    out = tmp_path / "x.csv"
    _, err = cli(["datasets", name, "--option", option, "--out", out], capsys, code=2)
    key = option.split("=")[0]
    assert err.startswith(f"error: --option {key} names no value") and len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_the_printed_fit_command_derives_s_min_once(tmp_path):
    """S and B give Kaplan's S_min; the exported file carries the raw steps, so ``fit`` reading it
    back with the printed options gets the same S_min (not S_min converted a second time)."""
    from bayes_scaling.cli import build_parser
    from bayes_scaling.commands.args import runs_from_args

    frame = runs_frame().assign(steps=lambda f: f["tokens"] / 2**19, batch=2.0**19)  # 2^19-token batches
    runs = load_runs(frame, extra_cols={"S": "steps", "B": "batch"})
    assert np.all(runs.frame["S"] < runs.frame["steps_raw"])  # converted once
    exported, fit_args = export_frame(runs)
    path = tmp_path / "runs.csv"
    exported.to_csv(path, index=False)
    args = build_parser().parse_args(["fit", str(path), *fit_args, "--law", "kaplan_ns", "--out", "f.nc"])
    back = runs_from_args(args)
    np.testing.assert_allclose(back.frame["S"], runs.frame["S"], rtol=1e-12)
    np.testing.assert_allclose(back.frame["steps_raw"], runs.frame["steps_raw"], rtol=1e-12)


def test_the_printed_fit_command_reads_back_the_exported_seed_and_predictor_columns(tmp_path):
    frame = runs_frame().assign(replicate=lambda f: np.arange(len(f)) % 2, task_bpb=lambda f: f["loss"] / 2)
    runs = load_runs(frame, seed_col="replicate", extra_cols={"L": "task_bpb"})
    exported, args = export_frame(runs)
    path = tmp_path / "runs.csv"
    exported.to_csv(path, index=False)
    seed = args[args.index("--seed-col") + 1]
    assert seed in exported and "L=L" in args
    back = load_runs(pd.read_csv(path), seed_col=seed, extra_cols={"L": "L"})
    assert np.array_equal(back.frame["seed"], runs.frame["seed"]) and np.allclose(back.frame["L"], runs.frame["L"])


def test_a_full_disk_while_writing_a_markdown_report_names_the_fix_and_leaves_nothing(fit_path, tmp_path,
                                                                                        monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    sync = os.fsync
    calls = []

    def full(fd):  # the second file (a figure or the document) hits a full disk when flushed to it
        calls.append(fd)
        if len(calls) == 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        return sync(fd)

    monkeypatch.setattr(os, "fsync", full)
    _, err = cli(["report", fit_path, "--out", "r.md", "--no-refits"], capsys, code=2)
    assert len(calls) == 2 and "disk is full" in err and len(err.strip().splitlines()) == 1
    assert list(tmp_path.iterdir()) == []


def test_a_truncated_normal_prior_is_measured_without_a_compiler_warning():
    """Published specs' TruncatedNormal priors have no numba kernel: measuring their spread (which
    decides the chains' starting jitter) must not print PyTensor's object-mode warning to the user."""
    from bayes_scaling.inference.fit import jittered_rvs, resolve_spec
    from bayes_scaling.inference.model import build_model, model_data

    spec = resolve_spec(None, "chinchilla_epoch2024")
    assert any(p.dist == "TruncatedNormal" for p in spec.priors.values())
    model = build_model(spec, model_data(spec, load_runs(runs_frame())))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        jittered_rvs(spec, model)


def test_a_loss_that_never_changes_warns_and_fails_under_strict():
    flat = runs_frame().assign(loss=3.0)
    with pytest.warns(UserWarning, match="the loss is 3 in every run"):
        load_runs(flat)
    with pytest.raises(BayesScalingError, match="the loss is 3 in every run"):
        load_runs(flat, strict=True)


def test_a_constant_metric_warns_in_the_words_of_a_metric():
    flat = runs_frame("sigmoid_metric", truth={"b": 0.25, "r": 0.9, "L0": 0.6, "k": 5.0}).assign(loss=0.25)
    with pytest.warns(UserWarning, match=r"the metric \(the response\) is 0.25 in every run") as record:
        load_runs(flat, tokens_col=None, compute_col=None, params_col=None, extra_cols={"L": "L"})
    assert "how loss scales" not in str(record[0].message)


def test_summary_json_gives_each_parameters_unit(fit_path, capsys):
    out, _ = cli(["summary", fit_path, "--json"], capsys)
    record = json.loads(out)
    assert record["E"]["unit"] == "nats/token" and record["alpha"]["unit"] == "dimensionless"
    assert record["sigma"]["unit"] == "log(nats/token)"
