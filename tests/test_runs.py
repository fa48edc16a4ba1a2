"""Runs table: sources, column mapping, unit conversion, derived columns and input errors."""

from __future__ import annotations

import os
import warnings

import numpy as np
import pandas as pd
import pytest
from conftest import DATASETS

import bayes_scaling as bs
from bayes_scaling import BayesScalingError, datasets, get_law, load_runs

N = [1e8, 2e8, 4e8, 8e8, 1.6e9, 3.2e9, 6.4e9, 1.28e10]
D = [2e9, 4e9, 8e9, 1.6e10, 3.2e10, 6.4e10, 1.28e11, 2.56e11]
LOSS = [3.2, 3.0, 2.8, 2.65, 2.5, 2.4, 2.3, 2.2]


def _frame(**extra):
    return pd.DataFrame({"params": N, "tokens": D, "loss": LOSS, **extra})


def _csv(tmp_path, text, name="runs.csv"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _one_line_error(excinfo, *needles):
    msg = str(excinfo.value)
    assert msg.strip() and "\n" not in msg and "\r" not in msg, msg
    for needle in needles:
        assert needle in msg, (needle, msg)
    return msg


# -- sources ------------------------------------------------------------------------------------

def test_load_from_dataframe():
    runs = load_runs(_frame(), compute_col=None)
    assert len(runs) == 8
    np.testing.assert_array_equal(runs.frame["N"], N)
    np.testing.assert_array_equal(runs.frame["D"], D)
    np.testing.assert_array_equal(runs.frame["loss"], LOSS)
    np.testing.assert_allclose(runs.frame["C"], 6 * np.array(N) * np.array(D), rtol=1e-15)
    assert runs.frame.index.name == "run"
    assert runs.source == "<DataFrame>"
    assert runs.params_kind == "total"


def test_dataframe_is_not_modified():
    frame = _frame()
    before = frame.copy()
    load_runs(frame, compute_col=None)
    pd.testing.assert_frame_equal(frame, before)


def test_load_from_csv(tmp_path):
    path = tmp_path / "runs.csv"
    _frame().to_csv(path, index=False)
    runs = load_runs(path)
    np.testing.assert_allclose(runs.frame["N"], N, rtol=1e-15)
    np.testing.assert_allclose(runs.frame["D"], D, rtol=1e-15)
    np.testing.assert_allclose(runs.frame["loss"], LOSS, rtol=1e-15)
    assert runs.source == str(path)
    assert len(runs.sha256) == 64
    assert runs.metadata()["n_runs"] == 8
    # the same file by str path, and with padding around the header names
    assert load_runs(str(path)).sha256 == runs.sha256
    padded = _csv(tmp_path, " params , tokens , loss\n" + "".join(f"{n}, {d}, {l}\n" for n, d, l in zip(N, D, LOSS)),
                  "padded.csv")
    np.testing.assert_allclose(load_runs(padded).frame["N"], N)


def test_load_from_tsv(tmp_path):
    path = tmp_path / "runs.tsv"
    _frame().to_csv(path, index=False, sep="\t")
    np.testing.assert_allclose(load_runs(path).frame["D"], D)


def test_load_from_parquet(tmp_path):
    path = tmp_path / "runs.parquet"
    _frame().to_parquet(path, index=False)
    runs = load_runs(path)
    np.testing.assert_array_equal(runs.frame["N"], N)
    np.testing.assert_array_equal(runs.frame["loss"], LOSS)
    assert runs.source == str(path)


def test_corrupt_parquet(tmp_path):
    path = tmp_path / "runs.parquet"
    path.write_bytes(b"this is not parquet")
    with pytest.raises(BayesScalingError) as ei:
        load_runs(path)
    _one_line_error(ei, "Parquet")


# -- column mapping, units, derived quantities ----------------------------------------------------

def test_epoch_style_column_names_derive_tokens():
    frame = pd.DataFrame({"Model Size": N, "Training FLOP": 6 * np.array(N) * np.array(D), "loss": LOSS})
    runs = load_runs(frame, params_col="Model Size", tokens_col=None, compute_col="Training FLOP")
    np.testing.assert_allclose(runs.frame["D"], D, rtol=1e-12)
    assert "D = C / (6 N)" in runs.derived
    assert runs.metadata()["columns"]["params"] == "Model Size"
    # a default tokens column name that is absent is fine too
    runs2 = load_runs(frame, params_col="Model Size", compute_col="Training FLOP")
    np.testing.assert_allclose(runs2.frame["D"], D, rtol=1e-12)


def test_compute_derived_from_n_and_d():
    runs = load_runs(_frame(), compute_col=None)
    np.testing.assert_allclose(runs.frame["C"], 6 * np.array(N) * np.array(D), rtol=1e-15)
    assert "C = 6 N D" in runs.derived


def test_pf_days_conversion():
    assert bs.PF_DAY_FLOPS == 8.64e19
    assert float(bs.flops_to_pf_days(8.64e19)) == pytest.approx(1.0, rel=1e-15)
    assert float(bs.pf_days_to_flops(1.0)) == 8.64e19
    x = np.array([1e-3, 1.0, 1e4])
    np.testing.assert_allclose(bs.flops_to_pf_days(bs.pf_days_to_flops(x)), x, rtol=1e-15)

    c_flops = 6 * np.array(N) * np.array(D)
    frame = pd.DataFrame({"params": N, "pf": c_flops / 8.64e19, "loss": LOSS})
    runs = load_runs(frame, compute_col="pf", compute_unit="pf-days", tokens_col=None)
    np.testing.assert_allclose(runs.frame["C"], c_flops, rtol=1e-12)  # stored in FLOPs
    np.testing.assert_allclose(runs.frame["D"], D, rtol=1e-12)
    np.testing.assert_allclose(runs.log_inputs("PF-days")["C"], np.log(c_flops / 8.64e19), rtol=1e-12)
    np.testing.assert_allclose(runs.log_inputs()["C"], np.log(c_flops), rtol=1e-13)


def test_compute_unit_is_recorded_in_the_metadata_and_rebuilt_from_it():
    from bayes_scaling.data.runs import runs_from_frame

    frame = pd.DataFrame({"params": N, "pf": 6 * np.array(N) * np.array(D) / 8.64e19, "loss": LOSS})
    runs = load_runs(frame, compute_col="pf", compute_unit="pf-days", tokens_col=None)
    assert runs.compute_unit == "pf-days" and runs.metadata()["compute_unit"] == "pf-days"
    assert runs_from_frame(runs.frame, runs.metadata()).metadata() == runs.metadata()
    assert load_runs(_frame(), compute_col=None).metadata()["compute_unit"] == "flops"
    old = {k: v for k, v in runs.metadata().items() if k != "compute_unit"}  # saved before the unit was recorded
    rebuilt = runs_from_frame(runs.frame, old)
    assert rebuilt.compute_unit is None and "compute_unit" not in rebuilt.metadata()


def test_compute_unit_spellings_are_one_pair_and_both_convert():
    from bayes_scaling.conventions import canonical_compute_unit, compute_to_flops, flops_to_unit

    assert [canonical_compute_unit(u) for u in ("flops", "FLOPs", "pf-days", "PF-days", "pf_days", None)] == \
        ["flops", "flops", "pf-days", "pf-days", None, None]
    for unit in ("pf-days", "PF-days"):
        assert float(compute_to_flops(2.0, unit)) == 2.0 * 8.64e19
        assert float(flops_to_unit(8.64e19, unit)) == 1.0
    assert float(compute_to_flops(3e20, "FLOPs")) == 3e20 and float(flops_to_unit(3e20, "flops")) == 3e20
    frame = pd.DataFrame({"params": N, "pf": 6 * np.array(N) * np.array(D) / 8.64e19, "loss": LOSS})
    lower = load_runs(frame, compute_col="pf", compute_unit="pf-days", tokens_col=None)
    upper = load_runs(frame, compute_col="pf", compute_unit="PF-days", tokens_col=None)
    pd.testing.assert_frame_equal(lower.frame, upper.frame)
    assert upper.compute_unit == "pf-days"  # stored in the option spelling


def test_bad_compute_unit_and_params_kind():
    with pytest.raises(BayesScalingError) as ei:
        load_runs(_frame(), compute_col=None, compute_unit="exaflops")
    _one_line_error(ei, "exaflops")
    with pytest.raises(BayesScalingError) as ei:
        load_runs(_frame(), compute_col=None, params_kind="embedding")
    _one_line_error(ei, "embedding")
    assert load_runs(_frame(), compute_col=None, params_kind="non-embedding").params_kind == "non-embedding"


def test_warning_when_compute_disagrees_with_6nd():
    c = 6 * np.array(N) * np.array(D)
    off = c.copy()
    off[3] *= 2.5
    with pytest.warns(UserWarning, match="6\\*N\\*D"):
        runs = load_runs(_frame(compute=off))
    assert runs.notes and "data row 4" in runs.notes[0]
    low = c.copy()
    low[0] /= 2.5
    with pytest.warns(UserWarning):
        load_runs(_frame(compute=low))


def test_no_warning_within_factor_two():
    c = 6 * np.array(N) * np.array(D)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        runs = load_runs(_frame(compute=c * 1.5))
        load_runs(_frame(compute=c / 1.5))
    np.testing.assert_allclose(runs.frame["C"], c * 1.5)  # given compute is kept as given
    assert not runs.notes


def test_group_and_seed_columns_carried():
    frame = _frame(arch=["a", "b"] * 4, data=["x"] * 8, rs=list(range(8)))
    runs = load_runs(frame, compute_col=None, group_cols=["arch", "data"], seed_col="rs")
    assert runs.group_cols == ("arch", "data")
    assert list(runs.frame["arch"]) == ["a", "b"] * 4
    assert list(runs.frame["data"]) == ["x"] * 8
    assert list(runs.frame["seed"]) == list(range(8))
    meta = runs.metadata()
    assert meta["columns"]["groups"] == ["arch", "data"] and meta["columns"]["seed"] == "rs"


@pytest.mark.parametrize(("kwargs", "needle"), [
    ({"group_cols": ["D"]}, "group column 'D' has the name of the runs table's own column 'D' (tokens)"),
    ({"covariate_cols": ["N"]}, "covariate column 'N' has the name of the runs table's own column 'N' (parameters)"),
    ({"covariate_cols": ["loss"]}, "own column 'loss'"),
    ({"group_cols": ["U"]}, "own column 'U'"),
    ({"group_cols": ["seed"], "seed_col": "rs"}, "own column 'seed'"),
    ({"covariate_cols": ["log_aspect_ratio"], "shape_cols": ("width", "depth")}, "own column 'log_aspect_ratio'"),
    ({"group_cols": ["arch"], "covariate_cols": ["arch"]}, "'arch' is given twice"),
])
def test_group_or_covariate_named_like_a_table_column_is_refused(kwargs, needle):
    frame = _frame(D=[1.0] * 8, N=[2.0] * 8, U=["u"] * 8, seed=["s"] * 8, rs=list(range(8)), arch=[0, 1] * 4,
                   width=[512.0] * 8, depth=[8.0] * 8, log_aspect_ratio=[1.0] * 8)
    with pytest.raises(BayesScalingError) as ei:
        load_runs(frame, compute_col=None, **kwargs)
    _one_line_error(ei, needle)


def test_group_named_seed_without_a_seed_column_is_fine():
    runs = load_runs(_frame(seed=[1, 2] * 4), compute_col=None, group_cols=["seed"])
    assert list(runs.frame["seed"]) == ["1", "2"] * 4 and runs.columns.seed is None


# -- bad values ---------------------------------------------------------------------------------

def _header_and_rows(rows):
    return "params,tokens,loss\n" + "".join(f"{a},{b},{c}\n" for a, b, c in rows)


GOOD_ROWS = [(n, d, l) for n, d, l in zip(N, D, LOSS)]


@pytest.mark.parametrize(("column", "value"), [
    ("loss", "nan"), ("loss", ""), ("loss", "NaN"), ("params", "inf"), ("tokens", "-inf"),
    ("params", "0"), ("tokens", "-5e9"), ("loss", "-1.0"), ("loss", "0.0"),
    ("params", "abc"), ("tokens", "1e9 tokens"), ("loss", "2,5"),
])
def test_bad_values_in_csv(tmp_path, column, value):
    rows = [list(r) for r in GOOD_ROWS]
    j = {"params": 0, "tokens": 1, "loss": 2}[column]
    rows[2][j] = f'"{value}"' if "," in value else value
    path = _csv(tmp_path, _header_and_rows(rows))
    with pytest.raises(BayesScalingError) as ei:
        load_runs(path)
    msg = _one_line_error(ei, f"'{column}'")
    assert "3" in msg  # the data row


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf, 0.0, -1.0, "x", None])
def test_bad_values_in_dataframe(value):
    loss = list(LOSS)
    loss[5] = value
    frame = pd.DataFrame({"params": N, "tokens": D, "my loss": loss})
    with pytest.raises(BayesScalingError) as ei:
        load_runs(frame, loss_col="my loss", compute_col=None)
    _one_line_error(ei, "'my loss'", "6")


def test_several_bad_columns_reported_on_one_line():
    frame = pd.DataFrame({"params": [0.0] + N[1:], "tokens": ["x"] + D[1:], "loss": LOSS})
    with pytest.raises(BayesScalingError) as ei:
        load_runs(frame, compute_col=None)
    _one_line_error(ei, "'params'", "'tokens'")


@pytest.mark.parametrize(("kwargs", "missing"), [
    ({"loss_col": "final_loss"}, "final_loss"),
    ({"params_col": "n_params"}, "n_params"),
    ({"tokens_col": "n_tokens"}, "n_tokens"),
    ({"compute_col": "flops"}, "flops"),
    ({"group_cols": ["arch"]}, "arch"),
    ({"seed_col": "seed"}, "seed"),
])
def test_missing_named_column(kwargs, missing):
    kw = {"compute_col": None, **kwargs}
    with pytest.raises(BayesScalingError) as ei:
        load_runs(_frame(), **kw)
    _one_line_error(ei, f"'{missing}'", "params")  # names the column and lists those available


@pytest.mark.parametrize(("kwargs", "quantity", "needle"), [
    ({"loss_col": "final_loss"}, "loss", "loss column 'final_loss' not found"),
    ({"params_col": "n_params"}, "N", "parameters N column 'n_params' not found"),
    ({"extra_cols": {"U": "unique"}}, "U", "unique tokens U column 'unique' not found"),
    ({"group_cols": ["arch"]}, "group", "group column 'arch' not found"),
    ({"covariate_cols": ["N"]}, "covariate", "covariate column 'N'"),
])
def test_column_errors_name_the_quantity_not_an_option(kwargs, quantity, needle):
    """The library names the quantity (or column role) at fault; only the command line names options."""
    with pytest.raises(BayesScalingError) as ei:
        load_runs(_frame(), **{"compute_col": None, **kwargs})
    msg = _one_line_error(ei, needle)
    assert "--" not in msg and (ei.value.quantity, ei.value.column) == (quantity, True)


def test_no_size_columns_at_all():
    with pytest.raises(BayesScalingError) as ei:
        load_runs(pd.DataFrame({"loss": LOSS}))
    _one_line_error(ei, "parameters N", "scale axis X")  # the command line adds --params-col (test_cli)
    assert (ei.value.quantity, ei.value.column) == ("N", True)


def test_duplicate_column_names_in_csv(tmp_path):
    path = _csv(tmp_path, "params,tokens,loss,loss\n1e8,1e9,3.0,3.1\n2e8,2e9,2.9,2.8\n")
    with pytest.raises(BayesScalingError) as ei:
        load_runs(path)
    _one_line_error(ei, "duplicate", "loss")
    padded = _csv(tmp_path, "params, loss,tokens,loss \n1e8,3.0,1e9,3.1\n", "padded.csv")
    with pytest.raises(BayesScalingError) as ei:
        load_runs(padded)
    _one_line_error(ei, "duplicate", "loss")


def test_duplicate_column_names_in_dataframe():
    frame = pd.DataFrame([[1e8, 1e9, 3.0, 3.1]], columns=["params", "tokens", "loss", "loss"])
    with pytest.raises(BayesScalingError) as ei:
        load_runs(frame, compute_col=None)
    _one_line_error(ei, "duplicate", "loss")


@pytest.mark.parametrize(("content", "needle"), [
    ("", "empty"),
    ("   \n\n", "empty"),
    ("params,tokens,loss\n", "no runs"),
    ("\ufeffparams,tokens,loss\n", "no runs"),
])
def test_empty_and_header_only(tmp_path, content, needle):
    path = _csv(tmp_path, content)
    with pytest.raises(BayesScalingError) as ei:
        load_runs(path)
    _one_line_error(ei, needle, "runs.csv")


def test_utf8_bom_is_accepted(tmp_path):
    path = tmp_path / "bom.csv"
    path.write_bytes(_header_and_rows(GOOD_ROWS).encode("utf-8-sig"))
    np.testing.assert_allclose(load_runs(path).frame["N"], N)


def test_nonexistent_path(tmp_path):
    with pytest.raises(BayesScalingError) as ei:
        load_runs(tmp_path / "missing.csv")
    _one_line_error(ei, "missing.csv", "does not exist")


def test_directory_path(tmp_path):
    with pytest.raises(BayesScalingError) as ei:
        load_runs(tmp_path)
    _one_line_error(ei, "directory")


@pytest.mark.parametrize("name", ["runs.xlsx", "runs.json", "runs"])
def test_unsupported_extension(tmp_path, name):
    path = _csv(tmp_path, _header_and_rows(GOOD_ROWS), name)
    with pytest.raises(BayesScalingError) as ei:
        load_runs(path)
    _one_line_error(ei, "extension", name)


def test_non_utf8_bytes(tmp_path):
    path = tmp_path / "latin1.csv"
    path.write_bytes("params,tokens,loss,note\n1e8,1e9,3.0,caf\xe9\n".encode("latin-1"))
    with pytest.raises(BayesScalingError) as ei:
        load_runs(path)
    _one_line_error(ei, "UTF-8")


def test_ragged_csv(tmp_path):
    path = _csv(tmp_path, "params,tokens,loss\n1e8,1e9,3.0\n2e8,2e9,2.9,7,8\n")
    with pytest.raises(BayesScalingError) as ei:
        load_runs(path)
    _one_line_error(ei, "CSV")


@pytest.mark.parametrize(("text", "needles"), [
    ("params,tokens,loss\n1e8,1e9,3.0\n\n2e8,2e9,2.9,7\n3e8,3e9,2.8\n", ("data row 2", "line 4", "4 fields", "has 3")),
    ("params,tokens,loss\n1e8,1e9,3.0,\n2e8,2e9,2.9,\n", ("data row 1", "trailing ','")),
    ("params,tokens,loss\n1e8,1e9,3.0\n2e8,2e9\n", ("data row 2", "2 fields")),
])
def test_row_with_a_field_more_or_less_than_the_header(tmp_path, text, needles):
    with pytest.raises(BayesScalingError) as ei:
        load_runs(_csv(tmp_path, text))
    _one_line_error(ei, "runs.csv", *needles)


def test_blank_lines_and_old_mac_line_ends_are_read(tmp_path):
    runs = load_runs(_csv(tmp_path, "params,tokens,loss\r1e8,1e9,3.0\r   \r2e8,2e9,2.9\r"))
    np.testing.assert_allclose(runs.frame["loss"], [3.0, 2.9])


def test_unclosed_quote_in_a_large_file_is_one_line(tmp_path):
    text = 'params,"tokens,loss\n' + "1e8,1e9,3.0\n" * 20_000  # > 128 KiB, the csv module's field limit
    with pytest.raises(BayesScalingError) as ei:
        load_runs(_csv(tmp_path, text))
    _one_line_error(ei, "not valid CSV", "line 1", "quot")


@pytest.mark.skipif(not hasattr(os, "getuid") or os.getuid() == 0, reason="root can read unreadable files")
def test_unreadable_file(tmp_path):
    path = _csv(tmp_path, _header_and_rows(GOOD_ROWS))
    path.chmod(0)
    try:
        with pytest.raises(BayesScalingError) as ei:
            load_runs(path)
        _one_line_error(ei, "cannot read")
    finally:
        path.chmod(0o644)


# -- RunTable.require -------------------------------------------------------------------------

def test_require_accepts_enough_runs():
    frame = pd.concat([_frame(), _frame().assign(params=np.asarray(N) * 3, tokens=np.asarray(D) * 2)], ignore_index=True)
    frame["unique"] = frame["tokens"] / 2
    frame["size"] = np.geomspace(10, 1e4, len(frame))
    frame["steps"] = np.geomspace(1e3, 1e5, len(frame))
    frame["task_loss"] = np.geomspace(0.8, 1.6, len(frame))  # L: the predictor loss of metric laws
    runs = load_runs(frame, compute_col=None, extra_cols={"U": "unique", "X": "size", "S": "steps", "L": "task_loss"})
    assert len(runs) >= max(len(get_law(n).params) + 2 for n in bs.list_laws())
    for name in bs.list_laws():
        runs.require(get_law(name))


def test_steps_and_batch_become_s_min():
    """Kaplan et al. 2020 Eq. 5.4: S_min = S / (1 + B_crit(L)/B), B_crit = 2.1e8 / L^(1/0.21)."""
    frame = _frame(steps=np.full(len(N), 1e5), batch=np.full(len(N), 2.0**19))
    runs = load_runs(frame, compute_col=None, extra_cols={"S": "steps", "B": "batch"})
    b_crit = 2.1e8 / np.asarray(LOSS) ** (1 / 0.21)
    np.testing.assert_allclose(runs.frame["S"], 1e5 / (1 + b_crit / 2.0**19), rtol=1e-12)
    np.testing.assert_allclose(runs.frame["steps_raw"], 1e5)
    assert any("S_min" in d for d in runs.derived)
    custom = load_runs(frame, compute_col=None, extra_cols={"S": "steps", "B": "batch"}, critical_batch=(1e8, 0.3))
    np.testing.assert_allclose(custom.frame["S"], 1e5 / (1 + 1e8 / np.asarray(LOSS) ** (1 / 0.3) / 2.0**19))


def test_require_names_the_missing_scale_axis():
    runs = load_runs(_frame(), compute_col=None)
    with pytest.raises(BayesScalingError) as ei:
        runs.require(get_law("bnsl1_x"))
    _one_line_error(ei, "bnsl1_x", "scale axis X")  # the command line adds --col X=COLUMN (test_cli)
    assert (ei.value.quantity, ei.value.column) == ("X", True)


def test_require_too_few_runs():
    runs = load_runs(_frame().iloc[:6], compute_col=None)
    with pytest.raises(BayesScalingError) as ei:
        runs.require(get_law("chinchilla"))  # 5 parameters + noise: needs 7 unless the priors are proper
    _one_line_error(ei, "chinchilla", "7", "6")
    runs.require(get_law("kaplan_n"))  # 2 parameters + noise: 4 runs suffice


def test_require_few_runs_with_proper_priors_warns_in_one_line():
    runs = load_runs(_frame().iloc[:6], compute_col=None)
    with pytest.warns(UserWarning) as rec:
        runs.require(get_law("chinchilla"), proper_priors=True)
    (w,) = [r for r in rec if "dominated by the prior" in str(r.message)]
    assert "\n" not in str(w.message) and "6 runs" in str(w.message)


def test_require_single_distinct_n_for_chinchilla():
    frame = _frame()
    frame["params"] = 1e9
    runs = load_runs(frame, compute_col=None)
    with pytest.raises(BayesScalingError) as ei:
        runs.require(get_law("chinchilla"))
    _one_line_error(ei, "chinchilla", "N", "distinct")
    runs.require(get_law("kaplan_d"))  # D still varies


@pytest.mark.parametrize(("law_name", "needle"), [("kaplan_d", "tokens"), ("chinchilla", "tokens"),
                                                  ("kaplan_c", "compute")])
def test_require_missing_input(law_name, needle):
    runs = load_runs(pd.DataFrame({"params": N, "loss": LOSS}), tokens_col=None, compute_col=None)
    assert not runs.has("D") and not runs.has("C")
    with pytest.raises(BayesScalingError) as ei:
        runs.require(get_law(law_name))
    _one_line_error(ei, law_name, needle)
    runs.require(get_law("kaplan_n"))


# -- the real Epoch AI extraction of Chinchilla Fig. 4 ------------------------------------------

@pytest.mark.parametrize("value", [-1, 2.5, "5", True])
def test_chinchilla_epoch_refuses_a_bad_drop_highest_loss(tmp_path, value):
    with pytest.raises(BayesScalingError) as ei:
        datasets.load("chinchilla_epoch", drop_highest_loss=value, data_home=tmp_path, download=False)
    _one_line_error(ei, "drop_highest_loss", ">= 0")


EPOCH_CSV = DATASETS / "chinchilla_epoch_besiroglu2024" / "svg_extracted_data.csv"


@pytest.mark.skipif(not EPOCH_CSV.is_file(), reason=f"Epoch CSV not found at {EPOCH_CSV} (set BAYES_SCALING_DATASETS)")
def test_epoch_chinchilla_csv():
    runs = load_runs(EPOCH_CSV, params_col="Model Size", tokens_col=None, compute_col="Training FLOP")
    assert len(runs) == 245
    assert runs.derived == ("D = C / (6 N)",)
    d = runs.frame["D"]
    # facts.md §3.1: D from 2.5e8 to 3.2e11 tokens (two significant figures)
    assert d.min() == pytest.approx(2.5e8, rel=0.03)
    assert d.max() == pytest.approx(3.2e11, rel=0.03)
    assert d.max() <= 3.3e11
    assert runs.frame["N"].min() == pytest.approx(5.7e7, rel=0.01)
    assert runs.frame["N"].max() == pytest.approx(1.62e10, rel=0.01)
    assert runs.frame["loss"].min() == pytest.approx(2.08, abs=0.01)
    assert runs.frame["loss"].max() == pytest.approx(5.01, abs=0.01)
    runs.require(get_law("chinchilla"))


def test_notes_travel_with_the_metadata():
    from bayes_scaling.data.runs import runs_from_frame

    frame = pd.DataFrame({"params": N, "tokens": D, "compute": 18 * np.array(N) * np.array(D), "loss": LOSS})
    with pytest.warns(UserWarning, match="C/\\(6ND\\)"):
        runs = load_runs(frame)
    assert runs.notes and runs.metadata()["notes"] == list(runs.notes)
    assert runs_from_frame(runs.frame, runs.metadata()).notes == runs.notes


def test_a_long_text_field_still_loads(tmp_path):
    """The row-length check reads any field length, as pandas does (the csv module stops at 128 KiB)."""
    import csv

    limit = csv.field_size_limit()
    frame = pd.DataFrame({"params": N[:3], "tokens": D[:3], "loss": LOSS[:3], "config": ["x" * 200_000, "y", "z"]})
    frame.to_csv(tmp_path / "long.csv", index=False)
    assert len(load_runs(tmp_path / "long.csv", compute_col=None)) == 3
    assert csv.field_size_limit() == limit
