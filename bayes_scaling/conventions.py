"""Names, units and interval policy shared by every module.

Units used throughout:
- parameters N: count (total or non-embedding, declared by the user and stored with the fit);
- tokens D: count of training tokens;
- compute C: FLOPs unless a name says ``pf_days`` (1 PF-day = 1e15 FLOP/s x 86400 s, Kaplan et al. 2020 §1.3);
  a compute unit is spelled "flops" / "pf-days" in options and stored metadata (:data:`COMPUTE_UNITS`) and
  "FLOPs" / "PF-days" in text and a law's ``compute_unit`` (:data:`COMPUTE_UNIT_NAMES`); conversions accept both;
- loss: cross-entropy in nats/token.
"""

from __future__ import annotations

from decimal import Decimal

import numpy as np

from bayes_scaling.errors import BayesScalingError

#: Default credible-interval mass; intervals are equal-tailed (ETI), never ArviZ's rcParams default.
CI_PROB: float = 0.9
#: 1 PF-day in FLOPs (Kaplan et al. 2020, §1.3).
PF_DAY_FLOPS: float = 8.64e19
#: Training FLOPs per parameter per token (forward + backward, Kaplan et al. 2020 §2.1).
FLOPS_PER_PARAM_TOKEN: float = 6.0

SAMPLE_DIMS = ("chain", "draw")
RUN_DIM = "run"
QUERY_DIM = "query"

#: Diagnostic thresholds (Vehtari et al. 2021: R-hat <= 1.01, bulk/tail ESS >= 100 per chain).
RHAT_MAX = 1.01
ESS_MIN_PER_CHAIN = 100

PARAMS_KINDS = ("total", "non-embedding")
#: Law inputs: parameters, tokens, compute, unique tokens, a generic scale axis, optimizer steps.
from bayes_scaling.quantities import INPUT_SYMBOLS as INPUT_QUANTITIES  # noqa: E402  (one list of inputs)
#: Kaplan et al. 2020 critical batch size B_crit(L) = B_* / L^(1/alpha_B) (Eq. 1.4 / 5.3, Table 5).
KAPLAN_B_STAR_TOKENS = 2.1e8
KAPLAN_ALPHA_B = 0.21


#: How a dimensionless quantity's unit ("1" in a law's parameter table) is written in every table and text.
DIMENSIONLESS = "dimensionless"


def is_ensemble(result) -> bool:
    """Whether ``result`` is an ensemble of fits (a mixture of law forms with ``members``; an
    :class:`~bayes_scaling.result.EnsembleResult`) rather than one fit: the one test every layer asks."""
    return hasattr(result, "members")


def unit_text(unit: str) -> str:
    """A unit as written in tables and text: "1" (a law's dimensionless parameter) is :data:`DIMENSIONLESS`."""
    return DIMENSIONLESS if unit == "1" else unit


#: Units of a runs table's loss column a fit records (``--loss-unit``): cross-entropy per token in nats (the
#: default) or bits, per byte of text in bits (a task's bits-per-byte, Bhagia et al. 2024), or per word in nats
#: (a word-level log-perplexity such as LAMBADA's, Paperno et al. 2016: a word spans a tokenizer-dependent number of
#: tokens, so it is never converted to per token). Laws and queries are unit-agnostic; the unit labels every loss
#: printed, and fits, priors and chains in different units are refused, never mixed.
LOSS_UNITS = ("nats/token", "bits/token", "bits/byte", "nats/word")
DEFAULT_LOSS_UNIT = LOSS_UNITS[0]


def in_loss_unit(text: str, loss_unit: str) -> str:
    """``text`` (a unit or label written for losses in nats/token) with the loss in ``loss_unit``."""
    return text.replace(DEFAULT_LOSS_UNIT, loss_unit)


def loss_unit_of(result) -> str:
    """The unit of the losses of a fit, ensemble, evaluator or backtest (its ``loss_unit``; nats/token for
    one that has none): the one place every loss label and ``units`` attribute takes it from."""
    return getattr(result, "loss_unit", None) or DEFAULT_LOSS_UNIT


def check_loss_unit(loss_unit: str) -> str:
    """``loss_unit`` if it is one of :data:`LOSS_UNITS`, else one clear error."""
    if loss_unit not in LOSS_UNITS:
        raise BayesScalingError(f"loss unit (--loss-unit) must be one of {', '.join(LOSS_UNITS)}, got {loss_unit!r}")
    return loss_unit


#: Compute units: the spelling options and stored metadata use -> the one text and laws use.
COMPUTE_UNIT_NAMES = {"flops": "FLOPs", "pf-days": "PF-days"}
COMPUTE_UNITS = tuple(COMPUTE_UNIT_NAMES)


def flops_to_pf_days(flops):
    """Convert FLOPs to PF-days (elementwise; numbers or text that spells them: words, bools and None are refused)."""
    return _numbers_for_conversion(flops, "flops") / PF_DAY_FLOPS


def pf_days_to_flops(pf_days):
    """Convert PF-days to FLOPs (elementwise; numbers or text that spells them: words, bools and None are refused)."""
    return _numbers_for_conversion(pf_days, "pf_days") * PF_DAY_FLOPS


def _numbers_for_conversion(value, name: str) -> np.ndarray:
    if isinstance(value, np.ndarray) and value.dtype.kind in "iuf":  # the common case, as fast as before
        return value.astype(float, copy=False)
    a = real_array(value)
    if a is None:
        raise BayesScalingError(f"{name} must be a number or an array of numbers, got {value!r}"[:200], quantity=name)
    return a.reshape(np.shape(value))


def canonical_compute_unit(unit) -> str | None:
    """The option spelling ("flops" or "pf-days") of a compute unit given in either spelling; None if it is neither."""
    return next((key for key, name in COMPUTE_UNIT_NAMES.items() if unit in (key, name)), None)


def is_pf_days(unit) -> bool:
    """Whether a compute unit (either spelling, "pf-days" or "PF-days") is PF-days; any other is FLOPs."""
    return canonical_compute_unit(unit) == "pf-days"


def compute_to_flops(values, unit):
    """Compute values given in ``unit`` (FLOPs or PF-days, either spelling) as float FLOPs."""
    return pf_days_to_flops(values) if is_pf_days(unit) else np.asarray(values, dtype=float)


def flops_to_unit(flops, unit):
    """Compute values in FLOPs as float values in ``unit`` (FLOPs or PF-days, either spelling)."""
    return flops_to_pf_days(flops) if is_pf_days(unit) else np.asarray(flops, dtype=float)


def check_ci_prob(ci_prob: float) -> float:
    """Validate an interval mass in (0, 1)."""
    p = as_number(ci_prob)
    if np.ndim(ci_prob) > 0 or np.isnan(p):
        raise BayesScalingError(f"ci_prob must be a number in (0, 1), got {ci_prob!r}")
    if not 0.0 < p < 1.0:
        raise BayesScalingError(f"ci_prob must be in (0, 1), got {ci_prob!r} (e.g. 0.9 for a 90% interval)")
    return p


def pct(p: float) -> str:
    """A probability (an interval mass) as an exact percentage, in positional notation, from the
    shortest decimal that reads back as ``p`` (Python's ``repr``), shifted two places: 0.975 -> 97.5%,
    0.9999996 -> 99.99996%, 1e-7 -> 0.00001%. Never rounded, so p < 1 never prints 100% and p > 0
    never prints 0%."""
    return f"{Decimal(repr(float(p))).scaleb(2).normalize():f}%"


def check_positive(rule: str, value, quantity: str | None = None, *, below: float = np.inf) -> float:
    """``value`` as a float in (0, ``below``) (finite > 0 by default); anything else (NaN, infinity, text)
    fails with ``"{rule}, got {value!r}"`` naming ``quantity``."""
    if np.ndim(value) > 0:  # as NumPy 2 does, an array (even of one element) is not a number
        raise BayesScalingError(f"{rule}, got {value!r} (one number, not an array or list)", quantity=quantity)
    v = as_number(value)
    if not 0.0 < v < below:  # NaN and inf fail too
        raise BayesScalingError(f"{rule}, got {value!r}", quantity=quantity)
    return v


#: Most resamples or prior draws a Monte Carlo estimate takes (bootstrap intervals, a design's prior draws):
#: the standard error of a probability estimated from n of them is at most 0.5 / sqrt(n), 0.0016 at 1e5,
#: below what a printed interval or ranking resolves, so more only costs time and memory.
MAX_MONTE_CARLO = 100_000


def check_count(name: str, value, minimum: int, maximum: int | None = None, why: str = "", *,
                min_why: str = "") -> int:
    """Validate a whole number in [``minimum``, ``maximum``] (a count of draws, worlds, runs in a batch ...): the
    one check of every whole-number argument. ``why`` explains the maximum in the error, ``min_why`` the minimum."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise BayesScalingError(f"{name} must be a whole number >= {minimum}{min_why}, got {value!r}", quantity=name)
    if maximum is not None and value > maximum:
        raise BayesScalingError(f"{name} must be at most {maximum:,}{why}, got {value!r}", quantity=name)
    return int(value)


def as_number(value) -> float:
    """One real number as a float (Python or NumPy, a 0-d array, or text that spells a number, as read
    from a file or a command line); NaN for anything else: bools (True is not 1 here), complex numbers,
    None, containers, words."""
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value[()]
    if isinstance(value, (bool, np.bool_, complex, np.complexfloating)) or np.ndim(value) > 0:
        return float("nan")
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")


def _real_or_none(x) -> float | None:
    """One element as a float: a real number, or text that spells one (as :func:`as_number` reads it); None for
    anything else (words, bools, complex numbers, None, times)."""
    import numbers

    if isinstance(x, np.ndarray) and x.ndim == 0:
        x = x[()]
    if isinstance(x, (str, bytes)):
        try:
            return float(x)  # as as_number reads text
        except ValueError:
            return None
    if isinstance(x, numbers.Real) and not isinstance(x, (bool, np.bool_)):
        return float(x)
    return None


def real_array(value) -> np.ndarray | None:
    """``value`` (a number, list, tuple, array or Series) as a float array of at least one dimension, or
    None if any element is not a real number (words, bools, complex numbers, None, times), which a numeric
    argument refuses rather than coerces (NumPy would turn ``[1e9, False]`` into floats). Text that spells a
    number (``"1e9"``, as read from a file) is that number, element by element, as :func:`as_number` reads a
    scalar."""
    try:
        a = np.asarray(value, dtype=object) if isinstance(value, (list, tuple)) else np.asarray(value)
    except (TypeError, ValueError):
        return None
    if a.dtype.kind in "OUS":
        items = [_real_or_none(x) for x in a.ravel().tolist()]
        if any(x is None for x in items):
            return None
        return np.atleast_1d(np.array(items, dtype=float).reshape(a.shape))
    elif a.dtype.kind not in "iuf":
        return None
    return np.atleast_1d(a.astype(float))


def check_positive_array(rule: str, value, quantity: str | None = None) -> np.ndarray:
    """``value`` (a number, list, tuple, array or Series) as a float array of its own shape, of finite
    numbers > 0 (at least one); anything else fails with ``"{rule}, got {value!r}"`` naming ``quantity``."""
    a = real_array(value)
    if a is None or a.size == 0 or not np.all(np.isfinite(a)) or np.any(a <= 0):
        raise BayesScalingError(f"{rule}, got {value!r}"[:200].replace("\n", " "), quantity=quantity)
    return a.reshape(np.shape(value))


def seeded_rng(seed) -> np.random.Generator:
    """NumPy's generator for a user's ``seed``, checked first (:func:`check_seed`)."""
    return np.random.default_rng(check_seed(seed))


#: Largest seed: nutpie's seed is an unsigned 64-bit integer and numpy's any non-negative integer; seeds
#: (and every seed derived from one, :func:`derived_seed`) stay in [0, 2^63 - 1].
MAX_SEED = 2**63 - 1


def check_seed(seed) -> int:
    """Validate a seed: a whole number in [0, 2^63 - 1] (the error carries ``quantity="seed"``, so the
    command line names ``--seed``)."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed <= MAX_SEED:
        raise BayesScalingError(f"seed must be a whole number in [0, 2^63 - 1], got {seed!r}", quantity="seed")
    return int(seed)


def derived_seed(seed: int, offset: int) -> int:
    """The seed of a stream derived from ``seed`` (a retry, a restart, an inner or refit fit):
    ``(seed + offset) mod 2^63``, a valid seed for every seed and offset >= 0. It is ``seed + offset``
    whenever that is below 2^63 (every seed in normal use), so those streams are unchanged. ``seed`` is
    checked (:func:`check_seed`), so a bad seed is refused before any derived stream runs."""
    if isinstance(seed, (float, np.floating)) and float(seed).is_integer():  # e.g. a seed read back from a file
        seed = int(seed)
    return (check_seed(seed) + int(offset)) % (MAX_SEED + 1)


#: Default tokens/parameter range of design candidates: the span of the 245 training runs that
#: Hoffmann et al. (2022, arXiv:2203.15556) fitted their law to, as extracted by Besiroglu et al.
#: (2024, arXiv:2404.10102): 0.036 to 341. Shapes outside it are extrapolations of the law's form.
TRUSTED_TOKENS_PER_PARAM = (0.04, 340.0)
#: At most this many tokens/parameter ratios a design's default candidate grid adds beyond the trusted
#: shapes (both sides together) to reach the posterior's interval of the optimal shape at the target
#: (:mod:`bayes_scaling.queries.design_shapes`): the grid at most doubles (10 -> 20 ratios), so the
#: ranking's time and memory, linear in the candidates, at most double.
MAX_EXTRA_SHAPES = 10
#: ... and at most this many decades beyond each end of the range: a posterior interval wider than that (a
#: prior-dominated fit: e.g. 6e-6 to 8e7 tokens/parameter) would propose runs of a few parameters or tokens,
#: 1000x outside any shape the law was fitted to, which no real ladder would train.
MAX_REACH_DECADES = 3.0
