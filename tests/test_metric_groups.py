"""A grouped metric fit in the (N, D) -> loss -> metric chain: a named group's own metric parameters, an unseen
group's drawn from the fitted spread, the population by default; a group the metric fit lacks is refused.

The metric fit is sampled on a simulated two-group ladder whose ceilings differ (r = 0.5 and 0.95 of the range
above chance: ceilings 0.625 and 0.96, a gap far wider than either group's interval), so a chain that used the
population's metric parameters for a group would miss its truth by ~0.15."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import bayes_scaling as bs
from bayes_scaling import BayesScalingError, get_law
from bayes_scaling.cli import main
from bayes_scaling.data.runs import load_runs
from bayes_scaling.queries.metric_chain import compute_for_metric, predict_metric
from bayes_scaling.simulate import simulate_runs
from bayes_scaling.testing import fake_fit, fake_hierarchical_fit

TRUTH = {"b": 0.25, "L0": 3.0, "k": 4.0}
CEILING_R = {"x": 0.5, "w": 0.95}  # the metric fit's groups (by arch): x is also a group of the hierarchical loss fit
QUERY = {"N": 1e10, "D": 2e11}  # loss ~2.15 nats/token, near the top of both sigmoids (L0 = 3)


@pytest.fixture(scope="module")
def metric_fit():
    frames = [simulate_runs("sigmoid_metric", {**TRUTH, "r": r}, pd.DataFrame({"L": np.geomspace(4.5, 1.5, 8)}),
                            sigma=0.05, seed=i, family="logit_normal").assign(arch=g)
              for i, (g, r) in enumerate(CEILING_R.items())]
    runs = load_runs(pd.concat(frames, ignore_index=True), extra_cols={"L": "L"}, group_cols=["arch"])
    return bs.fit(runs, "sigmoid_metric", vary=["r"], draws=300, tune=400, chains=2, seed=3, progress=False)


def _true_metric(group: str, loss: float) -> float:
    law = get_law("sigmoid_metric")
    return float(law.loss(np, {"L": np.log(loss)}, law.to_law_params({**TRUTH, "r": CEILING_R[group]})))


@pytest.mark.parametrize("group, loss_fit", [("x", fake_hierarchical_fit(draws=150)), ("w", fake_fit(draws=150))])
def test_a_named_group_uses_the_metric_fits_group(metric_fit, group, loss_fit):
    """Group x of both fits, and group w of the metric fit chained with a loss fit without groups: the group's metric
    sits at its own truth, and its interval excludes the other group's."""
    ds = predict_metric(loss_fit, metric_fit, **QUERY, seed=0, group=group, loss_noise=False)
    loss = float(ds["loss"].median())
    m = ds["metric"].values.ravel()
    lo, hi = np.quantile(m, [0.05, 0.95])
    assert np.median(m) == pytest.approx(_true_metric(group, loss), abs=0.04)
    other = _true_metric("w" if group == "x" else "x", loss)
    assert not lo <= other <= hi and hi - lo < 0.1
    res = compute_for_metric(loss_fit, metric_fit, 0.75, seed=0, group=group)  # only group w reaches 0.75
    assert res.attrs["p_unreachable"] > 0.9 if group == "x" else res.attrs["p_unreachable"] < 0.1


def test_population_and_unseen_group(metric_fit):
    """No group: the population values (as predict); ``"new"``: an unseen group, wider by the groups' spread."""
    loss_fit = fake_fit(draws=150)
    pop, new = (predict_metric(loss_fit, metric_fit, **QUERY, seed=0, group=g, loss_noise=False)["metric"].values.ravel()
                for g in (None, "new"))
    pop_x = predict_metric(fake_hierarchical_fit(draws=150), metric_fit, **QUERY, seed=0, loss_noise=False)["metric"]
    truths = sorted(_true_metric(g, float(np.median(pop_x))) for g in CEILING_R)
    assert truths[0] < np.median(pop) < truths[1]  # between the groups, a group of neither
    width = [np.subtract(*np.quantile(v, [0.95, 0.05])) for v in (pop, new)]
    assert width[1] > 1.5 * width[0]


def test_a_group_the_metric_fit_lacks_is_refused(metric_fit, tmp_path, capsys):
    """Group y is the loss fit's but not the metric fit's: one line naming --group and the metric fit's groups."""
    loss_fit = fake_hierarchical_fit(draws=100)
    with pytest.raises(BayesScalingError, match=r"group 'y' is not a group of the metric fit .*\['w', 'x'\]") as e:
        predict_metric(loss_fit, metric_fit, **QUERY, group="y")
    assert e.value.quantity == "group"
    with pytest.raises(BayesScalingError, match="neither the loss fit nor the metric fit has groups"):
        predict_metric(fake_fit(draws=100), fake_fit("sigmoid_metric", {**TRUTH, "r": 0.9}, draws=100), **QUERY, group="x")
    loss, metric = tmp_path / "hier.nc", tmp_path / "metric.nc"
    loss_fit.save(loss)
    metric_fit.save(metric)
    q = [str(loss), str(metric), "--params", "1e10", "--tokens", "2e11"]
    for cmd in (["predict-metric", *q], ["target-metric", str(loss), str(metric), "--target", "0.6"]):
        assert main([*cmd, "--group", "y"]) == 2
        err = capsys.readouterr().err.strip()
        assert "\n" not in err and "--group" in err and "['w', 'x']" in err
    assert main(["predict-metric", *q, "--group", "x", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert (out["group"], out["answer_for"], out["metric_answer_for"]) == ("x", "group 'x'", "group 'x'")
    assert out["metric_extrapolation"]["L_fitted_runs"] == "group 'x''s runs"  # the range of L checked on x's runs


def test_fits_grouped_by_different_columns_are_refused():
    """One label cannot name a group of a loss fit grouped by arch and of a metric fit grouped by task."""
    from types import SimpleNamespace

    from bayes_scaling.queries.metric_chain import chain_groups

    fit = lambda col, groups, law: SimpleNamespace(hierarchy={"group_col": col, "groups": groups},  # noqa: E731
                                                  law=SimpleNamespace(name=law))
    with pytest.raises(BayesScalingError, match="grouped by 'arch' and the metric fit by 'task'") as e:
        chain_groups(fit("arch", ["x", "y"], "chinchilla"), fit("task", ["x", "w"], "sigmoid_metric"), "x")
    assert e.value.quantity == "group"
    assert chain_groups(fit("arch", ["x", "y"], "chinchilla"), fit("arch", ["x", "w"], "sigmoid_metric"), "x") == ("x", "x")
