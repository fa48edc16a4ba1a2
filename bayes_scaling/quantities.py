"""The vocabulary of the package: every quantity a run, a law, a prediction or a plot speaks of,
with its unit, its label and (for the command line) its flag and default column.

Library code names quantities by symbol (``N``, ``D`` ...) and raises errors that carry the symbol
(:class:`bayes_scaling.errors.BayesScalingError` ``quantity=``); only the command line maps a
symbol to its flag (:func:`flag`).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Quantity:
    """One quantity: ``symbol`` as the laws write it, ``name`` in words, ``unit``, the command-line
    ``flag`` that gives a value of it and the runs-file ``column`` read by default (``--<x>-col``)."""

    symbol: str
    name: str
    unit: str
    flag: str | None = None
    column: str | None = None
    column_flag: str | None = None

    @property
    def label(self) -> str:
        """``"parameters N"``: how messages and axis labels name it."""
        return f"{self.name} {self.symbol}"

    @property
    def axis_label(self) -> str:
        """``"parameters N"`` with its unit where the unit is not the name itself."""
        return self.label if self.unit in (self.name, "1") else f"{self.label} ({self.unit})"


QUANTITIES: dict[str, Quantity] = {q.symbol: q for q in (
    Quantity("N", "parameters", "parameters", "--params", "params", "--params-col"),
    Quantity("D", "training tokens", "tokens", "--tokens", "tokens", "--tokens-col"),
    Quantity("C", "training compute", "FLOPs", "--compute", "compute", "--compute-col"),
    Quantity("U", "unique tokens", "tokens", "--unique-tokens", None, "--col U=COLUMN"),
    Quantity("X", "scale axis", "the axis's own units", "--x", None, "--col X=COLUMN"),
    Quantity("S", "optimizer steps", "steps", "--steps", None, "--col S=COLUMN"),
    Quantity("L", "predictor loss", "nats/token, bits/byte or nats/word", "--task-loss", None, "--col L=COLUMN"),
    Quantity("B", "batch size", "tokens per step", None, None, "--col B=COLUMN"),
    Quantity("SE", "evaluation standard error", "units of the loss column", None, None, "--col SE=COLUMN"),
    Quantity("loss", "loss", "nats/token", None, "loss", "--loss-col"),
)}

#: Law inputs (every quantity a law may be a function of), in the order queries list them.
INPUT_SYMBOLS: tuple[str, ...] = ("N", "D", "C", "U", "X", "S", "L")


def quantity(symbol: str) -> Quantity:
    """The :class:`Quantity` of ``symbol`` (``KeyError`` for an unknown one: a programming error)."""
    return QUANTITIES[symbol]


def label(symbol: str) -> str:
    """``"parameters N"`` for ``"N"``; unknown symbols are returned as they are."""
    q = QUANTITIES.get(symbol)
    return q.label if q else symbol


def flag(symbol: str, *, column: bool = False) -> str | None:
    """The command-line flag that gives ``symbol`` (``column=True``: the runs-file column option)."""
    q = QUANTITIES.get(symbol)
    if q is None:
        return None
    return q.column_flag if column else q.flag
