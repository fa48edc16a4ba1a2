"""The exchange refinement of a greedy batch (``queries/design_exchange``) and its use in ``design_runs``."""

from __future__ import annotations

import numpy as np
import pytest

from bayes_scaling.queries.design import design_runs
from bayes_scaling.queries.design_exchange import exchange_batch
from bayes_scaling.testing import fake_fit

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")


def test_exchange_revises_a_poor_start_within_budget():
    value = np.array([5.0, 4.0, 1.0, 9.0])
    cost = np.array([1.0, 1.0, 1.0, 3.0])  # the most valuable run alone costs more than what is left

    def after_with(others, which):  # objective: minus the batch's value, redundancy of runs 0 and 1
        def obj(b):
            return -(value[b].sum() - (2.0 if 0 in b and 1 in b else 0.0))
        return [obj(list(others) + [j]) for j in which]

    picks, after, moves = exchange_batch([2], after_with, cost, budget=2.0, batch=2)
    assert sorted(picks) == [0, 1] and after == pytest.approx(-7.0) and moves == 2
    assert cost[picks].sum() <= 2.0
    picks, after, _ = exchange_batch([2], after_with, cost, budget=4.0, batch=2)
    assert sorted(picks) == [0, 3] and after == pytest.approx(-14.0)
    # a pool without the best runs keeps to the pool
    picks, _, _ = exchange_batch([2], after_with, cost, budget=4.0, batch=2, pool=[1, 2])
    assert sorted(picks) == [1, 2]


def test_exchange_never_worsens_the_greedy_batch():
    res = fake_fit(draws=300, rel_sd=0.1)
    c, r = np.repeat(np.geomspace(1e19, 1e22, 6), 4), np.tile([0.1, 5.0, 20.0, 300.0], 6)
    n = np.sqrt(c / (6 * r))
    budget = 2.5e22
    greedy = design_runs(res, 1e23, budget, n, r * n, batch=4, exchange=0)
    better = design_runs(res, 1e23, budget, n, r * n, batch=4, exchange=10)
    assert greedy.exchanged == 0 and better.batch[-1]["cumulative_cost"] <= budget
    assert better.batch[-1]["after"] <= greedy.batch[-1]["after"] + 1e-12
    # here the greedy batch is far from the best: the exchange moves and cuts the expected objective
    assert better.exchanged > 0 and better.batch[-1]["after"] < 0.9 * greedy.batch[-1]["after"]
    assert better.rule == greedy.rule
    after = [b["after"] for b in better.batch]
    assert sum(b["gain"] for b in better.batch) == pytest.approx(better.gains.before - after[-1])


def test_cli_exchange_flag(tmp_path, capsys):
    import json

    from bayes_scaling.cli import main

    fit_file = str(fake_fit(draws=200).save(tmp_path / "fit.nc"))
    base = ["design", fit_file, "--target-compute", "1e23", "--ladder-budget", "3e21", "--batch", "3", "--worlds", "16",
            "--json"]
    outs = []
    for k in ("0", "10"):
        assert main(base + ["--exchange", k]) == 0
        outs.append(json.loads(capsys.readouterr().out))
    assert outs[0]["batch_exchange_moves"] == 0 and outs[1]["batch_exchange_moves"] >= 0
    assert outs[1]["batch_expected_after"] <= outs[0]["batch_expected_after"] + 1e-12
    assert main(base + ["--exchange", "-1"]) != 0
    assert "exchange" in capsys.readouterr().err
