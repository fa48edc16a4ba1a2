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
    """A fake fit whose 16 rows are checkpoints of 4 training runs (column run_id: 4 D at each run's one N)."""
    from bayes_scaling.data.runs import load_runs
    from bayes_scaling.testing import fake_fit

    frame = _checkpoints_frame()
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
    note = next(line for line in out.splitlines() if line.startswith("note: N is the authors' count"))
    assert "call non-embedding" in note and "plus the untied LM head" in note  # what the count is, in their words
    assert "up to 1.4x below the true total" in note and "params=non_embedding drops the LM head (Kaplan's" in note
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


def _checkpoints_frame():
    """16 rows: checkpoints of 4 training runs (4 D at each run's one N), column run_id."""
    import numpy as np

    from bayes_scaling.testing import runs_frame

    frame = runs_frame().drop(columns="compute")
    return frame.assign(run_id=np.repeat(["a", "b", "c", "d"], 4), params=np.repeat(frame["params"][::4], 4).to_numpy())


def test_a_written_table_keeps_its_loader_notes_and_not_those_of_its_rows(tmp_path):
    """Row-derived notes (checkpoints) are not written to data_note: reading the file derives them again."""
    from dataclasses import replace

    import pandas as pd

    from bayes_scaling.data.runs import load_runs

    with pytest.warns(UserWarning, match="come from 4 training runs"):
        runs = load_runs(_checkpoints_frame())
    runs = replace(runs, notes=(*runs.notes, "N counts the authors' way", "loss is per word"))
    runs.to_csv(tmp_path / "r.csv")
    written = pd.read_csv(tmp_path / "r.csv")["data_note"].dropna().tolist()
    assert written == ["N counts the authors' way", "loss is per word"]
    with pytest.warns(UserWarning, match="come from 4 training runs"):
        back = load_runs(tmp_path / "r.csv")
    assert sorted(back.notes) == sorted(runs.notes)  # the checkpoints note, derived again by loading, once
    assert "data_note" not in back.frame.columns


def test_fit_many_by_run_id_curves_state_no_stale_checkpoint_note(tmp_path, monkeypatch):
    """A file written with a row-derived note in data_note (an older file's): each curve of fit-many --by run_id
    is one run, so no checkpoints note; the loader's note survives."""
    import bayes_scaling.inference.batch as batch

    frame = _checkpoints_frame()
    frame["data_note"] = ["16 rows come from 4 training runs (column 'run_id'): the rows of one run ...",
                          "N counts the authors' way"] + [""] * (len(frame) - 2)
    frame.to_csv(tmp_path / "ck.csv", index=False)
    seen = {}

    def stand_in(tables, *a, **k):
        seen.update(tables)
        raise RuntimeError("stop")

    monkeypatch.setattr(batch, "fit_many", stand_in)
    (tmp_path / "fits").mkdir()
    with pytest.raises(RuntimeError, match="stop"):
        main(["fit-many", str(tmp_path / "ck.csv"), "--by", "run_id", "--law", "power_d", "--out-dir",
              str(tmp_path / "fits")])
    assert sorted(seen) == ["a", "b", "c", "d"]
    for t in seen.values():
        assert t.notes == ("N counts the authors' way",), t.notes


@pytest.mark.parametrize("argv, flag", [(["--group-col", "data_note"], "--group-col"),
                                        (["--seed-col", "data_note"], "--seed-col"),
                                        (["--covariate", "data_note"], "--covariate"),
                                        (["--col", "X=data_note"], "--col"),
                                        (["--params-col", "data_note"], "--params-col")])
def test_the_notes_column_is_reserved(argv, flag, tmp_path, capsys):
    from bayes_scaling.testing import runs_frame

    frame = runs_frame().assign(data_note=["lab A", "lab B"] * 8)
    frame.to_csv(tmp_path / "g.csv", index=False)
    code = main(["fit", str(tmp_path / "g.csv"), "--law", "chinchilla", "--out", str(tmp_path / "f.nc"), *argv])
    err = capsys.readouterr().err.strip()
    assert code != 0 and len(err.splitlines()) == 1, err
    assert "'data_note' is reserved for the table's notes" in err and flag in err, err
    assert not (tmp_path / "f.nc").exists()


def _ladder(**cols):
    import pandas as pd

    return pd.DataFrame(cols)


def test_replicates_and_grouped_runs_are_not_checkpoints_but_a_run_of_several_d_is():
    """A run is (group columns, seed, run id); its rows are checkpoints only where it holds several D at one N."""
    import warnings

    import numpy as np

    from bayes_scaling.data.repeats import checkpoints_record
    from bayes_scaling.data.runs import load_runs

    n = np.repeat([1e8, 2e8, 4e8], 3)  # 3 sizes x 3 seeds, one run id per configuration shared by its seeds
    reps = _ladder(params=n, tokens=20 * n, loss=3 + 1e2 / n ** 0.2 + np.tile([0.0, 0.01, -0.01], 3),
                   seed=np.tile([1, 2, 3], 3), run_id=np.repeat(["s", "m", "l"], 3))
    n2 = np.tile(np.geomspace(1e7, 1e9, 8), 2)  # 2 labs x 8 runs, ids r0..r7 restarting per lab
    labs = _ladder(params=n2, tokens=20 * n2, loss=3 + 1e2 / n2 ** 0.2 + np.repeat([0.0, 0.05], 8),
                   lab=np.repeat(["A", "B"], 8), run_id=[f"r{i}" for i in range(8)] * 2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for runs in (load_runs(reps, seed_col="seed"), load_runs(labs, group_cols=["lab"])):
            assert not any("training runs" in x for x in runs.notes)
            assert checkpoints_record(runs.frame, runs.group_cols) is None
    d = np.tile(np.geomspace(1e9, 2e10, 5), 3)  # pythia-like: 3 runs, each 5 checkpoints at its one N
    ck = _ladder(params=np.repeat([1e8, 2e8, 4e8], 5), tokens=d, loss=3 + 1e3 / d ** 0.3,
                 run_id=np.repeat(["a", "b", "c"], 5))
    with pytest.warns(UserWarning, match="15 rows come from 3 training runs"):
        runs = load_runs(ck)
    assert checkpoints_record(runs.frame)["runs"] == 3


def test_a_seed_column_with_empty_cells_keeps_those_runs_as_runs():
    """A seed may be unknown (empty): runs without one are still runs, counted for checkpoints, with no crash."""
    import pandas as pd

    from bayes_scaling.data.repeats import checkpoints_record

    f = pd.DataFrame({"run_id": list("aaabbbccc"), "N": [1e8] * 3 + [2e8] * 3 + [4e8] * 3,
                      "D": [1e9, 2e9, 4e9] * 3, "seed": [1.0] * 3 + [float("nan")] * 3 + [1.0] * 3})
    rec = checkpoints_record(f, ())
    assert rec is not None and rec["rows"] == 9 and rec["runs"] == 3
    assert checkpoints_record(f.assign(seed=float("nan")).iloc[:6], ())["runs"] == 2
