"""Each loader's units against its dataset's own files (skipped without ``$BAYES_SCALING_DATASETS``): loss unit,
parameter kind, compute (FLOPs; 6ND or the paper's own) and tokens, recomputed from the raw columns."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import DATASETS, dataset

from bayes_scaling import BayesScalingError
from bayes_scaling import datasets as ds


def load(name, **options):
    return ds.load(name, data_home=DATASETS, **options)


def test_pythia_counts_and_tokens_are_the_papers():
    """Biderman et al. 2023 (Table 1; the dataset's README): non-embedding N = L (12 d^2 + 13 d) + 2 d, total N
    adds two untied V x d embeddings, D = step x 2,097,152 tokens; the LAMBADA loss is per target word."""
    raw = pd.read_csv(dataset("pythia_evals_biderman2023/pythia_evals_final.csv"))
    runs = load("pythia_evals", final=True)
    row = raw[(raw["n_shot"] == 0) & (raw["batch_size_tokens"] == 2097152)].iloc[0]
    L, d = float(row["n_layers"]), float(row["d_model"])
    assert row["N_nonembedding"] == L * (12 * d * d + 13 * d) + 2 * d
    assert runs.params_kind == "non-embedding" and runs.loss_unit == "nats/word"
    assert set(runs.frame["D"]) == {143000 * 2097152}  # final checkpoints: 143k steps x 2M tokens
    np.testing.assert_allclose(runs.frame["C"], 6 * runs.frame["N"] * runs.frame["D"])
    total = load("pythia_evals", final=True, params="N_total")
    assert total.params_kind == "total" and (total.frame["N"] > runs.frame["N"]).all()


def test_olmo_ladder_counts_and_the_authors_compute():
    """Bhagia et al. 2024 (ladder.py MODEL_PARAMS / MODEL_FLOPS, the dataset's README): N excludes the input
    embedding and keeps the LM head (noted), N_total adds d_model x 100352; the authors' compute is D x (2N +
    4 N_total + 12 L d seq_len) FLOPs, 1.2-1.7x 6ND, read with compute="authors"; C4 loss nats/token, task
    losses bits/byte."""
    raw = pd.read_csv(dataset("olmo_ladder_bhagia2024/olmo_ladder_final.csv"))
    np.testing.assert_array_equal(raw["N_total"] - raw["N"], raw["d_model"] * 100352)
    six = load("olmo_ladder")
    assert six.params_kind == "total" and six.loss_unit == "nats/token"  # the authors' count: nearer the total
    assert any("untied LM head" in n for n in six.notes)
    np.testing.assert_allclose(six.frame["C"], 6 * six.frame["N"] * six.frame["D"])
    own = load("olmo_ladder", compute="authors")
    np.testing.assert_allclose(own.frame["C"], raw["C_flops"].astype(float))
    ratio = own.frame["C"] / six.frame["C"]
    assert ratio.between(1.15, 1.75).all() and ratio.iloc[0] > 1.5  # the embedding share shrinks with size
    assert not any("compute more than" in n for n in own.notes)  # within 2x of 6ND: no mismatch warning
    assert load("olmo_ladder", target="bpb", task="mmlu").loss_unit == "bits/byte"
    total = load("olmo_ladder", params="N_total")
    assert total.params_kind == "total" and not any("untied LM head" in n for n in total.notes)
    kaplan = load("olmo_ladder", params="non_embedding")  # Kaplan et al. 2020: no LM head either
    L, d = raw["n_layers"].astype(float), raw["d_model"].astype(float)
    np.testing.assert_allclose(kaplan.frame["N"], L * (16 * d * d + 4 * d) + d)
    assert kaplan.params_kind == "non-embedding" and not any("untied LM head" in n for n in kaplan.notes)
    np.testing.assert_allclose(kaplan.frame["C"], 6 * kaplan.frame["N"] * kaplan.frame["D"])
    ckpt = load("olmo_ladder", params="non_embedding", checkpoints=True)
    assert set(ckpt.frame["N"]) == set(kaplan.frame["N"])
    with pytest.raises(BayesScalingError, match="compute"):
        load("olmo_ladder", compute="flops")


def test_misfitting_compute_is_6nd_with_the_matching_count():
    """Li et al. 2025 (the dataset's README): N total, N_no_emb non-embedding, C and C_no_emb in FLOPs (equal to 6ND
    with the matching N in this file), C4 loss in nats/token."""
    raw = pd.read_csv(dataset("misfitting_li2025/scaling_results_last_ckpt_only.csv"))
    for kind, n, c in (("total", "N", "C"), ("non-embedding", "N_no_emb", "C_no_emb")):
        runs = load("misfitting", params_kind=kind)
        assert runs.params_kind == kind
        np.testing.assert_allclose(runs.frame["N"], raw[n].astype(float))
        np.testing.assert_allclose(runs.frame["C"], raw[c].astype(float))
        np.testing.assert_allclose(runs.frame["C"], 6 * runs.frame["N"] * runs.frame["D"], rtol=1e-8)
    assert (raw["N"] > raw["N_no_emb"]).all()


def test_marin_raw_compute_is_logged_gflops_times_1e9_and_counts_include_embeddings():
    """The Marin W&B exports log ``throughput/total_gflops`` (GFLOPs): x 1e9 gives FLOPs within 0.7-1.1x 6ND;
    ``parameter_count`` includes the two 128256 x d_model embedding matrices (total), e.g. 156.5M at d = 512."""
    raw = pd.read_csv(dataset("isoflops_compilation_openathena/marin_raw/isoflop-dclm.csv"))
    raw = raw[~raw["Name"].astype(str).str.contains("validation-optimal", regex=False)]
    runs = load("marin_raw", dataset="dclm")
    assert runs.params_kind == "total"
    np.testing.assert_allclose(runs.frame["C"], raw["throughput/total_gflops"].to_numpy(float) * 1e9)
    assert (runs.frame["C"] / (6 * runs.frame["N"] * runs.frame["D"])).between(0.7, 1.1).all()
    small = raw.loc[raw["parameter_count"].idxmin()]
    assert small["parameter_count"] > 2 * 128256 * small["model.hidden_dim"]  # the embeddings alone are 131M


def test_isoflops_budgets_are_flops_and_llama3s_loss_unit_is_flagged_unknown():
    """The compilation's ``budget`` is FLOPs (the nominal isoFLOP budget, ~6ND); Llama 3's digitised losses have
    no stated unit, so the table says so."""
    for source in ("epochai_chinchilla", "misfitting", "marin_202603"):
        runs = load("isoflops", source=source)
        ratio = runs.frame["C"] / (6 * runs.frame["N"] * runs.frame["D"])
        assert ratio.between(0.7, 1.15).all(), source
        assert not any("does not state" in n for n in runs.notes)
    llama = load("isoflops", source="llama_3", condition="raw_loss")
    assert any("unit the source does not state" in n for n in llama.notes)
    assert llama.frame["loss"].between(0.69, 0.94).all()  # the raw digitised values (exp_loss: exp of these)


def test_gemstones_chinchilla_datablations_and_curves_keep_their_sources_units():
    """McLeish et al. 2025: params count embeddings (total), tokens = step x 2048 x 2048; Hoffmann et al. 2022 via
    Epoch (Besiroglu et al. 2024): total N, C in FLOPs, D = C/(6N); Muennighoff et al. 2023: C4 val loss in nats,
    C = 6ND; the revisiting curves' losses are not nats/token and say so."""
    raw = pd.read_csv(dataset("gemstones_mcleish2025/gemstones_cool_end.csv"))
    gem = load("gemstones")
    assert gem.params_kind == "total" and (raw["tokens"] == raw["step"] * 2048 * 2048).all()
    np.testing.assert_allclose(gem.frame["D"], raw["tokens"].astype(float))
    ep = load("chinchilla_epoch")
    assert ep.params_kind == "total" and "D = C / (6 N)" in ep.derived
    dataset("datablations_muennighoff2023/datablations_final_val_loss.csv")
    dbl = load("datablations")
    assert dbl.loss_unit == "nats/token" and "C = 6 N D" in dbl.derived and dbl.frame["loss"].between(2, 12).all()
    dataset("revisiting_scaling_laws_alabdulmohsin2022/benchmark.vision.csv")
    assert any("not nats/token" in n for n in load("revisiting", domain="IC").notes)
