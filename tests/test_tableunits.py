"""Units a real table carries through a CSV: a metric response (column ``metric``, no loss unit) survives
``to_csv``/``datasets --out`` and is refused by loss laws; LAMBADA's per-word log-perplexity is ``nats/word``,
never mixed with per-token losses."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from bayes_scaling import BayesScalingError
from bayes_scaling.cli import main
from bayes_scaling.data.plausibility import MAX_LOSS, plausibility_problems
from bayes_scaling.data.runs import METRIC_COLUMN, load_runs
from bayes_scaling.inference.fit import check_units, resolve_spec
from bayes_scaling.queries.metric_chain import check_predictor_unit
from bayes_scaling.testing import fake_fit, runs_frame

SIGMOID = {"b": 0.25, "r": 2 / 3, "L0": 1.0, "k": 4.0}


def metric_table(predictor_unit="bits/byte"):
    return load_runs(runs_frame("sigmoid_metric", SIGMOID), params_col=None, tokens_col=None, compute_col=None,
                     extra_cols={"L": "L"}, loss_unit=None, predictor_unit=predictor_unit)


def test_a_metric_table_round_trips_through_csv_as_a_metric(tmp_path):
    table = metric_table()
    path = tmp_path / "m.csv"
    table.to_csv(path)
    head = path.read_text().splitlines()[0].split(",")
    assert METRIC_COLUMN in head and "loss" not in head
    back = load_runs(path, params_col=None, tokens_col=None, compute_col=None, extra_cols={"L": "L"})
    assert back.loss_unit is None and back.columns.loss == METRIC_COLUMN and back.is_metric
    np.testing.assert_allclose(back.frame["loss"], table.frame["loss"], rtol=1e-12)
    with pytest.raises(BayesScalingError, match=r"^the runs' response, column 'metric', is a metric .*'chinchilla'; "
                                                r"a loss goes in a column named 'loss'$"):
        check_units(resolve_spec("chinchilla"), back)
    check_units(resolve_spec("sigmoid_metric"), back)  # a metric law takes it
    with pytest.raises(BayesScalingError, match="column 'metric' holds a metric .* loss unit bits/byte was given"):
        load_runs(path, params_col=None, tokens_col=None, compute_col=None, extra_cols={"L": "L"},
                  loss_unit="bits/byte")
    # a loss table keeps its column name and unit; a table with both columns reads the loss
    loss = load_runs(runs_frame(), loss_unit="bits/token")
    loss.to_csv(tmp_path / "l.csv")
    assert load_runs(tmp_path / "l.csv", loss_unit="bits/token").columns.loss == "loss"
    both = runs_frame().assign(metric=0.5)
    assert load_runs(both).loss_unit == "nats/token"


def test_a_hand_written_metric_column_is_read_as_a_metric_and_a_missing_response_names_it(tmp_path):
    frame = runs_frame().rename(columns={"loss": "metric"}).assign(metric=lambda f: np.linspace(0.3, 0.7, len(f)))
    frame.to_csv(tmp_path / "h.csv", index=False)
    runs = load_runs(tmp_path / "h.csv")
    assert runs.loss_unit is None
    assert runs.response_label == "metric (column 'metric', a fraction: no loss unit)"
    with pytest.raises(BayesScalingError, match="is a metric"):
        check_units(resolve_spec("chinchilla"), runs)
    with pytest.raises(BayesScalingError, match="loss column 'loss' not found.*goes in column 'metric'"):
        load_runs(runs_frame().rename(columns={"loss": "acc"}))


def test_a_metric_without_a_predictor_is_worded_as_a_metric_and_a_loss_in_its_unit():
    frame = runs_frame().assign(acc=lambda f: np.linspace(30, 60, len(f)))  # accuracy in percent
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        runs = load_runs(frame, loss_col="acc", loss_unit=None)
    problems = runs.implausible()
    assert len(problems) == 1 and "the metric (the response, a fraction) reaches 60" in problems[0]
    assert "nats" not in problems[0]
    big = runs_frame().assign(loss=lambda f: np.linspace(2.0, 25.0, len(f)))  # 25 > 20 nats, < 28.9 bits
    assert any("loss up to 25 nats/token" in p for p in plausibility_problems(big))
    assert not any("loss up to" in p for p in plausibility_problems(big, loss_unit="bits/token"))
    assert any(f"{MAX_LOSS:g}" in p and "nats/word" in p for p in plausibility_problems(big, loss_unit="nats/word"))


def test_datasets_out_writes_a_metric_column_that_fit_refuses_for_a_loss_law(tmp_path, capsys):
    from conftest import DATASETS, dataset

    dataset("olmo_ladder_bhagia2024/olmo_ladder_final.csv")
    out = tmp_path / "acc.csv"
    assert main(["datasets", "olmo_ladder", "--option", "target=acc", "--option", "task=hellaswag", "--out", str(out),
                 "--data-home", str(DATASETS)]) == 0
    assert "column metric is a metric" in capsys.readouterr().out
    assert out.read_text().splitlines()[0].split(",")[:3] == ["params", "tokens", "metric"]
    fit_out = tmp_path / "f.nc"
    assert main(["fit", str(out), "--law", "chinchilla", "--out", str(fit_out)]) == 2 and not fit_out.exists()
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "column 'metric', is a metric" in err and "[--loss-col]" in err


def test_lambada_is_nats_per_word_and_never_mixed_with_per_token_losses():
    from conftest import DATASETS, dataset

    from bayes_scaling import datasets as ds

    dataset("pythia_evals_biderman2023/pythia_evals_final.csv")
    lam = ds.load("pythia_evals", data_home=DATASETS, final=True)
    assert lam.loss_unit == "nats/word" and lam.columns.loss == "lambada_logppl"
    # ln(ppl) of the README's check value: Pythia-12B 0-shot LAMBADA ppl 3.92 (Biderman et al. 2023)
    assert np.log(3.9236) == pytest.approx(lam.frame["loss"].min(), abs=0.02)
    with pytest.raises(BayesScalingError, match="--loss-unit nats/word does not match") as err:
        check_units(resolve_spec("chinchilla", "chinchilla_hoffmann2022"), lam)  # published priors: per token
    assert "give the losses in nats/token" not in str(err.value)  # a per-word loss has no per-token value
    check_units(resolve_spec("chinchilla"), lam)  # weak priors: fitted and labelled per word
    acc = ds.load("pythia_evals", data_home=DATASETS, task="piqa", final=True)
    assert (acc.loss_unit, acc.predictor_unit) == (None, "nats/word")
    metric_fit = fake_fit("sigmoid_metric", SIGMOID, draws=20, sigma=0.02, runs=metric_table("nats/word"))
    with pytest.raises(BayesScalingError, match="predictor L is in nats/word but the chinchilla fit's losses are in "
                                                "nats/token"):
        check_predictor_unit(fake_fit(draws=20), metric_fit)
    check_predictor_unit(fake_fit(draws=20, runs=load_runs(runs_frame(), loss_unit="nats/word")), metric_fit)
