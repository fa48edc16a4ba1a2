"""``--residual-process`` on the command line (``fit``, ``ensemble``, ``fit-many``): the process is
stored with the fit, survives save/load and moves ``predict``'s new-run interval beyond the data only;
its refusals (groups, fewer than 4 distinct axis values, too many runs, non-finite residuals) end the
command with one line naming the flag, exit 2 and no file. One real (short) fit; the rest use fits
with known draws (``bayes_scaling.testing``)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from bayes_scaling.cli import main
from bayes_scaling.examples import EXAMPLE
from bayes_scaling.posterior.discrepancy import Discrepancy
from bayes_scaling.testing import fake_fit, fake_hierarchical_fit, runs_frame

FLAG = "--residual-process"
X_COLS = ["--col", "X=X", "--params-col", "", "--tokens-col", "", "--compute-col", ""]


def _ou_curve(path, n=30, seed=4):
    """A learning curve of power_x (E 0.5, B 5, c0 0.4) on X = 1e2..1e5 whose log-loss wanders as an OU path
    (s 0.03 log-loss, ell 0.5 decades) plus white noise 0.002."""
    from bayes_scaling.simulate import simulate_runs

    rng = np.random.default_rng(seed)
    x = np.geomspace(1e2, 1e5, n)
    t = np.log10(x)
    w = np.empty(n)
    w[0] = rng.normal(0, 0.03)
    for i in range(1, n):
        a = np.exp(-(t[i] - t[i - 1]) / 0.5)
        w[i] = a * w[i - 1] + rng.normal(0, 0.03 * np.sqrt(1 - a * a))
    frame = simulate_runs("power_x", {"E": 0.5, "B": 5.0, "c0": 0.4}, pd.DataFrame({"X": x}), sigma=0.002,
                          family="normal", seed=seed)
    frame["loss"] *= np.exp(w)
    frame.to_csv(path, index=False)
    return path


def _without_process(result):
    """``result`` (a fit or an ensemble) with the same (tau0, tau1) and no residual process."""
    from bayes_scaling.result import EnsembleResult

    def strip(m):
        d = m.discrepancy
        return m.with_discrepancy(Discrepancy(d.tau0, d.tau1, d.axis, d.log10_axis_max, {}, None))

    if hasattr(result, "members"):
        return EnsembleResult({k: strip(m) for k, m in result.members.items()}, result.weights, result.info,
                              seed=result.seed)
    return strip(result)


def _predict(path, capsys, *query):
    assert main(["predict", str(path), *query, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and "Traceback" not in err[0], err
    return err[0]


def test_fit_stores_the_process_and_predict_uses_it_after_reload(tmp_path, capsys):
    """A real short fit with the flag: the saved file carries the process; after reload, ``predict``'s
    new-run draws differ from the same fit without it beyond the data and equal them inside; the law's
    ``loss`` is the same in both; ``summary`` (text and JSON) shows its scales."""
    from bayes_scaling.result import load_fit

    csv = _ou_curve(tmp_path / "curve.csv")
    out = tmp_path / "f.nc"
    assert main(["fit", str(csv), "--law", "power_x", *X_COLS, FLAG, "--draws", "200", "--tune", "200",
                 "--chains", "2", "--seed", "1", "--out", str(out)]) == 0
    assert "residual process (OU in log10 X" in capsys.readouterr().out
    fit = load_fit(out)
    proc = fit.discrepancy.residual
    assert proc is not None and len(proc.resid) == 30 and 0 < proc.ell <= 10 and proc.s > 0
    plain = tmp_path / "plain.nc"
    _without_process(fit).save(plain)
    for x, beyond in (("3e4", False), ("1.3e5", True)):
        a, b = _predict(out, capsys, "--x", x), _predict(plain, capsys, "--x", x)
        assert a["loss"] == b["loss"]
        same = a["loss_predictive"] == b["loss_predictive"]
        assert same != beyond, (x, a["loss_predictive"], b["loss_predictive"])
    assert main(["summary", str(out), "--json"]) == 0
    rec = json.loads(capsys.readouterr().out)["extrapolation_discrepancy"]["residual_process"]
    assert rec["s"] == pytest.approx(proc.s) and rec["ell_decades"] == pytest.approx(proc.ell)
    assert rec["n_runs"] == 30


@pytest.fixture
def pair():
    """Two chinchilla fits with known draws on the same 16 runs (one with beta 0.30: another law form)."""
    a = fake_fit(seed=1)
    b = fake_fit(truth={**EXAMPLE["truth"], "beta": 0.30}, runs_truth=EXAMPLE["truth"], seed=1)
    return a, b


@pytest.fixture
def fake_ensemble(monkeypatch, pair):
    """``fit_ensemble`` replaced by one returning the ensemble of :func:`pair` (weights 0.75, 0.25)."""
    import bayes_scaling.inference.ensemble as ensemble
    from bayes_scaling.result import EnsembleResult

    seen = []

    def stand_in(runs, *args, **kwargs):
        seen.append(runs)
        a, b = pair
        return EnsembleResult({"a": a, "b": b}, {"a": 3.0, "b": 1.0}, {"method": "test"}, seed=2)

    monkeypatch.setattr(ensemble, "fit_ensemble", stand_in)
    return seen


def test_ensemble_stores_one_process_and_predict_and_summary_use_it(tmp_path, fake_ensemble, pair, capsys):
    from bayes_scaling.result import EnsembleResult, load_fit

    csv = tmp_path / "runs.csv"
    runs_frame(seed=1).to_csv(csv, index=False)
    out = tmp_path / "e.nc"
    assert main(["ensemble", str(csv), "--laws", "chinchilla,chinchilla_tied", FLAG, "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "residual process (OU in log10 C" in text and "one process shared by the members" in text
    ens = load_fit(out)
    procs = [m.discrepancy.residual for m in ens.members.values()]
    assert all(p is not None for p in procs) and procs[0].s == pytest.approx(procs[1].s)
    plain = tmp_path / "plain.nc"
    EnsembleResult({"a": pair[0], "b": pair[1]}, {"a": 3.0, "b": 1.0}, {"method": "test"}, seed=2).save(plain)
    for n, d, beyond in ((1e9, 2e10, False), (1e11, 2e12, True)):
        q = ["--params", str(n), "--tokens", str(d)]
        a, b = _predict(out, capsys, *q), _predict(plain, capsys, *q)
        assert a["loss"] == b["loss"] and (a["loss_predictive"] == b["loss_predictive"]) != beyond
    assert main(["summary", str(out), "--json"]) == 0
    rec = json.loads(capsys.readouterr().out)
    assert rec["extrapolation_discrepancy"]["residual_process"]["s"] == pytest.approx(procs[0].s)
    assert rec["weighting"]["residual_process"]["n_runs"] == 16


def test_report_describes_the_process(tmp_path, capsys):
    """``report`` of a fit with the process (a single-axis law: the report's lightest figures) names its scales."""
    from bayes_scaling.inference.residual_process import with_residual_process

    fit = with_residual_process(fake_fit("kaplan_n", {"alpha_N": 0.076, "N_c": 8.8e13}, seed=0))
    fit.save(tmp_path / "k.nc")
    report = tmp_path / "r.md"
    assert main(["report", str(tmp_path / "k.nc"), "--out", str(report), "--no-refits"]) == 0
    r = fit.discrepancy.residual
    assert f"Residual process (OU in log10 N + white noise, fitted to the law's residuals at the 16 fitted runs): " \
           f"s {r.s:.3g}, ell {r.ell:.3g} decades" in report.read_text()


class _Sampled(Exception):
    """Raised by the stand-ins: the command got as far as sampling."""


@pytest.fixture
def no_sampling(monkeypatch):
    import bayes_scaling.inference.batch as batch
    import bayes_scaling.inference.ensemble as ensemble
    import bayes_scaling.inference.fit as fit_module

    def refuse(*args, **kwargs):
        raise _Sampled()

    for module, name in ((fit_module, "fit"), (ensemble, "fit_ensemble"), (batch, "fit_many")):
        monkeypatch.setattr(module, name, refuse)


def _three_budgets(t):
    frame = runs_frame()
    frame[frame["compute"] < frame["compute"].max() * 0.5].to_csv(t / "three.csv", index=False)
    return [str(t / "three.csv")]


def _grouped(t):
    runs_frame().assign(arch=["x", "y"] * 8).to_csv(t / "g.csv", index=False)
    return [str(t / "g.csv"), "--group-col", "arch"]


def _too_many(t):
    x = np.geomspace(1e2, 1e6, 2001)
    pd.DataFrame({"X": x, "loss": 0.5 + 5 * x ** -0.4}).to_csv(t / "big.csv", index=False)
    return [str(t / "big.csv"), *X_COLS]


REFUSALS = {"groups": (_grouped, "this fit has groups"), "three_budgets": (_three_budgets, "distinct values"),
            "too_many_runs": (_too_many, "at most 2000 runs")}


@pytest.mark.parametrize("command, case", [(c, k) for c in ("fit", "ensemble", "backtest") for k in sorted(REFUSALS)
                                           if (c, k) != ("backtest", "too_many_runs")])  # it fits fewer than 2001
def test_refusals_before_sampling_name_the_flag_and_write_nothing(case, command, tmp_path, no_sampling, capsys):
    make, words = REFUSALS[case]
    law = (["--law", "power_x"] if case == "too_many_runs" else ["--law", "chinchilla"]) if command != "ensemble" \
        else ["--laws", "power_x,m4" if case == "too_many_runs" else "chinchilla,chinchilla_tied"]
    out = tmp_path / "out.nc"
    assert main([command, *make(tmp_path), *law, FLAG, *(["--out", str(out)] if command != "backtest" else ["--holdout-fraction", "0.25"])]) == 2
    line = _one_error_line(capsys)
    assert words in line and line.endswith(f"[{FLAG}]"), line
    assert not out.exists() and not list(tmp_path.glob(".out.nc*"))


def test_backtest_scores_a_row_with_the_process(tmp_path, monkeypatch, capsys):
    """``backtest --residual-process`` adds a scored row whose fit carries the training runs' process: fitted to
    the training runs only (as many runs, none beyond the split), never to the held-out ones."""
    import bayes_scaling.inference.fit as fit_module

    truth = {"alpha_N": 0.076, "N_c": 8.8e13}
    import bayes_scaling.inference.residual_process as rp_module

    monkeypatch.setattr(fit_module, "fit", lambda runs, *a, **k: fake_fit("kaplan_n", truth, seed=0, runs=runs))
    processes, real = [], rp_module.with_residual_process
    monkeypatch.setattr(rp_module, "with_residual_process",
                        lambda r: processes.append(real(r).discrepancy.residual) or real(r))
    csv = tmp_path / "runs.csv"
    runs_frame("kaplan_n", truth).to_csv(csv, index=False)  # split axis N: 16 distinct values
    assert main(["backtest", str(csv), "--law", "kaplan_n", "--holdout-fraction", "0.25", "--no-calibrate",
                 "--n-boot", "5", FLAG, "--json"]) == 0
    rec = json.loads(capsys.readouterr().out)
    rows = {r["method"]: r for r in rec["methods"]}
    assert "bayes + residual process (kaplan_n)" in rows and "bayes (kaplan_n)" in rows
    assert 0 <= rows["bayes + residual process (kaplan_n)"]["coverage_90"] <= 1
    split = rec["split"]
    assert split["n_train"] < 16 and split["residual_process"]["n_runs"] == split["n_train"]
    assert len(processes) == 1 and processes[0].log10_axis.max() <= np.log10(split["holdout_above"]) + 1e-12


def test_non_finite_residuals_after_the_fit_fail_the_command_without_a_file(tmp_path, monkeypatch, capsys):
    """The one refusal the runs alone cannot foresee: a law median that is not finite at a run."""
    import bayes_scaling.inference.fit as fit_module

    monkeypatch.setattr(fit_module, "fit", lambda *a, **k: fake_fit(truth={**EXAMPLE["truth"], "A": np.nan},
                                                                   runs_truth=EXAMPLE["truth"]))
    csv = tmp_path / "runs.csv"
    runs_frame().to_csv(csv, index=False)
    out = tmp_path / "f.nc"
    assert main(["fit", str(csv), "--law", "chinchilla", FLAG, "--out", str(out)]) == 2
    line = _one_error_line(capsys)
    assert "finite residuals" in line and line.endswith(f"[{FLAG}]")
    assert not out.exists()


def test_fit_many_fits_the_process_per_curve_and_names_the_flag_for_a_curve_it_refuses(tmp_path, monkeypatch,
                                                                                       capsys):
    """Curve a (4 budgets) is fitted with its process; curve c (3 budgets) is refused before its sampling:
    'not fitted', the flag named, no file; the command succeeds with the curves it fitted."""
    import bayes_scaling.inference.fit as fit_module

    fitted = []

    def stand_in(runs, *args, **kwargs):
        fitted.append(len(runs))
        return fake_fit(seed=0)  # the same 16 runs as curve a

    monkeypatch.setattr(fit_module, "fit", stand_in)
    frame = runs_frame()
    three = frame[frame["compute"] < frame["compute"].max() * 0.5]
    csv = tmp_path / "curves.csv"
    pd.concat([frame.assign(curve="a"), three.assign(curve="c")]).to_csv(csv, index=False)
    out_dir = tmp_path / "fits"
    out_dir.mkdir()
    assert main(["fit-many", str(csv), "--by", "curve", "--law", "chinchilla", "--out-dir", str(out_dir),
                 "--workers", "1", FLAG, "--json"]) == 0
    rec = json.loads(capsys.readouterr().out)
    assert fitted == [16] and [r["name"] for r in rec["fits"]] == ["a"]
    assert "distinct values" in rec["errors"]["c"] and rec["errors"]["c"].endswith(f"[{FLAG}]")
    assert sorted(p.name for p in out_dir.iterdir()) == ["a.nc"]
    from bayes_scaling.result import load_fit

    assert load_fit(out_dir / "a.nc").discrepancy.residual is not None


def _t_nu2_spec(t):
    """chinchilla's default spec with a Student-t likelihood of nu = 2 (no finite sd)."""
    from pathlib import Path

    import bayes_scaling

    text = (Path(bayes_scaling.__file__).parents[1] / "models" / "chinchilla.toml").read_text()
    assert text.count("nu = 4.0") == 1
    (t / "t2.toml").write_text(text.replace("nu = 4.0", "nu = 2.0"))
    return ["--spec", str(t / "t2.toml")]


@pytest.mark.parametrize("case, words", [("groups", "this fit has groups"), ("metric_law", "predicts a"),
                                         ("t_nu2", "nu <= 2")])
def test_fit_many_refuses_what_every_curve_would_refuse_once_before_any_fit(case, words, tmp_path, no_sampling,
                                                                            capsys):
    """Groups, a law of a metric and a likelihood without a finite sd refuse every curve: said once, on stderr,
    before any fit (exit 2, no file), not once per curve."""
    csv = tmp_path / "curves.csv"
    runs_frame().assign(curve=["a", "b"] * 8, arch=["x", "y"] * 8).to_csv(csv, index=False)
    out_dir = tmp_path / "fits"
    out_dir.mkdir()
    law = {"groups": ["--law", "chinchilla", "--group-col", "arch"], "metric_law": ["--law", "exp_metric"],
           "t_nu2": _t_nu2_spec(tmp_path)}[case]
    assert main(["fit-many", str(csv), "--by", "curve", *law, "--out-dir", str(out_dir), FLAG]) == 2
    line = _one_error_line(capsys)
    assert words in line and line.endswith(f"[{FLAG}]"), line
    assert not list(out_dir.iterdir()) and not capsys.readouterr().out


@pytest.mark.parametrize("command", ["fit", "ensemble", "backtest"])
def test_a_likelihood_without_a_finite_sd_is_refused_before_sampling(command, tmp_path, no_sampling, capsys):
    """Beyond the data the family's noise keeps the white part's sd; Student-t with nu <= 2 has none."""
    csv = tmp_path / "runs.csv"
    runs_frame().to_csv(csv, index=False)
    spec = _t_nu2_spec(tmp_path)
    law = [*spec, "--laws", "chinchilla_tied"] if command == "ensemble" else spec
    out = tmp_path / "out.nc"
    assert main([command, str(csv), *law, FLAG, *(["--out", str(out)] if command != "backtest"
                                                  else ["--holdout-fraction", "0.25"])]) == 2
    line = _one_error_line(capsys)
    assert "nu <= 2" in line and line.endswith(f"[{FLAG}]"), line
    assert not out.exists()


def test_the_python_batch_keeps_an_ensemble_whose_process_is_refused(monkeypatch):
    """``fit_ensembles(residual_process=True)`` (the Python API, many curves) does not fail a curve: it keeps
    the ensemble and records why the process was not fitted; the CLI, asked for it explicitly, fails."""
    import bayes_scaling.inference.ensemble as ensemble
    from bayes_scaling.inference.batch import fit_ensembles
    from bayes_scaling.result import EnsembleResult

    def stand_in(runs, *args, **kwargs):
        return EnsembleResult({"a": fake_hierarchical_fit(seed=0), "b": fake_hierarchical_fit(seed=0)},
                              {"a": 1.0, "b": 1.0}, {"method": "test"})

    monkeypatch.setattr(ensemble, "fit_ensemble", stand_in)
    out = fit_ensembles({"c": runs_frame()}, ["chinchilla"], workers=1, residual_process=True)
    ens = out.fits["c"]
    assert ens.info["residual_process"].startswith("not fitted: ") and "groups" in ens.info["residual_process"]
    assert ens.discrepancy is None and not out.errors


def _ladder(t, columns, name):
    """The three smallest budgets of the test ladder (12 runs, C = 6ND) with ``columns``."""
    frame = runs_frame()
    frame[frame["compute"] < frame["compute"].max() * 0.5][list(columns)].to_csv(t / name, index=False)
    return [str(t / name)]


KAPLAN_ARGS = ["--cost", "kaplan", "--n-ctx", "2048", "--aspect-ratio", "64"]


@pytest.mark.parametrize("columns", [("params", "tokens", "compute", "loss"), ("params", "tokens", "loss")])
def test_the_process_check_counts_scales_in_the_cost_laws_currency(columns, tmp_path, no_sampling):
    """The process is fitted at the cost law's C(N, D) of the runs (as the box is), not at their recorded or nominal
    C: a ladder of 3 budgets (recorded, or derived as 6ND) whose 12 runs cost 12 different amounts under the fit's
    Kaplan cost (N differs within a budget, and so does Kaplan's C / 6ND) goes on to sampling."""
    with pytest.raises(_Sampled):
        main(["fit", *_ladder(tmp_path, columns, "three.csv"), "--law", "chinchilla", *KAPLAN_ARGS, FLAG,
              "--out", str(tmp_path / "out.nc")])


@pytest.mark.parametrize("columns, cost", [(("params", "compute", "loss"), KAPLAN_ARGS),
                                           (("params", "tokens", "compute", "loss"), [])])
def test_the_process_check_refuses_too_few_scales_in_the_cost_laws_currency(columns, cost, tmp_path, no_sampling,
                                                                            capsys):
    """A recorded C with D derived from it by the cost law (D = C / f(N)), or a recorded C equal to 6ND up to
    rounding, leaves 3 distinct costs: refused before sampling with the one line."""
    out = tmp_path / "out.nc"
    assert main(["fit", *_ladder(tmp_path, columns, "three.csv"), "--law", "chinchilla", *cost, FLAG,
                 "--out", str(out)]) == 2
    line = _one_error_line(capsys)
    assert "4 or more distinct values" in line and "got 3" in line and line.endswith(f"[{FLAG}]"), line
    assert not out.exists()


def test_values_within_rounding_are_one_scale():
    from bayes_scaling.inference.residual_process import distinct_count

    t = np.log10(np.array([1e18, 1e18 * (1 + 2e-16), 1e19, 1e19 * (1 - 4e-16), 1e20, 1.000001e20]))
    assert distinct_count(t) == 4 and distinct_count(t[:4]) == 2 and distinct_count([]) == 0
