"""An ensemble's diagnostics line names the member each worst value comes from, with that member's own chains x
draws (it printed one member's R-hat and ESS beside another's draw count). Posteriors from ``fake_fit``."""

from __future__ import annotations

import re

from bayes_scaling.commands.output import diagnostics_line, diagnostics_record
from bayes_scaling.result import EnsembleResult
from bayes_scaling.testing import fake_fit


def test_the_line_names_each_worst_values_member_with_its_own_draws():
    a = fake_fit(draws=40, seed=1)
    b = fake_fit(draws=300, seed=2, runs=a.runs)
    ens = EnsembleResult({"short": a, "long": b}, {"short": 0.5, "long": 0.5}, {"method": "test"})
    line = diagnostics_line(ens)
    rec = diagnostics_record(ens)
    worst = rec["worst_member"]
    assert set(worst) == {"r_hat_max", "ess_bulk_min", "ess_tail_min"} and worst["ess_bulk_min"] == "short"
    for name, chains, draws in re.findall(r"\((\w+): (\d+) chains x (\d+) draws\)", line):
        d = ens.members[name].diagnostics
        assert (int(chains), int(draws)) == (d.n_chains, d.n_draws)
    named = re.findall(r"\((\w+): \d+ chains", line)
    assert set(named) == set(worst.values())
    assert f"ess_bulk_min {a.diagnostics.ess_bulk_min:.0f}" in line and "(short: " in line
    assert set(rec["members"]) == {"short", "long"} and rec["ok"] == (a.diagnostics.ok and b.diagnostics.ok)
