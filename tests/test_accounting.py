"""Parameter and FLOP accounting (bayes_scaling.accounting): formula identities and published
architectures (facts.md §1.2 Kaplan Table 1, §2.1/§2.6 Hoffmann, §6.2 Pearce & Song). No sampling."""

from __future__ import annotations

import numpy as np
import pytest

from bayes_scaling.accounting import (
    PEARCE_SONG_OMEGA,
    aspect_ratio,
    forward_flops_per_token,
    six_nd_ratio,
    total_from_non_embedding,
    training_flops,
    transformer_params,
)
from bayes_scaling.errors import BayesScalingError


@pytest.mark.parametrize(("n_layer", "d_model"), [(2, 128), (12, 768), (48, 1600), (6, 4288), (207, 768)])
def test_non_embedding_is_12_n_layer_d_model_squared(n_layer, d_model):
    p = transformer_params(n_layer, d_model)
    assert p["non_embedding"] == 12 * n_layer * d_model**2
    # Eq. 2.1 with explicit defaults gives the same number.
    explicit = transformer_params(n_layer, d_model, d_ff=4 * d_model, d_attn=d_model)
    assert explicit["non_embedding"] == p["non_embedding"]
    assert p["embedding"] == (50257 + 1024) * d_model
    assert p["unembedding"] == 0.0
    assert p["total"] == p["non_embedding"] + p["embedding"]


def test_general_shape_and_untied_output():
    p = transformer_params(4, 256, d_ff=1000, d_attn=64, n_ctx=512, vocab=1000, tied_embeddings=False)
    assert p["non_embedding"] == 2 * 256 * 4 * (2 * 64 + 1000)
    assert p["embedding"] == (1000 + 512) * 256
    assert p["unembedding"] == 1000 * 256
    assert p["total"] == p["non_embedding"] + p["embedding"] + p["unembedding"]
    assert transformer_params(4, 256, n_ctx=0, vocab=1000)["embedding"] == 1000 * 256


def test_gpt2_small_shape():
    # 12 layers, d_model 768: 12 * 12 * 768^2 = 84,934,656 non-embedding parameters (~85M), and with
    # GPT-2's tied 50257-token vocabulary and 1024 learned positions 124,318,464 in all. The usual
    # "124M" of GPT-2 small (124,439,808 counted by Hugging Face) differs only by biases and layer
    # norms, which Eq. 2.1 leaves out (-0.1%).
    p = transformer_params(12, 768)
    assert p["non_embedding"] == 84_934_656
    assert p["total"] == 124_318_464
    assert p["total"] == pytest.approx(124_439_808, rel=2e-3)
    assert aspect_ratio(12, 768) == 64.0


def test_chinchilla_70b_shape():
    # Hoffmann et al. 2022 Table 4: 80 layers, d_model 8192, 64 heads x 128 = 8192 = d_attn,
    # d_ff = 4 d_model; vocabulary 32,000, context 2048.
    p = transformer_params(80, 8192, d_ff=4 * 8192, d_attn=64 * 128, n_ctx=2048, vocab=32_000)
    assert p["non_embedding"] == 12 * 80 * 8192**2 == 64_424_509_440  # 64.42e9
    assert p["embedding"] == (32_000 + 2048) * 8192 == 278_921_216  # 0.28e9 (0.26e9 without positions)
    assert p["total"] == pytest.approx(64.70e9, rel=1e-3)
    # Eq. 2.1 plus embeddings gives 64.7e9, 92.4% of the "70B" name. The shortfall is not ours to
    # close: biases and norms add < 0.01%, and the same count gives Gopher (80 x 16384) 258.3e9,
    # 92.2% of its "280B", so both names use counting beyond Eq. 2.1.
    assert p["total"] / 70e9 == pytest.approx(0.924, abs=2e-3)
    gopher = transformer_params(80, 16384, n_ctx=2048, vocab=32_000)
    assert gopher["total"] / 280e9 == pytest.approx(0.922, abs=2e-3)
    # Embeddings are 0.4% of Chinchilla: total vs non-embedding matters only for small models.
    assert p["embedding"] / p["total"] < 0.005


def test_forward_flops_follow_table_1():
    n_layer, d_model, n_ctx, vocab = 24, 1024, 2048, 50257
    n = 12 * n_layer * d_model**2
    assert forward_flops_per_token(n_layer, d_model, n_ctx=n_ctx, vocab=vocab) == 2 * n + 2 * n_layer * n_ctx * d_model
    with_emb = forward_flops_per_token(n_layer, d_model, n_ctx=n_ctx, vocab=vocab, include_embedding=True)
    assert with_emb == 2 * n + 2 * n_layer * n_ctx * d_model + 4 * d_model + 2 * d_model * vocab
    # d_attn enters both N (through QKV/project) and the mask term.
    d_attn, d_ff = 512, 3000
    n_general = 2 * d_model * n_layer * (2 * d_attn + d_ff)
    got = forward_flops_per_token(n_layer, d_model, d_ff=d_ff, d_attn=d_attn, n_ctx=n_ctx)
    assert got == 2 * n_general + 2 * n_layer * n_ctx * d_attn


def test_training_flops_is_three_forward_passes():
    n, d = 1e9, 2e10
    assert training_flops(n, d) == 6 * n * d
    n_layer, n_ctx, d_model = 24, 2048, 1024
    n = 12 * n_layer * d_model**2
    exact = training_flops(n, d, n_layer=n_layer, n_ctx=n_ctx, d_attn=d_model)
    assert exact == pytest.approx(3 * forward_flops_per_token(n_layer, d_model, n_ctx=n_ctx) * d, rel=1e-12)
    with pytest.raises(BayesScalingError, match="together"):
        training_flops(n, d, n_layer=24)


def test_six_nd_ratio_context_term():
    # Non-embedding convention: ratio = 1 + n_ctx / (12 d_model) at the default shape.
    d_model = np.array([64, 128, 768, 4096, 16384, 2**20])
    ratio = six_nd_ratio(12, d_model, n_ctx=1024)
    np.testing.assert_allclose(ratio, 1 + 1024 / (12 * d_model), rtol=1e-12)
    assert np.all(ratio > 1) and np.all(np.diff(ratio) < 0)
    assert ratio[-1] == pytest.approx(1.0, abs=1e-4)
    # App. C: at n_ctx = 12 d_model the context term equals the parameter term (ratio 2).
    assert six_nd_ratio(4, 128, n_ctx=12 * 128) == pytest.approx(2.0)
    # GPT-2 small at n_ctx 1024: 6ND undercounts by 11%.
    assert six_nd_ratio(12, 768) == pytest.approx(1 + 1024 / 9216)
    # Hoffmann convention (embeddings in both) for Chinchilla: within Table A4's 0.99-1.10 band.
    r = six_nd_ratio(80, 8192, n_ctx=2048, vocab=32_000, include_embedding=True)
    assert 0.99 <= r <= 1.10
    assert r == pytest.approx(1.0205, abs=1e-4)


def test_pearce_song_total_from_non_embedding():
    assert PEARCE_SONG_OMEGA == 47491
    n_e = np.array([1e3, 1e6, 1e9])
    np.testing.assert_allclose(total_from_non_embedding(n_e), n_e + 47491 * n_e ** (1 / 3), rtol=1e-12)
    # Embeddings are half the parameters at N_E = omega^(3/2) ~ 1.0e7 (facts.md §6.2).
    n_half = PEARCE_SONG_OMEGA**1.5
    assert n_half == pytest.approx(1.035e7, rel=1e-3)
    assert total_from_non_embedding(n_half) == pytest.approx(2 * n_half, rel=1e-12)
    # omega = vocab (A / 12)^(1/3) for shapes of aspect ratio A = 12 (omega / 32000)^3 = 39.2 without
    # learned positions: the architectural count agrees with the fit (10 x 392 has aspect 39.2).
    assert 12 * (PEARCE_SONG_OMEGA / 32_000) ** 3 == pytest.approx(39.2, abs=0.05)
    p = transformer_params(10, 392, n_ctx=0, vocab=32_000)
    assert total_from_non_embedding(p["non_embedding"]) == pytest.approx(p["total"], rel=1e-3)
    assert total_from_non_embedding(1e6, omega=0.5) == pytest.approx(1e6 + 50)


def test_vectorised_over_arrays():
    n_layer = np.array([[2], [12], [48]])
    d_model = np.array([128, 768, 1600, 4288])
    p = transformer_params(n_layer, d_model, vocab=32_000, tied_embeddings=False)
    assert p["total"].shape == (3, 4)
    for i, nl in enumerate(n_layer[:, 0]):
        for j, dm in enumerate(d_model):
            one = transformer_params(int(nl), int(dm), vocab=32_000, tied_embeddings=False)
            assert all(p[k][i, j] == one[k] for k in one)
            assert isinstance(one["total"], float)
    f = forward_flops_per_token(n_layer, d_model, n_ctx=[512, 1024, 2048, 4096], include_embedding=True)
    assert f.shape == (3, 4)
    assert six_nd_ratio(n_layer, d_model).shape == (3, 4)
    assert aspect_ratio([12, 48], [768, 1600]).tolist() == [64.0, 1600 / 48]
    assert training_flops([1e6, 1e9], 1e10).tolist() == [6e16, 6e19]
    assert total_from_non_embedding([1e6, 1e8]).shape == (2,)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: transformer_params(0, 768), "n_layer must be > 0"),
        (lambda: transformer_params(12, -768), "d_model must be > 0"),
        (lambda: transformer_params(12, np.nan), "d_model must be finite"),
        (lambda: transformer_params("12", 768), "n_layer must be a number"),
        (lambda: transformer_params(True, 768), "boolean"),
        (lambda: transformer_params(12, 768, n_ctx=-1), "n_ctx must be >= 0"),
        (lambda: transformer_params(12, 768, vocab=0), "vocab must be > 0"),
        (lambda: transformer_params(12, 768, d_ff=0), "d_ff must be > 0"),
        (lambda: transformer_params(12, 768, tied_embeddings="no"), "tied_embeddings"),
        (lambda: transformer_params([1, 2], [1, 2, 3]), "broadcast"),
        (lambda: transformer_params([], 768), "empty"),
        (lambda: forward_flops_per_token(12, 768, d_attn=-1), "d_attn must be > 0"),
        (lambda: training_flops(0, 1e9), "n_params must be > 0"),
        (lambda: training_flops(1e9, [1e9, np.inf]), "tokens must be finite"),
        (lambda: training_flops(1e9, 1e9, n_layer=2, n_ctx=8), "missing \\['d_attn'\\]"),
        (lambda: six_nd_ratio(12, None), "d_model must be a number"),
        (lambda: aspect_ratio(12, 0), "d_model must be > 0"),
        (lambda: total_from_non_embedding(-5), "n_non_embedding must be > 0"),
        (lambda: total_from_non_embedding(1e6, omega=0), "omega must be > 0"),
    ],
)
def test_bad_inputs_raise_one_line(call, match):
    with pytest.raises(BayesScalingError, match=match) as err:
        call()
    assert "\n" not in str(err.value)
