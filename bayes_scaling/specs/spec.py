"""Law + prior specs in TOML.

A spec names a law, gives one prior per law parameter (in the user's units: E in nats/token,
A and N_c as the published constants, exponents as plain numbers), the likelihood on log-loss
and its provenance. ``[law] loss_unit`` declares the unit its loss-scale priors are in (a paper's
nats/token fit), ``[law] params_kind`` the parameter count its scale constants are in (Kaplan et al. 2020's
non-embedding N_c); a fit of runs in another unit or kind is refused. Specs are parsed as data with ``tomllib``; nothing in them is evaluated.

Example::

    [law]
    name = "chinchilla"
    [provenance]
    source = "..."
    [priors.alpha]
    dist = "Beta"
    alpha = 2.0
    beta = 4.0
    [likelihood]
    family = "student_t"
    nu = 4.0
    [likelihood.sigma]
    dist = "HalfNormal"
    sigma = 0.05
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from bayes_scaling.conventions import INPUT_QUANTITIES, LOSS_UNITS, PARAMS_KINDS
from bayes_scaling.errors import BayesScalingError
from bayes_scaling.laws.base import ScalingLaw
from bayes_scaling.laws.registry import get_law
from bayes_scaling.specs.families import Family, family_names, get_family

#: Allowed distributions: name -> (required parameters, optional parameters, positive support?).
DISTRIBUTIONS: dict[str, tuple[tuple[str, ...], tuple[str, ...], bool]] = {
    "Normal": (("mu", "sigma"), (), False),
    "StudentT": (("nu", "mu", "sigma"), (), False),
    "TruncatedNormal": (("mu", "sigma"), ("lower", "upper"), False),
    "Uniform": (("lower", "upper"), (), False),
    "LogNormal": (("mu", "sigma"), (), True),
    "HalfNormal": (("sigma",), (), True),
    "HalfStudentT": (("nu", "sigma"), (), True),
    "Exponential": (("lam",), (), True),
    "Gamma": (("alpha", "beta"), (), True),
    "InverseGamma": (("alpha", "beta"), (), True),
    "Beta": (("alpha", "beta"), (), True),
}
_SCALE_KEYS = {"sigma", "nu", "lam", "alpha", "beta"}
#: Distributions with a normalised density (every one above; an improper one, e.g. Flat, must stay
#: out): with proper priors a fit from fewer runs than parameters is allowed, prior-dominated.
PROPER = frozenset(DISTRIBUTIONS)


@dataclass(frozen=True)
class PriorSpec:
    """One prior: a distribution name and its keyword parameters."""

    dist: str
    kwargs: dict[str, float]
    #: When set (e.g. "X"), the prior is on value / (geometric mean of that input over the runs):
    #: a data-relative prior for quantities in the data's own units, such as a break location.
    relative_to: str | None = None

    def is_proper(self) -> bool:
        return self.dist in PROPER

    def positive_support(self) -> bool:
        if DISTRIBUTIONS[self.dist][2]:
            return True
        lower = self.kwargs.get("lower")
        return self.dist in ("TruncatedNormal", "Uniform") and lower is not None and lower >= 0

    @property
    def pymc_kwargs(self) -> dict[str, np.float64]:
        """Keyword arguments as float64 (a Python float like 0.75 would become float32 in PyTensor)."""
        return {k: np.float64(v) for k, v in self.kwargs.items()}

    def pymc_dist(self):
        """The unnamed PyMC distribution (``pm.X.dist(**kwargs)``)."""
        import pymc as pm

        from bayes_scaling.files import keep_generated_source_in_cache

        keep_generated_source_in_cache()  # its draws compile a function
        return getattr(pm, self.dist).dist(**self.pymc_kwargs)

    def as_dict(self) -> dict[str, Any]:
        return {"dist": self.dist, **self.kwargs, **({"relative_to": self.relative_to} if self.relative_to else {})}

    def describe(self) -> str:
        args = ", ".join(f"{k}={v:g}" for k, v in self.kwargs.items())
        rel = f" on value / geometric mean of {self.relative_to}" if self.relative_to else ""
        return f"{self.dist}({args}){rel}"


@dataclass(frozen=True)
class LikelihoodSpec:
    """Likelihood of log-loss around the law: Student-t (robust, default), Normal, or Laplace (the
    Bayesian counterpart of Hoffmann et al.'s Huber loss with a small delta, which is close to L1).
    ``sigma`` is the scale (Laplace: b, so the sd is sigma * sqrt(2))."""

    family: str = "student_t"
    nu: float = 4.0
    sigma: PriorSpec = field(default_factory=lambda: PriorSpec("HalfNormal", {"sigma": 0.05}))

    @property
    def dist(self) -> Family:
        """The family object: PyMC observation, log density, draws (:mod:`bayes_scaling.specs.families`)."""
        return get_family(self.family, self.nu)

    def describe(self) -> str:
        return self.dist.describe()


#: Default prior on a group scale tau (sd of group offsets on the log scale): LogNormal with median
#: 0.05 (groups differ by ~5%) and 95% in [0.007, 0.35]. With 2-5 groups the data hold only G - 1
#: contrasts about tau, so its posterior stays close to its prior: a HalfNormal(0.1), whose mode is 0
#: (complete pooling), lets the prior alone decide that groups are alike. This prior keeps tau off 0
#: while spanning sub-percent to tens-of-percent differences between architectures or datasets.
DEFAULT_TAU = ("LogNormal", {"mu": -3.0, "sigma": 1.0})


@dataclass(frozen=True)
class HierarchySpec:
    """Which law parameters vary by group, and the prior on their group-level spread ``tau``.

    Group offsets are on the log scale: exponents as alpha_g = alpha exp(eps_g), positive constants
    through their term at the reference point (:meth:`ScalingLaw.centre`), with eps ~ ZeroSumNormal(tau)
    over the groups: the offsets sum to zero, so the population value is the groups' mean on the log
    scale. They are sampled non-centred, eps = tau z with z ~ ZeroSumNormal(1) (``z_eps_<name>``; the
    posterior keeps ``eps_<name>``), except the parameters named in ``centred`` (``[hierarchy] centred``):
    a parameter that truly differs between groups whose runs pin each offset (e.g. one varying parameter,
    many runs a group) mixes better centred (a fit's retry centres such a parameter itself: inference/retry.next_centred). tau is the sd of a group's offset around the (unobserved)
    mean of all possible groups: tau = 0.1 means groups differ by about 10%. An unseen group's
    offset from the population value is Normal(0, tau sqrt(1 + 1/G)) (G fitted groups).
    """

    vary: tuple[str, ...]
    tau: PriorSpec = field(default_factory=lambda: PriorSpec(*DEFAULT_TAU))
    centred: tuple[str, ...] = ()


@dataclass(frozen=True)
class LawSpec:
    """A parsed spec: law, priors, likelihood, hierarchy, provenance and the source text."""

    law_name: str
    priors: dict[str, PriorSpec]
    likelihood: LikelihoodSpec
    provenance: dict[str, str]
    text: str
    origin: str
    hierarchy: HierarchySpec | None = None
    #: Prior on covariate effects (log-loss per unit covariate), centred at no effect.
    covariate_prior: PriorSpec = field(default_factory=lambda: PriorSpec("Normal", {"mu": 0.0, "sigma": 0.05}))
    #: Unit of the losses its loss-scale priors (floors, scale constants) are set in (``[law] loss_unit``),
    #: e.g. "nats/token" for a paper's fit; ``None``: priors weak or relative to the data, any unit fits.
    loss_unit: str | None = None
    #: Kind of parameter count its scale priors are stated in (``[law] params_kind``: "total" or
    #: "non-embedding"; see :mod:`bayes_scaling.specs.units`); ``None``: either.
    params_kind: str | None = None

    def with_vary(self, vary: tuple[str, ...] | list[str] | None) -> "LawSpec":
        """This spec with ``vary`` as the group-varying parameters (validated; ``None``: unchanged)."""
        if vary is None:
            return self
        vary = tuple(vary)
        if len(set(vary)) != len(vary):
            raise BayesScalingError(f"vary names a parameter twice: {list(vary)}; name each once",
                                    quantity="vary")
        bad = sorted(set(vary) - set(self.law.param_names))
        if bad:
            raise BayesScalingError(f"cannot vary {bad} by group: law {self.law_name!r} has "
                                    f"{list(self.law.param_names)}", quantity="vary")
        if not vary:
            return replace(self, hierarchy=None)
        tau, centred = (self.hierarchy.tau, self.hierarchy.centred) if self.hierarchy else (HierarchySpec(vary).tau, ())
        return replace(self, hierarchy=HierarchySpec(vary, tau, tuple(c for c in centred if c in vary)))

    @property
    def law(self) -> ScalingLaw:
        return get_law(self.law_name)

    @property
    def priors_proper(self) -> bool:
        """Whether every prior of the model (parameters, noise, group spread, covariates) is proper."""
        extra = [self.likelihood.sigma, self.covariate_prior, *([self.hierarchy.tau] if self.hierarchy else [])]
        return all(p.is_proper() for p in [*self.priors.values(), *extra])

    def with_family(self, family: str) -> "LawSpec":
        """This spec with another likelihood family (same noise prior), its text rewritten to match."""
        if family not in family_names():
            raise BayesScalingError(f"likelihood family must be one of {family_names()}, got {family!r}")
        return replace(self, likelihood=replace(self.likelihood, family=family)).synced()

    def content_key(self) -> str:
        """Everything that defines the model (law, priors, likelihood, hierarchy, covariate prior), as
        text; provenance, comments and the origin are left out."""
        return repr((self.law_name, sorted((k, repr(v)) for k, v in self.priors.items()), repr(self.likelihood),
                     repr(self.hierarchy), repr(self.covariate_prior), self.loss_unit, self.params_kind))

    def synced(self) -> "LawSpec":
        """This spec with ``text`` that parses back to it (provenance included): ``self`` when it
        already does (comments kept), else the same spec with its text written from its fields (after
        ``dataclasses.replace`` or :meth:`with_vary`). Fits save and reparse the text, so they use this."""
        try:
            parsed = parse_spec(self.text, self.origin)
            same = parsed.content_key() == self.content_key() and parsed.provenance == self.provenance
        except BayesScalingError:
            same = False
        from bayes_scaling.specs.writer import spec_to_toml

        return self if same else replace(self, text=spec_to_toml(self))

    @property
    def name(self) -> str:
        return Path(self.origin).stem if self.origin else self.law_name


def parse_prior(where: str, table: Any, *, relative: bool = True) -> PriorSpec:
    """A prior table; ``relative=False`` for priors that cannot be data-relative (noise, group spread,
    covariate effects)."""
    if not isinstance(table, dict):
        raise BayesScalingError(f"{where} must be a table like {{ dist = \"Normal\", mu = 0.0, sigma = 1.0 }}")
    table = dict(table)
    relative_to = table.pop("relative_to", None)
    if relative_to is not None and not relative:
        raise BayesScalingError(f"{where}: relative_to applies only to priors on a law's constants; remove it here")
    if relative_to is not None and relative_to not in INPUT_QUANTITIES:
        raise BayesScalingError(f"{where}: relative_to must be one of {list(INPUT_QUANTITIES)}, got {relative_to!r}")
    dist = table.pop("dist", None)
    if not isinstance(dist, str) or dist not in DISTRIBUTIONS:
        raise BayesScalingError(f"{where}: dist must be one of {sorted(DISTRIBUTIONS)}, got {dist!r}")
    required, optional, _ = DISTRIBUTIONS[dist]
    unknown = sorted(set(table) - set(required) - set(optional))
    missing = [k for k in required if k not in table]
    if unknown or missing:
        raise BayesScalingError(
            f"{where}: {dist} takes {list(required) + list(optional)}; "
            + (f"missing {missing}" if missing else f"unknown {unknown}")
        )
    kwargs = {}
    for k, v in table.items():
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise BayesScalingError(f"{where}: {k} must be a finite number, got {v!r}")
        if k in _SCALE_KEYS and v <= 0:
            raise BayesScalingError(f"{where}: {k} must be > 0, got {v!r}")
        kwargs[k] = float(v)
    if dist in ("Uniform", "TruncatedNormal") and "lower" in kwargs and "upper" in kwargs:
        if kwargs["lower"] >= kwargs["upper"]:
            raise BayesScalingError(f"{where}: lower must be < upper")
    return PriorSpec(dist, kwargs, relative_to)


def parse_spec(text: str, origin: str = "<string>") -> LawSpec:
    """Parse a spec from TOML text; every problem is a one-line ``BayesScalingError``."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise BayesScalingError(f"spec {origin!r} is not valid TOML: {e}") from None
    except RecursionError:  # arrays or tables nested thousands deep
        raise BayesScalingError(f"spec {origin!r} nests arrays or tables too deeply to parse: a spec needs "
                                f"two levels ([priors.E])") from None
    unknown = sorted(set(data) - {"law", "priors", "likelihood", "provenance", "hierarchy", "covariates"})
    if unknown:
        raise BayesScalingError(f"spec {origin!r}: unknown section(s) {unknown}; allowed: law, priors, likelihood, "
                                f"provenance, hierarchy, covariates")
    law_table = data.get("law")
    if not isinstance(law_table, dict) or "name" not in law_table:
        raise BayesScalingError(f"spec {origin!r} needs a [law] section with name = \"chinchilla\" (or another law)")
    if set(law_table) - {"name", "loss_unit", "params_kind"}:
        raise BayesScalingError(f"spec {origin!r}: [law] takes only name, loss_unit and params_kind, got "
                                f"{sorted(law_table)}")
    spec_unit, spec_kind = law_table.get("loss_unit"), law_table.get("params_kind")
    for key, value, allowed in (("loss_unit", spec_unit, LOSS_UNITS), ("params_kind", spec_kind, PARAMS_KINDS)):
        if value is not None and value not in allowed:
            raise BayesScalingError(f"spec {origin!r}: [law] {key} must be one of {', '.join(allowed)}, got {value!r}")
    try:
        law = get_law(law_table["name"])
    except BayesScalingError as e:  # say which file names it
        raise BayesScalingError(f"spec {origin!r}: {e}") from None
    priors_table = data.get("priors", {})
    if not isinstance(priors_table, dict):
        raise BayesScalingError(f"spec {origin!r}: [priors] must be a table of per-parameter tables")
    extra = sorted(set(priors_table) - set(law.param_names))
    missing = [p for p in law.param_names if p not in priors_table]
    if extra:
        raise BayesScalingError(f"spec {origin!r}: priors for unknown parameter(s) {extra}; law {law.name!r} has {list(law.param_names)}")
    if missing:
        raise BayesScalingError(f"spec {origin!r}: missing prior(s) for {missing}; law {law.name!r} needs one per parameter")
    priors = {}
    for pname in law.param_names:
        prior = parse_prior(f"spec {origin!r} prior {pname!r}", priors_table[pname])
        if prior.relative_to and (pname in law.direct_names or prior.relative_to not in law.input_names):
            raise BayesScalingError(f"spec {origin!r} prior {pname!r}: relative_to = {prior.relative_to!r} needs a "
                                    f"constant of the law and one of its inputs {list(law.input_names)}")
        if pname not in law.offset_names and not prior.positive_support():
            raise BayesScalingError(
                f"spec {origin!r} prior {pname!r}: {prior.dist} allows values <= 0 but {pname} must be positive; "
                f"use LogNormal, HalfNormal, Gamma, Beta, or TruncatedNormal/Uniform with lower >= 0"
            )
        priors[pname] = prior
    lik = data.get("likelihood", {})
    if not isinstance(lik, dict):
        raise BayesScalingError(f"spec {origin!r}: [likelihood] must be a table")
    family = lik.get("family", "student_t")
    if family not in family_names():
        raise BayesScalingError(f"spec {origin!r}: likelihood family must be one of {family_names()}, got {family!r}")
    nu = lik.get("nu", 4.0)
    if isinstance(nu, bool) or not isinstance(nu, (int, float)) or not math.isfinite(nu) or not nu > 0:
        raise BayesScalingError(f"spec {origin!r}: likelihood nu must be a finite number > 0, got {nu!r}")
    sigma = parse_prior(f"spec {origin!r} likelihood.sigma", lik.get("sigma", {"dist": "HalfNormal", "sigma": 0.05}),
                   relative=False)
    if not sigma.positive_support():
        raise BayesScalingError(f"spec {origin!r}: likelihood.sigma needs a prior on positive values (e.g. HalfNormal)")
    bad = sorted(set(lik) - {"family", "nu", "sigma"})
    if bad:
        raise BayesScalingError(f"spec {origin!r}: unknown likelihood key(s) {bad}; allowed: family, nu, sigma")
    prov = data.get("provenance", {})
    if not isinstance(prov, dict):
        raise BayesScalingError(f"spec {origin!r}: [provenance] must be a table of strings")
    hierarchy = None
    hier = data.get("hierarchy")
    if hier is not None:
        if not isinstance(hier, dict) or not isinstance(hier.get("vary"), list) or set(hier) - {"vary", "tau", "centred"}:
            raise BayesScalingError(f"spec {origin!r}: [hierarchy] takes vary = [\"alpha\", ...], an optional "
                                    f"[hierarchy.tau] prior and centred = [names among vary]")
        if not isinstance(c := hier.get("centred", []), list) or len(set(map(str, c))) != len(c) or set(map(str, c)) - set(map(str, hier["vary"])):
            raise BayesScalingError(f"spec {origin!r}: [hierarchy] centred must list names of vary {hier['vary']} once each, got {c!r}")
        if len(set(map(str, hier["vary"]))) != len(hier["vary"]):
            raise BayesScalingError(f"spec {origin!r}: [hierarchy] vary names a parameter twice: {hier['vary']}")
        bad = sorted(str(v) for v in hier["vary"] if v not in law.param_names)
        if bad:
            raise BayesScalingError(f"spec {origin!r}: [hierarchy] vary names unknown parameter(s) {bad}; law "
                                    f"{law.name!r} has {list(law.param_names)}")
        tau = parse_prior(f"spec {origin!r} hierarchy.tau", hier.get("tau", {"dist": DEFAULT_TAU[0], **DEFAULT_TAU[1]}),
                     relative=False)
        if not tau.positive_support():
            raise BayesScalingError(f"spec {origin!r}: hierarchy.tau needs a prior on positive values (e.g. HalfNormal)")
        hierarchy = HierarchySpec(tuple(hier["vary"]), tau, tuple(map(str, hier.get("centred", [])))) if hier["vary"] else None
    extra = {}
    cov = data.get("covariates")
    if cov is not None:
        if not isinstance(cov, dict) or set(cov) != {"prior"}:
            raise BayesScalingError(f"spec {origin!r}: [covariates] takes one prior table, [covariates.prior]")
        extra["covariate_prior"] = parse_prior(f"spec {origin!r} covariates.prior", cov["prior"], relative=False)
    return LawSpec(law.name, priors, LikelihoodSpec(family, float(nu), sigma), {k: str(v) for k, v in prov.items()},
                   text, origin, hierarchy, **extra, loss_unit=spec_unit, params_kind=spec_kind)


def models_dir() -> Path:
    """Folder of the shipped specs (``models/`` in a checkout, ``bayes_scaling/_models`` in a wheel)."""
    packaged = resources.files("bayes_scaling") / "_models"
    if packaged.is_dir():
        return Path(str(packaged))
    return Path(__file__).resolve().parents[2] / "models"


def list_specs() -> list[str]:
    """Names of the shipped specs (file stems under ``models/``)."""
    return sorted(p.stem for p in models_dir().glob("*.toml"))


def load_spec(spec: str | Path) -> LawSpec:
    """Load a spec from a path, or by shipped name (e.g. ``"chinchilla"`` or ``"chinchilla_epoch2024"``)."""
    if not isinstance(spec, (str, Path)) or not str(spec).strip():
        raise BayesScalingError(f"spec is {'empty' if isinstance(spec, str) else repr(spec)[:60]}: give a spec file or "
                                f"a shipped spec name (see `bayes-scaling specs`)", quantity="spec")
    path = Path(spec)
    if path.is_dir():
        raise BayesScalingError(f"spec {str(spec)!r} is a folder: give a spec file (.toml) or a shipped spec name",
                                quantity="spec")
    if not path.suffix and not path.exists():
        shipped = models_dir() / f"{spec}.toml"
        if not shipped.exists():
            raise BayesScalingError(f"no shipped spec named {str(spec)!r}; shipped specs: {', '.join(list_specs())}")
        path = shipped
    if not path.exists():
        raise BayesScalingError(f"spec file {str(path)!r} does not exist: check the path")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise BayesScalingError(f"cannot read spec file {str(path)!r}: {e}") from None
    return parse_spec(text, str(path))


def default_spec(law_name: str) -> LawSpec:
    """The weakly informative default spec of a law (``models/<law>.toml``)."""
    get_law(law_name)
    return load_spec(law_name)
