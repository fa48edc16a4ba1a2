"""A lab user's review (stop 28): checkpoints named by every query, dataset notes shown, JSON = the text's table,
direction-aware wording, the right flag in errors, loader options' ranges, and two distinct 'ceilings'."""

from __future__ import annotations

import json

import pytest

from bayes_scaling.cli import main
from bayes_scaling.testing import fake_hierarchical_fit


def test_summary_json_has_every_row_of_the_text_table(tmp_path, capsys):
    result = fake_hierarchical_fit()
    path = result.save(tmp_path / "h.nc")
    assert main(["summary", str(path), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    table = result.summary(0.9)
    derived = set(out.get("derived", {}))
    rows = [r for r in table.index if r not in derived]
    assert any(r.startswith("tau_") for r in rows) and any("[" in r for r in rows)
    for r in rows:
        assert out[r]["median"] == pytest.approx(float(table.loc[r, "median"]))
        assert out[r]["ci_low"] <= out[r]["median"] <= out[r]["ci_high"]
        assert out[r]["unit"] == table.loc[r, "unit"]
