"""Review findings on the hostile-input fixes: the warmup bound stands on its own (nutpie holds the warmup
steps in memory while it samples), and a ``--col`` input that no law being fitted reads, whatever its symbol
(B reaches a law only through S; SE enters the likelihood), is refused rather than ignored."""

from __future__ import annotations

import pytest

from bayes_scaling import BayesScalingError
from bayes_scaling.cli import build_parser
from bayes_scaling.commands.args import runs_from_args, spec_from_args
from bayes_scaling.inference.checks import MAX_WARMUP_STEPS, check_sampler_counts
from bayes_scaling.laws.registry import get_law
from bayes_scaling.posterior.inputs import MAX_DRAW_VALUES
from bayes_scaling.testing import runs_frame


def test_tune_has_its_own_bound_named_for_warmup():
    assert check_sampler_counts(1000, MAX_WARMUP_STEPS // 4, 4) == (1000, MAX_WARMUP_STEPS // 4, 4)
    with pytest.raises(BayesScalingError, match="warmup steps allowed") as e:
        check_sampler_counts(1000, MAX_WARMUP_STEPS // 4 + 1, 4)
    assert e.value.quantity == "tune" and "a query can hold" not in str(e.value)
    with pytest.raises(BayesScalingError, match="draws a query can hold") as e:
        check_sampler_counts(MAX_DRAW_VALUES // 4 + 1, None, 4)
    assert e.value.quantity == "draws"


@pytest.fixture(scope="module")
def csv(tmp_path_factory):
    path = tmp_path_factory.mktemp("col") / "runs.csv"
    frame = runs_frame()
    frame.assign(batch=2.0**20, se=0.01, steps=frame["tokens"] / 2**20).to_csv(path, index=False)
    return str(path)


def runs_for(csv, law, *cols):
    args = build_parser().parse_args(["fit", csv, "--law", law, "--out", "x.nc", *sum((["--col", c] for c in cols), [])])
    return runs_from_args(args, laws=[spec_from_args(args).law])


@pytest.mark.parametrize("law, col, named", [
    ("chinchilla", "B=batch", "optimizer steps S"),  # B only converts S, which chinchilla does not read
    ("chinchilla", "X=params", "X"), ("chinchilla", "L=loss", "L"), ("chinchilla", "S=steps", "optimizer steps S"),
    ("chinchilla", "U=tokens", "unique tokens U"),
])
def test_a_col_input_no_law_reads_is_refused(csv, law, col, named):
    with pytest.raises(BayesScalingError, match="has no effect here") as e:
        runs_for(csv, law, col)
    assert f"--col {col.split('=')[0]}=" in str(e.value) and named in str(e.value)


def test_col_inputs_a_law_reads_are_accepted(csv):
    assert "S" in get_law("kaplan_ns").input_names
    runs = runs_for(csv, "kaplan_ns", "S=steps", "B=batch")  # B turns S into S_min
    assert runs.has("S") and runs.has("B")
    assert runs_for(csv, "chinchilla", "SE=se").has("SE")  # the likelihood's, with --run-noise
