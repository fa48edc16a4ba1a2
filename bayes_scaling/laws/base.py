"""The ``ScalingLaw`` contract.

A law is one function ``log_loss(xp, x, p)`` over an array namespace ``xp`` (``numpy`` or
``pytensor.tensor``): ``x`` maps input names to *natural logs* of the inputs in the law's units,
``p`` maps exponents to their values and every other (positive) parameter to its natural log
under ``log_<name>``. The same function builds the PyMC graph and answers NumPy queries over
posterior draws.

For sampling, exponents are drawn from their priors directly, while the positive parameters
(E, A, N_c, ...) are re-expressed through ``internal`` coordinates centred in the data: the log
loss at a reference point and log-ratios of the law's terms there. This removes the strong,
curved correlations between constants, exponents and the irreducible loss. Each law maps the
internal coordinates back (``from_internal``) and states the log-Jacobian of that map, so priors
written on the published parameters (E, A, N_c, ...) keep their meaning exactly. A law with a floor
may also sample an exponent through the log of the local log-log slope at the reference point
(``slope_coordinates``), which the data pin while exponent and floor trade off along a curve; the
exponent's prior then enters through the same potential, with its exact Jacobian.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from bayes_scaling.conventions import FLOPS_PER_PARAM_TOKEN

#: exponent/shape: positive, sampled directly; offset: any real number, sampled directly (e.g. the log
#: ratio of two exponents); constant/loss: positive, reached through the centred ``internal`` coordinates;
#: fraction: a positive constant below 1 (a metric law's floor or ceiling), reached the same way.
Kind = Literal["exponent", "shape", "offset", "constant", "loss", "fraction"]

#: Every law registers itself here by ``name`` when its class is defined (see :mod:`.registry`).
REGISTRY: dict[str, type["ScalingLaw"]] = {}

#: Capabilities a law may declare (``capabilities``) or have by its form (:meth:`ScalingLaw.has`):
CAPABILITIES = {
    "allocation": "a law of parameters N and tokens D: compute-optimal allocation, frontier, decisions",
    "closed_form_allocation": "N*(C) in closed form (log_optimal_params)",
    "single_axis": "a law of one scale input: break tests against its counterpart law",
    "efficient_frontier": "Kaplan's compute-efficient frontier from L(N, S_min)",
    "compute_law": "Kaplan's L(C_min) in PF-days: one half of the contradiction point",
    "data_law": "Kaplan's L(D): the other half of the contradiction point",
    "overfitting_penalty": "a D term that is Kaplan's overfitting penalty (D: a dataset's tokens, trained to early "
                           "stopping; Kaplan et al. 2020 sec. 4): the data requirement",
}


def split_two_terms(xp: Any, log_total: Any, z: Any) -> tuple[Any, Any]:
    """Logs (a, b) of two positive terms from log(e^a + e^b) and z = a - b. The map has unit
    Jacobian determinant, which makes it a clean set of internal coordinates."""
    lse = xp.logaddexp(0.0, z)
    return log_total + z - lse, log_total - lse


def join_two_terms(xp: Any, a: Any, b: Any) -> tuple[Any, Any]:
    """Inverse of :func:`split_two_terms`: (log(e^a + e^b), a - b)."""
    return xp.logaddexp(a, b), a - b


@dataclass(frozen=True)
class Param:
    """A law parameter in the user's units."""

    name: str
    kind: Kind
    unit: str
    doc: str


@dataclass(frozen=True)
class Input:
    """A law input: ``N`` (parameters), ``D`` (tokens), ``C`` (compute), ``U`` (unique tokens),
    ``X`` (a generic scale axis), ``S`` (optimizer steps) or ``L`` (a predictor loss, for metric laws)."""

    name: Literal["N", "D", "C", "U", "X", "S", "L"]
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
    #: FLOPs per parameter per token k of C = k N D, used to derive D from C in queries given C
    #: (Kaplan et al. 2020 §2.1). What a run costs for allocation and design is the fit's cost law
    #: (:mod:`bayes_scaling.cost`).
    flops_per_param_token: ClassVar[float] = FLOPS_PER_PARAM_TOKEN
    #: Capabilities declared by the law beyond those its form implies (see :data:`CAPABILITIES`).
    capabilities: ClassVar[frozenset[str]] = frozenset()
    #: What the law predicts: ``"loss"`` (nats/token) or ``"metric"`` (a bounded score such as accuracy,
    #: a fraction in (0, 1)). ``log_loss`` returns the natural log of it either way; the likelihood
    #: family maps that log to its own scale (:meth:`bayes_scaling.specs.families.Family.location`).
    response: ClassVar[str] = "loss"
    response_unit: ClassVar[str] = "nats/token"

    def __init_subclass__(cls, **kw):
        super().__init_subclass__(**kw)
        name = cls.__dict__.get("name")
        if isinstance(name, str) and not name.startswith("_"):
            REGISTRY[name] = cls

    def has(self, capability: str) -> bool:
        """Whether the law can answer the queries that need ``capability`` (see :data:`CAPABILITIES`)."""
        if capability not in CAPABILITIES:
            raise KeyError(f"unknown capability {capability!r}; known: {sorted(CAPABILITIES)}")
        if capability == "allocation":
            return set(self.input_names) == {"N", "D"}
        if capability == "closed_form_allocation":
            return self.has("allocation") and type(self).log_optimal_params is not ScalingLaw.log_optimal_params
        if capability == "single_axis":
            return self.counterpart(1) is not None
        return capability in self.capabilities

    @property
    def exponent_inputs(self) -> tuple[str, ...]:
        """Inputs the law raises to a fitted exponent: a fit needs runs at 2 or more distinct values
        of each (one value leaves the exponent undetermined whatever the number of runs)."""
        return self.input_names

    def derived(self, p: dict[str, Any]) -> dict[str, Any]:
        """Parameters of the published form that this law computes from its own (``{name: value}``
        in user units, from ``p`` in the law's convention), e.g. chinchilla_ptied's beta."""
        return {}

    def counterpart(self, n_breaks: int = 1) -> str | None:
        """Name of the law a break test compares this one with (single-axis laws), else ``None``."""
        return None

    # -- the law ---------------------------------------------------------------------------
    def log_loss(self, xp: Any, x: dict[str, Any], p: dict[str, Any]) -> Any:
        """Natural log of the predicted loss (nats/token)."""
        raise NotImplementedError

    def log_loss_terms(self, xp: Any, x: dict[str, Any], p: dict[str, Any]) -> list[Any] | None:
        """Logs of the positive terms whose sum is the loss, when the law is such a sum (else ``None``):
        big tables evaluate log(sum(exp(terms))), fewer transcendental calls per row than nested
        log-add-exps (:func:`summed_log_loss`)."""
        return None

    # -- compute-optimal allocation --------------------------------------------------------
    def log_optimal_params(self, xp: Any, log_tokens_x_params: Any, p: dict[str, Any]) -> Any | None:
        """Closed-form log N*(C) minimising L(N, D) subject to N D = C / k, given
        ``log_tokens_x_params`` = log(C / k) (k FLOPs per parameter-token, 6 by default).
        ``None`` when the law has no closed form (a numeric search is used instead)."""
        return None

    # -- centred coordinates for sampling -------------------------------------------------
    #: Names of the unconstrained internal coordinates (sampled with flat priors; the prior on
    #: the published parameters enters through a potential with :meth:`log_jacobian`).
    internal: ClassVar[tuple[str, ...]]

    def from_internal(self, xp: Any, z: dict[str, Any], p: dict[str, Any], ref: dict[str, Any]) -> dict[str, Any]:
        """Internal coordinates ``z`` (with exponents ``p`` and reference log-inputs ``ref``) to
        ``{"log_<name>": ...}`` for every non-exponent parameter: by default the centred values of
        :meth:`centred_from_internal`, uncentred."""
        return self.uncentre(xp, self.centred_from_internal(xp, z), p, ref)

    def to_internal(self, xp: Any, logc: dict[str, Any], p: dict[str, Any], ref: dict[str, Any]) -> dict[str, Any]:
        """Inverse of :meth:`from_internal` (initial values and tests)."""
        return self.internal_from_centred(xp, self.centre(xp, logc, p, ref))

    def centred_from_internal(self, xp: Any, z: dict[str, Any]) -> dict[str, Any]:
        """The centred values (:meth:`centre`) from the internal coordinates: how the terms at the
        reference point are mixed into well-conditioned sampling coordinates."""
        raise NotImplementedError

    def internal_from_centred(self, xp: Any, cen: dict[str, Any]) -> dict[str, Any]:
        """Inverse of :meth:`centred_from_internal`."""
        raise NotImplementedError

    def log_jacobian(self, xp: Any, z: dict[str, Any], p: dict[str, Any], ref: dict[str, Any] | None = None) -> Any:
        """log |det d(log parameters) / d(internal coordinates)| at exponents ``p`` (and reference
        log-inputs ``ref``, for laws whose map depends on them)."""
        return 0.0

    def slope_coordinates(self) -> dict[str, str]:
        """Exponents sampled through a local-slope coordinate (exponent name -> coordinate name):
        where the data pin the log-log slope at the reference point, not the exponent (a law with a
        floor, whose exponent trades off against the floor along a curved ridge). Empty: every
        exponent is sampled directly."""
        return {}

    def exponent_from_slope(self, xp: Any, name: str, z: dict[str, Any], p: dict[str, Any]) -> Any:
        """log of exponent ``name`` from its slope coordinate, the internal coordinates ``z`` and the
        directly sampled parameters ``p``; the
        map must have unit derivative in the slope coordinate (d log exponent / d coordinate = 1)."""
        raise NotImplementedError

    # -- centred values for group-level variation ------------------------------------------
    def centre(self, xp: Any, logc: dict[str, Any], p: dict[str, Any], ref: dict[str, Any]) -> dict[str, Any]:
        """Each positive parameter as the log of its own term at the reference point (``{name: ...}``):
        what a group may shift while the exponents (also allowed to vary) pivot around the data."""
        raise NotImplementedError

    def uncentre(self, xp: Any, cen: dict[str, Any], p: dict[str, Any], ref: dict[str, Any]) -> dict[str, Any]:
        """Inverse of :meth:`centre`: ``{"log_<name>": ...}``."""
        raise NotImplementedError

    # -- conveniences ----------------------------------------------------------------------
    @property
    def input_names(self) -> tuple[str, ...]:
        return tuple(i.name for i in self.inputs)

    @property
    def param_names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.params)

    @property
    def direct_names(self) -> tuple[str, ...]:
        """Parameters sampled directly from their priors and passed as they are (exponents, shape
        parameters such as a break's sharpness, and real-valued offsets)."""
        return tuple(p.name for p in self.params if p.kind in ("exponent", "shape", "offset"))

    @property
    def offset_names(self) -> tuple[str, ...]:
        """Direct parameters that may take any real value (the others are positive)."""
        return tuple(p.name for p in self.params if p.kind == "offset")

    @property
    def positive_names(self) -> tuple[str, ...]:
        """Parameters passed to the law as ``log_<name>`` and reached through ``internal``."""
        return tuple(p.name for p in self.params if p.kind in ("constant", "loss", "fraction"))

    def to_law_params(self, values) -> dict[str, Any]:
        """Values in user units (``E``, ``A``, ``N_c`` ..., numbers or arrays) to the law function's
        convention: positive parameters as ``log_<name>``."""
        import numpy as np

        out = {n: values[n] for n in self.direct_names}
        out.update({f"log_{n}": np.log(values[n]) for n in self.positive_names})
        return out

    def from_law_params(self, p) -> dict[str, Any]:
        """Inverse of :meth:`to_law_params`, in the order of :attr:`params`."""
        import numpy as np

        return {q.name: p[q.name] if q.name in self.direct_names else np.exp(p[f"log_{q.name}"]) for q in self.params}

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


def summed_log_loss(law: ScalingLaw, xp: Any, x: dict[str, Any], p: dict[str, Any]) -> Any:
    """``law.log_loss`` as log(sum(exp(terms))) when the law states its terms (one exp per term and
    one log, against two exps and two logs per log-add-exp), else ``law.log_loss``. The same number
    wherever no term's log leaves (-745, 709) (float64 exp under- and overflow: losses of 1e-323 or
    1e308 nats/token), far from any posterior. Terms are used only when the class that states them
    is the one that defines ``log_loss`` or a subclass of it (a subclass that redefines the law
    alone, e.g. data_constrained, keeps ``log_loss``)."""
    mro = type(law).__mro__
    owner_terms = next(c for c in mro if "log_loss_terms" in c.__dict__)
    owner_loss = next(c for c in mro if "log_loss" in c.__dict__)
    terms = law.log_loss_terms(xp, x, p) if issubclass(owner_terms, owner_loss) else None
    if not terms:
        return law.log_loss(xp, x, p)
    total = xp.exp(terms[0])
    for t in terms[1:]:
        total = total + xp.exp(t)
    return xp.log(total)
