"""Breakdown's data requirement only where the law's D term is Kaplan's overfitting penalty (Kaplan et al. 2020
sec. 4): a Chinchilla-form fit, whose B/D^beta is under-training, says why it gives none instead of printing an
implausible D >= k N^gamma. Posteriors from ``fake_fit``."""

from __future__ import annotations

import json

import pytest

from bayes_scaling.cli import main
from bayes_scaling.errors import BayesScalingError
from bayes_scaling.queries.data_requirement import data_requirement, overfitting_refusal, tokens_to_limit_overfitting
from bayes_scaling.result import EnsembleResult
from bayes_scaling.testing import fake_fit

KAPLAN = {"alpha_N": 0.076, "alpha_D": 0.103, "N_c": 6.4e13, "D_c": 1.8e13}


def test_a_chinchilla_fit_has_no_data_requirement_and_says_why(tmp_path, capsys):
    chin = fake_fit(draws=30)
    assert overfitting_refusal(chin.law) is not None and overfitting_refusal(fake_fit("kaplan_nd", KAPLAN, draws=5).law) is None
    for call in (lambda: data_requirement(chin, 1e8, 1e10), lambda: tokens_to_limit_overfitting(chin, [1e9])):
        with pytest.raises(BayesScalingError, match="under-training") as e:
            call()
        assert e.value.quantity == "law"
    path = str(chin.save(tmp_path / "chin.nc"))
    assert main(["breakdown", path, "--json"]) == 0
    js = json.loads(capsys.readouterr().out)
    assert set(js["data_requirement"]) == {"skipped"} and "gamma" not in js
    assert main(["breakdown", path]) == 0
    text = capsys.readouterr().out
    assert "data requirement not given" in text and "D >= k N^gamma" not in text
    assert main(["breakdown", path, "--delta", "0.05"]) == 2
    assert "--delta has no effect" in capsys.readouterr().err


def test_kaplan_keeps_its_requirement_and_a_mixed_ensemble_skips_it(tmp_path, capsys):
    kap = fake_fit("kaplan_nd", KAPLAN, draws=20)
    req = data_requirement(kap, 1e6, 1e10)
    assert float(req["gamma"].median()) == pytest.approx(0.076 / 0.103, rel=0.02)  # Kaplan Eq. 4.4's 0.74
    chin = fake_fit(draws=20, runs=kap.runs)
    ens = EnsembleResult({"kap": kap, "chin": chin}, {"kap": 0.5, "chin": 0.5}, {"method": "test"})
    path = str(ens.save(tmp_path / "ens.nc"))
    assert main(["breakdown", path, "--json"]) == 0
    js = json.loads(capsys.readouterr().out)
    assert set(js["data_requirement"]) == {"skipped"} and "chinchilla" in js["data_requirement"]["skipped"]
    assert "largest_runs_check" in js
