"""Run design's candidates: the trusted shapes (the candidates outside the fit's own shapes flagged) and, with --reach-optimal-shape, the posterior's interval of the
compute-optimal shape at the target (``queries/design_shapes``), and the CLI's record of it. Posteriors
from ``fake_fit`` (no sampling)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from bayes_scaling.cli import main
from bayes_scaling.conventions import MAX_EXTRA_SHAPES, MAX_REACH_DECADES, TRUSTED_TOKENS_PER_PARAM
from bayes_scaling.errors import BayesScalingError
from bayes_scaling.queries.allocate import compute_optimal
from bayes_scaling.queries.design_shapes import candidate_grid, optimal_shape_interval, outside, shape_ratios
from bayes_scaling.testing import fake_fit

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")

TARGET = 1e23  # FLOPs
LO, HI = TRUSTED_TOKENS_PER_PARAM
DATA = (2.0, 200.0)  # tokens/parameter of fake_fit's runs (testing.runs_frame): the design's default range
STEP = np.log(HI / LO) / 9  # the trusted grid's log spacing (10 ratios)
#: a chinchilla truth with alpha = beta, so D*/N* = (beta B / (alpha A))^(2 / (alpha + beta)) at any budget:
#: (9000 / 406)^(1 / 0.34) ~ 9e3 tokens/parameter, far beyond the trusted 340
FAR = {"E": 1.69, "A": 406.4, "B": 9000.0, "alpha": 0.34, "beta": 0.34}


@pytest.fixture(scope="module")
def far():
    return fake_fit(truth=FAR, draws=300, rel_sd=0.01)


@pytest.fixture(scope="module")
def inside():
    return fake_fit(draws=300)


def test_grid_is_unchanged_when_the_optimum_lies_inside_the_trusted_range(inside):
    reach = optimal_shape_interval(inside, TARGET)
    assert LO < reach[0] < reach[1] < HI
    base = candidate_grid([1e18, 1e21], 3e21)
    for a, b in zip(candidate_grid([1e18, 1e21], 3e21, reach=reach), base):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(shape_ratios(reach=reach), np.geomspace(LO, HI, 10))


def test_interval_is_the_posteriors_quantiles_of_the_optimal_shape(far):
    lo, hi = optimal_shape_interval(far, TARGET)
    shape = np.asarray(compute_optimal(far, [TARGET])["tokens_per_param"]).reshape(-1)
    assert (lo, hi) == pytest.approx(tuple(np.quantile(shape, [0.05, 0.95])), rel=1e-6)
    truth = (FAR["B"] / FAR["A"]) ** (1 / 0.34)  # alpha = beta: the closed form above
    assert lo < truth < hi and lo > HI
    wide = optimal_shape_interval(far, TARGET, ci_prob=0.99)
    assert wide[0] < lo and wide[1] > hi
    with pytest.raises(BayesScalingError, match="ci_prob"):
        optimal_shape_interval(far, TARGET, ci_prob=1.0)


def test_grid_extends_at_the_trusted_spacing_to_cover_the_interval(far):
    reach = optimal_shape_interval(far, TARGET)
    r = shape_ratios(reach=reach)
    np.testing.assert_allclose(r[:10], np.geomspace(LO, HI, 10), rtol=1e-12)  # the trusted grid, then the extension
    np.testing.assert_allclose(np.diff(np.log(r)), STEP, rtol=1e-9)
    assert r[-1] >= reach[1] > r[-2]  # out to the first ratio at or beyond the interval's end, no further
    assert len(r) - 10 == int(np.ceil(np.log(reach[1] / HI) / STEP))
    n, d = candidate_grid([1e18, 1e21], 3e21, reach=reach)
    assert len(n) == 10 * len(r) and np.sum(outside(d / n)) == 10 * (len(r) - 10)
    # below the trusted range too, on both sides at once
    both = shape_ratios(reach=(1e-3, 1e3))
    assert both[0] <= 1e-3 < both[1] and both[-1] >= 1e3 > both[-2]
    np.testing.assert_allclose(np.diff(np.log(both)), STEP, rtol=1e-9)


def test_extension_is_capped_and_then_spaced_out_to_the_interval(far):
    r = shape_ratios(reach=(1e-3, 3e5))  # 1.6 decades below, 3 above: 11 ratios at the spacing, 10 allowed
    assert len(r) == 10 + MAX_EXTRA_SHAPES
    assert r[0] == pytest.approx(1e-3) and r[-1] == pytest.approx(3e5)
    below, above = np.sum(r < LO * 0.999), np.sum(r > HI * 1.001)
    assert below + above == MAX_EXTRA_SHAPES and above > below  # shared by the decades each side needs
    one = shape_ratios(reach=(1.0, 1e30))  # cut at MAX_REACH_DECADES beyond the range
    assert len(one) == 10 + 7 and one[-1] == pytest.approx(HI * 10 ** MAX_REACH_DECADES, rel=0.3)
    assert one[-1] >= HI * 10 ** MAX_REACH_DECADES and one[0] == pytest.approx(LO)
    wide = shape_ratios(reach=(1e-9, 1e12))
    assert wide[0] == pytest.approx(LO / 10 ** MAX_REACH_DECADES) and wide[-1] == pytest.approx(HI * 10 ** MAX_REACH_DECADES)
    assert len(shape_ratios(reach=(1.0, 1e30), max_extra=0)) == 10
    with pytest.raises(BayesScalingError, match="shapes to reach"):
        shape_ratios(reach=(10.0, 1.0))


@pytest.fixture(scope="module")
def far_file(far, tmp_path_factory):
    return str(far.save(tmp_path_factory.mktemp("dshape") / "far.nc"))


BASE = ["--target-compute", "1e23", "--ladder-budget", "3e21", "--batch", "2", "--worlds", "16", "--max-refits", "0"]


def test_cli_records_the_extension_and_shapes_turns_it_off(far, far_file, capsys):
    reach = optimal_shape_interval(far, TARGET)
    # off by default: the trusted grid; the candidates outside the fit's own shapes (the fake runs' 2-200) flagged
    assert main(["design", far_file, *BASE, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["shapes_extended"] is False and out["optimal_shape_interval_tokens_per_param"] is None
    assert out["shapes_tokens_per_param"] == [LO, HI] and out["data_tokens_per_param"] == pytest.approx(DATA)
    assert not any(r["outside_trusted"] for r in out["candidates"])
    assert all(r["proposed_for"] == "trusted shapes" for r in out["candidates"])
    beyond = [r for r in out["candidates"] if not DATA[0] * 0.999 < r["tokens_per_param"] < DATA[1] * 1.001]
    assert beyond and [r["outside_data_shapes"] for r in out["candidates"]] == [r in beyond for r in out["candidates"]]
    assert out["candidates_outside_data_shapes"] == len(beyond)
    assert main(["design", far_file, *BASE, "--top", "200"]) == 0
    text = capsys.readouterr().out
    assert f"{len(beyond)} of {len(out['candidates'])} candidates lie outside the fit's shapes, 2-200 " \
        "tokens/parameter" in text and "--shapes 2 200 keeps to it" in text
    rows = [x.split() for x in text.splitlines() if x.split()[-2:-1] in (["reweight"], ["laplace"], ["refit"])
            or x.split()[-1:] in (["reweight"], ["laplace"], ["refit"])]  # the table (column 'data': D/N, N, C or inside)
    assert len(rows) == len(out["candidates"])
    assert sum("D/N" in r[-1].split(",") for r in rows) == len(beyond)
    assert main(["design", far_file, *BASE, "--json", "--reach-optimal-shape"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["shapes_extended"] is True and out["trusted_tokens_per_param"] == [LO, HI]
    assert out["optimal_shape_interval_tokens_per_param"] == pytest.approx(list(reach))
    assert out["shapes_tokens_per_param"][1] >= reach[1] and out["shapes_tokens_per_param"][0] == pytest.approx(LO)
    flagged = [r for r in out["candidates"] if r["outside_trusted"]]
    assert flagged and all(r["tokens_per_param"] > HI and r["proposed_for"] == "optimal shape at the target"
                           and r["outside_data_shapes"] for r in flagged)
    trusted = [r for r in out["candidates"] if not r["outside_trusted"]]
    assert trusted and all(r["proposed_for"] == "trusted shapes" for r in trusted)
    assert all("outside_data_shapes" in b and "outside_trusted" in b for b in out["batch"])
    assert main(["design", far_file, *BASE, "--reach-optimal-shape"]) == 0
    text = capsys.readouterr().out
    line = next(x for x in text.splitlines() if "extended to" in x).strip()
    assert line.startswith(f"extended to {LO:.3g}-") and "tokens/parameter: the posterior's 90% interval of the " \
        "optimal shape at C = 1e+23 FLOPs" in line
    # --shapes alone: a fixed range, no extension; the fit's own range leaves nothing outside its shapes
    assert main(["design", far_file, *BASE, "--json", "--shapes", str(DATA[0]), str(DATA[1])]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["shapes_extended"] is False and out["optimal_shape_interval_tokens_per_param"] is None
    assert max(r["tokens_per_param"] for r in out["candidates"]) == pytest.approx(DATA[1])
    assert out["candidates_outside_data_shapes"] == 0 and not any(r["outside_data_shapes"] for r in out["candidates"])
    assert all(r["proposed_for"] == "--shapes range" for r in out["candidates"])
    assert main(["design", far_file, *BASE, "--shapes", str(DATA[0]), str(DATA[1])]) == 0
    text = capsys.readouterr().out
    assert "extended to" not in text and "lie outside the fit's shapes" not in text


def test_cli_without_extension_keeps_todays_grid(inside, tmp_path, capsys):
    path = str(inside.save(tmp_path / "inside.nc"))
    assert main(["design", path, *BASE, "--json", "--reach-optimal-shape"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["shapes_extended"] is False and out["shapes_tokens_per_param"] == [LO, HI]
    lo, hi = out["optimal_shape_interval_tokens_per_param"]
    assert LO < lo < hi < HI
    grid = np.log(np.geomspace(LO, HI, 10))
    near = [np.argmin(np.abs(grid - np.log(r["tokens_per_param"]))) for r in out["candidates"]]
    np.testing.assert_allclose([r["tokens_per_param"] for r in out["candidates"]], np.exp(grid[near]), rtol=1e-9)
    assert sorted(set(near)) == list(range(10))


def test_a_fit_at_one_shape_flags_every_other_shape(tmp_path, capsys):
    from bayes_scaling.data.runs import load_runs
    from bayes_scaling.testing import runs_frame

    frame = runs_frame().assign(tokens=lambda f: 20 * f["params"]).drop(columns="compute")
    path = str(fake_fit(runs=load_runs(frame), draws=100).save(tmp_path / "one.nc"))
    assert main(["design", path, *BASE, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["data_tokens_per_param"] == pytest.approx([20, 20])
    assert out["candidates_outside_data_shapes"] == sum(abs(r["tokens_per_param"] - 20) > 1e-6 for r in out["candidates"])
    assert out["candidates_outside_data_shapes"] > 0


def test_an_ensembles_interval_is_over_its_mixture(inside):
    """A mixture of a member whose optimum is inside the trusted range and one far beyond it: the interval
    spans both, so the grid extends (each member alone would give the trusted grid or a far interval)."""
    from bayes_scaling.result import EnsembleResult

    far_member = fake_fit(truth=FAR, runs_truth=None, runs=inside.runs, draws=300, rel_sd=0.01)
    ens = EnsembleResult({"inside": inside, "far": far_member}, {"inside": 1.0, "far": 1.0}, {"method": "test"})
    lo, hi = optimal_shape_interval(ens, TARGET)
    alone = optimal_shape_interval(inside, TARGET), optimal_shape_interval(far_member, TARGET)
    assert lo == pytest.approx(alone[0][0], rel=0.3) and hi == pytest.approx(alone[1][1], rel=0.3)
    assert lo < HI < hi and len(shape_ratios(reach=(lo, hi))) > 10


def test_shapes_and_reach_together_label_the_extension(inside, tmp_path, capsys):
    """--shapes 0.04 1 with --reach-optimal-shape: candidates beyond 1 tokens/parameter come from the extension
    (inside the trusted shapes, but proposed for the optimal shape), and the table marks them."""
    path = str(inside.save(tmp_path / "inside.nc"))
    assert main(["design", path, *BASE, "--json", "--shapes", str(LO), "1", "--reach-optimal-shape"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["shapes_extended"] is True
    added = [r for r in out["candidates"] if r["tokens_per_param"] > 1.001]
    assert added and all(r["proposed_for"] == "optimal shape at the target" and not r["outside_trusted"]
                         for r in added)
    ranged = [r for r in out["candidates"] if r["tokens_per_param"] <= 1.001]
    assert ranged and all(r["proposed_for"] == "--shapes range" for r in ranged)
    assert main(["design", path, *BASE, "--shapes", str(LO), "1", "--reach-optimal-shape", "--top", "200"]) == 0
    rows = [x for x in capsys.readouterr().out.splitlines() if x.rstrip().endswith("optimal")]
    assert len(rows) == len(added)


def test_the_keep_to_shapes_hint_gives_a_range_whose_grid_lies_inside_the_fits_shapes():
    """design's hint rounds the fit's range inward (LO up, HI down, at 3 figures): at 2.0074-200.74 tokens/parameter
    it said --shapes 2.01 201, whose grid end 201 lies outside; one shape (20-20, refused by --shapes) gets an
    interval around it, which --shapes accepts."""
    import re

    from bayes_scaling.queries.design_shapes import keep_to_shapes, outside, shape_ratios

    for fitted in [(2.0074, 200.74), (0.0399, 341.0), (5.0, 5.5), (2.0071, 2.0131), (20.0, 200.0)]:
        lo, hi = map(float, re.search(r"--shapes (\S+) (\S+) keeps to it", keep_to_shapes(fitted)).groups())
        assert fitted[0] <= lo < hi <= fitted[1], (fitted, lo, hi)
        assert not outside(shape_ratios((lo, hi)), fitted).any()
    assert keep_to_shapes((2.0074, 200.74)).startswith("--shapes 2.01 200 ")
    assert keep_to_shapes((20.0, 200.0)).startswith("--shapes 20 200 ")
    lo, hi = map(float, re.search(r"--shapes (\S+) (\S+) keeps", keep_to_shapes((20.0, 20.01))).groups())
    assert lo < 20.0 < hi and shape_ratios((lo, hi)).size == 10
    assert hi / lo == pytest.approx(float(shape_ratios()[1] / shape_ratios()[0]) ** 2, rel=0.01)
