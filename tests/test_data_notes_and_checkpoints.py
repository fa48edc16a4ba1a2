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


def _checkpoint_fit(tmp_path):
    """A fake fit whose 16 rows are checkpoints of 4 training runs (column run_id)."""
    import numpy as np

    from bayes_scaling.data.runs import load_runs
    from bayes_scaling.testing import fake_fit, runs_frame

    frame = runs_frame().assign(run_id=np.repeat(["a", "b", "c", "d"], 4))
    with pytest.warns(UserWarning, match="16 rows come from 4 training runs"):
        runs = load_runs(frame)
    fake_fit(runs=runs, seed=1).save(tmp_path / "ck2.nc")
    return fake_fit(runs=runs).save(tmp_path / "ck.nc")


def test_every_query_and_the_report_say_the_rows_are_checkpoints(tmp_path, capsys):
    path = str(_checkpoint_fit(tmp_path))
    line = "16 rows come from 4 training runs (column 'run_id')"
    for argv in (["predict", path, "--params", "1e9", "--tokens", "2e10"], ["allocate", path, "--compute", "1e22"],
                 ["frontier", path, "--compute-min", "1e20", "--compute-max", "1e22"]):
        assert main(argv) == 0
        text = capsys.readouterr().out
        assert f"WARNING: {line}" in text and "intervals are too narrow" in text, argv
        assert main([*argv, "--json"]) == 0
        rec = json.loads(capsys.readouterr().out)["diagnostics"]["checkpoints"]
        assert (rec["rows"], rec["runs"]) == (16, 4) and rec["note"].startswith(line)
    assert main(["compare-laws", path, path.replace("ck.nc", "ck2.nc")]) == 0  # PSIS-LOO leaves out checkpoints
    assert capsys.readouterr().out.count(line) == 1
    assert main(["summary", path]) == 0  # the fit's data note says it in full (with the fix), once
    text = capsys.readouterr().out
    assert text.count(line) == 1 and f"data note: {line}" in text and "final checkpoint" in text
    out = tmp_path / "r.md"
    assert main(["report", path, "--out", str(out), "--no-refits"]) == 0
    data = out.read_text().split("## Data and provenance")[1].split("## Law and priors")[0]
    assert "16 rows come from 4 training runs" in data and "too narrow" in data and "Note on the data" in data


def test_datasets_prints_its_notes_and_olmo_n_is_declared_total(tmp_path, capsys):
    from conftest import DATASETS, dataset

    dataset("olmo_ladder_bhagia2024/olmo_ladder_final.csv")
    assert main(["datasets", "olmo_ladder", "--data-home", str(DATASETS), "--out", str(tmp_path / "o.csv")]) == 0
    out = capsys.readouterr().out
    assert "note: N is the authors' count" in out and "declared as total parameters" in out
    assert "--params-kind non-embedding" not in out
    assert main(["datasets", "olmo_ladder", "--data-home", str(DATASETS), "--option", "params=non_embedding",
                 "--out", str(tmp_path / "k.csv")]) == 0
    assert "--params-kind non-embedding" in capsys.readouterr().out  # Kaplan's count is declared as such


def test_target_metric_says_a_target_met_at_any_budget_is_at_or_below(tmp_path, capsys):
    from bayes_scaling.testing import fake_fit

    lp = str(fake_fit(draws=50).save(tmp_path / "loss.nc"))
    mp = str(fake_fit("sigmoid_metric", {"b": 0.25, "r": 2 / 3, "L0": 2.5, "k": 4.0}, draws=50,
                      sigma=0.02).save(tmp_path / "metric.nc"))
    assert main(["target-metric", lp, mp, "--target", "0.2"]) == 0  # below the floor (chance, b = 0.25): met by any budget
    text = capsys.readouterr().out
    assert "reached at any budget (the target is at or below what the smallest budget" in text
    assert "at or above" not in text


def test_isoflop_check_names_no_flag_it_lacks(tmp_path, capsys):
    import numpy as np

    from bayes_scaling.data.runs import load_runs
    from bayes_scaling.testing import fake_fit, runs_frame

    frame = runs_frame()
    frame["params"] = frame["params"] * np.geomspace(1, 3, len(frame))  # every run its own compute: no budget
    frame = frame.drop(columns="compute")
    path = str(fake_fit(runs=load_runs(frame)).save(tmp_path / "f.nc"))
    assert main(["isoflop-check", path]) == 2
    err = capsys.readouterr().err
    assert "Approach 2 needs IsoFLOP data" in err and "[--compute]" not in err


@pytest.mark.parametrize("name, option, path", [
    ("olmo_ladder", "drop_first=1.5", "olmo_ladder_bhagia2024/olmo_ladder_checkpoints.csv"),
    ("pythia_evals", "min_step=200000", "pythia_evals_biderman2023/pythia_evals_checkpoints.csv")])
def test_a_loader_option_out_of_range_is_named(name, option, path, tmp_path, capsys):
    from conftest import DATASETS, dataset

    dataset(path)
    extra = ["--option", "checkpoints=true"] if name == "olmo_ladder" else []  # pythia's rows are checkpoints
    assert main(["datasets", name, "--data-home", str(DATASETS), *extra, "--option", option,
                 "--out", str(tmp_path / "x.csv")]) == 2
    err = capsys.readouterr().err
    assert f"--option {option} is out of range" in err and "no runs" not in err
    assert not (tmp_path / "x.csv").exists()


def test_the_metric_law_ceiling_and_the_metric_at_zero_loss_are_named_apart(tmp_path, capsys):
    from bayes_scaling.testing import fake_fit

    path = tmp_path / "m.nc"
    fake_fit("sigmoid_metric", {"b": 0.25, "r": 0.9, "L0": 1.0, "k": 4.0}, draws=50, sigma=0.02).save(path)
    out = tmp_path / "r.md"
    assert main(["report", str(path), "--out", str(out), "--no-refits"]) == 0
    text = out.read_text()
    assert "metric at zero loss (L -&gt; 0" in text or "metric at zero loss (L -> 0" in text
    assert "ceiling (metric as the loss goes to 0)" not in text  # the law's ceiling a + b is the limit L -> -inf
    assert "ceiling of the law (its limit as L -" in text


def test_a_written_table_keeps_its_notes_once(tmp_path):
    from dataclasses import replace

    import numpy as np

    from bayes_scaling.data.runs import load_runs
    from bayes_scaling.testing import runs_frame

    with pytest.warns(UserWarning, match="come from 4 training runs"):
        runs = load_runs(runs_frame().assign(run_id=np.repeat(["a", "b", "c", "d"], 4)))
    runs = replace(runs, notes=(*runs.notes, "N counts the authors' way", "loss is per word"))
    runs.to_csv(tmp_path / "r.csv")
    with pytest.warns(UserWarning, match="come from 4 training runs"):
        back = load_runs(tmp_path / "r.csv")
    assert back.notes == runs.notes  # the checkpoints note, said again by loading, is kept once
    assert "data_note" not in back.frame.columns
