"""Plausibility of runs in canonical units: values no language-model run can have are a sign of a
unit mistake (loss in bits x 100, N in millions, FLOPs read as PF-days ...). Each problem is one line;
:func:`check_plausible` warns (default) or raises (``strict``).

Bounds, from published facts with wide margins:

- loss (nats/token): uniform guessing over a 256k-token vocabulary costs ln(256000) = 12.45 nats; a
  trained model's final loss above :data:`MAX_LOSS` = 20 nats (uniform over 485M tokens) is not a
  per-token cross-entropy in nats. The bound is the same in nats/word and, in bits, 20 / ln 2 = 28.9.
- a metric (the response of a table with no loss unit, or with a predictor loss L: accuracy as a fraction):
  above :data:`MAX_METRIC` = 1 it is not a fraction (percent, or a count).
- N (parameters): from 100 (Kaplan et al. 2020's smallest models have 768 non-embedding
  parameters) to 1e13 (the largest dense models have ~2e12).
- D (tokens): from 1e3 to 1e15 (the largest training sets are ~4e13 tokens).
- C (FLOPs): from 1e6 to 1e28 (the largest runs are ~1e26 FLOPs; 1 PF-day = 8.64e19 FLOPs).
- D/N (tokens per parameter): from 1e-3 to 1e6 (Chinchilla-optimal is ~20; heavily over-trained
  small models reach ~1e4-1e5).
- C/(6ND): a given compute more than :data:`UNIT_FACTOR` = 100x from 6ND means N, D or C is in
  another unit (thousands, millions, billions, PF-days).
- A response (the loss, or a metric when a predictor loss L is given) that is the same in every run
  is no measurement of scaling (a wrong or constant column).
- A row equal to an earlier one in every column kept (inputs, loss, groups, seed) is a copy pasted
  twice, or a replicate whose seed column was not named: replicates can share a rounded loss. Each
  copy would count as another run and narrow the intervals, so the warning asks for the seed column
  or for the copies to be dropped.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd

from bayes_scaling.conventions import DEFAULT_LOSS_UNIT, FLOPS_PER_PARAM_TOKEN, PF_DAY_FLOPS
from bayes_scaling.errors import BayesScalingError
from bayes_scaling.quantities import label

MAX_LOSS = 20.0
MAX_METRIC = 1.0
#: Typical ranges (low, high) of the inputs, in canonical units.
TYPICAL_RANGES: dict[str, tuple[float, float]] = {"N": (1e2, 1e13), "D": (1e3, 1e15), "C": (1e6, 1e28)}
TOKENS_PER_PARAM_RANGE = (1e-3, 1e6)
UNIT_FACTOR = 100.0
_UNITS = {"N": "parameters", "D": "tokens", "C": "FLOPs"}


def _unit_hint(ratio: float) -> str:
    """What a typical C/(6ND) off by ``ratio`` suggests."""
    for factor, what in ((PF_DAY_FLOPS, "compute in PF-days read as FLOPs or the reverse (the compute unit)"),
                         (1e9, "N or D in billions"), (1e6, "N or D in millions"), (1e3, "N or D in thousands")):
        if abs(abs(math.log10(ratio)) - math.log10(factor)) < 0.5:
            return what
    return "N, D or C in another unit"


def plausibility_problems(frame: pd.DataFrame, *, metric: bool | None = None,
                          loss_unit: str | None = DEFAULT_LOSS_UNIT) -> list[str]:
    """One line per implausible feature of a canonical runs frame (columns N, D, C, loss ...). ``metric``: the
    response is a metric, not a loss (None: where a predictor loss L is given); ``loss_unit``: the loss's unit."""
    out = []
    if "loss" in frame:
        worst = float(frame["loss"].max())
        metric = "L" in frame if metric is None else metric
        unit = loss_unit or DEFAULT_LOSS_UNIT
        bound = MAX_LOSS / math.log(2) if unit.startswith("bits") else MAX_LOSS
        if metric and worst > MAX_METRIC:
            out.append(f"the metric (the response, a fraction) reaches {worst:.4g}: a metric is a fraction in "
                       f"(0, 1) (accuracy 0.45, not 45 %): divide a percentage by 100")
        elif not metric and worst > bound:
            out.append(f"loss up to {worst:.4g} {unit}: no language model's loss exceeds ~{bound:.3g} {unit} "
                       f"(uniform over a 256k vocabulary is 12.45 nats/token): give the loss in {unit}, not in "
                       f"another unit, percent or a sum")
        if len(frame) > 1 and frame["loss"].nunique() == 1:
            what, how = (("the metric (the response)", "how the metric changes with the predictor loss L")
                         if metric else ("the loss", "how loss scales"))
            out.append(f"{what} is {worst:.6g} in every run: the runs say nothing about {how} (is the "
                       f"{'metric' if metric else 'loss'} column the right one?)")
    for q, (low, high) in TYPICAL_RANGES.items():
        if q not in frame:
            continue
        v = frame[q].to_numpy(float)
        lo, hi = float(v.min()), float(v.max())
        if lo < low or hi > high:
            out.append(f"{label(q)} spans {lo:.3g} to {hi:.3g} {_UNITS[q]}, outside the typical {low:.0e} to "
                       f"{high:.0e}: check its unit")
    if {"N", "D"} <= set(frame.columns):
        tpp = float(np.median(frame["D"] / frame["N"]))
        if not TOKENS_PER_PARAM_RANGE[0] <= tpp <= TOKENS_PER_PARAM_RANGE[1]:
            out.append(f"the runs' median tokens per parameter D/N is {tpp:.3g} (plausible: {TOKENS_PER_PARAM_RANGE[0]:g} to {TOKENS_PER_PARAM_RANGE[1]:g}): N or D is "
                       f"probably in another unit (thousands, millions, billions)")
    copies = np.flatnonzero(frame.duplicated().to_numpy())
    if copies.size:
        out.append(f"{copies.size} identical row(s) repeat an earlier row in every column (data row(s) "
                   f"{(copies + 1).tolist()[:5]}), and each counts as another run and narrows the intervals; if "
                   f"these are replicates (other seeds), name the seed column with --seed-col (seed_col= in "
                   f"Python); otherwise drop the copies")
    if {"N", "D", "C"} <= set(frame.columns):  # 6ND as a unit yardstick (a factor UNIT_FACTOR off), not a cost law
        ratio = float(np.median(frame["C"] / (FLOPS_PER_PARAM_TOKEN * frame["N"] * frame["D"])))
        if not 1 / UNIT_FACTOR <= ratio <= UNIT_FACTOR:
            out.append(f"compute is {ratio:.3g}x 6ND in the median run: {_unit_hint(ratio)}?")
    return out


def refuse_impossible(frame: pd.DataFrame, columns: dict[str, str | None], compute_unit: str) -> None:
    """Raise, naming the column and the option that fixes it, where N, D or C (canonical units: parameters,
    tokens, FLOPs) is below 1 in some run: no count of parameters, tokens or FLOPs is, so the column was read in
    another unit (PF-days as FLOPs, billions of parameters ...); such a table is refused, not fitted with a
    warning. ``columns``: the source column of each quantity (None: absent or derived)."""
    pf = "use --compute-unit pf-days (compute_unit='pf-days' in Python) if it is in PF-days"
    for q in ("N", "D", "C"):
        if q not in frame:
            continue
        v = frame[q].to_numpy(float)
        if not (v < 1).any():
            continue
        row, worst = int(np.argmax(v < 1)) + 1, float(v.min())
        col = columns.get(q)
        if q == "D" and col is None:  # D = C / (6 N): the compute (or the parameters) in another unit
            fix = (f"compute column {columns.get('C')!r} read in {compute_unit}: {pf}, or give N as a count of "
                   f"parameters" if compute_unit == "flops" else
                   f"compute column {columns.get('C')!r} or parameters column {columns.get('N')!r} is in another unit")
            msg = f"tokens D derived as C / (6 N) reach {worst:.3g} (below 1 token, data row {row}): {fix}"
        elif q == "C":
            fix = (pf if compute_unit == "flops" else "give compute in FLOPs or PF-days, as --compute-unit says")
            msg = (f"compute column {col!r} gives {worst:.3g} FLOPs after conversion from {compute_unit} (below 1 "
                   f"FLOP, data row {row}): {fix}")
        else:
            what = "parameters" if q == "N" else "tokens"
            msg = (f"{what} column {col!r} has {worst:.3g} {what} (below 1, data row {row}): give a count of {what} "
                   f"(7e9, not 7 for billions)")
        if q == "N" or (q == "D" and col is not None):
            raise BayesScalingError(msg, quantity=q, column=True)
        raise BayesScalingError(msg, quantity="compute_unit")  # the compute's unit, named in the message


def check_plausible(problems: list[str] | tuple[str, ...], *, strict: bool = False, stacklevel: int = 3) -> None:
    """Warn once per problem (one line each), or raise them as one :class:`BayesScalingError` when
    ``strict``."""
    if problems and strict:
        raise BayesScalingError("implausible runs (strict): " + "; ".join(problems))
    for p in problems:
        warnings.warn(f"implausible runs: {p}", UserWarning, stacklevel=stacklevel)
