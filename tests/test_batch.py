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
    # of the same posterior. Fill the cache in another process first, so that this process and the
    # Dask worker both load the stored copy and must agree draw for draw.
    code = ("import sys; sys.path.insert(0, {tests!r}); from test_batch import _tables, KW; "
            "from bayes_scaling.inference.batch import fit_many; "
            "fit_many({{'c': _tables()['curve0']}}, law='power_x', workers=1, seed=0, draws=20, tune=20)")
    subprocess.run([sys.executable, "-c", code.format(tests=str(Path(__file__).parent))], check=True,
                   capture_output=True, timeout=600)
    return fit_many(_tables(), law="power_x", workers=1, **KW)


def test_in_process_recovers_each_curve_and_reports_unfittable_tables(in_process):
    assert set(in_process.fits) == {"curve0", "curve1", "curve2"}
    assert "too_small" in in_process.errors and "2 or more distinct values of X" in in_process.errors["too_small"]
    for i, truth in enumerate(TRUTHS):
        s = in_process.fits[f"curve{i}"].summary(ci_prob=0.99)
        assert s.loc["c0", "ci_low"] <= truth["c0"] <= s.loc["c0", "ci_high"]


def test_compiled_model_is_reused_across_curves(in_process):
    from bayes_scaling.inference import fit as fit_mod

    keys = [k for k in fit_mod._COMPILED]
    fit_many({"again": _tables()["curve0"]}, law="power_x", workers=1, **KW)
    assert list(fit_mod._COMPILED) == keys


def test_local_dask_cluster_matches_in_process(in_process):
    from distributed import Client, LocalCluster

    tables = {k: v for k, v in _tables().items() if k != "too_small"}
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        res = fit_many(tables, law="power_x", scheduler=client, **KW)
        assert len(client.scheduler_info()["workers"]) == 1
    assert set(res.fits) == set(tables)
    for name in tables:
        np.testing.assert_array_equal(res.fits[name].posterior["c0"].values, in_process.fits[name].posterior["c0"].values)


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
