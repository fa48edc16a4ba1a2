"""Run design's Monte Carlo noise and its check by real refits: every expected gain and net saving carries
its standard error over the simulated outcomes, a gain within 2 SE of 0 is shown as noise (not as a negative
reduction), and where refits ran for stop or go's picks the verdict rests on them. No sampling (``fake_fit``;
the refits are stand-ins returning known per-world scores)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from bayes_scaling.cli import main
from bayes_scaling.queries.design import (Preposterior, Worlds, candidate_grid, design_runs, draws_sigma_family,
                                          expected_after, outcome_loglik)
from bayes_scaling.queries.design_verdict import best_go, mc_se, options, refit_check, to_refit, verdict_text, within_noise
from bayes_scaling.testing import fake_fit

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")

TARGET = 1e23  # FLOPs


def isoflop(c, ratio=20.0):
    n = np.sqrt(np.asarray(c, float) / (6 * ratio))
    return n, ratio * n


@pytest.fixture(scope="module")
def noisy():
    """A posterior whose runs' noise (sigma 0.3 on log-loss) dwarfs what one run can teach: gains are near 0."""
    return fake_fit(draws=200, rel_sd=0.01, sigma=0.3)


def test_gain_se_is_the_sd_over_worlds_of_the_reduction(noisy):
    draws, sigma, fam = draws_sigma_family(noisy)
    pre = Preposterior(draws, sigma, fam, TARGET, max_draws=300)
    n, d = isoflop([1e19, 1e21, 1e22])
    w = Worlds.draw(pre, len(n), 64, seed=3)
    ll = outcome_loglik(pre, pre.log_mean(n, d), w)
    g = expected_after(pre, ll, w)
    from bayes_scaling.queries.design import normalise

    for j in range(len(n)):  # with no picks every world's objective before is the current one
        per_world = pre.objective(normalise(ll[j])[0])
        assert g.se[j] == pytest.approx(np.std(per_world, ddof=1) / np.sqrt(64), rel=1e-9)
        assert g.gain[j] == pytest.approx(pre.current() - per_world.mean(), abs=1e-9 * pre.current())
    assert mc_se([1.0]) != mc_se([1.0])  # one value: NaN, not 0


def test_a_negative_gain_is_shown_as_noise_not_as_a_reduction(noisy, tmp_path, capsys):
    path = str(noisy.save(tmp_path / "noisy.nc"))
    argv = ["design", path, "--target-compute", "1e23", "--ladder-budget", "3e21", "--worlds", "32", "--top", "200"]
    assert main(argv + ["--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    cands = out["candidates"]
    assert all(np.isfinite(c["gain_se"]) and c["gain_se"] > 0 for c in cands)
    assert [c["gain_within_noise"] for c in cands] == [abs(c["gain"]) < 2 * c["gain_se"] for c in cands]
    negative = [c for c in cands if c["gain"] < 0]
    assert negative and all(c["gain_within_noise"] for c in negative)  # the expected gain is >= 0: noise only
    assert main(argv) == 0
    rows = [line for line in capsys.readouterr().out.splitlines()  # candidate rows: method, then the data column
            if line.split()[-2:-1] in (["reweight"], ["laplace"]) or line.rstrip().endswith(("reweight", "laplace"))]
    assert len(rows) == len(cands)
    for line, c in zip(rows, cands):
        assert ("(noise)" in line) == c["gain_within_noise"], line
    # every printed negative gain carries its SE and the noise mark
    printed_negative = [line for line in rows if line.split()[4].startswith("-")]
    assert len(printed_negative) == len(negative) and all("(noise)" in line for line in printed_negative)


def test_stop_or_go_carries_its_se_and_a_go_within_noise_says_so(noisy):
    n, d = isoflop(np.geomspace(1e19, 1e21, 5))
    des = design_runs(noisy, TARGET, 3e21, n, d, batch=2, worlds=32)
    for st in des.stop_go["steps"]:
        assert st["value_se_flops"] > 0 and st["net_se_flops"] == st["value_se_flops"]
    sg = {"steps": [{"net_flops": 1e19, "net_se_flops": 2e19}], "go_runs": 1, "alternatives": []}
    sg.update(best_go(sg))
    assert sg["verdict"] == "go" and sg["best_net_se_flops"] == 2e19
    assert "within 2 SE of 0" in verdict_text(sg) and "± 2e+19" in verdict_text(sg)
    clear = {"steps": [{"net_flops": 1e20, "net_se_flops": 1e19}], "go_runs": 1, "alternatives": []}
    clear.update(best_go(clear))
    assert "within" not in verdict_text(clear) and within_noise(1e19, 1e19) and not within_noise(3e19, 1e19)


@pytest.mark.parametrize("waste_after", ["none", "unchanged"])
def test_refits_decide_stop_or_go_where_the_weights_collapsed(waste_after):
    """min_ess above any ESS: every pick's weights count as collapsed, so stop or go's picks are refit (for
    wasted compute). Refits that remove all waste make it GO; refits that leave the waste as it is, STOP;
    either way the reweighting estimate stays on record and in the text."""
    res = fake_fit(draws=200, rel_sd=0.05)
    n, d = isoflop(np.geomspace(1e19, 1e21, 4))
    calls = []

    def refit(nn, dd, objective):
        calls.append(objective)
        if objective != "wasted_compute":
            return [0.0, 0.0]
        now = des_now[0]
        return [0.0, 0.0, 0.0] if waste_after == "none" else [now, now, now]

    des_now = [design_runs(res, TARGET, 3e21, n, d, batch=2, worlds=32).stop_go["expected_wasted_now"]]
    des = design_runs(res, TARGET, 3e21, n, d, batch=2, worlds=32, min_ess=1e9, max_refits=0, refit=refit)
    sg = des.stop_go
    rc = sg["refit_check"]
    refits = sg["refits"]  # each batch refit once at most, until the choice rests on refits or on healthy weights
    assert calls.count("wasted_compute") == len(refits) >= 1 and rc["used"] and rc["sims"] == 3
    assert len(refits) <= sg["batches_scored"] and (len(refits) == 1 if waste_after == "none" else True)
    spent = float(des.cost[[b["candidate"] for b in des.batch][:rc["runs"]]].sum()) if rc["batch"] == "reported" else None
    if waste_after == "none":
        assert sg["verdict"] == "go" and rc["net_flops"] > 0
        if spent is not None:
            assert rc["net_flops"] == pytest.approx(des_now[0] * TARGET - spent)
        assert rc["net_se_flops"] == pytest.approx(0.0, abs=1e-9 * des_now[0] * TARGET) and "from real refits" in verdict_text(sg)
    else:
        assert sg["verdict"] == "stop" and rc["net_flops"] < 0 and sg["go_runs"] == 0
        assert verdict_text(sg).startswith("STOP: real refits find no saving")
        # no option is left that saves by either estimate: each that reweighting found saving was refit
        assert all(o["net"] <= 0 and (o["estimate"] == "refits" or o["runs"] == 0) for o in options(sg)[1:])
    by = {"reweighting": "reweighting", "laplace": "the Laplace update"}[rc["reweight_estimate"]]
    assert f"{by} gave {rc['reweight_net_flops']:+.3g} FLOPs" in verdict_text(sg)


def test_a_refit_of_another_batch_showing_no_saving_leaves_the_reported_batch_with_healthy_weights():
    """The verdict's batch is another rule's whose weights collapsed; its refits find no saving. The
    verdict is chosen again among all options: the reported batch's best prefix, whose weights are healthy
    (ESS >= min_ess) and whose reweighting net is positive, is then refit too (a verdict compares refits
    with refits); where its refits save, it is a GO (it used to be a STOP decided by the other batch)."""
    res = fake_fit(draws=200, rel_sd=0.02, seed=0)
    n, d = candidate_grid(res.runs.frame["C"], 3e21)
    keep = 6 * n * d <= 3e21  # the scenario's candidates: without the 2 top rungs priced an ulp above the budget
    n, d = n[keep], d[keep]  # (design kept them from the second user review on, which changes the scenario)
    kw = dict(batch=4, worlds=32, seed=0, objective="loss", min_ess=20.0)
    sg0 = design_runs(res, TARGET, 3e21, n, d, **kw).stop_go
    mine, alt = options(sg0)[1], next(o for o in options(sg0) if o["batch"] == sg0["go_batch"])
    # the fixture: the verdict is another batch's, whose weights collapsed; the reported batch's are healthy
    assert sg0["go_batch"] not in (None, "reported") and mine["net"] > 0 and alt["ess"] < 20.0 <= mine["ess"]
    alt_n = [p["N"] for p in next(a for a in sg0["alternatives"] if a["rule"] == alt["batch"])["picks"][:alt["runs"]]]
    now, calls = sg0["expected_wasted_now"], []

    def refit(nn, dd, objective):
        other = list(nn) == pytest.approx(alt_n)
        calls.append((len(nn), objective, other))
        if objective != "wasted_compute":
            return [0.0] * 4
        return [now] * 4 if other else [0.0] * 4  # the other batch saves nothing; the reported one all the waste

    sg = design_runs(res, TARGET, 3e21, n, d, max_refits=0, refit=refit, **kw).stop_go
    assert [c for c in calls if c[1] == "wasted_compute"] == [(alt["runs"], "wasted_compute", True),
                                                             (mine["runs"], "wasted_compute", False)]
    assert sg["verdict"] == "go" and sg["go_batch"] == "reported" and sg["go_runs"] == mine["runs"]
    assert sg["estimate"] == "refits" and sg["best_net_flops"] > mine["net"] > 0
    assert sg["refits"][alt["batch"]]["net_flops"] < 0 and sg["refit_check"]["used"]
    text = verdict_text(sg)
    assert text.startswith(f"GO: run the first {mine['runs']} pick(s) of the batch above") and "by real refits" in text
    assert "no more saving than the verdict" in text


def test_verdict_choice_after_refits_compares_like_with_like():
    """Unit case (no sampling): the reported batch (healthy, +5e18 by reweighting) against another batch
    (+8e18 by reweighting, weights collapsed). Refits of the other at no saving: GO with the reported
    batch by reweighting, which is then refit as well (to_refit), so the verdict compares refits with refits:
    at no saving either, STOP; refits of the other at +9e18: GO with the other, its text naming which estimate each figure is. One refit world:
    its SE is unknown and no "± nan" is printed."""
    steps = [{"net_flops": 5e18, "net_se_flops": 1e18, "ess": 400.0}]
    alt = {"rule": "gain", "go_runs": 1, "runs": 1, "net_flops": 8e18, "net_se_flops": 3e18, "ess": 5.0,
           "picks": [{"N": 1e9, "D": 2e10}]}
    base = {"steps": steps, "go_runs": 1, "alternatives": [alt], "expected_wasted_now": 0.01}
    base.update(best_go(base))
    assert base["go_batch"] == "gain"
    none = {**base, **refit_check(base, [0.01] * 4, 0.01, 1e23, 2e18, 5.0, "gain", 1)}
    assert (none["verdict"], none["go_batch"], none["best_net_flops"]) == ("go", "reported", 5e18)
    # a verdict resting on reweighting after another batch's refits is refit too, though its weights are healthy
    nxt = to_refit(none, min_ess=50)
    assert nxt is not None and nxt["batch"] == "reported" and nxt["runs"] == 1
    both = {**none, **refit_check(none, [0.01] * 4, 0.01, 1e23, 2e18, 400.0, "reported", 1)}
    assert (both["verdict"], both["estimate"]) == ("stop", "none") and to_refit(both, min_ess=50) is None
    assert to_refit(base, min_ess=1.0) is None  # nothing refit and no collapsed weights: no refit
    more = {**base, **refit_check(base, [0.00989] * 4, 0.01, 1e23, 2e18, 5.0, "gain", 1)}
    assert more["go_batch"] == "gain" and more["best_net_flops"] == pytest.approx(9e18) and more["refit_check"]["used"]
    assert "by real refits, more than the batch above's best +5e+18 by reweighting" in verdict_text(more)
    one = {**base, **refit_check(base, [0.00989], 0.01, 1e23, 2e18, 5.0, "gain", 1)}
    assert one["go_batch"] == "gain" and "nan" not in verdict_text(one)


def test_refit_worlds_are_drawn_apart_from_the_reweighting_worlds(monkeypatch):
    """refit_expected draws its simulated worlds (true draw, new runs' losses) from a stream of its own,
    not from ``seed`` itself, from which design's reweighting draws its worlds. The fits are stood in."""
    from bayes_scaling.conventions import derived_seed
    from bayes_scaling.inference import design as inf_design
    from bayes_scaling.inference import fit as fit_mod

    res, seen = fake_fit(draws=200, rel_sd=0.05), []
    n, d = isoflop(np.array([1e20, 3e20]))
    monkeypatch.setattr(fit_mod, "fit", lambda runs, **kw: (seen.append(runs.frame["loss"].to_numpy()[-2:]), res)[1])
    out = inf_design.refit_expected(res, n, d, lambda f: 0.0, sims=2, seed=3)
    assert out["scores"] == [0.0, 0.0] and len(seen) == 2

    def losses(rng):
        return [inf_design.with_simulated_runs(res, n, d, rng=rng).frame["loss"].to_numpy()[-2:] for _ in range(2)]

    apart = losses(np.random.default_rng(derived_seed(3, inf_design.REFIT_WORLD_OFFSET)))
    same = losses(np.random.default_rng(3))
    assert all(np.array_equal(a, b) for a, b in zip(seen, apart))
    assert not any(np.allclose(a, b) for a, b in zip(seen, same))
