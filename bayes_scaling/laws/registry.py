"""Law lookup by name. Every module of :mod:`bayes_scaling.laws` is imported once, and each law
class registers itself when defined (``ScalingLaw.__init_subclass__``): adding a law means adding its
module (and its default spec ``models/<name>.toml``), nothing else."""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache

import bayes_scaling.laws as _package
from bayes_scaling.errors import BayesScalingError
from bayes_scaling.laws.base import CAPABILITIES, REGISTRY, ScalingLaw


@cache
def _discover() -> None:
    for info in pkgutil.iter_modules(_package.__path__):
        importlib.import_module(f"{_package.__name__}.{info.name}")


def list_laws() -> list[str]:
    """Names of the shipped laws."""
    _discover()
    return sorted(REGISTRY)


def get_law(name: str) -> ScalingLaw:
    """Instantiate a law by name; unknown names give one clear error."""
    _discover()
    if not isinstance(name, str):
        raise BayesScalingError(f"law must be a law's name (e.g. 'chinchilla'), got {name!r}"[:200], quantity="law")
    try:
        return REGISTRY[name]()
    except KeyError:
        raise BayesScalingError(f"unknown law {name!r}; choose one of: {', '.join(list_laws())}") from None


def laws_with(capability: str) -> list[str]:
    """Names of the laws that have ``capability`` (see :data:`bayes_scaling.laws.base.CAPABILITIES`)."""
    if not isinstance(capability, str) or capability not in CAPABILITIES:
        raise BayesScalingError(f"capability must be one of {sorted(CAPABILITIES)}, got {capability!r}",
                                quantity="capability")
    return [n for n in list_laws() if get_law(n).has(capability)]


def counterpart_law(law: ScalingLaw, n_breaks: int = 1) -> str:
    """The law a single-axis fit is tested against: the ``n_breaks``-break law for an unbroken law,
    and the unbroken law for a broken one."""
    name = law.counterpart(n_breaks)
    if name is None:
        raise BayesScalingError(f"break tests need a single-axis law (power_x, bnsl1_x, ...); {law.name!r} is not one")
    if not getattr(law, "n_breaks", 0) and n_breaks not in (1, 2):
        raise BayesScalingError(f"break tests use 1 or 2 breaks, got {n_breaks!r}")
    return name
