"""The exchange refinement of a greedy batch (``queries/design_exchange``) and its use in ``design_runs``."""

from __future__ import annotations

import numpy as np
import pytest

from bayes_scaling.queries.design import Worlds, design_runs, expected_after, outcome_loglik
from bayes_scaling.queries.design_exchange import exchange_batch
from bayes_scaling.queries.design_laplace import laplace_for
from bayes_scaling.queries.design_verdict import options, verdict_text
from bayes_scaling.testing import fake_fit

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")

C = np.repeat(np.geomspace(1e19, 1e22, 6), 4)
RATIO = np.tile([0.1, 5.0, 20.0, 300.0], 6)
N = np.sqrt(C / (6 * RATIO))


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


def recomputed(des, worlds: int, seed: int, min_ess: float) -> list[tuple[float, float]]:
    """(expected objective after, median ESS) of each prefix of the design's batch, recomputed from the
    design's own posterior draws and worlds (same seed), outside design_runs."""
    w = Worlds.draw(des.pre, len(des.cost), worlds, seed)
    w.laplace, w.min_ess = laplace_for(des.pre, des.n_params, des.tokens), min_ess
    ll = outcome_loglik(des.pre, des.pre.log_mean(des.n_params, des.tokens), w)
    out = []
    for b in des.batch:
        g = expected_after(des.pre, ll, w, [b["candidate"]])
        out.append((float(g.after[b["candidate"]]), float(g.ess[b["candidate"]])))
        w.add(b["candidate"], ll)
    return out


def check_stop_or_go_is_the_batch(des):
    """Stop or go scores the batch that design reports, in its order."""
    sg, batch = des.stop_go, des.batch_records()
    assert [(s["N"], s["D"]) for s in sg["steps"]] == [(b["N"], b["D"]) for b in batch]
    assert [s["cost_flops"] for s in sg["steps"]] == pytest.approx([b["cumulative_cost"] for b in batch])
    assert sg["rule"] == des.rule and sg["ess"] == pytest.approx(batch[-1]["ess"])
    nets = [0.0] + [s["net_flops"] for s in sg["steps"]]
    assert sg["reported_go_runs"] == int(np.argmax(nets))
    # go_runs counts the runs of the verdict's batch: the reported one's, or the winning alternative's
    alt = {a["rule"]: a["go_runs"] for a in sg["alternatives"]}
    assert sg["go_runs"] == {"reported": sg["reported_go_runs"], None: 0, **alt}[sg["go_batch"]]
    assert all(a["net_flops"] >= 0 and a["rule"] != des.rule for a in sg["alternatives"])


def test_exchange_cuts_the_objective_on_the_laplace_path():
    """A fit whose simulated outcomes collapse the importance weights (every batch scored by the Laplace
    update): the greedy batch is far from the best and the exchange cuts its expected objective."""
    res = fake_fit(draws=300, rel_sd=0.1)
    budget = 2.5e22
    greedy = design_runs(res, 1e23, budget, N, RATIO * N, batch=4, exchange=0)
    better = design_runs(res, 1e23, budget, N, RATIO * N, batch=4, exchange=10)
    assert min(b["laplace_share"] for b in greedy.batch + better.batch) > 0.5  # the regime this test is for
    assert better.exchanged > 0 and better.batch[-1]["cumulative_cost"] <= budget
    assert better.batch[-1]["after"] < 0.9 * greedy.batch[-1]["after"]
    # the records are the exchanged batch's own (recomputed prefix by prefix), in order of gain per FLOP
    assert [b["after"] for b in better.batch] == pytest.approx([a for a, _ in recomputed(better, 128, 0, 50.0)])
    check_stop_or_go_is_the_batch(better)


def test_exchange_on_the_reweighting_path():
    """Outcomes that leave the weights' ESS far above min_ess (no Laplace update anywhere): the exchange
    moves, lowers the expected objective, and its records match a recomputation by reweighting."""
    res = fake_fit(draws=100, rel_sd=0.02, sigma=0.05)
    kw = dict(batch=4, seed=1, worlds=32, min_ess=10.0)
    calls = []

    def refit(n, d, objective):  # a refit is only for picks whose weights collapsed: never here
        calls.append(len(n))
        return float("nan")

    greedy = design_runs(res, 1e23, 2.5e22, N, RATIO * N, exchange=0, **kw)
    better = design_runs(res, 1e23, 2.5e22, N, RATIO * N, exchange=10, refit=refit, max_refits=0, **kw)
    for des in (greedy, better):
        assert all(b["laplace_share"] == 0 and b["ess"] > 5 * kw["min_ess"] for b in des.batch)
    assert better.exchanged > 0 and better.batch[-1]["cumulative_cost"] <= 2.5e22
    assert better.batch[-1]["after"] < 0.99 * greedy.batch[-1]["after"]
    again = recomputed(better, kw["worlds"], kw["seed"], kw["min_ess"])
    assert [b["after"] for b in better.batch] == pytest.approx([a for a, _ in again], rel=1e-9)
    assert [b["ess"] for b in better.batch] == pytest.approx([e for _, e in again], rel=1e-9)
    check_stop_or_go_is_the_batch(better)
    assert calls == [] and better.batch_refit is None


def test_stop_or_go_scores_the_exchanged_batch():
    """A case where the exchange adds an expensive run that lowers var log N* but does not pay in wasted
    compute: stop or go still judges the batch shown (it used to switch to another rule's greedy batch),
    and the batch refit is triggered by that batch's ESS and refits its runs."""
    res = fake_fit(draws=200, rel_sd=0.02)
    seen = []

    def refit(n, d, objective):
        seen.append((list(n), list(d), objective))
        return 0.5

    des = design_runs(res, 1e23, 2.5e22, N, RATIO * N, batch=4, exchange=10, seed=1, worlds=64, refit=refit,
                      max_refits=0)
    assert des.exchanged > 0
    check_stop_or_go_is_the_batch(des)
    nets = [s["net_flops"] for s in des.stop_go["steps"]]
    assert nets[-1] < max(nets) and des.stop_go["reported_go_runs"] < len(des.batch)  # the expensive last run does not pay
    batch = des.batch_records()
    assert batch[-1]["ess"] < 50 and des.batch_refit == 0.5
    assert seen[0] == ([b["N"] for b in batch], [b["D"] for b in batch], "n_star")
    # stop or go's picks have collapsed weights here (ESS < min_ess), so real refits score them, one call per
    # batch refit, each on that batch's first picks; refits at waste 0.5 of C save nothing, so it is a STOP
    # with every option that reweighting found saving refit
    sg = des.stop_go
    picks = {"reported": batch, **{a["rule"]: a["picks"] for a in sg["alternatives"]}}
    assert len(seen) - 1 == len(sg["refits"]) >= 1
    for (nn, dd, objective), (b, rc) in zip(seen[1:], sg["refits"].items()):
        assert objective == "wasted_compute" and rc["ess"] < 50
        assert (nn, dd) == ([p["N"] for p in picks[b][:rc["runs"]]], [p["D"] for p in picks[b][:rc["runs"]]])
    assert sg["verdict"] == "stop" and sg["refit_check"]["used"]
    text = verdict_text(sg)  # every batch refit is named, with both estimates
    assert text.count("real refits (") == len(sg["refits"]) and text.count("reweighting gave") + text.count("the Laplace update gave") == len(sg["refits"])
    assert all(o["estimate"] == "refits" for o in options(sg)[1:] if o["batch"] in sg["refits"] or o["net"] > 0)


def test_cli_exchange_flag(tmp_path, capsys):
    import json

    from bayes_scaling.cli import main

    fit_file = str(fake_fit(draws=200).save(tmp_path / "fit.nc"))
    base = ["design", fit_file, "--target-compute", "1e23", "--ladder-budget", "3e21", "--batch", "3", "--worlds", "16"]
    outs = []
    for k in ("0", "10"):
        assert main(base + ["--json", "--exchange", k]) == 0
        outs.append(json.loads(capsys.readouterr().out))
    assert outs[0]["batch_exchange_moves"] == 0 and outs[1]["batch_exchange_moves"] >= 1
    assert outs[1]["batch_expected_after"] < outs[0]["batch_expected_after"]
    steps = outs[1]["stop_or_go"]["steps"]
    assert [(s["N"], s["D"]) for s in steps] == [(b["N"], b["D"]) for b in outs[1]["batch"]]
    # the text names the exchanged batch as such, and stop or go as about that batch
    assert main(base + ["--exchange", "10"]) == 0
    text = capsys.readouterr().out
    assert "\nbatch refined by exchange (" in text and "\ngreedy batch (" not in text
    assert "after the first k picks of the batch above:" in text
    assert main(base + ["--exchange", "-1"]) != 0
    assert "argument --exchange:" in capsys.readouterr().err


def test_bench_design_checks_exchange_and_skips_empty_batches(monkeypatch, capsys):
    """bench_design: --exchange -1 is refused before the timing run; --diagnose's summary leaves out a
    ladder whose designed batch is empty (it has no 'designed' score) instead of failing."""
    import sys
    from pathlib import Path

    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[1] / "benchmarks"))
    import bench_design

    def boom():
        raise AssertionError("timed before the options were checked")

    monkeypatch.setattr(bench_design, "time_ranking", boom)
    monkeypatch.setattr(sys, "argv", ["bench_design.py", "--exchange", "-1", "--ladders", "0"])
    with pytest.raises(SystemExit) as e:
        bench_design.main()
    assert e.value.code == 2 and "--exchange must be a whole number >= 0" in capsys.readouterr().err
    rows = [{"kind": "chinchilla", "design": {"expected_var_after": {"designed": 0.02, "isoflop_3x": 0.08}}},
            {"kind": "chinchilla", "design": {"expected_var_after": {"isoflop_3x": 0.1}}},  # empty designed batch
            {"kind": "kaplan_like", "design": {"expected_var_after": {"isoflop_3x": 0.1}}}]
    lines = bench_design.diagnose_lines(rows)
    assert len(lines) == 1 and "chinchilla (1 ladders with a designed batch)" in lines[0]
    assert "isoflop_3x 4.000 (designed lower in 1/1)" in lines[0]


def test_bench_design_spec_reaches_every_fit_and_diagnostics_are_counted(monkeypatch, capsys):
    """bench_design --spec: a spec of another law or an unknown name is refused (one line, exit 2) before
    the timing run; a chinchilla-law spec becomes the spec of every refit; summarise counts the refits that
    pass the diagnostics at the first attempt and after the retries."""
    import sys
    import warnings
    from pathlib import Path

    import pandas as pd

    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[1] / "benchmarks"))
    import bench_design

    monkeypatch.setattr(bench_design, "SPEC", bench_design.SPEC)  # restored after the test

    def boom():
        raise AssertionError("timed before --spec was checked")

    monkeypatch.setattr(bench_design, "time_ranking", boom)
    for bad, msg in (("kaplan_nd", "--spec must be a spec of the chinchilla law"), ("nosuch", "no shipped spec")):
        monkeypatch.setattr(sys, "argv", ["bench_design.py", "--spec", bad, "--ladders", "0"])
        with pytest.raises(SystemExit) as e:
            bench_design.main()
        assert e.value.code == 2 and msg in capsys.readouterr().err
    assert bench_design.SPEC.origin.endswith("chinchilla.toml")
    monkeypatch.setattr(sys, "argv", ["bench_design.py", "--spec", "chinchilla_wide", "--ladders", "0", "--skip-timing"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the empty summary's means of nothing
        bench_design.main()
    assert "chinchilla_wide.toml" in capsys.readouterr().out
    seen = []
    monkeypatch.setattr(bench_design, "fit", lambda runs, **kw: seen.append(kw["spec"]))
    bench_design.refit(pd.DataFrame({"params": [1e8, 2e8], "tokens": [2e9, 4e9], "loss": [3.0, 2.9]}), seed=0)
    assert seen and seen[0].origin.endswith("chinchilla_wide.toml") and seen[0].priors["A"].kwargs["sigma"] == 5.0
    row = lambda ok, first: {"wasted": 0.01, "width_decades": 0.5, "covered": True, "diagnostics_ok": ok,  # noqa: E731
                             "first_ok": first, "attempts": 1 if first else 2}
    s = bench_design.summarise([{"designed": row(True, False)}, {"designed": row(False, False)},
                                {"designed": row(True, True)}])
    assert (s["designed"]["first_ok"], s["designed"]["diagnostics_ok"], s["designed"]["fits"]) == (1, 2, 3)


def test_bench_design_compare_pairs_ladders_and_refuses_other_ladders(monkeypatch):
    """bench_design_compare: paired shares per kind and strategy; two runs on different ladders refused."""
    from pathlib import Path

    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[1] / "benchmarks"))
    import bench_design_compare as cmp

    def run(waste_designed):
        return [{"kind": k, "truth": {"E": i}, "designed": {"wasted": w, "width_decades": 1.0},
                 "ssl_suggest": {"wasted": 0.02, "width_decades": 0.9}}
                for i, (k, w) in enumerate(zip(("chinchilla", "kaplan_like"), waste_designed))]

    out = cmp.lines(run([0.03, 0.03]), run([0.01, 0.05]), ("A", "B"))
    assert "chinchilla  designed    B vs A: lower waste on 100%, narrower on 0% of 1" in "\n".join(out)
    assert "kaplan_like designed    B vs A: lower waste on 0%" in "\n".join(out)
    assert "all         B: designed beats ssl on waste in 50%, on width in 0% of 2" in out
    with pytest.raises(SystemExit, match="not on the same ladders"):
        cmp.lines(run([0.03, 0.03]), run([0.03, 0.03])[::-1], ("A", "B"))
