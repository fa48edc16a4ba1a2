"""Hostile inputs, second sweep over every sub-command (after ``ensemble``, ``design --spec``, ``fit-many``,
``backtest``, the metric commands, ``datasets`` and ``report`` were added): each is refused with exit 2 and one
``error:`` line that names the option at fault, before any work (no sampling, no file written, no temporary file).

Classes: output places (an empty name, a missing folder, a file as a folder); seeds outside 0 .. 2^63 - 1;
counts so large they would exhaust memory or time (sampler draws, tune and chains, design worlds, prior draws,
bootstrap resamples); values refused by the library without naming their option (a target metric, a utility,
groups, a spec, dataset options and the data home); options that would be silently ignored. No test samples:
fits are ``fake_fit``, and the sampler is replaced by one that fails the test if it is reached."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bayes_scaling import BayesScalingError
from bayes_scaling.cli import main
from bayes_scaling.testing import fake_fit, fake_hierarchical_fit, runs_frame


@pytest.fixture(scope="module")
def files_dir(tmp_path_factory) -> Path:
    """A loss fit, a metric fit, a hierarchical fit, runs as a CSV and the same runs with a curve column."""
    folder = tmp_path_factory.mktemp("hostile_cli2")
    fake_fit(draws=50).save(folder / "fit.nc")
    fake_fit("sigmoid_metric", {"b": 0.25, "r": 2 / 3, "L0": 2.5, "k": 4.0}, draws=50, sigma=0.02).save(
        folder / "metric.nc")
    fake_hierarchical_fit(draws=50).save(folder / "hier.nc")
    frame = runs_frame()
    frame.to_csv(folder / "runs.csv", index=False)
    frame.assign(curve=["a", "b"] * 8).to_csv(folder / "curves.csv", index=False)
    return folder


@pytest.fixture
def work(tmp_path, monkeypatch) -> Path:
    """An empty working folder; the sampler (model compilation, fit-many's workers) fails the test if reached."""
    import bayes_scaling.inference.batch as batch
    import bayes_scaling.inference.fit as fit_module

    def never(*a, **k):
        raise AssertionError("the sampler was reached: the refusal came after the work")

    monkeypatch.setattr(fit_module, "compiled_model", never)
    monkeypatch.setattr(batch, "_pool_run", never)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def listing(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def refused(argv, capsys, folder: Path, option: str) -> str:
    """Exit 2, one ``error:`` line naming ``option``, no file added or changed in ``folder``."""
    before = listing(folder)
    rc = main([str(a) for a in argv])
    err = capsys.readouterr().err.strip()
    assert rc == 2, err
    assert len(err.splitlines()) == 1 and err.startswith("error: ") and "Traceback" not in err, err
    assert option in err, err
    assert listing(folder) == before
    return err


def fmt(argv, d: Path) -> list[str]:
    return [str(a).format(d=d) for a in argv]


# -- output places ------------------------------------------------------------------------------

@pytest.mark.parametrize("argv, option", [
    (["fit", "{d}/runs.csv", "--law", "chinchilla", "--out", "no/such/x.nc"], "--out"),
    (["fit", "{d}/runs.csv", "--law", "chinchilla", "--out", "{d}/runs.csv/x.nc"], "--out"),
    (["ensemble", "{d}/runs.csv", "--laws", "chinchilla,chinchilla_tied", "--out", "no/x.nc"], "--out"),
    (["report", "{d}/fit.nc", "--out", "no/r.md", "--no-refits"], "--out"),
    (["datasets", "chinchilla_epoch", "--out", ""], "--out"),
    (["demo", "--out", ""], "--out"),  # an empty name was read as no --out: the demo sampled, saved nothing
    (["fit-many", "{d}/curves.csv", "--by", "curve", "--law", "chinchilla", "--workers", "1", "--out-dir", ""],
     "--out-dir"),
])
def test_a_bad_output_place_names_its_option(argv, option, files_dir, work, capsys):
    refused(fmt(argv, files_dir), capsys, work, option)


# -- seeds ----------------------------------------------------------------------------------------

SEEDED = [["predict-metric", "{d}/fit.nc", "{d}/metric.nc", "--params", "1e9", "--tokens", "2e10"],
          ["target-metric", "{d}/fit.nc", "{d}/metric.nc", "--target", "0.5"],
          ["design", "{d}/fit.nc", "--target-compute", "1e23", "--ladder-budget", "1e21", "--max-refits", "0"],
          ["isoflop-check", "{d}/fit.nc"],
          ["breakdown", "{d}/fit.nc", "--budget", "1e24"]]


@pytest.mark.parametrize("seed", ["-1", str(2**64)])  # -1 crashed with NumPy's ValueError; 2^64 was accepted
@pytest.mark.parametrize("argv", SEEDED, ids=[a[0] for a in SEEDED])
def test_every_seed_is_a_whole_number_up_to_2_63(argv, seed, files_dir, work, capsys):
    refused([*fmt(argv, files_dir), "--seed", seed], capsys, work, "--seed")


# -- counts that would exhaust memory or time -----------------------------------------------------------

@pytest.mark.parametrize("option, value", [("--draws", "1000000000"), ("--tune", str(10**23)), ("--chains", "2000")])
@pytest.mark.parametrize("command", ["fit", "fit-many", "ensemble", "backtest", "demo"])
def test_sampler_counts_beyond_what_a_query_can_hold_are_refused_before_sampling(command, option, value, files_dir,
                                                                                   work, capsys):
    base = {"fit": ["fit", "{d}/runs.csv", "--law", "chinchilla", "--out", "x.nc"],
            "fit-many": ["fit-many", "{d}/curves.csv", "--by", "curve", "--law", "chinchilla", "--out-dir", ".",
                         "--workers", "1"],
            "ensemble": ["ensemble", "{d}/runs.csv", "--laws", "chinchilla,chinchilla_tied", "--weights", "equal",
                         "--out", "x.nc"],
            "backtest": ["backtest", "{d}/runs.csv", "--law", "chinchilla", "--holdout-fraction", "0.25"],
            "demo": ["demo"]}[command]
    refused([*fmt(base, files_dir), option, value], capsys, work, option)


def test_the_library_bounds_the_sampler_counts_with_their_quantity():
    from bayes_scaling.inference.checks import MAX_CHAINS, MAX_WARMUP_STEPS, check_sampler_counts
    from bayes_scaling.posterior.inputs import MAX_DRAW_VALUES

    assert check_sampler_counts(1000, None, 4) == (1000, None, 4)
    for kw, quantity in (({"draws": MAX_DRAW_VALUES // 4 + 1}, "draws"), ({"tune": MAX_WARMUP_STEPS // 4 + 1}, "tune"),
                         ({"chains": MAX_CHAINS + 1}, "chains"), ({"chains": 1}, "chains"), ({"draws": 9.5}, "draws")):
        args = {"draws": 1000, "tune": None, "chains": 4, **kw}
        with pytest.raises(BayesScalingError) as e:
            check_sampler_counts(**args)
        assert e.value.quantity == quantity


@pytest.mark.parametrize("argv, option", [
    (["design", "{d}/fit.nc", "--target-compute", "1e23", "--ladder-budget", "1e21", "--max-refits", "0",
      "--worlds", "1000000000"], "--worlds"),  # allocated until memory ran out
    (["design", "{d}/fit.nc", "--target-compute", "1e23", "--ladder-budget", "1e21", "--max-refits", "0",
      "--worlds", str(10**23)], "--worlds"),  # NumPy's "Maximum allowed dimension exceeded" escaped
    (["design", "--spec", "chinchilla", "--target-compute", "1e23", "--ladder-budget", "1e21", "--prior-draws",
      str(10**23)], "--prior-draws"),  # drew prior samples without end
    (["isoflop-check", "{d}/fit.nc", "--bootstrap", str(10**23)], "--bootstrap"),
    (["backtest", "{d}/runs.csv", "--law", "chinchilla", "--holdout-fraction", "0.25", "--n-boot", "0"], "--n-boot"),
    (["backtest", "{d}/runs.csv", "--law", "chinchilla", "--holdout-fraction", "0.25", "--n-boot", "-1"], "--n-boot"),
])
def test_counts_that_would_exhaust_memory_or_time_are_refused(argv, option, files_dir, work, capsys):
    refused(fmt(argv, files_dir), capsys, work, option)


def test_the_design_bounds_its_worlds_in_python(files_dir):
    from bayes_scaling.queries.design import design_runs
    from bayes_scaling.result import load_fit

    fit = load_fit(files_dir / "fit.nc")
    with pytest.raises(BayesScalingError, match="at most") as e:
        design_runs(fit, 1e23, 1e21, [1e8, 2e8], [2e9, 4e9], worlds=10**9)
    assert e.value.quantity == "worlds"


# -- values the library refused without naming their option ---------------------------------------------

@pytest.mark.parametrize("argv, option", [
    (["target-metric", "{d}/fit.nc", "{d}/metric.nc", "--target", "1.5"], "--target"),
    (["allocate", "{d}/fit.nc", "--compute", "1e22", "--utility", "median"], "--utility"),
    (["allocate", "{d}/fit.nc", "--compute", "1e22", "--group", "x"], "--group"),
    (["predict", "{d}/hier.nc", "--params", "1e9", "--tokens", "2e10", "--group", "nosuch"], "--group"),
    (["compare", "{d}/hier.nc", "--compute", "1e21", "--groups", "nosuch"], "--groups"),
    (["compare", "{d}/hier.nc", "--compute", "1e21", "--groups", "x", "x"], "--groups"),
    (["isoflop-check", "{d}/fit.nc", "--group", "x"], "--group"),
    (["fit", "{d}/runs.csv", "--spec", "", "--out", "x.nc"], "--spec"),
    (["fit", "{d}/runs.csv", "--spec", "{d}", "--out", "x.nc"], "--spec"),
    (["datasets", "chinchilla_epoch", "--out", "x.csv", "--option", "nosuchkey=1"], "--option"),
    (["datasets", "chinchilla_epoch", "--out", "x.csv", "--data-home", "{d}/runs.csv"], "--data-home"),
])
def test_a_value_the_library_refuses_names_its_option(argv, option, files_dir, work, capsys):
    refused(fmt(argv, files_dir), capsys, work, option)


def test_an_unknown_group_of_a_hierarchical_fit_is_named_by_the_isoflop_check(files_dir, work, capsys):
    # it was reported as "no IsoFLOP budget has 4 or more runs" (the group's runs were none)
    line = refused(["isoflop-check", files_dir / "hier.nc", "--group", "nosuch"], capsys, work, "--group")
    assert "unknown group 'nosuch'" in line and "['x', 'y']" in line


# -- options that would be silently ignored ------------------------------------------------------------

@pytest.mark.parametrize("argv, option", [
    (["compare", "{d}/hier.nc", "--compute", "1e21", "--params", "1e9", "--tokens", "2e10"], "--compute"),
    (["frontier", "{d}/fit.nc", "--compute-min", "1e20", "--compute-max", "1e22", "--converged-within", "0.5"],
     "--converged-within"),
])
def test_an_option_that_would_be_ignored_is_refused(argv, option, files_dir, work, capsys):
    refused(fmt(argv, files_dir), capsys, work, option)


def test_legal_neighbours_still_run(files_dir, work, capsys):
    """The bounds leave ordinary values alone: seeds at both ends, a modest --worlds, the default bootstrap."""
    d = files_dir
    for argv in (["target-metric", d / "fit.nc", d / "metric.nc", "--target", "0.5", "--seed", str(2**63 - 1)],
                 ["compare", d / "hier.nc", "--params", "1e9", "--tokens", "2e10"],
                 ["design", d / "fit.nc", "--target-compute", "1e23", "--ladder-budget", "1e21", "--max-refits", "0",
                  "--worlds", "16", "--exchange", "0", "--seed", "0"]):
        assert main([str(a) for a in argv]) == 0, capsys.readouterr().err


# -- runs-file options that were read as absent, or accepted with no effect -------------------------------------

@pytest.fixture(scope="module")
def shapes_csv(files_dir) -> Path:
    path = files_dir / "shapes.csv"
    frame = runs_frame().assign(width=512.0, depth=8.0, cov=np.arange(16.0), seedc=[1, 2] * 8)
    frame.to_csv(path, index=False)
    frame.assign(width=-512.0, cov=[np.nan] + [1.0] * 15).to_csv(files_dir / "bad_shapes.csv", index=False)
    return path


@pytest.mark.parametrize("argv, option", [
    (["--vary", ""], "--vary"),  # an empty list was read as no --vary
    (["--seed-col", ""], "--seed-col"),  # an empty column name was read as no seed column
    (["--shape-cols", "width", "width"], "--shape-cols"),  # log(width / width) = 0: a covariate of zeros
    (["--col", "U=tokens"], "--col"),  # chinchilla reads no unique tokens: the column was ignored
])
def test_fit_options_that_were_read_as_absent_or_ignored_are_refused(argv, option, shapes_csv, work, capsys):
    refused(["fit", shapes_csv, "--law", "chinchilla", "--out", "x.nc", *argv], capsys, work, option)


@pytest.mark.parametrize("argv, option", [(["--shape-cols", "width", "depth"], "--shape-cols"),
                                          (["--covariate", "cov"], "--covariate")])
def test_bad_values_in_shape_and_covariate_columns_name_their_option(argv, option, shapes_csv, work, capsys):
    refused(["fit", shapes_csv.parent / "bad_shapes.csv", "--law", "chinchilla", "--out", "x.nc", *argv], capsys,
            work, option)


def test_an_ensemble_refuses_a_column_no_member_reads(files_dir, work, capsys):
    refused(["ensemble", files_dir / "runs.csv", "--laws", "chinchilla,chinchilla_tied", "--col", "X=params",
             "--out", "x.nc"], capsys, work, "--col X")


def test_a_fit_many_that_fits_no_curve_says_why_in_one_line(files_dir, work, capsys):
    # each value of --by loss is one run: every curve was refused on stdout, and the exit 2 had no stderr line
    line = refused(["fit-many", files_dir / "runs.csv", "--by", "loss", "--law", "chinchilla", "--out-dir", ".",
                    "--workers", "1"], capsys, work, "none of the 16 curves was fitted")
    assert "runs" in line


def test_an_empty_scheduler_address_is_refused(files_dir, work, capsys):
    refused(["fit-many", files_dir / "curves.csv", "--by", "curve", "--law", "chinchilla", "--out-dir", ".",
             "--scheduler", ""], capsys, work, "--scheduler")


@pytest.mark.parametrize("budgets", [["1e22", "1e22"], [f"{i}e21" for i in range(1, 22)]])
def test_report_budgets_are_different_and_few(budgets, files_dir, work, capsys):
    # 2000 copies of one budget ran for minutes, drawing one row and one curve each
    refused(["report", files_dir / "fit.nc", "--out", "r.md", "--no-refits", "--budgets", *budgets], capsys, work,
            "budgets must be at most 20 different values")


def test_a_missing_kaplan_fit_names_its_option(files_dir, work, capsys):
    refused(["report", files_dir / "fit.nc", "--out", "r.md", "--no-refits", "--kaplan-fits", "no.nc", "no.nc"],
            capsys, work, "--kaplan-fits")


def test_an_unknown_law_in_a_spec_file_names_the_file(files_dir, work, capsys):
    (work / "badlaw.toml").write_text("[law]\nname = 'nosuch'\n")
    line = refused(["fit", files_dir / "runs.csv", "--spec", "badlaw.toml", "--out", "x.nc"], capsys, work,
                   "spec 'badlaw.toml': unknown law 'nosuch'")
    assert "choose one of" in line


def test_a_new_projects_design_refuses_a_fitted_cost_before_drawing_from_the_prior(work, monkeypatch, capsys):
    import bayes_scaling.inference.design as design

    def never(*a, **k):
        raise AssertionError("the prior was drawn: the refusal came after the work")

    monkeypatch.setattr(design, "prior_draws", never)
    refused(["design", "--spec", "chinchilla", "--target-compute", "1e23", "--ladder-budget", "1e21", "--cost",
             "fitted"], capsys, work, "[--cost]")
