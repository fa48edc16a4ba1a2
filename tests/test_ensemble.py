"""Ensembles of law forms: stacking weights, the mixture's answers beside each member's, the law-form
share of an interval, save/load, and the CLI on an ensemble file."""

from __future__ import annotations

import json

import numpy as np
import pytest

import bayes_scaling as bs
from bayes_scaling.cli import main
from bayes_scaling.inference.ensemble import cross_fitted_weights, run_weights, stacking_weights
from bayes_scaling.inference.ensemble_calibration import calibration_cuts, entropy, temper_to_entropy
from bayes_scaling.queries.allocate import compute_optimal, decide
from bayes_scaling.result import EnsembleResult, load_fit
from bayes_scaling.result.ensemble import law_form_share
from bayes_scaling.testing import fake_fit

TRUTH = bs.EXAMPLE["truth"]


@pytest.fixture(scope="module")
def ensemble():
    a = fake_fit(seed=1)  # the truth
    b = fake_fit(truth={**TRUTH, "beta": 0.30}, runs_truth=TRUTH, seed=1)  # another form's answer
    return EnsembleResult({"right": a, "other": b}, {"right": 3.0, "other": 1.0}, {"method": "test"})


def test_stacking_weights_recover_the_better_predictor():
    rng = np.random.default_rng(0)
    good = rng.normal(0.0, 0.1, 200)
    lpd = np.column_stack([good, good - 2.0])  # member 2 is worse on every point
    w = stacking_weights(lpd)
    assert w[0] > 0.99 and w.sum() == pytest.approx(1.0)
    # two members each best on half the points: stacking mixes them
    lpd = np.column_stack([np.r_[np.zeros(100), -5 * np.ones(100)], np.r_[-5 * np.ones(100), np.zeros(100)]])
    assert stacking_weights(lpd) == pytest.approx([0.5, 0.5], abs=0.01)
    assert stacking_weights(np.zeros((5, 1))) == pytest.approx([1.0])


def test_regularised_weights_stay_interior_with_few_points_and_follow_many():
    few = np.column_stack([np.zeros(2), -3.0 * np.ones(2)])  # two runs, member 2 far worse on both
    w = stacking_weights(few)
    assert 0.6 < w[0] < 0.9  # prefers member 1, but two runs cannot rule member 2 out
    assert stacking_weights(few, prior_alpha=1.0)[0] > 0.99  # plain stacking would
    assert stacking_weights(np.zeros((0, 3))) == pytest.approx([1 / 3] * 3)
    # point weights: two copies of a run at weight 1/2 are one run
    np.testing.assert_allclose(stacking_weights(np.vstack([few, few]), point_weights=np.full(4, 0.5)), w, atol=1e-4)


def test_run_weights_count_each_run_once_over_nested_cuts():
    np.testing.assert_allclose(run_weights([5.0, 50.0, 500.0, 0.5], [1.0, 10.0, 100.0]), [1.0, 0.5, 1 / 3, 0.0])


def test_heldout_log_score_counts_each_run_once_over_nested_cuts():
    """Runs at 2e20, 5e20, 2e21, 3e21 FLOPs held out by cuts at 1e20, 3.16e20 and 1e21: the top two
    runs appear in three blocks, yet each run's score counts once (a plain sum counted them 3x)."""
    from bayes_scaling.inference.ensemble_calibration import heldout_log_score

    runs = np.array([2e20, 5e20, 2e21, 3e21])
    per_run = np.column_stack([[-1.2, -1.2, 0.0, 0.0], [0.0, 0.0, -1.0, -1.0]])  # nats, runs x members
    thr = [1e20, 3.16e20, 1e21]
    blocks = [per_run[runs > t] for t in thr]
    np.testing.assert_allclose(heldout_log_score(blocks, [runs[runs > t] for t in thr], thr), per_run.sum(axis=0))


def test_replicates_count_once_in_stacking_and_the_heldout_score():
    """A configuration held out as 5 replicates (same N, D) favours member 1, three single configurations favour
    member 2: weighed 1/5 each (replicate_shares), the replicates count as one run, as in the calibration, so the
    cross-fitted weights and held-out scores equal those with the configuration held out once."""
    from bayes_scaling.inference.ensemble_calibration import heldout_log_score

    thr = [10.0, 1.0]  # cut 10 learns its weights from the deeper cut's runs in (1, 10]
    rep = np.array([[1.0, -1.0]] * 5 + [[-1.0, 1.0]] * 3)
    vals = [np.array([20.0, 30.0]), np.r_[[5.0] * 5, 6.0, 7.0, 8.0]]
    blocks = [np.array([[0.0, 0.0], [0.0, 0.0]]), rep]
    shares = [np.ones(2), np.r_[[0.2] * 5, 1, 1, 1]]
    once = [blocks[0], rep[4:]], [vals[0], vals[1][4:]], [shares[0], np.ones(4)]
    w = cross_fitted_weights(blocks, thr, vals, shares=shares)[0]
    np.testing.assert_allclose(w, cross_fitted_weights(once[0], thr, once[1])[0], atol=1e-6)
    assert w[1] > 0.6  # three configurations against one: counted 5x, the replicates made member 1 win
    assert cross_fitted_weights(blocks, thr, vals)[0][0] > 0.6
    np.testing.assert_allclose(heldout_log_score(blocks, vals, thr, shares), heldout_log_score(once[0], once[1], thr))


def test_cross_fitted_weights_never_use_the_scored_cut():
    """Three nested cuts (thresholds 1, 10, 100). Runs above 10 favour member 2, runs in (1, 10]
    favour member 1: cut 10's weights see only (1, 10] and prefer member 1; the deepest cut has
    nothing below it and gets equal weights; changing a cut's own held-out scores changes nothing."""
    thr = [100.0, 10.0, 1.0]
    vals = [np.array([200.0, 300, 400, 500]), np.geomspace(11, 500, 8), np.geomspace(2, 500, 12)]

    def scores(v):
        return np.column_stack([np.where(v > 10, -4.0, 0.0), np.where(v > 10, 0.0, -4.0)])

    blocks = [scores(v) for v in vals]
    w = cross_fitted_weights(blocks, thr, vals)
    assert w[2] == pytest.approx([0.5, 0.5])
    assert w[1][0] > 0.7  # learned from cut 1's runs in (1, 10] only
    assert w[0][1] > 0.5  # cut 100 learns from runs in (1, 100]: mostly above 10
    for j in range(3):  # scramble cut j's own held-out runs (those above its threshold, in every block)
        moved = [np.where((v > thr[j])[:, None], -50.0 * np.arange(2)[::-1], b) for b, v in zip(blocks, vals)]
        np.testing.assert_allclose(cross_fitted_weights(moved, thr, vals)[j], w[j], atol=1e-6)


def test_tempering_matches_the_final_weights_concentration_and_keeps_the_ranking():
    final = np.array([0.71, 0.2, 0.09])
    w, g = temper_to_entropy([0.25, 0.4, 0.35], final)
    assert entropy(w) == pytest.approx(entropy(final), abs=1e-6) and g > 1
    assert list(np.argsort(w)) == [0, 2, 1]
    flat, g = temper_to_entropy([0.9, 0.05, 0.05], [0.4, 0.3, 0.3])  # more concentrated than final: flattened
    assert g < 1 and entropy(flat) == pytest.approx(entropy([0.4, 0.3, 0.3]), abs=1e-6)
    np.testing.assert_allclose(temper_to_entropy(np.full(3, 1 / 3), final)[0], 1 / 3)  # nothing to sharpen


def test_calibration_cuts_use_only_learned_weights():
    """Cuts at 100, 10, 1: the deepest learned nothing and is dropped, the others keep their ranking
    at the final weights' entropy; a single cut falls back to the final weights and says so."""
    thr = [100.0, 10.0, 1.0]
    vals = [np.array([200.0, 300, 400]), np.geomspace(11, 400, 6), np.geomspace(2, 400, 9)]
    cuts = [(d, t, f"test{d}", f"fits{d}") for d, t in zip((0.5, 1.0, 1.5), thr)]
    crossed = [np.array([0.2, 0.8]), np.array([0.6, 0.4]), np.array([0.5, 0.5])]
    used, info = calibration_cuts(cuts, crossed, vals, np.array([0.9, 0.1]))
    assert [c[0] for c in used] == [0.5, 1.0] and list(info["dropped_cuts"]) == ["1.5"]
    np.testing.assert_allclose(used[0][4], [0.1, 0.9], atol=1e-6)
    np.testing.assert_allclose(used[1][4], [0.9, 0.1], atol=1e-6)
    one, info = calibration_cuts(cuts[2:], crossed[2:], vals[2:], np.array([0.9, 0.1]))
    assert len(one) == 1 and info["weights_source"].startswith("final weights")
    np.testing.assert_allclose(one[0][4], [0.9, 0.1])


def test_law_form_share_is_zero_for_identical_members_and_large_for_distinct_ones():
    a = fake_fit(seed=1)
    draws = a.predict(N=1e10, D=2e11)["loss"].isel(query=0, drop=True)
    assert float(law_form_share({"x": draws, "y": draws}, {"x": 0.5, "y": 0.5})) == pytest.approx(0.0, abs=1e-12)
    far = draws * 1.5
    assert float(law_form_share({"x": draws, "y": far}, {"x": 0.5, "y": 0.5})) > 0.9


def test_queries_answer_with_the_mixture(ensemble):
    opt = compute_optimal(ensemble, 1e24)["N_opt"].isel(budget=0)
    each = {k: float(compute_optimal(m, 1e24)["N_opt"].median()) for k, m in ensemble.members.items()}
    assert opt.shape == (1, ensemble.evaluator.n_draws)
    lo, hi = sorted(each.values())
    assert lo <= float(opt.median()) <= hi  # mostly the heavier member, bounded by the two
    assert abs(np.log(float(opt.median())) - np.log(each["right"])) < abs(np.log(float(opt.median())) - np.log(each["other"]))
    d = decide(ensemble, 1e24)
    assert np.isfinite(d.N) and d.outcome["loss"].shape == (1, ensemble.evaluator.n_draws)
    with pytest.raises(bs.BayesScalingError, match="share no groups"):
        ensemble.predict(N=1e9, D=2e10, group="x")


def test_mixture_draws_line_up_with_the_mixture_predictions(ensemble):
    """Draw by draw, the allocation draws of an ensemble are the mixture's law (same member, same draw)."""
    from bayes_scaling.queries.draws import law_draws

    d = law_draws(ensemble)
    log_n, log_d = np.log(1e10), np.log(2e11)
    got = d.log_loss(np.full(d.shape + (1,), log_n), np.full(d.shape + (1,), log_d))[..., 0]
    want = np.log(ensemble.predict(N=1e10, D=2e11)["loss"].isel(query=0).values)
    np.testing.assert_allclose(got, want, rtol=1e-12)


def test_save_load_and_cli(ensemble, tmp_path, capsys):
    path = ensemble.save(tmp_path / "ens.nc")
    again = load_fit(path)
    assert isinstance(again, EnsembleResult) and again.weights == pytest.approx(ensemble.weights)
    np.testing.assert_allclose(again.predict(N=1e10, D=2e11)["loss"].values, ensemble.predict(N=1e10, D=2e11)["loss"].values)
    assert main(["predict", str(path), "--params", "1e10", "--tokens", "2e11", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out["members"]) == {"right", "other"} and 0 <= out["law_form_share"] <= 1
    assert out["members"]["right"]["weight"] == pytest.approx(0.75)
    assert main(["allocate", str(path), "--compute", "1e24", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["N_opt_by_law_form"]["law_form_share"] > 0.5  # beta 0.36 vs 0.30 moves N* far apart
    assert main(["summary", str(path)]) == 0
    assert "weight 0.750" in capsys.readouterr().out
    assert main(["frontier", str(path), "--compute-min", "1e21", "--compute-max", "1e24", "--json"]) == 0


def test_report_of_an_ensemble_leads_with_the_ensemble_section(ensemble, tmp_path, capsys):
    path = ensemble.save(tmp_path / "ens.nc")
    assert main(["report", str(path), "--out", str(tmp_path / "r.html"), "--no-refits"]) == 0
    html = (tmp_path / "r.html").read_text()
    assert html.index('id="ensemble"') < html.index('id="data"')
    assert "law-form share" in html and "ensemble of 2 law forms" in html


def test_compare_groups_on_a_hierarchical_ensemble(tmp_path, capsys):
    from bayes_scaling.testing import fake_hierarchical_fit

    a, b = fake_hierarchical_fit(seed=0), fake_hierarchical_fit(seed=0, draws=100)
    ens = EnsembleResult({"a": a, "b": b}, {"a": 0.5, "b": 0.5})
    assert ens.hierarchy["groups"] == ["x", "y"]
    path = ens.save(tmp_path / "h.nc")
    assert main(["compare", str(path), "--compute", "1e21", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["p_a_better"] > 0.9  # group y is ~6% worse in both members
    assert main(["predict", str(path), "--params", "1e9", "--tokens", "2e10", "--group", "y"]) == 0


def test_fit_ensembles_refuses_members_for_tables_it_does_not_fit():
    from bayes_scaling.errors import BayesScalingError
    from bayes_scaling.inference.batch import fit_ensembles

    runs = bs.load_runs(__import__("pandas").DataFrame({"X": [1.0, 10.0], "loss": [1.0, 0.5]}), extra_cols={"X": "X"})
    with pytest.raises(BayesScalingError, match="not being fitted"):
        fit_ensembles({"a": runs}, ["power_x"], members={"b": (["m4"], None)}, workers=1)
    for bad in (["power_x"], "power_x", ["power_x", "m4"], ("power_x", None)):
        with pytest.raises(BayesScalingError, match=r"members\['a'\] must be a pair \(laws, specs\)"):
            fit_ensembles({"a": runs}, ["power_x"], members={"a": bad}, workers=1)


@pytest.mark.parametrize("alpha", [0.5, 0.0, float("nan")])
def test_stacking_refuses_a_prior_without_a_mode(alpha):
    from bayes_scaling.errors import BayesScalingError
    from bayes_scaling.inference.ensemble import stacking_weights

    with pytest.raises(BayesScalingError, match="prior_alpha must be >= 1"):
        stacking_weights(np.zeros((3, 2)), prior_alpha=alpha)


def test_ensemble_refuses_members_fitted_to_other_runs():
    a = fake_fit(seed=1)
    b = fake_fit(seed=2)  # other simulated runs
    with pytest.raises(bs.BayesScalingError, match="other runs"):
        EnsembleResult({"a": a, "b": b}, {"a": 1, "b": 1})


@pytest.mark.sampling
def test_lfo_stacking_prefers_the_true_form(tmp_path, capsys):
    """Runs simulated from tied exponents (alpha = beta = 0.34): leave-future-out stacking puts most
    weight on forms that contain the truth, and the CLI writes a readable ensemble file."""
    design = bs.isoflop_design(np.geomspace(1e18, 3e21, 8), np.geomspace(4, 160, 6))
    truth = {"E": 1.8, "A": 450.0, "B": 2000.0, "alpha": 0.34, "beta": 0.34}
    frame = bs.simulate_runs("chinchilla", truth, design, sigma=0.005, seed=3)
    frame.to_csv(tmp_path / "runs.csv", index=False)
    assert main(["ensemble", str(tmp_path / "runs.csv"), "--laws", "chinchilla_tied,kaplan_nd", "--draws", "300",
                 "--tune", "300", "--seed", "1", "--out", str(tmp_path / "e.nc"), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["ensemble"]["chinchilla_tied"]["weight"] > 0.8, out["weighting"]
    assert len(out["weighting"]["weights_per_cut"]) >= 2


@pytest.mark.sampling
def test_fit_ensembles_reuses_the_cut_fits_for_the_discrepancy_and_skips_it_when_runs_are_few():
    """Two learning curves of L = 0.5 + 5 X^-0.4: the long one's discrepancy is calibrated on the
    stacking cut's fits (no refit) and its exponent is recovered; the short one has too few points
    to split again, so "auto" leaves it uncalibrated and says why."""
    import pandas as pd

    from bayes_scaling.inference.batch import fit_ensembles

    rng = np.random.default_rng(0)

    def curve(n):
        x = np.geomspace(1e2, 1e5, n)
        frame = pd.DataFrame({"X": x, "loss": (0.5 + 5 * x ** -0.4) * np.exp(rng.normal(0, 0.004, n))})
        return bs.load_runs(frame, extra_cols={"X": "X"})

    out = fit_ensembles({"long": curve(16), "short": curve(9)}, ["power_x"], workers=1, cut_decades=(1.0,),
                        calibrate_extrapolation="auto", draws=200, tune=200, inner_draws=200, seed=2,
                        members={"short": (None, ["power_x"])}, inner_fit_kw={"retries": 0})
    assert not out.errors
    long, short = out.fits["long"], out.fits["short"]
    disc = long.members["power_x"].discrepancy
    assert disc is not None
    assert disc.info["method"].startswith("cross-fitted") and disc.info["inner_n_test"] >= 3
    assert disc.info["cuts"]["1"]["weights"] == {"power_x": 1.0}
    assert disc.info["weights_source"].startswith("final weights")  # one cut: nothing learned below it
    from bayes_scaling.commands.output import discrepancy_line

    assert "held out" in discrepancy_line(long.members["power_x"], 0.9)
    from bayes_scaling.commands.ensemble import ensemble_lines

    assert any("calibration mixture weights: final weights" in line for line in ensemble_lines(long, 0.9))
    c0 = float(long.members["power_x"].posterior["c0"].median())
    assert abs(c0 - 0.4) < 0.1, c0
    assert short.members["power_x"].discrepancy is None
    assert short.info["discrepancy"].startswith("not calibrated")


def test_fallback_cut_keeps_budgets_whole_then_fits_fewer_runs_then_equal_weights():
    """A ladder under a decade wide with many runs per budget (3 at 1.8e18, 15 at 3e18, 30 at 9e18 FLOPs):
    no default cut leaves 7 runs to fit, and the largest quarter would split the top budget; the fallback
    holds out the whole top budget. With only 2 runs per budget the cut fits fewer runs than the default
    7 (what the members' proper priors allow); with one run below the top budget no member can be fitted
    and the rule is equal weights."""
    import pandas as pd

    from bayes_scaling.inference.ensemble import _cuts, fallback_cuts, level_cut
    from bayes_scaling.inference.fit import resolve_spec

    items = [resolve_spec(law=name) for name in ("chinchilla", "chinchilla_tied")]

    def ladder(counts):
        rows = []
        for c, k in counts.items():
            for n in np.geomspace(1e8, 1e9, k):
                rows.append({"params": n, "tokens": c / (6 * n), "loss": 3.5 * (1e18 / c) ** 0.05})  # falls with the budget
        return bs.load_runs(pd.DataFrame(rows))

    runs = ladder({1.8e18: 3, 3e18: 15, 9e18: 30})
    assert _cuts(runs, items[0].law, (0.5, 1.0, 1.5), 7)[1] == []
    cuts, rule = fallback_cuts(runs, items, 7)
    assert rule == "level" and len(cuts) == 1
    dec, thr, train, test = cuts[0]
    assert thr == pytest.approx(3e18) and (len(train), len(test)) == (18, 30)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # probing subsets it never fits warns nothing (e.g. 'dominated by the prior')
        cuts, rule = fallback_cuts(ladder({1e18: 2, 3e18: 2, 9e18: 3}), items, 7)
    assert rule == "few_runs" and (len(cuts[0][2]), len(cuts[0][3])) == (4, 3)
    assert fallback_cuts(ladder({3e18: 1, 9e18: 3}), items, 7) == ([], "equal")  # one N below the top
    # no ties: the largest quarter exactly (the rule the default cuts fell back to before)
    assert level_cut(np.arange(1.0, 21.0), lambda m: m.sum() >= 7) == 15.0


def test_a_budget_recorded_to_a_few_significant_figures_is_never_split():
    """C = 6ND with D rounded to 3 significant figures: the six runs of a 3e18-FLOP budget differ by up to
    ~1% in C (and runs 1 ulp apart straddle any rounding of log10 C), yet form one budget level; the cut
    falls between the budgets. Budgets 3% apart (over BUDGET_DECADES) stay distinct."""
    from bayes_scaling.inference.ensemble import BUDGET_DECADES, budget_levels, level_cut

    n = np.geomspace(1e8, 1e9, 6)
    c = np.r_[np.full(6, 1e18), 6 * n * np.array([float(f"{x:.3g}") for x in 3e18 / (6 * n)])]
    assert np.unique(c[6:]).size > 1 and np.ptp(np.log10(c[6:])) < BUDGET_DECADES
    assert budget_levels(c).tolist() == [0] * 6 + [1] * 6
    assert level_cut(c, lambda m: m.sum() >= 6) == 1e18
    tie = np.r_[np.full(4, 1e17), np.nextafter(np.full(3, 1e18), 0), np.full(2, 1e18)]
    assert level_cut(tie, lambda m: m.sum() >= 2) == 1e17  # all five near-1e18 runs held out together
    assert budget_levels([1e18, 1.03e18, 1.001e18]).tolist() == [0, 1, 0]
    assert level_cut(np.full(10, 3e18), lambda m: True) is None  # one budget: no cut


def test_ensemble_refuses_before_fitting_and_records_the_score_it_used(monkeypatch):
    """Calibration asked on runs too few for the mixture's split: refused before any member is fitted. The
    CRPS with weights that use no held-out score is refused naming --score; a few-run fallback cut stacks
    on the log score whatever was asked, equal weights on none, and info says so."""
    from bayes_scaling.errors import BayesScalingError
    from bayes_scaling.inference import ensemble as ens_mod

    few = bs.load_runs(bs.simulate_runs("chinchilla", TRUTH, bs.isoflop_design(np.array([3e18, 9e18]),
                                                                               np.array([10.0, 40.0])), sigma=0.01, seed=5))
    monkeypatch.setattr(ens_mod, "fit", lambda *a, **k: pytest.fail("a member was fitted before the refusal"))
    laws = ["chinchilla", "chinchilla_tied"]
    for method in ("lfo", "equal"):
        with pytest.raises(BayesScalingError, match="too few runs to calibrate"):
            ens_mod.fit_ensemble(few, laws=laws, method=method, calibrate_extrapolation=True)
    with pytest.raises(BayesScalingError, match="leave-future-out weights only") as e:
        ens_mod.fit_ensemble(few, laws=laws, method="loo", score="crps")
    assert e.value.quantity == "score"
    info: dict = {}
    assert ens_mod._fallback_score("crps", "few_runs", info) == "log" and info["score_requested"] == "crps"
    assert ens_mod._fallback_score("crps", "level", {}) == "crps"
    assert ens_mod._fallback_score("crps", "equal", {}) == "none"


def test_crps_block_pairs_are_every_pair_of_draws_so_the_objective_is_convex():
    """The k x k terms are E|X_k - X_l| over all pairs of draws (a draw with itself included): the exact CRPS
    of the empirical mixture, whose curvature along the simplex, B_00 + B_11 - 2 B_01 (an energy distance),
    is never negative, even for two members with one predictive distribution."""
    from bayes_scaling.inference.ensemble_scores import crps_block

    rng = np.random.default_rng(2)
    x, z, y = rng.normal(0, 0.05, (4, 60)), rng.normal(0.01, 0.05, (4, 80)), rng.normal(0, 0.05, 4)
    b = crps_block([x, z], y)[:, 2:].reshape(4, 2, 2)
    np.testing.assert_allclose(b[:, 0, 1], np.abs(x[:, :, None] - z[:, None, :]).mean(axis=(1, 2)), rtol=1e-12)
    np.testing.assert_allclose(b[:, 0, 0], np.abs(x[:, :, None] - x[:, None, :]).mean(axis=(1, 2)), rtol=1e-12)
    for seed in range(10):
        r = np.random.default_rng(seed)
        b = crps_block([r.normal(0, 0.05, (20, 300)), r.normal(0, 0.05, (20, 300))], r.normal(0, 0.05, 20),
                       seed=seed)[:, 2:].sum(axis=0).reshape(2, 2)
        assert b[0, 0] + b[1, 1] - 2 * b[0, 1] <= 1e-12


def test_crps_weights_average_over_bootstrapped_runs_so_three_split_runs_set_no_corner():
    """Members of one spread (no curvature): the plain CRPS argmin follows the sum of three runs that
    disagree to a corner; the Bayesian-bootstrap average stays interior, and 50 runs that agree keep
    their corner."""
    from bayes_scaling.inference.ensemble_scores import crps_stacking_weights

    three = np.hstack([[[0.10, 0.11], [0.12, 0.10], [0.10, 0.105]], np.full((3, 4), 0.05)])
    assert crps_stacking_weights(three, n_boot=0) == pytest.approx([0.0, 1.0], abs=1e-6)
    assert 0.2 < crps_stacking_weights(three)[0] < 0.8
    agree = np.hstack([np.tile([0.10, 0.11], (50, 1)), np.full((50, 4), 0.05)])
    assert crps_stacking_weights(agree)[0] > 0.99


def test_crps_block_matches_the_normal_closed_form_and_crps_stacking_picks_the_better_median():
    """Gneiting & Raftery (2007): CRPS(N(mu, s), y) = s [z (2 Phi(z) - 1) + 2 phi(z) - 1/sqrt(pi)]. A member
    centred on the truth with a too-narrow interval keeps most of the CRPS weight (the log score would
    punish its overconfidence without bound); a member better on half the runs each gets a share."""
    from scipy.stats import norm

    from bayes_scaling.inference.ensemble_scores import crps_block, crps_stacking_weights, member_crps

    rng = np.random.default_rng(0)
    y = rng.normal(0.0, 0.05, 60)
    narrow = rng.normal(0.0, 0.01, (60, 4000))  # right median, interval 5x too narrow
    wide_off = rng.normal(0.08, 0.05, (60, 4000))  # honest width, biased median
    block = crps_block([narrow, wide_off], y, seed=1)
    z = (y - 0.08) / 0.05
    exact = 0.05 * (z * (2 * norm.cdf(z) - 1) + 2 * norm.pdf(z) - 1 / np.sqrt(np.pi))
    np.testing.assert_allclose(member_crps(block)[:, 1], exact, atol=0.005)  # 1000 draws: Monte Carlo error ~0.001
    assert member_crps(block)[:, 1].mean() == pytest.approx(exact.mean(), rel=0.02)
    w = crps_stacking_weights(block)
    assert w[0] > 0.6 and w.sum() == pytest.approx(1.0)
    logw = stacking_weights(np.column_stack([norm.logpdf(y, 0, 0.01), norm.logpdf(y, 0.08, 0.05)]), prior_alpha=1.0)
    assert logw[0] < w[0]  # the log score trusts the overconfident member less
    half = np.r_[np.zeros(30), np.full(30, 0.2)]
    a = rng.normal(0.0, 0.02, (60, 2000))
    b = rng.normal(0.2, 0.02, (60, 2000))
    assert crps_stacking_weights(crps_block([a, b], half + rng.normal(0, 0.02, 60))) == pytest.approx([0.5, 0.5], abs=0.1)
    assert crps_stacking_weights(np.zeros((0, 6))) == pytest.approx([0.5, 0.5])


@pytest.mark.sampling
def test_a_ladder_too_narrow_for_the_default_cuts_gets_fallback_weights_not_a_refusal():
    """3 budgets over 0.7 decades (6 runs each) from the example's truth: no default cut leaves 7 runs to
    fit, so one cut holds out the top budget; the weights, the rule and the calibration come back, and the
    mixture predicts a run 1.5 decades larger within 5% of the truth. Four runs at two budgets: equal weights."""
    from bayes_scaling.commands.ensemble import ensemble_lines
    from bayes_scaling.inference.ensemble import fit_ensemble

    design = bs.isoflop_design(np.array([1.8e18, 3e18, 9e18]), np.geomspace(5, 100, 6))
    runs = bs.load_runs(bs.simulate_runs("chinchilla", TRUTH, design, sigma=0.01, seed=4))
    laws = ["chinchilla", "chinchilla_tied"]
    ens = fit_ensemble(runs, laws=laws, draws=200, tune=200, inner_draws=200, seed=1, calibrate_extrapolation=True,
                       retries=0, score="crps")  # the CRPS path end to end (log: test_lfo_stacking_...)
    assert ens.info["weights_fallback"]["rule"] == "level" and ens.info["score"] == "crps"
    assert set(ens.info["heldout_crps_per_member"]) == set(laws)
    assert [(c["n_train"], c["n_test"]) for c in ens.info["cuts"]] == [(12, 6)]
    assert sum(ens.weights.values()) == pytest.approx(1.0) and len(ens.info["weights_per_cut"]) == 1
    assert any(line.startswith("  fallback (level)") for line in ensemble_lines(ens, 0.9))
    far = bs.simulate_runs("chinchilla", TRUTH, bs.isoflop_design(np.array([2.7e20]), np.array([20.0])), sigma=0.0)
    pred = float(np.median(ens.evaluator.predictive_at_runs(bs.load_runs(far))))
    true = float(far["loss"].iloc[0])
    assert abs(pred / true - 1) < 0.05, (pred, true)
    few = bs.load_runs(bs.simulate_runs("chinchilla", TRUTH, bs.isoflop_design(np.array([3e18, 9e18]),
                                                                               np.array([10.0, 40.0])), sigma=0.01, seed=5))
    eq = fit_ensemble(few, laws=laws, draws=200, tune=200, seed=1, calibrate_extrapolation="auto", retries=0,
                      score="crps")
    assert eq.info["weights_fallback"]["rule"] == "equal" and eq.weights == pytest.approx({k: 0.5 for k in laws})
    assert eq.info["discrepancy"].startswith("not calibrated")
    assert (eq.info["score"], eq.info["score_requested"]) == ("none", "crps")
    head = ensemble_lines(eq, 0.9)[0]
    assert "weights equal (leave-future-out fallback" in head and "--score crps not used" in head
