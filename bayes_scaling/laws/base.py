"""The ``ScalingLaw`` contract.

A law is one function ``log_loss(xp, x, p)`` over an array namespace ``xp`` (``numpy`` or
``pytensor.tensor``): ``x`` maps input names to *natural logs* of the inputs in the law's units,
``p`` maps parameter names to values (exponents and losses as they are, positive constants as
their natural log under the key ``log_<name>``). The same function builds the PyMC graph and
answers NumPy queries over posterior draws.

For sampling, positive constants are re-expressed as the law's log-contribution at a reference
point inside the data (``u_<name>``), which decorrelates them from their exponents. Each law maps
those centred values back (``constants_from_centred``) and states the log-Jacobian of that map,
so priors written on the published constants (A, N_c, ...) keep their meaning exactly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Literal

Kind = Literal["exponent", "constant", "loss"]


@dataclass(frozen=True)
class Param:
    """A law parameter in the user's units."""

    name: str
    kind: Kind
    unit: str
    doc: str


@dataclass(frozen=True)
class Input:
    """A law input: ``N`` (parameters), ``D`` (tokens) or ``C`` (compute)."""

    name: Literal["N", "D", "C"]
    unit: str


class ScalingLaw:
    """Base class; subclasses set the class attributes and implement the three methods."""

    name: ClassVar[str]
    title: ClassVar[str]
    formula: ClassVar[str]
    citation: ClassVar[str]
    inputs: ClassVar[tuple[Input, ...]]
    params: ClassVar[tuple[Param, ...]]
    #: Unit of compute the law is written in ("FLOPs" or "PF-days"); only laws with a C input use it.
    compute_unit: ClassVar[str] = "FLOPs"

    # -- the law ---------------------------------------------------------------------------
    def log_loss(self, xp: Any, x: dict[str, Any], p: dict[str, Any]) -> Any:
        """Natural log of the predicted loss (nats/token)."""
        raise NotImplementedError

    # -- centring for sampling -------------------------------------------------------------
    def constants_from_centred(self, xp: Any, u: dict[str, Any], p: dict[str, Any], ref: dict[str, Any]):
        """Map centred values ``u[c]`` (and exponents in ``p``) to ``{"log_<c>": ...}``."""
        raise NotImplementedError

    def centred_from_constants(self, xp: Any, logc: dict[str, Any], p: dict[str, Any], ref: dict[str, Any]):
        """Inverse of :meth:`constants_from_centred` (used for initial values and tests)."""
        raise NotImplementedError

    def log_jacobian(self, xp: Any, p: dict[str, Any]) -> Any:
        """log |d(log constants) / d(centred values)| at exponents ``p``."""
        return 0.0

    # -- conveniences ----------------------------------------------------------------------
    @property
    def input_names(self) -> tuple[str, ...]:
        return tuple(i.name for i in self.inputs)

    @property
    def param_names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.params)

    def names_of(self, kind: Kind) -> tuple[str, ...]:
        return tuple(p.name for p in self.params if p.kind == kind)

    def param(self, name: str) -> Param:
        for p in self.params:
            if p.name == name:
                return p
        raise KeyError(name)

    def loss(self, xp: Any, x: dict[str, Any], p: dict[str, Any]) -> Any:
        """Predicted loss in nats/token."""
        return xp.exp(self.log_loss(xp, x, p))

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}: {self.formula}>"
