"""A spec written back as TOML text (the form it is stored in with a fit), so a spec changed in Python
round-trips through :func:`bayes_scaling.specs.spec.parse_spec` unchanged."""

from __future__ import annotations

import json
import re

def _toml_key(k: str) -> str:
    return k if re.fullmatch(r"[A-Za-z0-9_-]+", k) else json.dumps(k, ensure_ascii=False)


def _toml_value(v) -> str:
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    return repr(float(v))


def _prior_lines(table: str, prior: PriorSpec) -> list[str]:
    lines = [f"[{table}]", f"dist = {_toml_value(prior.dist)}"]
    lines += [f"{k} = {_toml_value(v)}" for k, v in prior.kwargs.items()]
    if prior.relative_to:
        lines.append(f"relative_to = {_toml_value(prior.relative_to)}")
    return lines + [""]


def spec_to_toml(spec: LawSpec) -> str:
    """TOML text of a spec (round-trips through :func:`parse_spec`)."""
    lines = ["[law]", f"name = {_toml_value(spec.law_name)}"]
    lines += [f"loss_unit = {_toml_value(spec.loss_unit)}"] if spec.loss_unit else []
    lines += [f"params_kind = {_toml_value(spec.params_kind)}"] if spec.params_kind else []
    lines.append("")
    if spec.provenance:
        lines.append("[provenance]")
        lines += [f"{_toml_key(k)} = {_toml_value(v)}" for k, v in spec.provenance.items()]
        lines.append("")
    for name, prior in spec.priors.items():
        lines += _prior_lines(f"priors.{name}", prior)
    lik = spec.likelihood
    lines += ["[likelihood]", f"family = {_toml_value(lik.family)}", f"nu = {_toml_value(lik.nu)}", ""]
    lines += _prior_lines("likelihood.sigma", lik.sigma)
    if spec.hierarchy is not None:
        lines += ["[hierarchy]", f"vary = {_toml_value(list(spec.hierarchy.vary))}",
                  *([f"centred = {_toml_value(list(spec.hierarchy.centred))}"] if spec.hierarchy.centred else []), ""]
        lines += _prior_lines("hierarchy.tau", spec.hierarchy.tau)
    lines += _prior_lines("covariates.prior", spec.covariate_prior)
    return "\n".join(lines)
