"""Query points: values of a law's inputs checked, completed through the law's compute cost
(C = k N D FLOPs, k = 6 by default) and converted to the natural logs the law reads."""

from __future__ import annotations

import numpy as np

from bayes_scaling.conventions import PF_DAY_FLOPS
from bayes_scaling.errors import BayesScalingError
from bayes_scaling.quantities import label


def _array(symbol: str, v) -> np.ndarray | None:
    if v is None:
        return None
    if isinstance(v, (bool, np.bool_)) or (isinstance(v, (list, tuple)) and any(isinstance(x, bool) for x in v)):
        raise BayesScalingError(f"{label(symbol)} must be a number or a list of numbers, got {v!r}", quantity=symbol)
    try:
        a = np.atleast_1d(np.asarray(v, dtype=float))
    except (TypeError, ValueError):
        raise BayesScalingError(f"{label(symbol)} must be a number or a list of numbers, got {v!r}",
                                quantity=symbol) from None
    if a.ndim != 1:
        raise BayesScalingError(f"{label(symbol)} must be a number or a flat list of numbers, got shape {a.shape}",
                                quantity=symbol)
    if a.size == 0 or not np.all(np.isfinite(a)) or np.any(a <= 0):
        raise BayesScalingError(f"{label(symbol)} must be finite and > 0, got {v!r}", quantity=symbol)
    return a


def _shape(arrays) -> tuple[int, ...]:
    try:
        return np.broadcast_shapes(*(v.shape for v in arrays if v is not None))
    except ValueError:
        raise BayesScalingError("query inputs must have the same number of values (or one value each)") from None


def query_inputs(law, N=None, D=None, C=None, **extra) -> dict[str, dict[str, np.ndarray]]:
    """``{"values": ..., "logs": ...}``: query values by symbol (N parameters, D tokens, C FLOPs, and
    ``extra`` inputs such as U unique tokens, X scale axis, S steps), two of N, D, C completing the
    third through the law's compute cost; ``logs`` are the law's inputs (C in the law's compute unit)."""
    N, D, C = _array("N", N), _array("D", D), _array("C", C)
    extra = {k: _array(k, v) for k, v in extra.items()}
    _shape((N, D, C, *extra.values()))
    k = law.flops_per_param_token
    if N is not None and D is not None and C is not None:
        if not np.allclose(C, k * N * D, rtol=1e-3, atol=0.0):
            raise BayesScalingError(f"N, D and C disagree (C must be {k:g}ND FLOPs): give two of them, not all three",
                                    quantity="C")
    if D is None and N is not None and C is not None:
        D = C / (k * N)
    if N is None and D is not None and C is not None:
        N = C / (k * D)
    if C is None and N is not None and D is not None:
        C = k * N * D
    given = {"N": N, "D": D, "C": C, **extra}
    missing = [s for s in law.input_names if given.get(s) is None]
    if missing:
        raise BayesScalingError(
            f"law {law.name!r} needs {', '.join(label(m) for m in missing)} to predict"
            + (f" (or two of N, D, C, with C = {k:g}ND)" if set(missing) <= {"N", "D", "C"} else ""),
            quantity=missing[0])
    present = {s: v for s, v in given.items() if v is not None}
    shape = _shape(present.values())
    values = {s: np.broadcast_to(v, shape) for s, v in present.items()}
    return {"values": values, "logs": law_log_inputs(law, values)}


def law_log_inputs(law, values: dict) -> dict[str, np.ndarray]:
    """Natural logs of the law's inputs from values by symbol (C in FLOPs, converted to the law's unit)."""
    return {s: np.log(np.asarray(values[s], float) / (PF_DAY_FLOPS if (s == "C" and law.compute_unit == "PF-days")
                                                       else 1.0)) for s in law.input_names}
