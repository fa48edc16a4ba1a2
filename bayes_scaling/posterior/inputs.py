"""Query points: values of a law's inputs checked, completed through the fit's compute cost
(its stored :class:`~bayes_scaling.cost.CostLaw`, else C = k N D FLOPs with k = 6) and converted to the
natural logs the law reads."""

from __future__ import annotations

import numpy as np

from bayes_scaling.conventions import check_positive, real_array
from bayes_scaling.cost import CostLaw
from bayes_scaling.data.table import log_in_unit
from bayes_scaling.errors import BayesScalingError
from bayes_scaling.quantities import label


#: Largest number of (draw x query point) values one query array may hold: 1e8 float64 = 0.8 GB. A
#: larger query is refused with a message to split it (its draws would not fit in memory).
MAX_DRAW_VALUES = 100_000_000


def _numbers(symbol: str, v) -> np.ndarray:
    """``v`` as a float array (text that spells a number read as that number, as a scalar is), refusing
    anything that is not a real number (bools, complex numbers, times and durations, words) rather than
    coercing it."""
    a = real_array(v)
    if a is None:
        raise BayesScalingError(f"{label(symbol)} must be a number or a list of numbers, got {v!r}"[:200],
                                quantity=symbol)
    return a


def _array(symbol: str, v) -> np.ndarray | None:
    if v is None:
        return None
    a = _numbers(symbol, v)
    if a.ndim != 1:
        raise BayesScalingError(f"{label(symbol)} must be a number or a flat list of numbers, got shape {a.shape}",
                                quantity=symbol)
    if a.size == 0 or not np.all(np.isfinite(a)) or np.any(a <= 0):
        raise BayesScalingError(f"{label(symbol)} must be finite and > 0, got {v!r}"[:200], quantity=symbol)
    return a


def positive_number(value, rule: str, *, quantity: str | None = None) -> float:
    """``value`` as a finite float > 0; anything else fails with ``"{rule}, got {value!r}"``."""
    return check_positive(rule, value, quantity)


def fraction(value, rule: str, *, quantity: str | None = None) -> float:
    """``value`` as a float strictly between 0 and 1; anything else fails with ``"{rule}, got {value!r}"``."""
    return check_positive(rule, value, quantity, below=1.0)


def check_query_size(n_points: int, n_draws: int) -> None:
    """Refuse a query whose draws (``n_draws`` x ``n_points`` values) would exceed
    :data:`MAX_DRAW_VALUES`, with the largest number of points that fits."""
    if n_points * n_draws > MAX_DRAW_VALUES:
        fits = max(1, MAX_DRAW_VALUES // max(n_draws, 1))
        raise BayesScalingError(f"{n_points} query points x {n_draws} posterior draws is too much to hold in memory "
                                f"at once: ask for at most {fits} points at a time (split the query into chunks)")


def _unused(law, given: dict) -> list[str]:
    """Inputs given but not read by ``law``: an input it lacks, unless it is one of N, D, C that
    completes another of them (two give the third through C = kND) or is checked against them."""
    ndc = {"N", "D", "C"}
    need = set(law.input_names) & ndc
    have = {s for s in ndc if given.get(s) is not None}
    out = []
    for s, v in given.items():
        if v is None or s in law.input_names:
            continue
        if s in ndc and (have == ndc or any(n not in have and ndc - {n} <= have for n in need)):
            continue
        out.append(s)
    return out


def _shape(arrays) -> tuple[int, ...]:
    try:
        return np.broadcast_shapes(*(v.shape for v in arrays if v is not None))
    except ValueError:
        raise BayesScalingError("query inputs must have the same number of values (or one value each)") from None


def query_inputs(law, N=None, D=None, C=None, *, cost: CostLaw | None = None,
                 **extra) -> dict[str, dict[str, np.ndarray]]:
    """``{"values": ..., "logs": ...}``: query values by symbol (N parameters, D tokens, C FLOPs, and
    ``extra`` inputs such as U unique tokens, X scale axis, S steps), two of N, D, C completing the
    third through ``cost`` (the fit's stored cost law; None: C = k N D with the law's k); ``logs`` are
    the law's inputs (C in the law's compute unit)."""
    N, D, C = _array("N", N), _array("D", D), _array("C", C)
    extra = {k: _array(k, v) for k, v in extra.items()}
    _shape((N, D, C, *extra.values()))
    cost = CostLaw("6nd", k=law.flops_per_param_token) if cost is None else cost
    unused = _unused(law, {"N": N, "D": D, "C": C, **extra})
    if unused:
        raise BayesScalingError(f"law {law.name!r} does not use {', '.join(label(u) for u in unused)}: drop it "
                                f"(the law's inputs are {', '.join(label(s) for s in law.input_names)})",
                                quantity=unused[0])
    if N is not None and D is not None and C is not None:
        if not np.allclose(C, cost.flops(N, D), rtol=1e-3, atol=0.0):
            raise BayesScalingError(f"N, D and C disagree (the fit's cost is {cost.describe()}): give two of them, "
                                    f"not all three", quantity="C")
    if D is None and N is not None and C is not None:
        D = cost.tokens(C, N)
    if N is None and D is not None and C is not None:
        N = cost.params(C, D)
    if C is None and N is not None and D is not None:
        C = cost.flops(N, D)
    given = {"N": N, "D": D, "C": C, **extra}
    missing = [s for s in law.input_names if given.get(s) is None]
    if missing:
        raise BayesScalingError(
            f"law {law.name!r} needs {', '.join(label(m) for m in missing)} to predict"
            + (f" (or two of N, D, C, with {cost.describe()})" if set(missing) <= {"N", "D", "C"} else ""),
            quantity=missing[0])
    present = {s: v for s, v in given.items() if v is not None}
    shape = _shape(present.values())
    values = {s: np.broadcast_to(v, shape) for s, v in present.items()}
    return {"values": values, "logs": law_log_inputs(law, values)}


def law_log_inputs(law, values: dict) -> dict[str, np.ndarray]:
    """Natural logs of the law's inputs from values by symbol (C in FLOPs, converted to the law's unit)."""
    return {s: log_in_unit(s, values[s], law.compute_unit) for s in law.input_names}
