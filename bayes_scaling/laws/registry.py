"""Law lookup by name (used by specs, saved fits and the CLI)."""

from __future__ import annotations

from bayes_scaling.errors import BayesScalingError
from bayes_scaling.laws.base import ScalingLaw
from bayes_scaling.laws.broken import BROKEN_LAWS
from bayes_scaling.laws.chinchilla import Chinchilla
from bayes_scaling.laws.data_constrained import DataConstrained
from bayes_scaling.laws.kaplan import KaplanC, KaplanD, KaplanN, KaplanND, KaplanNS

_LAWS: dict[str, type[ScalingLaw]] = {
    cls.name: cls for cls in (Chinchilla, KaplanN, KaplanD, KaplanC, KaplanND, KaplanNS, DataConstrained, *BROKEN_LAWS)
}


def list_laws() -> list[str]:
    """Names of the shipped laws."""
    return sorted(_LAWS)


def get_law(name: str) -> ScalingLaw:
    """Instantiate a law by name; unknown names give one clear error."""
    try:
        return _LAWS[str(name)]()
    except KeyError:
        raise BayesScalingError(f"unknown law {name!r}; choose one of: {', '.join(list_laws())}") from None
