"""Hostile inputs and faults: each is refused with one line (exit 2 on the command line,
``BayesScalingError`` in Python) or, where the input is legal, a clear one-line warning; nothing is
written (no output file, no temporary file) and no traceback escapes.

Classes: unit mistakes and implausible values, output faults (permissions, full disk), interrupts
(SIGINT, SIGTERM), crashes on odd input, tampered fit files, the Python API. Fits are ``fake_fit``
except the few that need the sampler (tiny draws)."""

from __future__ import annotations

import datetime
import errno
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from bayes_scaling import BayesScalingError
from bayes_scaling.cli import main
from bayes_scaling.conventions import PF_DAY_FLOPS
from bayes_scaling.data.runs import load_runs
from bayes_scaling.testing import fake_fit, runs_frame

ROOT = Path(__file__).resolve().parents[1]


# -- helpers ------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def fit_path(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("fit") / "fit.nc"
    fake_fit(draws=50).save(path)
    return path


@pytest.fixture(scope="module")
def tree(fit_path) -> xr.DataTree:
    with xr.open_datatree(fit_path, engine="h5netcdf") as t:
        return t.load()


@pytest.fixture
def work(tmp_path, monkeypatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


def files(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


def run(argv, capsys, folder: Path | None = None, code: int = 2) -> str:
    """Run the CLI in-process; check the exit code, one stderr line and (``folder``) nothing new."""
    before = files(folder) if folder else None
    rc = main([str(a) for a in argv])
    err = capsys.readouterr().err.strip()
    assert rc == code, err
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err
    if folder:
        assert files(folder) == before
    return lines[0]


def write_runs(folder: Path, name: str, transform) -> Path:
    frame = transform(runs_frame())
    path = folder / name
    frame.to_csv(path, index=False)
    return path


# -- unit mistakes and implausible values (data layer) ------------------------------------------

UNIT_MISTAKES = {
    "loss x80": (lambda f: f.assign(loss=f["loss"] * 80), [], "loss up to"),
    "loss in percent of 10": (lambda f: f.assign(loss=f["loss"] * 10), [], "loss up to"),
    "N in millions, no compute": (lambda f: f.drop(columns="compute").assign(params=f["params"] / 1e6), [],
                                  "parameters N spans"),
    "D in millions": (lambda f: f.drop(columns="compute").assign(tokens=f["tokens"] / 1e6), [], "tokens per parameter"),
    "FLOPs read as PF-days": (lambda f: f.drop(columns="tokens"), ["--compute-unit", "pf-days"], "training tokens D"),
    "C off by 1e3": (lambda f: f.assign(compute=f["compute"] * 1e3), [], "thousands"),
    "C off by 1e6": (lambda f: f.assign(compute=f["compute"] / 1e6), [], "millions"),
}


@pytest.mark.parametrize("case", list(UNIT_MISTAKES))
def test_unit_mistakes_fail_under_strict_before_the_fit(case, work, capsys):
    transform, extra, match = UNIT_MISTAKES[case]
    path = write_runs(work, "runs.csv", transform)
    line = run(["fit", path, "--law", "chinchilla", "--out", "fit.nc", "--strict", *extra], capsys, work)
    assert "implausible runs" in line and match in line


#: Unit mistakes that leave a count below 1 (parameters, tokens, FLOPs): refused with or without --strict.
IMPOSSIBLE_UNITS = {
    "N in billions": (lambda f: f.assign(params=f["params"] / 1e9), "parameters column 'params' has", "[--params-col]"),
    "PF-days read as FLOPs": (lambda f: f.assign(compute=f["compute"] / PF_DAY_FLOPS),
                              "compute column 'compute' gives", "--compute-unit pf-days"),
}


@pytest.mark.parametrize("case", list(IMPOSSIBLE_UNITS))
@pytest.mark.parametrize("strict", [[], ["--strict"]])
def test_counts_below_one_are_refused_with_or_without_strict(case, strict, work, capsys):
    transform, match, option = IMPOSSIBLE_UNITS[case]
    path = write_runs(work, "runs.csv", transform)
    line = run(["fit", path, "--law", "chinchilla", "--out", "fit.nc", *strict], capsys, work)
    assert match in line and option in line and "below 1" in line


@pytest.mark.parametrize("case", ["loss x80", "N in millions, no compute", "FLOPs read as PF-days", "C off by 1e3"])
def test_unit_mistakes_warn_in_one_line_and_are_kept_in_the_notes(case):
    transform, extra, match = UNIT_MISTAKES[case]
    unit = "pf-days" if extra else "flops"
    with pytest.warns(UserWarning, match="implausible runs") as rec:
        runs = load_runs(transform(runs_frame()), compute_unit=unit)
    assert all("\n" not in str(w.message) for w in rec)
    assert any(match in n for n in runs.notes)
    with pytest.raises(BayesScalingError, match=match):
        load_runs(transform(runs_frame()), compute_unit=unit, strict=True)


def test_plausible_runs_raise_no_warning(recwarn):
    load_runs(runs_frame(), strict=True)
    assert not [w for w in recwarn if "implausible" in str(w.message)]


def test_a_prior_data_conflict_warns_or_fails_under_strict():
    from bayes_scaling.inference.checks import check_posterior

    far = fake_fit(truth={"E": 1.8, "A": 450.0, "B": 2000.0, "alpha": 0.34, "beta": 0.36}, draws=50)
    assert check_posterior(far, strict=False) == []
    conflict = fake_fit(truth={"E": 12.0, "A": 450.0, "B": 2000.0, "alpha": 0.34, "beta": 0.36}, draws=50)
    with pytest.warns(UserWarning, match=r"prior-data conflict: E.s posterior median 1[12]\.\d+ is above the 99.9% quantile"):
        check_posterior(conflict, strict=False)
    with pytest.raises(BayesScalingError, match="prior-data conflict"):
        check_posterior(conflict, strict=True)


@pytest.mark.parametrize("query, where", [(["--params", "1e3", "--tokens", "1e3"], "below the smallest"),
                                          (["--params", "1e14", "--tokens", "1e16"], "beyond the largest")])
def test_predictions_far_below_or_beyond_the_data_are_flagged(query, where, fit_path, capsys):
    assert main(["predict", str(fit_path), *query]) == 0
    out = capsys.readouterr().out
    assert f"WARNING: extrapolates" in out and where in out


@pytest.mark.parametrize("option, flag", [("--x", "--x"), ("--steps", "--steps"), ("--unique-tokens", "--unique-tokens")])
def test_options_the_law_does_not_use_are_refused(option, flag, fit_path, capsys):
    line = run(["predict", fit_path, "--params", "1e9", "--tokens", "2e10", option, "5"], capsys)
    assert "does not use" in line and line.endswith(f"[{flag}]")


# -- output faults ------------------------------------------------------------------------------

def _fake_fit_instead_of_sampling(monkeypatch):
    import bayes_scaling.inference.fit as fit_module

    monkeypatch.setattr(fit_module, "fit", lambda *a, **k: fake_fit(draws=20))


@pytest.mark.parametrize("code, words", [(errno.ENOSPC, "disk is full"), (errno.EDQUOT, "quota"),
                                         (errno.EIO, "Input/output error")])
def test_a_failing_write_during_the_save_is_one_line_and_leaves_no_file(code, words, work, monkeypatch, capsys):
    runs = write_runs(work, "runs.csv", lambda f: f)
    _fake_fit_instead_of_sampling(monkeypatch)

    def fail(fd):
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(os, "fsync", fail)
    line = run(["fit", runs, "--law", "chinchilla", "--out", "fit.nc"], capsys, work)
    assert "fit.nc" in line and words in line


@pytest.mark.parametrize("code, words", [(errno.EACCES, "permission denied"), (errno.EROFS, "read-only")])
def test_an_unwritable_output_folder_is_refused_before_the_fit(code, words, work, monkeypatch, capsys):
    runs = write_runs(work, "runs.csv", lambda f: f)
    called = []
    import bayes_scaling.inference.fit as fit_module

    monkeypatch.setattr(fit_module, "fit", lambda *a, **k: called.append(1))

    def refuse(*a, **k):
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    line = run(["fit", runs, "--law", "chinchilla", "--out", "fit.nc"], capsys, work)
    assert words in line and not called


@pytest.mark.parametrize("out, words", [("sub.nc", "is a folder"), ("missing/fit.nc", "does not exist")])
def test_bad_output_places_are_refused(out, words, work, capsys):
    (work / "sub.nc").mkdir()
    runs = write_runs(work, "runs.csv", lambda f: f)
    assert words in run(["fit", runs, "--law", "chinchilla", "--out", out], capsys, work)


def test_an_interrupt_during_the_save_leaves_no_file(work, monkeypatch, capsys):
    runs = write_runs(work, "runs.csv", lambda f: f)
    _fake_fit_instead_of_sampling(monkeypatch)

    def interrupt(fd):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "fsync", interrupt)
    line = run(["fit", runs, "--law", "chinchilla", "--out", "fit.nc"], capsys, work, code=130)
    assert "interrupted" in line


def _cli_with_hooks(tmp: Path, hook: str) -> Path:
    """A driver script: ``hook`` (Python) runs before the CLI's main, e.g. to patch in a marker."""
    script = tmp / "driver.py"
    script.write_text(f"import os, sys, time\n{hook}\nfrom bayes_scaling.cli import main\nraise SystemExit(main(sys.argv[1:]))\n")
    return script


def _signal_when(args: list[str], marker: str, sig: int, cwd: Path, delay: float = 0.5) -> tuple[int, str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    p = subprocess.Popen([sys.executable, *args], cwd=cwd, env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL,
                         text=True, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        for line in p.stderr:
            if marker in line:
                break
        time.sleep(delay)
        p.send_signal(sig)
        err = p.stderr.read()
        return p.wait(timeout=60), err
    finally:
        p.kill() if p.poll() is None else None


SLOW_SAVE = """
import bayes_scaling.inference.fit as fm
from bayes_scaling.testing import fake_fit
fm.fit = lambda *a, **k: fake_fit(draws=20)
def slow(fd):
    print("SAVING", file=sys.stderr, flush=True)
    time.sleep(30)
os.fsync = slow
"""


@pytest.mark.parametrize("sig, code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_signal_during_the_save_exits_with_its_code_and_leaves_no_file(sig, code, tmp_path):
    write_runs(tmp_path, "runs.csv", lambda f: f)
    driver = _cli_with_hooks(tmp_path, SLOW_SAVE)
    before = files(tmp_path)
    rc, err = _signal_when([str(driver), "fit", "runs.csv", "--law", "chinchilla", "--out", "fit.nc"], "SAVING", sig,
                           tmp_path, delay=0.2)
    assert rc == code and err.strip().startswith("error: interrupted") and "Traceback" not in err
    assert files(tmp_path) == before


@pytest.mark.sampling
def test_ctrl_c_during_sampling_is_not_a_stuck_chain(tmp_path):
    """nutpie returns the draws so far on Ctrl-C; the fit must not restart and save them."""
    write_runs(tmp_path, "runs.csv", lambda f: f)
    driver = _cli_with_hooks(tmp_path, """
import nutpie
_sample = nutpie.sample
def marked(*a, **k):
    print("SAMPLING", file=sys.stderr, flush=True)
    return _sample(*a, **k)
nutpie.sample = marked
""")
    before = files(tmp_path)
    rc, err = _signal_when([str(driver), "fit", "runs.csv", "--law", "chinchilla", "--out", "fit.nc", "--draws",
                            "200000", "--tune", "50", "--chains", "2", "--seed", "1"], "SAMPLING", signal.SIGINT, tmp_path)
    assert rc == 130 and err.strip().splitlines() == ["error: interrupted by Ctrl-C (SIGINT)"], err
    assert files(tmp_path) == before


# -- crashes on odd input -----------------------------------------------------------------------

@pytest.mark.parametrize("argv, match", [
    (["--seed", str(2**64 + 1)], "--seed"),
    (["--seed", "-3"], "--seed"),
    (["--group-col", "arch/x"], "cannot be stored"),
    (["--group-col", "arch"], "is empty in data row"),
])
def test_odd_fit_options_are_one_line(argv, match, work, capsys):
    runs = write_runs(work, "runs.csv", lambda f: f.assign(**{"arch/x": ["a", "b"] * 8,
                                                              "arch": ["a", "b", None, "b"] * 4}))
    assert match in run(["fit", runs, "--law", "chinchilla", "--out", "fit.nc", *argv], capsys, work)


@pytest.mark.parametrize("address", ["tcp://:::x", "tcp://host:notaport", "nonsense://"])
def test_a_malformed_scheduler_address_is_one_line(address, work, capsys):
    runs = write_runs(work, "runs.csv", lambda f: f.assign(curve=["a", "b"] * 8))
    line = run(["fit-many", runs, "--by", "curve", "--law", "chinchilla", "--out-dir", ".", "--scheduler", address],
               capsys, work)
    assert "Dask scheduler" in line
    import dask

    # the failed Client must not leave dask's global scheduler pointing at itself (later writes would fail)
    assert dask.config.get("scheduler", None) is None
    fake_fit(draws=5).save(work / "after.nc")


def test_a_deeply_nested_spec_is_one_line(work, capsys):
    (work / "deep.toml").write_text("[law]\nname = 'chinchilla'\n[provenance]\nx = " + "[" * 50000 + "]" * 50000 + "\n")
    runs = write_runs(work, "runs.csv", lambda f: f)
    assert "nests" in run(["fit", runs, "--spec", "deep.toml", "--out", "fit.nc"], capsys, work)


def test_frontier_points_are_bounded(fit_path, capsys):
    line = run(["frontier", fit_path, "--compute-min", "1e20", "--compute-max", "1e22", "--points", "100000000"], capsys)
    assert "--points" in line


@pytest.mark.sampling
def test_priors_with_absurd_scales_fail_the_sampler_start_in_one_line():
    from bayes_scaling.inference.fit import fit
    from bayes_scaling.specs.spec import load_spec, parse_spec

    text = load_spec("chinchilla").text.replace("mu = 0.5\n", "mu = 1e300\n", 1)
    with pytest.raises(BayesScalingError, match="priors are likely at fault"):
        fit(load_runs(runs_frame()), spec=parse_spec(text), draws=10, tune=10, chains=2, seed=1)


# -- tampered fit files -------------------------------------------------------------------------

def _attrs(**kw):
    return lambda t: t.attrs.update(kw)


def _drop(group, var):
    def edit(t):
        t[group] = xr.DataTree(t[group].to_dataset().drop_vars(var))
    return edit


def _nan(t):
    post = t["posterior"].to_dataset()
    post["E"] = post["E"].where(post["draw"] != 3)
    t["posterior"] = xr.DataTree(post)


TAMPERED = {
    "malformed JSON attribute": (_attrs(runs_metadata="{not json"), "not valid JSON"),
    "attribute of the wrong type": (_attrs(hierarchy="[1, 2]"), "not a JSON object"),
    "diagnostics without their fields": (_attrs(diagnostics='{"r_hat_max": 1}'), "damaged"),
    "spec that does not parse": (_attrs(spec_text="[law]\nname = 'nope'"), "spec does not parse"),
    "spec of another law": (_attrs(law="kaplan_n"), "is not its law"),
    "seed that is not a number": (_attrs(sampler_config='{"seed": "abc"}'), "damaged"),
    "missing variable": (_drop("posterior", "A"), "['A']"),
    "missing input": (_drop("constant_data", "N"), "lack ['N']"),
    "NaN posterior": (_nan, "non-finite"),
}


@pytest.mark.parametrize("case", list(TAMPERED))
def test_tampered_fit_files_fail_in_one_line(case, tree, tmp_path, capsys):
    edit, match = TAMPERED[case]
    t = tree.copy()
    t.attrs = dict(tree.attrs)
    edit(t)
    path = tmp_path / "tampered.nc"
    t.to_netcdf(path, engine="h5netcdf")
    for argv in (["summary", path], ["predict", path, "--params", "1e9", "--tokens", "2e10", "--json"]):
        assert match in run(argv, capsys)


def test_a_truncated_fit_file_fails_in_one_line(fit_path, tmp_path, capsys):
    path = tmp_path / "cut.nc"
    path.write_bytes(fit_path.read_bytes()[:5000])
    assert "not a bayes_scaling fit" in run(["summary", path], capsys)


def test_json_output_never_writes_nan(capsys):
    from bayes_scaling.commands.output import emit

    emit(record={"a": np.float32("nan"), "b": [float("inf"), np.float64(1.5)]}, as_json=True)
    out = capsys.readouterr().out
    assert "NaN" not in out and "Infinity" not in out and "null" in out


# -- the Python API -----------------------------------------------------------------------------

@pytest.mark.parametrize("loss", [
    lambda f: f["loss"] > 3,
    lambda f: f["loss"].astype(complex),
    lambda f: pd.to_timedelta(f["loss"], unit="s"),
    lambda f: f["loss"].astype(object).where(f.index != 2, True),
], ids=["bool", "complex", "timedelta", "one bool"])
def test_losses_that_are_not_real_numbers_are_refused(loss):
    frame = runs_frame()
    with pytest.raises(BayesScalingError, match="not numbers"):
        load_runs(frame.assign(loss=loss(frame)))


@pytest.fixture(scope="module")
def chin():
    return fake_fit(draws=50)


@pytest.mark.parametrize("N", [True, [1e9, False], 1e9 + 2j, np.array([1e9], complex), datetime.timedelta(days=1),
                               np.array([1], "timedelta64[s]"), "big", ["1e9", "x"], np.datetime64("2024-01-01")],
                         ids=["bool", "bool in list", "complex", "complex array", "timedelta", "timedelta64", "text",
                              "text in list", "datetime"])
def test_predict_refuses_inputs_that_are_not_real_numbers(N, chin):
    with pytest.raises(BayesScalingError, match="parameters N must be a number"):
        chin.predict(N=N, D=2e10)


def test_predict_refuses_an_input_the_law_does_not_use(chin):
    with pytest.raises(BayesScalingError, match="does not use scale axis X") as e:
        chin.predict(N=1e9, D=2e10, X=5)
    assert e.value.quantity == "X"


def test_two_million_queries_are_refused_before_allocating(chin):
    n = 2_000_000
    with pytest.raises(BayesScalingError, match="split the query into chunks"):
        chin.predict(N=np.full(n, 1e9), D=np.full(n, 2e10))


def test_many_budgets_are_refused_before_allocating(chin):
    from bayes_scaling.queries.allocate import compute_optimal

    with pytest.raises(BayesScalingError, match="at most"):
        compute_optimal(chin, np.geomspace(1e20, 1e22, 10_000_000))


def test_save_onto_a_folder_or_a_missing_folder_is_one_line(chin, tmp_path):
    with pytest.raises(BayesScalingError, match="is a folder"):
        chin.save(tmp_path)
    with pytest.raises(BayesScalingError, match="does not exist"):
        chin.save(tmp_path / "missing" / "fit.nc")
    assert files(tmp_path) == set()


def test_save_onto_a_read_only_place_or_a_full_disk_is_one_line(chin, tmp_path, monkeypatch):
    def refuse(*a, **k):
        raise PermissionError(errno.EACCES, "Permission denied")

    with monkeypatch.context() as m:
        m.setattr(tempfile, "mkstemp", refuse)
        with pytest.raises(BayesScalingError, match="permission denied"):
            chin.save(tmp_path / "fit.nc")

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(BayesScalingError, match="disk is full"):
        chin.save(tmp_path / "fit.nc")
    assert files(tmp_path) == set()


def test_a_seed_beyond_64_bits_is_refused_by_the_sampler_call():
    from bayes_scaling.inference.sampling import sample_nuts

    with pytest.raises(BayesScalingError, match=r"seed must be a whole number in \[0, 2\^63 - 1\]") as e:
        sample_nuts(None, seed=2**64 + 1)
    assert e.value.quantity == "seed"  # the command line names --seed


def test_an_interrupt_lost_in_a_finalizer_is_raised_again_and_writes_no_file(tmp_path):
    """Python drops an exception raised inside a finalizer (numba runs them while it compiles), so the
    command line records each interrupt: the next checkpoint raises it, and no file is renamed into place."""
    import gc

    from bayes_scaling import errors
    from bayes_scaling.files import atomic_path

    class Finalized:
        def __del__(self):
            errors.RECEIVED_INTERRUPTS.append(KeyboardInterrupt)  # what the CLI's handler records
            raise KeyboardInterrupt

    try:
        with pytest.raises(KeyboardInterrupt):
            with atomic_path(tmp_path / "fit.nc") as tmp:
                tmp.write_text("half")
                Finalized()  # its KeyboardInterrupt is swallowed ("Exception ignored in ...")
                gc.collect()
        assert sorted(tmp_path.iterdir()) == []
    finally:
        errors.RECEIVED_INTERRUPTS.clear()


def test_compiled_kernels_leave_nothing_in_the_temp_folder(tmp_path):
    """PyTensor writes each compiled kernel's source to a new temp file it never removes, unless its
    generated_src_dir is set: the package sets it to the compile folder (a user's own setting wins)."""
    script = ("import os, pytensor, numpy as np\n"
              "from bayes_scaling.inference.design import prior_draws\n"
              "from bayes_scaling.specs.spec import load_spec\n"
              "values, sigma = prior_draws(load_spec('chinchilla'), n=5)\n"
              "assert np.all(np.isfinite(sigma))\n"
              "print(pytensor.config.generated_src_dir)\n")
    env = {**os.environ, "TMPDIR": str(tmp_path / "tmp"), "PYTENSOR_FLAGS": f"base_compiledir={tmp_path / 'cache'}"}
    (tmp_path / "tmp").mkdir()
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == str(tmp_path / "cache" / "generated_src")
    assert list((tmp_path / "tmp").iterdir()) == []
    assert list((tmp_path / "cache" / "generated_src").glob("m*.py"))  # the source went there instead
    env["PYTENSOR_FLAGS"] += f",generated_src_dir={tmp_path / 'mine'}"
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0 and out.stdout.strip() == str(tmp_path / "mine"), out.stderr


def test_an_unusable_generated_source_folder_falls_back_to_pytensors_temp_files(tmp_path):
    script = ("import pytensor\nfrom bayes_scaling.files import keep_generated_source_in_cache\n"
              "keep_generated_source_in_cache()\nprint(repr(pytensor.config.generated_src_dir))\n")
    (tmp_path / "cache").mkdir()
    (tmp_path / "cache" / "generated_src").write_text("a file where the folder would go")
    env = {**os.environ, "PYTENSOR_FLAGS": f"base_compiledir={tmp_path / 'cache'}"}
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "''", out.stderr
