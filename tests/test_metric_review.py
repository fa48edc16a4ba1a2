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
