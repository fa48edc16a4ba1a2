"""Fixes from the review of downstream metrics, comparisons and breakdown: the chance level of a metric fit,
one bisection on log compute for ``target`` and ``target-metric``, repeated ``--groups``, and the break's
location shown only where a break is supported."""

from __future__ import annotations

import json

import numpy as np
import pytest

import bayes_scaling as bs
from bayes_scaling.cli import main
from bayes_scaling.errors import BayesScalingError
from bayes_scaling.testing import fake_fit, fake_hierarchical_fit


def test_compare_refuses_a_repeated_group(tmp_path, capsys):
    from bayes_scaling.queries.compare_groups import compare_groups

    r = fake_hierarchical_fit(seed=0, chains=2, draws=50)
    with pytest.raises(BayesScalingError, match="more than once") as e:
        compare_groups(r, ["x", "x", "y"], compute=1e21)
    assert e.value.quantity == "groups"
    path = r.save(tmp_path / "h.nc")
    assert main(["compare", str(path), "--groups", "x", "x", "y", "--compute", "1e21"]) != 0
    err = capsys.readouterr().err
    assert "--groups" in err and "more than once" in err and "Traceback" not in err


@pytest.fixture(scope="module")
def chain_fits():
    """A loss fit (chinchilla) and a metric fit whose midpoint L0 = 5 nats sits at small budgets (~1e16 FLOPs)."""
    import warnings

    lf = fake_fit("chinchilla", chains=2, draws=100)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mf = fake_fit("sigmoid_metric", truth={"b": 0.25, "r": 0.9, "L0": 5.0, "k": 4.0}, chains=2, draws=100,
                      sigma=0.05)
    return lf, mf


def test_target_metric_below_the_old_grid_matches_a_brute_force_grid(chain_fits):
    from bayes_scaling.conventions import seeded_rng
    from bayes_scaling.queries.allocate import compute_optimal
    from bayes_scaling.queries.metric_chain import compute_for_metric, metric_at_loss, prob_reach_metric

    lf, mf = chain_fits
    target = 0.4
    c = compute_for_metric(lf, mf, target)["compute"].values.ravel()
    assert np.isfinite(c).all() and c.max() < 1e17  # every draw reaches it below the old grid's first budget
    grid = np.geomspace(1e8, 1e18, 4001)  # brute force: the first budget of a fine grid where the metric passes
    mu, _ = metric_at_loss(mf, compute_optimal(lf, grid)["loss_opt"].values, rng=seeded_rng(0))
    hit = mu >= target
    assert hit[..., -1].all() and not hit[..., 0].any()
    brute = grid[np.argmax(hit, axis=-1)].ravel()
    step = grid[1] / grid[0]
    assert np.all(c <= brute * 1.0001) and np.all(c >= brute / step / 1.0001)
    assert np.median(c) == pytest.approx(np.median(brute), rel=2 * (step - 1))
    assert prob_reach_metric(lf, mf, target, float(np.median(c))) == pytest.approx(0.5, abs=0.01)


def test_target_and_target_metric_answer_with_the_same_record(chain_fits, tmp_path, capsys):
    lf, mf = chain_fits
    lp, mp = lf.save(tmp_path / "lf.nc"), mf.save(tmp_path / "mf.nc")
    assert main(["target", str(lp), "--loss", "2.3", "--json"]) == 0
    loss_rec = json.loads(capsys.readouterr().out)["compute"]
    assert main(["target-metric", str(lp), str(mp), "--target", "0.5", "--json"]) == 0
    met = json.loads(capsys.readouterr().out)
    assert set(met["compute"]) == set(loss_rec) >= {"median", "mean", "ci_low", "ci_high", "ci_prob"}
    # above the metric law's ceiling (0.25 + 0.9 * 0.75 = 0.925): unreachable in every draw, null in JSON
    assert main(["target-metric", str(lp), str(mp), "--target", "0.99", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["p_unreachable"] == 1.0 and out["compute"]["median"] is None and "null_means" in out["compute"]
