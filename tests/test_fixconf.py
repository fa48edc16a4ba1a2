"""Review findings on loss units, stop or go and ensembles (no sampling: every refusal comes before it):
a spec's declared loss unit, fits of different units combined, the verdict's run count, labels."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

from bayes_scaling import BayesScalingError
from bayes_scaling.cli import main
from bayes_scaling.data.runs import load_runs
from bayes_scaling.queries.design import best_go, verdict_text
from bayes_scaling.result import EnsembleResult
from bayes_scaling.specs.spec import list_specs, load_spec, parse_spec
from bayes_scaling.testing import fake_fit, runs_frame

#: Shipped specs centred on a paper's nats/token fit: their floors / scale constants are unit-bound.
PAPER_FITS = {"chinchilla_hoffmann2022", "chinchilla_epoch2024", "data_constrained_muennighoff2023",
              "kaplan_c_kaplan2020", "kaplan_d_kaplan2020", "kaplan_n_kaplan2020", "kaplan_nd_kaplan2020",
              "kaplan_ns_kaplan2020"}


def test_paper_fit_specs_declare_nats_per_token_and_weak_specs_declare_nothing():
    declared = {n: load_spec(n).loss_unit for n in list_specs()}
    assert {n for n, u in declared.items() if u} == PAPER_FITS
    assert all(declared[n] == "nats/token" for n in PAPER_FITS)
    spec = load_spec("chinchilla_hoffmann2022")
    assert parse_spec(spec.synced().text).loss_unit == "nats/token"  # kept through the text a fit stores
    from dataclasses import replace

    rewritten = replace(spec, text="").synced()  # written from the fields
    assert parse_spec(rewritten.text).loss_unit == "nats/token"
    with pytest.raises(BayesScalingError, match="loss_unit must be one of"):
        parse_spec('[law]\nname = "power_x"\nloss_unit = "nats"\n')


@pytest.mark.parametrize("unit", ["bits/token", "bits/byte"])
def test_a_fit_in_another_unit_than_its_spec_is_refused_before_sampling(unit, tmp_path, capsys, monkeypatch):
    from bayes_scaling.inference import fit as fit_mod
    from bayes_scaling.inference.backtest import backtest
    from bayes_scaling.inference.batch import fit_many
    from bayes_scaling.inference.ensemble import fit_ensemble

    monkeypatch.setattr(fit_mod, "_sample", lambda *a, **k: pytest.fail("sampled"))
    runs = load_runs(runs_frame(), loss_unit=unit)
    for call in (lambda: fit_mod.fit(runs, spec="chinchilla_hoffmann2022"),
                 lambda: fit_many({"a": runs}, spec="kaplan_nd_kaplan2020", workers=1),
                 lambda: fit_ensemble(runs, laws=["chinchilla"], specs=["chinchilla_epoch2024"]),
                 lambda: backtest(runs, spec="chinchilla_hoffmann2022", holdout_fraction=0.25)):
        with pytest.raises(BayesScalingError, match=f"--loss-unit {unit} does not match --spec .*nats/token"):
            call()
    runs_frame().to_csv(tmp_path / "runs.csv", index=False)
    assert main(["fit", str(tmp_path / "runs.csv"), "--spec", "chinchilla_hoffmann2022", "--loss-unit", unit,
                 "--out", str(tmp_path / "f.nc")]) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--loss-unit" in err[0] and "--spec chinchilla_hoffmann2022" in err[0]
    assert not (tmp_path / "f.nc").exists()
    # a weak spec and the matching unit are not refused by this check (the model is built: sampling stubbed)
    fit_mod.check_units(load_spec("chinchilla"), runs)
    fit_mod.check_units(load_spec("chinchilla_hoffmann2022"), load_runs(runs_frame()))


def test_metric_fits_refuse_a_loss_unit_and_a_metric_table_refuses_a_loss_law(tmp_path, capsys):
    from bayes_scaling.inference.fit import check_units

    frame = runs_frame("sigmoid_metric", {"b": 0.25, "r": 2 / 3, "L0": 1.0, "k": 4.0})
    frame.to_csv(tmp_path / "m.csv", index=False)
    argv = ["fit", str(tmp_path / "m.csv"), "--law", "sigmoid_metric", "--params-col", "", "--tokens-col", "",
            "--compute-col", "", "--col", "L=L", "--out", str(tmp_path / "m.nc")]
    mixed = ["ensemble", str(tmp_path / "m.csv"), "--laws", "sigmoid_metric,chinchilla", "--col", "L=L",
             "--loss-unit", "bits/byte", "--out", str(tmp_path / "e.nc")]
    assert main(mixed) != 0 and not (tmp_path / "e.nc").exists()  # a metric law and a loss law
    assert "--loss-unit is ambiguous with metric law 'sigmoid_metric'" in capsys.readouterr().err
    with pytest.raises(BayesScalingError, match="does not apply to the response of law 'sigmoid_metric'"):
        check_units(load_spec("sigmoid_metric"), load_runs(frame, params_col=None, tokens_col=None,
                                                              compute_col=None, extra_cols={"L": "L"},
                                                              loss_unit="bits/token"))
    metric_runs = load_runs(runs_frame(), loss_unit=None)  # e.g. the OLMo ladder's accuracy target
    assert metric_runs.loss_unit is None and metric_runs.metadata()["loss_unit"] is None
    with pytest.raises(BayesScalingError, match="column 'loss', is a metric .* not the loss law 'chinchilla'$"):
        check_units(load_spec("chinchilla"), metric_runs)


def test_fits_of_different_loss_units_are_not_combined(tmp_path, capsys):
    frame = runs_frame()
    nats = fake_fit(draws=50, runs=load_runs(frame), seed=1)
    bits = fake_fit(draws=50, runs=load_runs(frame, loss_unit="bits/byte"), seed=2)
    for members in ({"n": nats, "b": bits}, {"b": bits, "n": nats}):  # either order
        with pytest.raises(BayesScalingError, match="different loss units"):
            EnsembleResult(members, {"n": 0.5, "b": 0.5})
    assert EnsembleResult({"x": bits, "y": fake_fit(draws=50, runs=load_runs(frame, loss_unit="bits/byte"),
                                                    seed=3)}, {"x": 1, "y": 1}).loss_unit == "bits/byte"
    from bayes_scaling.queries.breakdown import contradiction_point

    # the units are checked before any draw is read (fits, as every query requires, of two loss units)
    truth_c, truth_d = {"alpha_C": 0.050, "C_c": 3.1e8}, {"alpha_D": 0.095, "D_c": 5.4e13}
    c = fake_fit("kaplan_c", truth_c, draws=20, runs=load_runs(runs_frame("kaplan_c", truth_c), loss_unit="bits/token"))
    d = fake_fit("kaplan_d", truth_d, draws=20)
    with pytest.raises(BayesScalingError, match="kaplan_c fit's losses are in bits/token and the kaplan_d fit's in "
                                                "nats/token"):
        contradiction_point(c, d)
    # a metric fit that records no unit for its predictor L: the chain says so instead of a confident label
    mp = str(fake_fit("sigmoid_metric", {"b": 0.25, "r": 2 / 3, "L0": 2.5, "k": 4.0}, draws=50,
                      sigma=0.02).save(tmp_path / "metric.nc"))
    path = str(bits.save(tmp_path / "bits.nc"))
    assert main(["predict-metric", path, mp, "--params", "1e9", "--tokens", "2e10", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["units"]["metric_predictor_L"] == "not recorded" and "bits/byte" in out["note"]
    assert main(["target-metric", path, mp, "--target", "0.5"]) == 0
    assert "does not record the unit of its predictor L" in capsys.readouterr().out


def test_the_stop_or_go_json_counts_the_runs_of_the_verdicts_batch():
    sg = {"steps": [{"net_flops": v} for v in (-1e20, -2e20)], "go_runs": 0,
          "alternatives": [{"rule": "gain", "go_runs": 4, "runs": 4, "net_flops": 3e20,
                            "picks": [{"N": 1e9 * (i + 1), "D": 2e10 * (i + 1)} for i in range(4)]}]}
    sg.update(best_go(sg))
    assert (sg["verdict"], sg["go_batch"], sg["go_runs"], sg["reported_go_runs"]) == ("go", "gain", 4, 0)
    sg.update(best_go(sg))  # idempotent: the reported batch's count is kept apart
    assert (sg["go_runs"], sg["reported_go_runs"], sg["batches_scored"]) == (4, 0, 2)
    assert "best of 2 batches scored on the same simulated outcomes" in verdict_text(sg)
    alone = {"steps": [{"net_flops": 1e20}], "go_runs": 1, "alternatives": []}
    alone.update(best_go(alone))
    assert alone["go_runs"] == 1 and "optimistic" not in verdict_text(alone)


def test_every_loss_label_and_units_attribute_is_the_fits_unit(tmp_path, capsys):
    import matplotlib

    matplotlib.use("Agg")
    from bayes_scaling.plots.groups import plot_group_comparison
    from bayes_scaling.queries.allocate import compute_optimal, plan_outcome
    from bayes_scaling.testing import fake_hierarchical_fit

    fit = fake_fit(draws=50, runs=load_runs(runs_frame(), loss_unit="bits/token"))
    assert fit.predict(N=1e9, D=2e10)["loss"].attrs["units"] == "bits/token"
    assert compute_optimal(fit, [1e21])["loss_opt"].attrs["units"] == "bits/token"
    plan = plan_outcome(fit, 1e21, 1e9)
    assert plan["loss"].attrs["units"] == plan["loss_penalty"].attrs["units"] == "bits/token"
    ens = EnsembleResult({"a": fit, "b": fake_fit(draws=50, runs=load_runs(runs_frame(), loss_unit="bits/token"),
                                                   seed=4)}, {"a": 1, "b": 1})
    assert ens.predict(N=1e9, D=2e10)["loss"].attrs["units"] == "bits/token"
    h = fake_hierarchical_fit(draws=50)
    meta = json.loads(h.tree.attrs["runs_metadata"])
    h.tree.attrs["runs_metadata"] = json.dumps({**meta, "loss_unit": "bits/byte"})
    from bayes_scaling.queries.compare_groups import group_losses

    assert group_losses(h, compute=1e21).attrs["units"] == "bits/byte"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fig = plot_group_comparison(h, compute=1e21)
    labels = [a.get_xlabel() for a in fig.axes]
    assert "paired loss difference (bits/byte)" in labels and not any("nats" in x for x in labels)


def test_backtest_states_the_loss_unit_of_its_losses_and_crps(tmp_path, capsys, monkeypatch):
    import pandas as pd

    from bayes_scaling.inference import backtest as bt_mod

    runs = load_runs(runs_frame(), loss_unit="bits/byte")
    fit = fake_fit(draws=50, runs=runs)
    table = pd.DataFrame([{"method": "bayes", "coverage_50": 0.5, "coverage_90": 0.9, "mare": 0.01, "crps": 0.002}]
                         ).set_index("method")
    split = {"n_train": 12, "n_test": 4, "axis": "C", "holdout_above": 1e20, "decades_beyond": 1.0, "r_hat_max": 1.0,
             "divergences": 0, "diagnostics_ok": True, "nonfinite_predictive_draws": 0}
    monkeypatch.setattr(bt_mod, "backtest", lambda *a, **k: bt_mod.BacktestResult(table, pd.DataFrame(), split, fit))
    runs_frame().to_csv(tmp_path / "runs.csv", index=False)
    argv = ["backtest", str(tmp_path / "runs.csv"), "--law", "chinchilla", "--holdout-fraction", "0.25",
            "--loss-unit", "bits/byte"]
    assert main(argv) == 0
    assert "losses in bits/byte; CRPS in bits/byte" in capsys.readouterr().out
    assert main(argv + ["--json"]) == 0
    units = json.loads(capsys.readouterr().out)["units"]
    assert units["loss"] == units["crps"] == "bits/byte"


#: Shipped specs whose scale constants are stated for one kind of parameter count (N_c, or Kaplan's C_c in
#: compute counted from non-embedding N; Hoffmann et al. 2022's A for total N).
PARAMS_KIND_SPECS = {"kaplan_n_kaplan2020": "non-embedding", "kaplan_nd_kaplan2020": "non-embedding",
                     "kaplan_ns_kaplan2020": "non-embedding", "kaplan_c_kaplan2020": "non-embedding",
                     "chinchilla_hoffmann2022": "total", "chinchilla_epoch2024": "total"}


def test_specs_of_a_papers_constants_declare_their_parameter_kind_and_keep_it_through_their_text():
    from dataclasses import replace

    declared = {n: load_spec(n).params_kind for n in list_specs()}
    assert {n: k for n, k in declared.items() if k} == PARAMS_KIND_SPECS
    spec = load_spec("kaplan_nd_kaplan2020")
    assert parse_spec(spec.synced().text).params_kind == "non-embedding"
    assert parse_spec(replace(spec, text="").synced().text).params_kind == "non-embedding"  # written from the fields
    with pytest.raises(BayesScalingError, match="params_kind must be one of total, non-embedding"):
        parse_spec('[law]\nname = "power_x"\nparams_kind = "embedding"\n')


@pytest.mark.parametrize("spec,kind", [("kaplan_nd_kaplan2020", "total"), ("chinchilla_hoffmann2022", "non-embedding")])
def test_runs_of_the_other_parameter_kind_are_refused_before_sampling(spec, kind, tmp_path, capsys, monkeypatch):
    from bayes_scaling.inference import fit as fit_mod
    from bayes_scaling.inference.backtest import backtest
    from bayes_scaling.inference.batch import fit_many
    from bayes_scaling.inference.ensemble import fit_ensemble

    monkeypatch.setattr(fit_mod, "_sample", lambda *a, **k: pytest.fail("sampled"))
    runs = load_runs(runs_frame(), params_kind=kind)
    law = load_spec(spec).law_name
    for call in (lambda: fit_mod.fit(runs, spec=spec),
                 lambda: fit_many({"a": runs}, spec=spec, workers=1),
                 lambda: fit_ensemble(runs, laws=[law], specs=[spec]),
                 lambda: backtest(runs, spec=spec, holdout_fraction=0.25)):
        with pytest.raises(BayesScalingError, match=f"--params-kind {kind} does not match --spec {spec}"):
            call()
    runs_frame().to_csv(tmp_path / "runs.csv", index=False)
    assert main(["fit", str(tmp_path / "runs.csv"), "--spec", spec, "--params-kind", kind,
                 "--out", str(tmp_path / "f.nc")]) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"--params-kind {PARAMS_KIND_SPECS[spec]}" in err[0] and f"--spec {spec}" in err[0]
    assert not (tmp_path / "f.nc").exists()


def test_the_declared_kind_and_specs_declaring_none_accept_the_runs():
    from bayes_scaling.inference.fit import check_units

    for spec, kind in PARAMS_KIND_SPECS.items():
        check_units(load_spec(spec), load_runs(runs_frame(), params_kind=kind))
    for spec in ("kaplan_nd", "chinchilla", "kaplan_d_kaplan2020"):
        for kind in ("total", "non-embedding"):
            check_units(load_spec(spec), load_runs(runs_frame(), params_kind=kind))


def test_the_reports_other_convention_refit_is_planned_only_for_specs_that_declare_no_kind():
    from bayes_scaling.report._refits import RefitConfig, RefitRunner, plan_refits

    truth = {"alpha_N": 0.076, "alpha_D": 0.103, "N_c": 6.4e13, "D_c": 1.8e13}
    runs = load_runs(runs_frame("kaplan_nd", truth), params_kind="non-embedding")
    for spec, planned in (("kaplan_nd_kaplan2020", False), ("kaplan_nd", True)):
        plan = plan_refits(fake_fit("kaplan_nd", truth, draws=50, runs=runs, spec=load_spec(spec)), RefitConfig(), 0)
        assert ("params_kind" in RefitRunner(plan.jobs)) is planned and (plan.other_kind is None) is not planned
