"""Real-sampling checks of hierarchical fits and group comparison: simulated architectures with a
known gap (and none), paired vs unpaired differences, the Marin ladder (one architecture on three
datasets) and Gemstones' shapes (shape vs scale)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import bayes_scaling as bs
from bayes_scaling.cli import main
from bayes_scaling.examples import EXAMPLE
from bayes_scaling.queries.allocate import compute_optimal
from bayes_scaling.queries.compare_groups import compare_groups
from bayes_scaling.posterior.intervals import summary_record
from bayes_scaling.queries.shape import shape_effect
from bayes_scaling.simulate import isoflop_design, simulate_runs
from conftest import dataset

pytestmark = pytest.mark.sampling

VARY = ["alpha", "beta", "A", "B"]
C_TARGET = 1e22


def _truth_with_gap(gap: float) -> dict:
    """Scale A and B so that the optimal loss at C_TARGET is (1 + gap) times the base truth's
    (the optimal allocation is unchanged when A and B scale together)."""
    t = EXAMPLE["truth"]
    from bayes_scaling.simulate import true_loss

    s = t["alpha"] + t["beta"]
    g = (t["alpha"] * t["A"] / (t["beta"] * t["B"])) ** (1 / s)
    n = g * (C_TARGET / 6) ** (t["beta"] / s)
    l_star = float(true_loss("chinchilla", t, N=n, D=C_TARGET / 6 / n))
    k = 1 + gap * l_star / (l_star - t["E"])
    return {**t, "A": t["A"] * k, "B": t["B"] * k}


def _ladder(truths: dict, seed: int) -> pd.DataFrame:
    design = isoflop_design(np.geomspace(1e18, 1e21, 5), np.geomspace(3, 100, 5))
    frames = [simulate_runs("chinchilla", truth, design, sigma=0.01, seed=seed + i).assign(arch=name)
              for i, (name, truth) in enumerate(truths.items())]
    return pd.concat(frames, ignore_index=True)


def _fit(frame, seed):
    return bs.fit(bs.load_runs(frame, group_cols=["arch"]), law="chinchilla", vary=VARY, seed=seed, draws=500,
                  tune=500, progress=False)


def test_three_percent_gap_is_detected():
    base = EXAMPLE["truth"]
    res = _fit(_ladder({"a1": base, "a2": _truth_with_gap(0.03), "a3": _truth_with_gap(0.015)}, seed=10), seed=10)
    assert res.diagnostics.r_hat_max <= 1.02
    c = compare_groups(res, ["a1", "a2", "a3"], compute=C_TARGET)
    assert c["p_a_better"] >= 0.95
    assert c["expected_rank"]["a1"] < c["expected_rank"]["a3"] < c["expected_rank"]["a2"]
    m = summary_record(c["compute_multiplier"])
    assert m["median"] > 1


def test_no_gap_is_practically_equivalent_and_pairing_narrows_intervals():
    base = EXAMPLE["truth"]
    res = _fit(_ladder({"a1": base, "a2": base, "a3": _truth_with_gap(0.03)}, seed=20), seed=20)
    paired = compare_groups(res, ["a1", "a2", "a3"], compute=C_TARGET, rope=0.01)
    assert paired["p_rope"] >= 0.9
    unpaired = compare_groups(res, ["a1", "a2", "a3"], compute=C_TARGET, rope=0.01, paired=False)
    width = lambda da: float(np.subtract(*np.quantile(da.values, [0.95, 0.05])))  # noqa: E731
    assert width(paired["loss_diff"]) < width(unpaired["loss_diff"])


@pytest.fixture(scope="module")
def marin_fit(tmp_path_factory):
    frame = pd.read_csv(dataset("isoflops_compilation_openathena/isoflops.csv"))
    frame = frame[frame["source"] == "marin_202603"]
    path = tmp_path_factory.mktemp("marin") / "marin.csv"
    frame.to_csv(path, index=False)
    out = path.with_suffix(".nc")
    assert main(["fit", str(path), "--law", "chinchilla", "--compute-col", "budget", "--group-col", "dataset",
                 "--seed", "1", "--out", str(out)]) == 0
    return out


def test_marin_hierarchical_fit_converges_and_compares(marin_fit, capsys):
    res = bs.FitResult.load(marin_fit)
    d = res.diagnostics
    assert d.r_hat_max <= 1.01 and d.divergences == 0
    assert res.groups == ("comma", "dclm", "nemotron")
    capsys.readouterr()
    assert main(["compare", str(marin_fit), "--groups", "dclm", "comma", "--compute", "1e21", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert 0 <= out["p_a_better"] <= 1
    assert set(out["loss"]) == {"dclm", "comma"} and "compute_multiplier" in out
    for g in res.groups:  # per-dataset allocation at 1e21 FLOPs
        opt = compute_optimal(res, [1e21], group=g).isel(budget=0)
        r = summary_record(opt["N_opt"])
        assert r["ci_low"] < r["median"] < r["ci_high"]


def test_gemstones_shape_effect_is_reported():
    frame = pd.read_csv(dataset("gemstones_mcleish2025/gemstones_cool_end.csv"))
    runs = bs.load_runs(frame, params_col="params", tokens_col="tokens", compute_col=None, loss_col="val_loss",
                        shape_cols=("width", "depth"))
    assert np.isclose(np.exp(runs.frame["log_aspect_ratio"]).min(), 3.2)
    res = bs.fit(runs, law="chinchilla", seed=1, draws=500, tune=500, progress=False)
    assert res.diagnostics.r_hat_max <= 1.01
    eff = shape_effect(res, rope=0.01)
    assert eff["aspect_ratio_range"] == pytest.approx([3.2, 320.0])
    assert 0 <= eff["p_within_rope"] <= 1
    # Kaplan Fig. 5: a 40x change of aspect ratio moves the loss by only a few percent
    assert abs(eff["loss_change_per_40x_aspect_ratio"]["median"]) < 0.05


def test_reused_compiled_model_takes_the_new_group_labels():
    """A second hierarchical fit through the same compiled model (same law, spec, group count) must
    carry its own group labels, not the first fit's."""
    base = EXAMPLE["truth"]
    frame = _ladder({"x": base, "y": base}, seed=3)
    kw = dict(law="chinchilla", vary=VARY, seed=3, draws=100, tune=100, chains=2, progress=False)
    first = bs.fit(bs.load_runs(frame, group_cols=["arch"]), **kw)
    second = bs.fit(bs.load_runs(frame.replace({"arch": {"x": "p", "y": "q"}}), group_cols=["arch"]), **kw)
    assert list(first.posterior["group"].values) == ["x", "y"]
    assert list(second.posterior["group"].values) == ["p", "q"]
    pred = second.predict(N=1e9, D=2e10, group="q")
    assert np.isfinite(pred["loss"].values).all()
