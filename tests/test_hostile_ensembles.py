"""Hostile inputs to the newest paths (ensembles of law forms, design, the sampler's counts): each is
refused with one line naming what is wrong and the option that fixes it (exit 2), an interrupt exits
130, and nothing is half-written (an existing output file is untouched, no temporary file stays).

Classes: an ensemble file where one fit is read; damaged ensemble files; values argparse misreads
(negative numbers) or options of another command; sampler counts that cannot be diagnosed; design
options that have no effect; candidate-run files; runs that cannot determine a law or its weights;
interrupts and a full disk while an ensemble is fitted or saved. No test samples: fits are
``fake_fit``."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from bayes_scaling import BayesScalingError
from bayes_scaling.cli import error_line, main
from bayes_scaling.examples import EXAMPLE
from bayes_scaling.result import EnsembleResult
from bayes_scaling.testing import fake_fit, runs_frame

TRUTH = EXAMPLE["truth"]


@pytest.fixture(scope="module")
def files_dir(tmp_path_factory) -> Path:
    """A single fit, an ensemble of two forms on its runs, and the runs as a CSV."""
    folder = tmp_path_factory.mktemp("hostile_ens")
    a, b = fake_fit(seed=1, draws=50), fake_fit(truth={**TRUTH, "beta": 0.30}, runs_truth=TRUTH, seed=1, draws=50)
    a.save(folder / "fit.nc")
    EnsembleResult({"right": a, "other": b}, {"right": 3.0, "other": 1.0}, {"method": "test"}).save(folder / "ens.nc")
    runs_frame().to_csv(folder / "runs.csv", index=False)
    return folder


@pytest.fixture
def work(tmp_path, monkeypatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


def listing(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def run(argv, capsys, folder: Path | None = None, code: int = 2) -> str:
    """The CLI in-process: exit ``code``, one ``error:`` line, and (``folder``) no file added or changed."""
    before = listing(folder) if folder else None
    rc = main([str(a) for a in argv])
    err = capsys.readouterr().err.strip()
    assert rc == code, err
    assert len(err.splitlines()) == 1 and err.startswith("error: ") and "Traceback" not in err, err
    if folder:
        assert listing(folder) == before
    return err


# -- an ensemble where one fit is read ---------------------------------------------------------

@pytest.mark.parametrize("argv", [["shape", "{ens}"], ["compare-laws", "{fit}", "{ens}"]])
def test_an_ensemble_given_where_one_fit_is_read_is_named(argv, files_dir, capsys):
    argv = [a.format(ens=files_dir / "ens.nc", fit=files_dir / "fit.nc") for a in argv]
    line = run(argv, capsys)
    assert "is an ensemble of law forms" in line and "single fit" in line


# -- damaged ensemble files ---------------------------------------------------------------------

def _edit_attrs(**kw):
    def edit(t):
        t.attrs.update(kw)
    return edit


def _drop_posterior(t):
    member = t["right"]
    t["right"] = xr.DataTree.from_dict({k: v.to_dataset() for k, v in member.children.items() if k != "posterior"})
    t["right"].attrs = member.attrs


DAMAGE = {
    "zero weights": (_edit_attrs(weights=json.dumps({"right": 0.0, "other": 0.0})), "weights must be finite"),  # NaN, < 0:
    # test_ensemble_weights_are_checked_in_python_too
    "weights not an object": (_edit_attrs(weights=json.dumps(["right", "other"])), "not a readable"),
    "a member that is not stored": (_edit_attrs(members=json.dumps(["right", "gone"])), "not a readable"),
    "a member without draws": (_drop_posterior, "member right"),
}


@pytest.mark.parametrize("case", list(DAMAGE))
def test_damaged_ensemble_files_fail_in_one_line(case, files_dir, tmp_path, capsys):
    edit, words = DAMAGE[case]
    with xr.open_datatree(files_dir / "ens.nc", engine="h5netcdf") as t:
        tree = t.load()
    edit(tree)
    path = tmp_path / "damaged.nc"
    tree.to_netcdf(path, engine="h5netcdf")
    assert words in run(["predict", path, "--params", "7e9", "--tokens", "1e11"], capsys)


def test_a_truncated_ensemble_file_fails_in_one_line(files_dir, tmp_path, capsys):
    path = tmp_path / "truncated.nc"
    path.write_bytes((files_dir / "ens.nc").read_bytes()[:50_000])
    assert "truncated" in run(["allocate", path, "--compute", "1e22"], capsys)


# -- values and options the parser misread -----------------------------------------------------

@pytest.mark.parametrize("argv, value", [(["predict", "{fit}", "--params", "-7e9", "--tokens", "1e11"], "-7e9"),
                                         (["allocate", "{ens}", "--compute", "-1e22"], "-1e22"),
                                         (["target", "{ens}", "--loss", "-inf"], "-inf"),
                                         (["design", "{fit}", "--target-compute", "1e23", "--ladder-budget", "-1.5"],
                                          "-1.5")])
def test_a_negative_number_is_read_as_its_options_value_and_refused(argv, value, files_dir, capsys):
    argv = [a.format(ens=files_dir / "ens.nc", fit=files_dir / "fit.nc") for a in argv]
    assert f"expected a finite number > 0, got '{value}'" in run(argv, capsys)


def test_an_option_of_another_command_names_that_command(files_dir, work, capsys):
    line = run(["fit", files_dir / "runs.csv", "--laws", "chinchilla,kaplan_nd", "--out", "x.nc"], capsys, work)
    assert "--laws is an option of: ensemble" in line and "bayes-scaling fit --help" in line


# -- sampler counts -----------------------------------------------------------------------------

@pytest.mark.parametrize("option, value", [("--chains", "1"), ("--draws", "5"), ("--tune", "0")])
def test_sampler_counts_that_cannot_be_diagnosed_are_refused_before_the_fit(option, value, files_dir, work, capsys):
    line = run(["ensemble", files_dir / "runs.csv", "--laws", "chinchilla,kaplan_nd", "--out", "e.nc", option, value],
               capsys, work)
    assert f"argument {option}" in line


def test_one_chain_is_refused_by_the_library_with_its_flag():
    from bayes_scaling.inference.fit import fit

    with pytest.raises(BayesScalingError, match="R-hat") as ei:
        fit(runs_frame(), law="chinchilla", chains=1, draws=10, tune=10, seed=1)
    assert error_line(ei.value).endswith("[--chains]")


# -- design -------------------------------------------------------------------------------------

@pytest.mark.parametrize("argv, flags", [
    (["--spec", "chinchilla", "--candidates", "c.csv", "--batch", "2"], "--candidates, --batch have no effect"),
    (["--spec", "chinchilla", "--shapes", "1", "10", "--exchange", "0"], "--shapes, --exchange have no effect"),
    (["{fit}", "--prior-draws", "100"], "--prior-draws has no effect"),
    (["{ens}", "--max-refits", "5"], "--max-refits has no effect"),
])
def test_design_options_that_have_no_effect_are_refused(argv, flags, files_dir, capsys):
    argv = [a.format(fit=files_dir / "fit.nc", ens=files_dir / "ens.nc") for a in argv]
    assert flags in run(["design", *argv, "--target-compute", "1e23", "--ladder-budget", "1e21"], capsys)


CANDIDATES = {
    "no rows": ("params,tokens\n", "no rows"),
    "wrong columns": ("size,toks\n1e9,2e10\n", "needs columns params and tokens"),
    "NaN": ("params,tokens\n1e9,nan\n", "data row(s) [1]"),
    "negative": ("params,tokens\n1e9,2e10\n-1e9,2e10\n", "data row(s) [2]"),
    "text": ("params,tokens\nabc,2e10\n", "data row(s) [1]"),
    "duplicate": ("params,tokens\n1e9,2e10\n2e9,2e10\n1e9,2e10\n", "repeats a run"),
    "not UTF-8": (b"\xff\xfe\x00garbage", "not UTF-8"),
    "missing": (None, "does not exist"),
}


@pytest.mark.parametrize("case", list(CANDIDATES))
def test_bad_candidate_files_are_one_line_naming_the_option(case, files_dir, work, capsys):
    content, words = CANDIDATES[case]
    if content is not None:
        (work / "c.csv").write_bytes(content if isinstance(content, bytes) else content.encode())
    line = run(["design", files_dir / "fit.nc", "--target-compute", "1e23", "--ladder-budget", "1e21",
                "--candidates", "c.csv"], capsys)
    assert words in line and line.endswith("[--candidates]")


# -- runs that cannot determine a law or its weights --------------------------------------------

def test_runs_at_one_size_point_at_the_column_option(work, capsys):
    frame = runs_frame()
    frame.assign(params=1e9, tokens=frame["compute"] / 6e9).to_csv("one_n.csv", index=False)
    line = run(["ensemble", "one_n.csv", "--laws", "chinchilla,kaplan_nd", "--out", "e.nc"], capsys, work)
    assert "distinct values of N" in line and line.endswith("[--params-col]")


# -- interrupts and a full disk while an ensemble is fitted or saved -----------------------------

def _members_then(monkeypatch, after: int, exc: BaseException | None):
    """Member fits are fake fits; the call after the first ``after`` raises ``exc``."""
    import bayes_scaling.inference.ensemble as ens_module

    calls = []

    def fake(*a, **k):
        calls.append(1)
        if exc is not None and len(calls) > after:
            raise exc
        return fake_fit(seed=1, draws=20)

    monkeypatch.setattr(ens_module, "fit", fake)


def test_ctrl_c_between_member_fits_leaves_the_old_file_untouched(files_dir, work, monkeypatch, capsys):
    (work / "e.nc").write_bytes(b"the previous ensemble")
    _members_then(monkeypatch, 1, KeyboardInterrupt())
    line = run(["ensemble", files_dir / "runs.csv", "--laws", "chinchilla,chinchilla_tied", "--weights", "equal",
                "--out", "e.nc"], capsys, work, code=130)
    assert line == "error: interrupted by Ctrl-C (SIGINT)"


@pytest.mark.parametrize("code, words", [(errno.ENOSPC, "disk is full"), (errno.EROFS, "read-only")])
def test_a_failing_disk_during_the_ensemble_save_is_one_line(code, words, files_dir, work, monkeypatch, capsys):
    (work / "e.nc").write_bytes(b"the previous ensemble")
    _members_then(monkeypatch, 0, None)

    def fail(fd):
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(os, "fsync", fail)
    line = run(["ensemble", files_dir / "runs.csv", "--laws", "chinchilla,chinchilla_tied", "--weights", "equal",
                "--out", "e.nc"], capsys, work)
    assert words in line and "e.nc" in line


def test_ensemble_weights_are_checked_in_python_too():
    a = fake_fit(seed=1, draws=20)
    for weights in ({"a": 0.0}, {"a": np.nan}, {"a": -1.0}, {"a": "1"}):
        with pytest.raises(BayesScalingError, match="weights must be finite"):
            EnsembleResult({"a": a}, weights)


# -- the Python API of design and ensembles -----------------------------------------------------

@pytest.mark.parametrize("kw, words", [({"batch": 0}, "batch must be"), ({"batch": 2.5}, "batch must be"),
                                       ({"worlds": 0}, "worlds must be"), ({"max_draws": 0}, "max_draws must be"),
                                       ({"min_ess": float("nan")}, "min_ess must be"),
                                       ({"max_refits": -1}, "max_refits must be")])
def test_design_counts_are_checked_in_python(kw, words):
    from bayes_scaling.queries.design import design_runs

    with pytest.raises(BayesScalingError, match=words):
        design_runs(fake_fit(draws=20), 1e23, 1e21, [1e9], [2e10], **kw)


@pytest.mark.parametrize("budget", [0.0, -1.0, float("inf")])
def test_a_grid_for_a_budget_that_is_not_a_positive_number_is_refused(budget):
    from bayes_scaling.queries.design_shapes import candidate_grid

    with pytest.raises(BayesScalingError, match="ladder budget"):
        candidate_grid([1e18, 1e20], budget)


def test_an_ensembles_summary_checks_its_interval_mass(files_dir):
    from bayes_scaling.result import load_fit

    with pytest.raises(BayesScalingError, match="ci_prob"):
        load_fit(files_dir / "ens.nc").summary(ci_prob=1.5)


def test_a_loss_below_every_draws_floor_is_unreachable_not_nan(files_dir, capsys):
    assert main(["target", str(files_dir / "ens.nc"), "--loss", "0.5"]) == 0
    out = capsys.readouterr().out
    assert "P(unreachable at any budget) = 1.000" in out and "nan" not in out and "compute (FLOPs): none" in out


@pytest.mark.parametrize("argv", [["fit", "small.csv", "--law", "chinchilla"],
                                  ["ensemble", "small.csv", "--laws", "chinchilla,chinchilla_tied", "--weights", "equal"]])
def test_a_calibration_the_runs_cannot_split_is_refused_before_any_fit(argv, work, monkeypatch, capsys):
    import bayes_scaling.inference.fit as fit_module

    def never(*a, **k):
        raise AssertionError("the model was compiled: the refusal came after the work")

    monkeypatch.setattr(fit_module, "compiled_model", never)
    runs_frame().head(8).to_csv("small.csv", index=False)
    line = run([*argv, "--calibrate-extrapolation", "--out", "x.nc"], capsys, work)
    assert "too few runs to calibrate" in line and line.endswith("[--calibrate-extrapolation]")


def test_a_member_the_runs_cannot_fit_is_refused_before_any_fit(files_dir, work, monkeypatch, capsys):
    import bayes_scaling.inference.fit as fit_module

    def never(*a, **k):
        raise AssertionError("the model was compiled: the refusal came after the work")

    monkeypatch.setattr(fit_module, "compiled_model", never)
    line = run(["ensemble", files_dir / "runs.csv", "--laws", "chinchilla,data_constrained", "--out", "x.nc"], capsys,
               work)
    assert "'data_constrained' needs unique tokens U" in line and line.endswith("[--col U=COLUMN]")


@pytest.mark.parametrize("argv, flag", [
    (["fit", "g.csv", "--law", "chinchilla", "--group-col", "arch", "--vary", "nosuch"], "[--vary]"),
    (["ensemble", "g.csv", "--laws", "chinchilla,kaplan_nd", "--group-col", "arch", "--vary", "alpha"], "[--vary]"),
    (["ensemble", "g.csv", "--laws", "chinchilla,chinchilla_tied", "--vary", "alpha"], "--group-col"),
])
def test_hierarchy_options_that_cannot_apply_name_their_flag(argv, flag, work, capsys):
    frame = runs_frame()
    frame.assign(arch=np.where(np.arange(len(frame)) % 2, "x", "y")).to_csv("g.csv", index=False)
    assert flag in run([*argv, "--out", "x.nc"], capsys, work)


@pytest.mark.parametrize("argv, words", [
    (["breakdown", "{fit}", "--kaplan-d", "{fit}"], "--kaplan-d has no effect"),
    (["breakdown", "{fit}", "--breaks", "2"], "--breaks has no effect"),
    (["compare-laws", "{fit}", "{fit}"], "is given twice"),
    (["target", "{fit}", "--loss", "2", "--compute-unit", "pf-days"], "--compute-unit has no effect"),
    (["datasets", "--out", "x.csv"], "--out has no effect"),
])
def test_options_and_files_that_would_be_ignored_or_repeated_are_refused(argv, words, files_dir, capsys):
    assert words in run([a.format(fit=files_dir / "fit.nc") for a in argv], capsys)


def test_a_single_fit_read_as_an_ensemble_is_named(files_dir, tmp_path):
    with pytest.raises(BayesScalingError, match="a single fit, not an ensemble"):
        EnsembleResult.load(files_dir / "fit.nc")
    with pytest.raises(BayesScalingError, match="does not exist"):
        EnsembleResult.load(tmp_path / "missing.nc")


def test_loo_weights_on_influential_runs_warn_in_one_line(files_dir, work, monkeypatch, capsys):
    import warnings
    from types import SimpleNamespace

    import bayes_scaling.result.loglik as loglik

    def shaky_loo(result):
        warnings.warn("Estimated shape parameter of Pareto distribution is greater than 0.7 for one or more samples. "
                      "You should consider using a more robust model ...", UserWarning)
        n = len(result.runs)
        return SimpleNamespace(pareto_k=xr.DataArray(np.full(n, 1.2)), elpd_i=xr.DataArray(np.full(n, -1.0)))

    _members_then(monkeypatch, 0, None)
    monkeypatch.setattr(loglik, "loo", shaky_loo)
    rc = main(["ensemble", str(files_dir / "runs.csv"), "--laws", "chinchilla,chinchilla_tied", "--weights", "loo",
               "--out", "e.nc"])
    err = capsys.readouterr().err
    assert rc == 0 and "Estimated shape parameter" not in err
    assert [line for line in err.splitlines() if "Pareto" in line] == [
        "warning: PSIS-LOO weights: Pareto k up to 1.20 (> 0.7): influential runs, so treat the weights as indicative"]


def test_a_ladder_budget_above_the_target_warns_that_they_may_be_swapped(files_dir, work, capsys):
    (work / "c.csv").write_text("params,tokens\n1e8,2e9\n2e8,4e9\n")
    assert main(["design", str(files_dir / "fit.nc"), "--target-compute", "1e20", "--ladder-budget", "1e23",
                 "--worlds", "8", "--max-refits", "0", "--candidates", "c.csv"]) == 0
    assert "not swapped" in capsys.readouterr().err


def test_design_on_an_ensemble_takes_the_options_it_already_follows(files_dir, work, capsys):
    """--no-laplace and --max-refits 0 ask for what an ensemble's design does anyway: not refused."""
    (work / "c.csv").write_text("params,tokens\n1e8,2e9\n2e8,4e9\n")
    assert main(["design", str(files_dir / "ens.nc"), "--target-compute", "1e23", "--ladder-budget", "1e21",
                 "--worlds", "8", "--no-laplace", "--max-refits", "0", "--candidates", "c.csv"]) == 0, \
        capsys.readouterr().err


def test_an_array_is_refused_as_a_number_with_a_clear_line():
    from bayes_scaling.conventions import check_positive

    assert check_positive("x must be in (0, 1)", np.float32(0.5), below=1.0) == 0.5
    for bad in (np.array([0.02]), [0.1], np.array([0.1, 0.2])):
        with pytest.raises(BayesScalingError, match="one number, not an array"):
            check_positive("x must be > 0", bad, "x")


def test_rope_and_converged_within_errors_name_their_flags():
    from bayes_scaling.commands.args import option_for
    from bayes_scaling.queries.compare_groups import compare_groups
    from bayes_scaling.testing import fake_hierarchical_fit

    with pytest.raises(BayesScalingError) as ei:
        compare_groups(fake_hierarchical_fit(draws=20), N=1e9, D=2e10, rope=1.5)
    assert option_for(ei.value.quantity) == "--rope"
    assert option_for("converged_within") == "--converged-within"
