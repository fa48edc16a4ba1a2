"""Seeds at the top of the accepted range (0 .. 2^63 - 1): every seed derived from the user's (a retry, a
restart, ensemble inner fits, the leave-future-out discrepancy fit, design and report refits) stays in range
(``conventions.derived_seed``), so ``fit``, ``ensemble`` and ``backtest`` finish at ``--seed 2^63 - 1``
as they do at 0. Seeds in normal use give the streams they gave before (``seed + offset``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bayes_scaling import BayesScalingError
from bayes_scaling.cli import main
from bayes_scaling.commands.args import option_for
from bayes_scaling.conventions import MAX_SEED, check_seed, derived_seed
from bayes_scaling.examples import FILENAME

TOP = str(MAX_SEED)
EXAMPLE = Path(__file__).resolve().parents[1] / "bayes_scaling" / "examples" / FILENAME
#: Draws small enough to be quick and to fail the diagnostics, so ``fit`` retries (a derived seed).
TINY = ["--draws", "20", "--tune", "20", "--chains", "2"]


def test_derived_seed_is_the_sum_in_normal_use_and_wraps_at_the_top():
    for seed in (0, 1, 12345, 2**32 - 1, 2**32):
        for offset in (0, 1, 99, 7919, 104729 * 2):
            assert derived_seed(seed, offset) == seed + offset
    assert derived_seed(MAX_SEED, 1) == 0
    assert derived_seed(MAX_SEED, 104729) == 104728
    assert all(0 <= derived_seed(MAX_SEED - k, 10**6) <= MAX_SEED for k in range(5))


def test_a_seed_out_of_range_names_seed_and_its_option():
    for bad in (-1, MAX_SEED + 1, 1.5, True):
        with pytest.raises(BayesScalingError, match="seed must be a whole number in") as e:
            check_seed(bad)
        assert e.value.quantity == "seed" and option_for(e.value.quantity) == "--seed"
    assert check_seed(MAX_SEED) == MAX_SEED


def test_fit_retries_at_the_top_seed(tmp_path, capsys):
    rc = main(["fit", str(EXAMPLE), "--law", "chinchilla", *TINY, "--seed", TOP, "--out", str(tmp_path / "f.nc")])
    out, err = capsys.readouterr()
    assert rc == 0, err
    assert "attempt 2 of" in out or "attempt 3 of" in out, out  # a retry ran, on a derived seed
    assert (tmp_path / "f.nc").exists()


def test_ensemble_at_the_top_seed(tmp_path, capsys):
    rc = main(["ensemble", str(EXAMPLE), "--laws", "chinchilla,kaplan_nd", *TINY, "--seed", TOP,
               "--out", str(tmp_path / "e.nc")])
    assert rc == 0, capsys.readouterr().err
    assert (tmp_path / "e.nc").exists()


def test_backtest_keeps_the_discrepancy_method_at_the_top_seed(capsys):
    rc = main(["backtest", str(EXAMPLE), "--law", "chinchilla", "--holdout-fraction", "0.3", *TINY,
               "--n-boot", "20", "--seed", TOP, "--json"])
    out, err = capsys.readouterr()
    assert rc == 0, err
    methods = [m["method"] for m in json.loads(out)["methods"]]
    assert "bayes + LFO discrepancy (chinchilla)" in methods, (methods, err)


def test_a_derived_seed_refuses_a_bad_seed_before_any_stream_runs():
    from bayes_scaling.conventions import derived_seed

    for bad in (-5, 2**63, 1.5, True):
        with pytest.raises(BayesScalingError) as e:
            derived_seed(bad, 1)
        assert e.value.quantity == "seed"
