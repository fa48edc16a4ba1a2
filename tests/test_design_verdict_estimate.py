"""Stop or go names the estimate its verdict rests on: where most simulated outcomes of the verdict's picks
were scored by the Laplace update (importance weights collapsed) the verdict says so, states what its ± leaves
out, and the CLI prints the collapse warning the report gives. No sampling (``fake_fit``)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from bayes_scaling.cli import main
from bayes_scaling.queries.design_verdict import best_go, collapse_note, options, to_refit, verdict_text
from bayes_scaling.testing import fake_fit

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")


def _sg(share: float, ess: float) -> dict:
    step = {"expected_wasted_after": 0.01, "value_flops": 5e21, "cost_flops": 1e19, "net_flops": 5e21 - 1e19,
            "value_se_flops": 1e18, "net_se_flops": 1e18, "ess": ess, "laplace_share": share}
    sg = {"steps": [step], "go_runs": 1, "alternatives": [], "ess": ess}
    sg.update(best_go(sg))
    return sg


def test_a_verdict_on_the_laplace_update_is_labelled_so():
    lap, rw = _sg(1.0, 2.0), _sg(0.0, 400.0)
    assert (lap["estimate"], lap["laplace_share"], lap["verdict_ess"]) == ("laplace", 1.0, 2.0)
    assert rw["estimate"] == "reweighting"
    text = verdict_text(lap)
    assert "by the Laplace update" in text and "leaves out that approximation's own error" in text
    assert "Laplace" not in verdict_text(rw)
    assert options(lap)[1]["estimate"] == "laplace"
    assert to_refit(lap, min_ess=50) is not None  # refits recheck a Laplace verdict as they do a reweighting one
    assert collapse_note(lap, 50) == "weights collapsed (ESS 2): recheck with real refits (--max-refits 1 or more)"
    assert collapse_note(rw, 50) is None
    assert "ensemble" in collapse_note(lap, 50, refits=False)


def test_cli_labels_a_collapsed_verdict_and_warns(tmp_path, capsys):
    """A posterior wider than one run's noise by far (rel_sd 0.05, sigma 0.01): every pick's outcomes collapse
    the weights, so stop or go rests on the Laplace update (before the fix: ``estimate: "reweighting"`` and no
    warning in the CLI)."""
    path = str(fake_fit(draws=300, rel_sd=0.05).save(tmp_path / "wide.nc"))
    argv = ["design", path, "--target-compute", "1e23", "--ladder-budget", "1e22", "--max-refits", "0",
            "--worlds", "32", "--exchange", "0"]
    assert main(argv + ["--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    sg = out["stop_or_go"]
    assert sg["verdict"] == "go" and sg["estimate"] == "laplace" and sg["laplace_share"] > 0.5
    assert all(0.0 <= st["laplace_share"] <= 1.0 for st in sg["steps"])
    assert out["verdict_warning"] and out["verdict_warning"].startswith("weights collapsed (ESS")
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "by the Laplace update" in text and "!! weights collapsed (ESS" in text
    assert np.isfinite(sg["best_net_se_flops"])
