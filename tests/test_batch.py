"""Batch fits: many curves, one compiled model per worker; in-process, local process pool and a
local Dask cluster that the test starts and stops. Results are seeded, so every route agrees."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import bayes_scaling as bs
from bayes_scaling.cli import main
from bayes_scaling.inference.batch import fit_many
from bayes_scaling.simulate import simulate_runs

pytestmark = pytest.mark.sampling
TRUTHS = [{"E": 0.5, "B": 20.0, "c0": c} for c in (0.35, 0.45, 0.55)]
KW = {"seed": 3, "draws": 300, "tune": 300}


def _tables():
    out = {}
    for i, truth in enumerate(TRUTHS):
        frame = simulate_runs("power_x", truth, pd.DataFrame({"X": np.geomspace(10, 1e5, 12)}), sigma=0.01, seed=i)
        out[f"curve{i}"] = bs.load_runs(frame, params_col=None, tokens_col=None, compute_col=None, extra_cols={"X": "X"})
    # one distinct X: a degenerate design (few runs alone are fitted, prior-dominated, with proper priors)
    tiny = simulate_runs("power_x", TRUTHS[0], pd.DataFrame({"X": [100.0, 100.0, 100.0]}), seed=9)
    out["too_small"] = bs.load_runs(tiny, params_col=None, tokens_col=None, compute_col=None, extra_cols={"X": "X"})
    return out


@pytest.fixture(scope="module")
def in_process():
    # The process that first stores the compiled callbacks in the disk cache can differ from later
    # processes in the last bit of the log density (inference/compile.py), and then takes other draws
    # of the same posterior. Fill the cache in another process first, so that later processes (a
    # Dask worker, fresh_process_c0) load the stored copy and must agree draw for draw.
    code = ("import sys; sys.path.insert(0, {tests!r}); from test_batch import _tables, KW; "
            "from bayes_scaling.inference.batch import fit_many; "
            "fit_many({{'c': _tables()['curve0']}}, law='power_x', workers=1, seed=0, draws=20, tune=20)")
    subprocess.run([sys.executable, "-c", code.format(tests=str(Path(__file__).parent))], check=True,
                   capture_output=True, timeout=600)
    return fit_many(_tables(), law="power_x", workers=1, **KW)


@pytest.fixture(scope="module")
def fresh_process_c0(in_process, tmp_path_factory):
    """The in-process route's c0 draws of each curve, from a new process that loads the stored
    callbacks. This process may have compiled a power_x model itself before ``in_process`` filled the
    cache (an earlier test in the same process, e.g. under pytest-xdist, which runs files in any order),
    and would then keep its own build and take other draws than a Dask worker."""
    out = tmp_path_factory.mktemp("batch") / "c0.npz"
    code = ("import sys; sys.path.insert(0, {tests!r}); import numpy as np; from test_batch import _tables, KW; "
            "from bayes_scaling.inference.batch import fit_many; "
            "res = fit_many(_tables(), law='power_x', workers=1, **KW); "
            "np.savez({out!r}, **{{k: f.posterior['c0'].values for k, f in res.fits.items()}})")
    subprocess.run([sys.executable, "-c", code.format(tests=str(Path(__file__).parent), out=str(out))], check=True,
                   capture_output=True, timeout=600)
    with np.load(out) as c0:
        return dict(c0)


def test_in_process_recovers_each_curve_and_reports_unfittable_tables(in_process):
    assert set(in_process.fits) == {"curve0", "curve1", "curve2"}
    assert "too_small" in in_process.errors and "2 or more distinct values of X" in in_process.errors["too_small"]
    for i, truth in enumerate(TRUTHS):
        s = in_process.fits[f"curve{i}"].summary(ci_prob=0.99)
        assert s.loc["c0", "ci_low"] <= truth["c0"] <= s.loc["c0", "ci_high"]


def test_compiled_model_is_reused_across_curves(in_process, monkeypatch):
    """After the in-process batch, another curve of the same law compiles nothing: the cache holds the
    compiled model and the same objects stay in it."""
    from bayes_scaling.inference import fit as fit_mod

    held = dict(fit_mod._COMPILED)
    assert held, "the batch's compiled model is not in the cache"
    compiles = []
    real = fit_mod.compile_nutpie_model
    monkeypatch.setattr(fit_mod, "compile_nutpie_model", lambda *a, **k: compiles.append(1) or real(*a, **k))
    res = fit_many({"again": _tables()["curve0"]}, law="power_x", workers=1, **KW)
    assert set(res.fits) == {"again"} and compiles == []
    assert set(fit_mod._COMPILED) == set(held) and all(fit_mod._COMPILED[k] is v for k, v in held.items())


def test_local_dask_cluster_matches_in_process(fresh_process_c0):
    from distributed import Client, LocalCluster

    tables = {k: v for k, v in _tables().items() if k != "too_small"}
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        res = fit_many(tables, law="power_x", scheduler=client, **KW)
        assert len(client.scheduler_info()["workers"]) == 1
    assert set(res.fits) == set(tables)
    for name in tables:
        np.testing.assert_array_equal(res.fits[name].posterior["c0"].values, fresh_process_c0[name])


def test_unreachable_scheduler_is_one_clear_error():
    with pytest.raises(bs.BayesScalingError, match="cannot reach the Dask scheduler"):
        fit_many({"a": _tables()["curve0"]}, law="power_x", scheduler="tcp://127.0.0.1:9", **KW)


def test_fit_many_cli(tmp_path, capsys):
    frames = [simulate_runs("power_x", t, pd.DataFrame({"X": np.geomspace(10, 1e5, 12)}), seed=i).assign(curve=f"k{i}")
              for i, t in enumerate(TRUTHS[:2])]
    path = tmp_path / "curves.csv"
    pd.concat(frames).to_csv(path, index=False)
    out = tmp_path / "fits"
    out.mkdir()
    args = ["fit-many", str(path), "--by", "curve", "--law", "power_x", "--col", "X=X", "--params-col", "",
            "--tokens-col", "", "--compute-col", "", "--out-dir", str(out), "--workers", "1", "--draws", "300",
            "--tune", "300"]
    assert main(args) == 0
    assert sorted(p.name for p in out.iterdir()) == ["k0.nc", "k1.nc"]
    capsys.readouterr()
    assert main([*args[:3], "nope", *args[4:]]) == 2
    assert "--by column 'nope' not found" in capsys.readouterr().err


def test_fit_many_cli_refuses_two_values_saved_under_one_name(tmp_path, capsys):
    frame = simulate_runs("power_x", TRUTHS[0], pd.DataFrame({"X": np.geomspace(10, 1e5, 12)}), seed=0)
    path = tmp_path / "curves.csv"
    pd.concat([frame.assign(curve="a b"), frame.assign(curve="a/b")]).to_csv(path, index=False)
    out = tmp_path / "fits"
    out.mkdir()
    args = ["fit-many", str(path), "--by", "curve", "--law", "power_x", "--col", "X=X", "--params-col", "",
            "--tokens-col", "", "--compute-col", "", "--out-dir", str(out), "--workers", "1"]
    assert main(args) == 2
    assert "would both be saved as a_b.nc" in capsys.readouterr().err
    assert not any(out.iterdir())


def test_progress_callback_counts_every_curve_and_records_match_the_fits(in_process):
    calls = []
    tables = {k: v for k, v in _tables().items() if k in ("curve0", "too_small")}
    res = fit_many(tables, law="power_x", workers=1, chunk=1, progress=lambda *a: calls.append(a), **KW)
    assert [c[0] for c in calls] == [1, 2] and calls[-1][2] == 1  # done 1, 2; one table not fitted
    assert calls[-1][1] == (0 if res.records["curve0"]["ok"] else 1)
    rec = res.records["curve0"]
    assert rec["n_runs"] == 12 and rec["attempts"] >= 1
    assert rec["c0"] == pytest.approx(float(in_process.fits["curve0"].posterior["c0"].median()))
    assert rec["ok"] == in_process.fits["curve0"].diagnostics.ok and res.passed == int(rec["ok"])


def _fit_many_args(tmp_path, out_name):
    path = tmp_path / "curves.csv"
    if not path.exists():
        pd.concat([simulate_runs("power_x", t, pd.DataFrame({"X": np.geomspace(10, 1e5, 12)}), seed=i).assign(
            curve=f"k{i}") for i, t in enumerate(TRUTHS[:2])]).to_csv(path, index=False)
    (tmp_path / out_name).mkdir()
    return ["fit-many", str(path), "--by", "curve", "--law", "power_x", "--col", "X=X", "--params-col", "",
            "--tokens-col", "", "--compute-col", "", "--out-dir", str(tmp_path / out_name), "--workers", "1",
            "--draws", "300", "--tune", "300", "--seed", "3"]


def test_fit_many_progress_when_asked_and_never_under_json(tmp_path, capsys, monkeypatch):
    import json
    import sys

    assert main([*_fit_many_args(tmp_path, "a"), "--progress"]) == 0
    cap = capsys.readouterr()
    assert "fit-many 2/2 curves (100%)" in cap.err and "curves/s" in cap.err and "ETA" in cap.err
    assert "fit-many" not in cap.out and "2 of 2 curves fitted" in cap.out
    assert main(_fit_many_args(tmp_path, "b")) == 0  # not a terminal: quiet by default
    assert "fit-many" not in capsys.readouterr().err
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)  # a terminal, but --json: quiet
    assert main([*_fit_many_args(tmp_path, "c"), "--json"]) == 0
    cap = capsys.readouterr()
    assert "fit-many" not in cap.err
    record = json.loads(cap.out)
    assert record["summary"]["curves"] == 2 and record["summary"]["fitted"] == 2
    assert {r["name"] for r in record["fits"]} == {"k0", "k1"}


def test_interrupt_stops_the_local_workers_and_leaves_only_complete_files(tmp_path):
    import multiprocessing

    tables = {f"c{i}": _tables()[f"curve{i % 3}"] for i in range(6)}
    out = {name: tmp_path / f"{name}.nc" for name in tables}

    def stop(done, failed, errors):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        fit_many(tables, law="power_x", workers=2, chunk=1, out=out, keep=False, progress=stop, **KW)
    assert not multiprocessing.active_children()  # every worker stopped
    written = sorted(p.name for p in tmp_path.iterdir())
    assert written and all(not n.startswith(".") for n in written) and len(written) < len(tables)
    for name in written:  # each file written is a complete fit
        assert bs.load_fit(tmp_path / name).diagnostics.n_chains == 4
