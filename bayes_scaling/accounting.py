"""Parameter and FLOP accounting for decoder-only transformers (pure NumPy, vectorised).

Conventions (Kaplan et al. 2020 §2.1, Table 1, Eqs. 2.1-2.2):

- parameters are counts; "non-embedding" N = 2 d_model n_layer (2 d_attn + d_ff), which is
  12 n_layer d_model^2 at d_attn = d_model, d_ff = 4 d_model. Biases, layer norms and other
  sub-leading terms are excluded;
- the embedding counts the token matrix vocab·d_model and the learned positions n_ctx·d_model
  (pass ``n_ctx=0`` for a model without learned positions);
- FLOPs count a multiply-accumulate as 2 FLOPs; per-token counts are FLOPs/token; the backward
  pass costs twice the forward pass, so training FLOPs = 3 x forward x tokens.

Hoffmann et al. 2022 (App. F) count parameters and FLOPs *with* embeddings and report exact
counts within 0.99-1.10 of 6ND (Table A4). Pearce & Song 2024 relate the two counts by
N_total = N_non-embedding + omega N_non-embedding^(1/3).

Every function accepts scalars or arrays (broadcast together) and returns ``float`` for scalar
inputs, otherwise a float ``ndarray``.
"""

from __future__ import annotations

import numpy as np

from bayes_scaling.conventions import FLOPS_PER_PARAM_TOKEN
from bayes_scaling.errors import BayesScalingError

#: Pearce & Song 2024 (TMLR; arXiv:2406.12907) embedding model N_T = N_E + omega N_E^(1/3),
#: fitted to Chinchilla's Table A9 configurations (vocabulary 32,000).
PEARCE_SONG_OMEGA: float = 47491.0
#: GPT-2 vocabulary (Kaplan et al. 2020 use n_vocab = 50257) and context (n_ctx = 1024).
DEFAULT_VOCAB: int = 50257
DEFAULT_N_CTX: int = 1024


def _arr(name: str, value, *, allow_zero: bool = False) -> np.ndarray:
    """``value`` as a float array, finite and > 0 (or >= 0 with ``allow_zero``), else one-line error."""
    bound = ">= 0" if allow_zero else "> 0"
    if isinstance(value, (bool, np.bool_)) or (
        isinstance(value, np.ndarray) and value.dtype == bool
    ):
        raise BayesScalingError(f"{name} must be a number {bound}, got a boolean {value!r}")
    if value is None or isinstance(value, (str, bytes)):
        raise BayesScalingError(f"{name} must be a number {bound}, got {value!r}")
    try:
        arr = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise BayesScalingError(f"{name} must be a number {bound} (or an array of them), got {value!r}") from None
    if arr.size == 0:
        raise BayesScalingError(f"{name} is empty: give at least one value")
    if not np.all(np.isfinite(arr)):
        raise BayesScalingError(f"{name} must be finite, got {value!r}")
    bad = arr < 0 if allow_zero else arr <= 0
    if np.any(bad):
        raise BayesScalingError(f"{name} must be {bound}, got {arr[bad].ravel()[0]:g}")
    return arr


def _out(value: np.ndarray):
    value = np.asarray(value, dtype=float)
    return float(value) if value.ndim == 0 else value


def _broadcast(**arrays: np.ndarray) -> list[np.ndarray]:
    try:
        return np.broadcast_arrays(*arrays.values())
    except ValueError:
        shapes = ", ".join(f"{k} {np.shape(v)}" for k, v in arrays.items())
        raise BayesScalingError(f"input shapes do not broadcast together: {shapes}") from None


def _shape(n_layer, d_model, d_ff, d_attn):
    n_layer = _arr("n_layer", n_layer)
    d_model = _arr("d_model", d_model)
    d_ff = 4.0 * d_model if d_ff is None else _arr("d_ff", d_ff)
    d_attn = d_model if d_attn is None else _arr("d_attn", d_attn)
    return n_layer, d_model, d_ff, d_attn


def _config(n_layer, d_model, d_ff, d_attn, n_ctx, vocab):
    """Validated, broadcast shape arrays and the non-embedding parameter count (Eq. 2.1)."""
    n_layer, d_model, d_ff, d_attn = _shape(n_layer, d_model, d_ff, d_attn)
    n_ctx = _arr("n_ctx", n_ctx, allow_zero=True)
    vocab = _arr("vocab", vocab)
    n_layer, d_model, d_ff, d_attn, n_ctx, vocab = _broadcast(
        n_layer=n_layer, d_model=d_model, d_ff=d_ff, d_attn=d_attn, n_ctx=n_ctx, vocab=vocab)
    non_embedding = 2.0 * d_model * n_layer * (2.0 * d_attn + d_ff)
    return n_layer, d_model, d_ff, d_attn, n_ctx, vocab, non_embedding


def transformer_params(n_layer, d_model, *, d_ff=None, d_attn=None, n_ctx=DEFAULT_N_CTX, vocab=DEFAULT_VOCAB,
                       tied_embeddings: bool = True) -> dict:
    """Parameter counts (params) of a decoder-only transformer (Kaplan et al. 2020 Table 1).

    Returns ``non_embedding`` = 2 d_model n_layer (2 d_attn + d_ff) (Eq. 2.1; 12 n_layer d_model^2
    at the defaults d_attn = d_model, d_ff = 4 d_model), ``embedding`` = (vocab + n_ctx) d_model,
    ``unembedding`` = vocab d_model when ``tied_embeddings=False`` (else 0), and ``total`` = the sum.
    """
    if not isinstance(tied_embeddings, (bool, np.bool_)):
        raise BayesScalingError(f"tied_embeddings must be True or False, got {tied_embeddings!r}")
    n_layer, d_model, d_ff, d_attn, n_ctx, vocab, non_embedding = _config(n_layer, d_model, d_ff, d_attn, n_ctx, vocab)
    embedding = (vocab + n_ctx) * d_model
    unembedding = np.zeros_like(embedding) if tied_embeddings else vocab * d_model
    return {
        "non_embedding": _out(non_embedding),
        "embedding": _out(embedding),
        "unembedding": _out(unembedding),
        "total": _out(non_embedding + embedding + unembedding),
    }


def forward_flops_per_token(n_layer, d_model, *, d_ff=None, d_attn=None, n_ctx=DEFAULT_N_CTX, vocab=DEFAULT_VOCAB,
                            include_embedding: bool = False):
    """Forward-pass FLOPs/token (Kaplan et al. 2020 Table 1, Eq. 2.2).

    2 N + 2 n_layer n_ctx d_attn, with N the non-embedding parameters; ``include_embedding`` adds
    the embed (4 d_model) and de-embed (2 d_model vocab) rows of Table 1.
    """
    n_layer, d_model, d_ff, d_attn, n_ctx, vocab, n = _config(n_layer, d_model, d_ff, d_attn, n_ctx, vocab)
    flops = 2.0 * n + 2.0 * n_layer * n_ctx * d_attn
    if include_embedding:
        flops = flops + 4.0 * d_model + 2.0 * d_model * vocab
    return _out(flops)


def training_flops(n_params, tokens, *, n_layer=None, n_ctx=None, d_attn=None):
    """Training FLOPs = 3 x forward FLOPs/token x tokens (backward = 2 x forward).

    The forward pass is 2 ``n_params`` FLOPs/token, plus Kaplan's context term 2 n_layer n_ctx
    d_attn when all three of ``n_layer``, ``n_ctx``, ``d_attn`` are given; without them this is
    the familiar C = 6 N D. ``n_params`` (params) may be total or non-embedding; ``tokens`` is a count.
    """
    n_params = _arr("n_params", n_params)
    tokens = _arr("tokens", tokens)
    context = {"n_layer": n_layer, "n_ctx": n_ctx, "d_attn": d_attn}
    given = [k for k, v in context.items() if v is not None]
    if given and len(given) < 3:
        missing = [k for k in context if k not in given]
        raise BayesScalingError(f"the context term needs n_layer, n_ctx and d_attn together; missing {missing}")
    if given:
        term = 2.0 * _arr("n_layer", n_layer) * _arr("n_ctx", n_ctx, allow_zero=True) * _arr("d_attn", d_attn)
    else:
        term = np.zeros(())
    n_params, tokens, term = _broadcast(n_params=n_params, tokens=tokens, context=term)
    return _out(3.0 * (2.0 * n_params + term) * tokens)


def six_nd_ratio(n_layer, d_model, *, d_ff=None, d_attn=None, n_ctx=DEFAULT_N_CTX, vocab=DEFAULT_VOCAB,
                 tied_embeddings: bool = True, include_embedding: bool = False):
    """Exact training FLOPs over 6 N D (dimensionless; tokens cancel).

    Without embeddings (Kaplan's convention) the ratio is 1 + n_layer n_ctx d_attn / N, which is
    1 + n_ctx / (12 d_model) at the default shape: > 1, and far from 1 once n_ctx is comparable to
    12 d_model (Kaplan et al. 2020 App. C caveat); it tends to 1 as d_model grows at fixed n_ctx.
    With ``include_embedding`` both FLOPs and N include the embedding rows (Hoffmann et al. 2022
    App. F convention, whose exact counts are within 0.99-1.10 of 6ND, Table A4).
    """
    params = transformer_params(n_layer, d_model, d_ff=d_ff, d_attn=d_attn, n_ctx=n_ctx, vocab=vocab,
                                tied_embeddings=tied_embeddings)
    forward = forward_flops_per_token(n_layer, d_model, d_ff=d_ff, d_attn=d_attn, n_ctx=n_ctx, vocab=vocab,
                                      include_embedding=include_embedding)
    n = params["total"] if include_embedding else params["non_embedding"]
    return _out(3.0 * np.asarray(forward) / (FLOPS_PER_PARAM_TOKEN * np.asarray(n)))


def aspect_ratio(n_layer, d_model):
    """Aspect ratio d_model / n_layer (dimensionless; Kaplan et al. 2020 Fig. 5)."""
    n_layer = _arr("n_layer", n_layer)
    d_model = _arr("d_model", d_model)
    n_layer, d_model = _broadcast(n_layer=n_layer, d_model=d_model)
    return _out(d_model / n_layer)


def total_from_non_embedding(n_non_embedding, omega=PEARCE_SONG_OMEGA):
    """Total params from non-embedding params: N_T = N_E + omega N_E^(1/3) (Pearce & Song 2024).

    ``omega`` = 47491 was fitted to Chinchilla's configurations (vocabulary 32,000; it implies an
    aspect ratio d_model / n_layer = 12 (omega / vocab)^3 = 39.2). Use it only when the embedding
    count of the runs is unknown; embeddings are half the parameters at N_E = omega^(3/2) = 1.0e7.
    """
    omega = _arr("omega", omega)
    n = _arr("n_non_embedding", n_non_embedding)
    n, omega = _broadcast(n_non_embedding=n, omega=omega)
    return _out(n + omega * np.cbrt(n))
