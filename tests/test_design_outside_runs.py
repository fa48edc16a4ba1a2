"""Fixes from the second lab-user review of run design: candidates flagged against the runs' N and C as well as their
shapes (with a stated tolerance), a grid that never starts below the smallest run, top-budget rungs kept despite
float rounding, and the JSON batch's ``candidate`` pointing at the emitted list. Posteriors from ``fake_fit``."""

from __future__ import annotations

import json

import numpy as np
import pytest

from bayes_scaling.cli import main
from bayes_scaling.cost import CostLaw
from bayes_scaling.errors import BayesScalingError
from bayes_scaling.queries.allocate import decide
from bayes_scaling.queries.design import design_runs
from bayes_scaling.queries.design_shapes import DATA_RTOL, DataBox, candidate_grid, data_box
from bayes_scaling.testing import fake_fit

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")

BASE = ["--target-compute", "1e23", "--batch", "2", "--worlds", "16", "--max-refits", "0", "--json"]


@pytest.fixture(scope="module")
def res():
    return fake_fit(draws=200)


@pytest.fixture(scope="module")
def fit_file(res, tmp_path_factory):
    return str(res.save(tmp_path_factory.mktemp("uf2") / "fit.nc"))


def test_grid_starts_at_the_smallest_run_and_refuses_a_budget_below_it():
    n, d = candidate_grid([1e20, 1e21], 3e21)  # before: from budget / 100 = 3e19, below every run
    c = 6 * n * d
    assert c.min() == pytest.approx(1e20, rel=1e-9) and c.max() == pytest.approx(3e21, rel=1e-9)
    n, d = candidate_grid([1e20, 1e21], 1e20)  # a budget equal to the smallest run: one rung, no repeats
    assert len(n) == 10 and np.allclose(6 * n * d, 1e20)
    with pytest.raises(BayesScalingError, match="below the fit's smallest run") as e:
        candidate_grid([1e20, 1e21], 1e15)
    assert e.value.quantity == "ladder_budget"


def test_cli_refuses_a_ladder_budget_below_the_smallest_run(fit_file, capsys):
    """The refusal names --ladder-budget and --candidates, and the least budget in the unit the user typed, which
    is then accepted."""
    from bayes_scaling.commands.args import option_for

    assert option_for("ladder_budget") == "--ladder-budget"  # the library's refusal names the flag too
    assert main(["design", fit_file, *BASE, "--ladder-budget", "1e15"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--ladder-budget 1e+15 FLOPs is below the fit's smallest run (1e+18 FLOPs)" in err
    assert "at least 1e+18 FLOPs" in err and "--candidates FILE" in err
    target = ["--target-compute", f"{1e23 / 8.64e19:.6g}"]
    assert main(["design", fit_file, *target, *BASE[2:], "--compute-unit", "pf-days", "--ladder-budget", "1e-05"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--ladder-budget 1e-05 PF-days is below the fit's smallest run (0.0116 PF-days" in err
    assert "at least 0.0116 PF-days" in err and "--candidates FILE" in err
    assert main(["design", fit_file, *target, *BASE[2:], "--compute-unit", "pf-days", "--ladder-budget", "0.0116"]) == 0


def test_top_budget_rungs_survive_float_rounding(res):
    """6 N D of a rung priced back from the budget can be an ulp above it; the top budget's 10 rungs are kept
    (before, 3 of 100 were dropped at 1e21), none costing more than the budget."""
    n, d = candidate_grid([2.18e18], 1e21)
    assert np.sum(6 * n * d > 1e21) > 0  # the rounding this guards against
    des = design_runs(res, 1e23, 1e21, n, d, batch=1, worlds=8, max_draws=100, exchange=0)
    assert len(des.cost) == 100 and np.sum(np.isclose(des.cost, 1e21, rtol=1e-12)) == 10 and des.cost.max() <= 1e21


def test_data_box_flags_n_and_c_beyond_the_runs_with_a_stated_tolerance():
    box = DataBox((10.01, 200.0), (1e8, 1e9), (1e18, 1e20))
    n = np.array([3e8, 3e8, 3e8, 1e7, 3e8])
    d = n * np.array([10.0, 9.8, 20.0, 20.0, 20.0])
    c = np.array([1e19, 1e19, 1e19, 1e19, 1e21])
    out = box.outside(n, d, c)
    assert out["shapes"].tolist() == [False, True, False, False, False]  # 10.0 is within 1% of 10.01
    assert out["N"].tolist() == [False, False, False, True, False]
    assert out["C"].tolist() == [False, False, False, False, True]
    assert box.where(n, d, c) == ["", "D/N", "", "N", "C"]
    assert DATA_RTOL == 0.01


def test_cli_flags_n_and_c_and_indexes_the_emitted_list(res, fit_file, tmp_path, capsys):
    """A candidates file with runs far below the ladder (N 1e4, C ~1e11 FLOPs) and one inside: the small ones are
    flagged in N and C, the JSON batch's ``candidate`` is a row of the emitted ``candidates``, and the verdict
    counts its runs outside the data's N or C."""
    box = data_box(res, CostLaw("6nd"))
    f = res.runs.frame
    rows = [(1e4, 2e6), (2e4, 1e6), (float(np.sqrt(f["N"].min() * f["N"].max())), 0.0)]
    rows[2] = (rows[2][0], 20 * rows[2][0])
    path = tmp_path / "cands.csv"
    path.write_text("params,tokens\n" + "".join(f"{a!r},{b!r}\n" for a, b in rows))
    assert main(["design", fit_file, *BASE, "--ladder-budget", "3e21", "--candidates", str(path)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["data_params"] == list(box.params) and out["data_compute_flops"] == list(box.compute)
    small = [r for r in out["candidates"] if r["N"] < 1e5]
    assert len(small) == 2 and all(r["outside_data_N"] and r["outside_data_C"] for r in small)
    assert all(r["outside_data"] in ("N,C", "D/N,N,C") for r in small)
    assert out["candidates_outside_data_scale"] == 2
    for b in out["batch"]:
        row = out["candidates"][b["candidate"]]
        assert (row["N"], row["D"]) == (b["N"], b["D"])
    sg = out["stop_or_go"]
    picks = ([(st["N"], st["D"]) for st in sg["steps"][:sg["go_runs"]]] if sg["go_batch"] == "reported" else
             [(p["N"], p["D"]) for a in sg["alternatives"] if a["rule"] == sg["go_batch"] for p in a["picks"][:sg["go_runs"]]])
    assert out["verdict_runs_outside_data_scale"] == sum(a < 1e5 for a, _ in picks)
    assert (out["verdict_scale_warning"] is None) == (out["verdict_runs_outside_data_scale"] == 0)


def test_cli_grid_batch_indexes_the_emitted_list(fit_file, capsys):
    assert main(["design", fit_file, *BASE, "--ladder-budget", "3e21", "--batch", "3"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["batch"]
    for b in out["batch"]:
        row = out["candidates"][b["candidate"]]
        assert (row["N"], row["D"]) == (b["N"], b["D"])


def test_a_new_projects_ladder_keeps_to_the_trusted_shapes(capsys):
    """design --spec spanned D/N 0.69-14,366 (the prior's N* window, width 10, with no cut); every design now keeps
    to the trusted shapes, as a fit's design grid does, at the same cost."""
    from bayes_scaling.conventions import TRUSTED_TOKENS_PER_PARAM
    from bayes_scaling.inference.design import prior_draws
    from bayes_scaling.inference.fit import resolve_spec
    from bayes_scaling.queries.design_prior import PriorLadder, isoflop_grids

    spec = resolve_spec("chinchilla")
    params, sigma = prior_draws(spec, 100, seed=1)
    prior = PriorLadder(spec.law, params, sigma, spec.likelihood.dist, 1e22)
    lo, hi = TRUSTED_TOKENS_PER_PARAM
    for g in isoflop_grids(prior, 1e20):
        r = g["D"] / g["N"]
        assert np.all((r >= lo * (1 - 1e-9)) & (r <= hi * (1 + 1e-9))), (g["width"], r.min(), r.max())
        assert 6 * g["N"] @ g["D"] == pytest.approx(g["cost_flops"]) and g["cost_flops"] == pytest.approx(1e20)
    assert main(["design", "--spec", "chinchilla", "--target-compute", "1e22", "--ladder-budget", "1e20",
                 "--prior-draws", "100", "--seed", "1", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["shapes_tokens_per_param"] == [lo, hi]
    assert all(lo * (1 - 1e-9) <= r["tokens_per_param"] <= hi * (1 + 1e-9) for r in out["best"]["runs"])


def test_design_of_a_law_without_d_is_refused_in_one_line(tmp_path, capsys):
    """A law of N and steps (kaplan_ns) has no C(N, D) of its own: ``design`` refuses it in one line (the DataBox
    once priced its runs through the law's query axes and raised KeyError 'C')."""
    from bayes_scaling.cli import main

    fake_fit("kaplan_ns", {"alpha_N": 0.076, "alpha_S": 0.76, "N_c": 6.5e13, "S_c": 2.1e3}, draws=50).save(tmp_path / "k.nc")
    assert main(["design", str(tmp_path / "k.nc"), "--target-compute", "1e23", "--ladder-budget", "1e21", "--worlds", "16",
                 "--max-refits", "0"]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


@pytest.mark.parametrize("call, flag", [
    (lambda r: design_runs(r, 1e23, 3e21, [1e9], [2e10], min_ess=-1.0), "--min-ess"),
    (lambda r: design_runs(r, float("nan"), 3e21, [1e9], [2e10]), "--target-compute"),
    (lambda r: design_runs(r, 1e23, 0.0, [1e9], [2e10]), "--ladder-budget"),
    (lambda r: decide(r, 1e23, max_params=-1.0), "--max-params"),
    (lambda r: decide(r, 1e23, max_tokens=-1.0), "--max-tokens"),
    (lambda r: decide(r, 1e23, alt_tokens_per_param=-1.0), "--alt-tokens-per-param"),
])
def test_design_and_allocate_refusals_name_their_flag(res, call, flag):
    """Every quantity the library's design and allocation refuse has the CLI flag that sets it."""
    from bayes_scaling.commands.args import option_for

    with pytest.raises(BayesScalingError) as e:
        call(res)
    assert option_for(e.value.quantity) == flag
