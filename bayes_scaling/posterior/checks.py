"""Checks of a posterior: the structure of a stored fit (attributes that parse as JSON, a spec that
parses, the variables its law needs, finite draws) and prior-data conflicts (a parameter whose
posterior median sits in its prior's far tail). Every failure is one line."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import xarray as xr

from bayes_scaling.errors import BayesScalingError

#: A posterior median beyond the prior's CONFLICT_TAIL / 1 - CONFLICT_TAIL quantile is a prior-data
#: conflict: the data pulled the parameter where the prior gave it less than 0.1% probability.
CONFLICT_TAIL = 0.001
#: Root attributes every fit carries as JSON, with the type each must parse to (None: null allowed).
JSON_ATTRS: dict[str, tuple[type, ...]] = {
    "runs_metadata": (dict,), "reference_log_inputs": (dict,), "sampler_config": (dict,), "diagnostics": (dict,),
    "covariates": (dict, type(None)), "hierarchy": (dict, type(None)),
}
#: Text attributes every fit carries.
TEXT_ATTRS = ("law", "spec_text")


def _damaged(name: str, what: str) -> BayesScalingError:
    return BayesScalingError(f"fit file {name!r} is damaged or was edited: {what}; refit it with `bayes-scaling fit`")


def json_attrs(tree: xr.DataTree, name: str) -> dict[str, Any]:
    """The fit's JSON attributes parsed, each checked for its type (absent optional ones as None)."""
    out = {}
    for key, types in JSON_ATTRS.items():
        raw = tree.attrs.get(key, "null" if type(None) in types else None)
        if not isinstance(raw, str):
            raise _damaged(name, f"attribute {key!r} is missing" if raw is None else f"attribute {key!r} is not text")
        try:
            value = json.loads(raw)
        except (json.JSONDecodeError, RecursionError):
            raise _damaged(name, f"attribute {key!r} is not valid JSON") from None
        if not isinstance(value, types):
            raise _damaged(name, f"attribute {key!r} holds a {type(value).__name__}, not a JSON object")
        out[key] = value
    return out


def check_fit_tree(tree: xr.DataTree, name: str):
    """The parsed spec of a stored fit after checking its structure: attributes, spec, law
    variables (population, groups, covariates) with dims (chain, draw, ...), finite draws, and the
    runs' loss and inputs. Raises one-line :class:`BayesScalingError` naming what is wrong."""
    from bayes_scaling.specs.spec import parse_spec

    for key in TEXT_ATTRS:
        if not isinstance(tree.attrs.get(key), str):
            raise _damaged(name, f"attribute {key!r} is missing")
    attrs = json_attrs(tree, name)
    try:
        spec = parse_spec(tree.attrs["spec_text"], tree.attrs.get("spec_origin", "<fit>"))
    except BayesScalingError as e:
        raise _damaged(name, f"its spec does not parse ({e})") from None
    if spec.law_name != tree.attrs["law"]:
        raise _damaged(name, f"its spec's law {spec.law_name!r} is not its law {tree.attrs['law']!r}")
    law = spec.law
    post = tree["posterior"].to_dataset()
    need = [*law.param_names, "sigma"]
    h, cov = attrs["hierarchy"], attrs["covariates"]
    if h is not None:
        need += [f"tau_{p}" for p in h.get("vary", ())] + [f"{p}_group" for p in h.get("vary", ())]
    if cov is not None:
        need.append("gamma")
    missing = [v for v in need if v not in post.data_vars]
    if missing:
        raise _damaged(name, f"posterior variable(s) {missing} of law {law.name!r} are missing")
    for v in need:
        da = post[v]
        if da.dims[:2] != ("chain", "draw") or da.size == 0:
            raise _damaged(name, f"posterior variable {v!r} has dims {da.dims}, not (chain, draw, ...)")
        values = np.asarray(da.values)
        if values.dtype.kind not in "fiu" or not np.all(np.isfinite(values)):
            raise _damaged(name, f"posterior variable {v!r} has non-finite (NaN or infinite) or non-numeric draws")
    runs = {**tree["constant_data"].to_dataset().data_vars, **tree["observed_data"].to_dataset().data_vars}
    absent = [q for q in ("loss", *law.input_names) if q not in runs]
    if absent:
        raise _damaged(name, f"the runs lack {absent}")
    return spec


def _prior_cdf_ppf(prior):
    """(cdf, ppf) of a prior on its value (HalfStudentT as the folded Student-t |T|)."""
    from bayes_scaling.specs.moments import scipy_dist

    d = scipy_dist(prior)
    if prior.dist == "HalfStudentT":
        return (lambda x: 2 * d.cdf(x) - 1), (lambda q: d.ppf((1 + q) / 2))
    return d.cdf, d.ppf


def prior_conflicts(spec, posterior: xr.Dataset, tail: float = CONFLICT_TAIL) -> list[str]:
    """One line per parameter (law parameters and the noise ``sigma``) whose posterior median lies
    beyond its prior's ``tail`` or ``1 - tail`` quantile. Data-relative priors are not checked."""
    priors = {**spec.priors, "sigma": spec.likelihood.sigma}
    out = []
    for pname, prior in priors.items():
        if prior.relative_to or pname not in posterior:
            continue
        cdf, ppf = _prior_cdf_ppf(prior)
        median = float(posterior[pname].median())
        with np.errstate(all="ignore"):
            p = float(cdf(median))
        if not math.isfinite(p) or tail <= p <= 1 - tail:
            continue
        side, level = ("below", tail) if p < tail else ("above", 1 - tail)
        out.append(f"prior-data conflict: {pname}'s posterior median {median:.4g} is {side} the {level:.1%} "
                   f"quantile {float(ppf(level)):.4g} of its prior {prior.describe()}: check the data's units "
                   f"or the prior")
    return out
