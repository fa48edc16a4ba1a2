"""Revisiting Neural Scaling Laws benchmark: learning curves (``revisiting``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np
import pandas as pd

from bayes_scaling.data.runs import RunTable, load_runs
from bayes_scaling.datasets.options import as_list, choice, with_columns
from bayes_scaling.datasets.registry import register
from bayes_scaling.errors import BayesScalingError

_FILES = {"vision": "benchmark.vision.csv", "lang": "benchmark.lang.csv"}
_DOMAINS = {"IC": "vision", "NMT": "lang", "LM": "lang", "BB": "lang"}
_LOSS = {"IC": "n-shot error rate (0-1)", "NMT": "log-perplexity", "LM": "normalised validation log-loss",
         "BB": "the BIG-bench task's preferred metric"}
_SEP = "|"


def _frame(get, domain, dedupe: bool = True) -> pd.DataFrame:
    domains = as_list(domain, "domain")
    if domains is not None:
        for d in domains:
            choice(d, list(_DOMAINS), "domain", "revisiting")
    files = [f for f in ("vision", "lang") if domains is None or any(_DOMAINS[d] == f for d in domains)]
    frame = pd.concat([get(_FILES[f]) for f in files], ignore_index=True)
    if domains is not None:
        frame = frame[frame["Domain"].isin(domains)]
    if dedupe:  # benchmark.lang.csv repeats 687 LM rows exactly
        frame = frame.drop_duplicates()
    frame = frame.reset_index(drop=True)
    frame["curve"] = (frame["Domain"].astype(str) + _SEP + frame["Task"].astype(str) + _SEP
                      + frame["Model"].astype(str))
    return frame


def _curve_id(curve) -> str:
    if isinstance(curve, str):
        return curve
    parts = [str(p) for p in curve]
    if len(parts) != 3:
        raise BayesScalingError(f"a revisiting curve is (domain, task, model) or 'domain|task|model', got {curve!r}")
    return _SEP.join(parts)


def revisiting_curves(get, domain: str | Sequence[str] | None = None) -> list[str]:
    """Curve ids ``'Domain|Task|Model'`` in file order (72 vision, then 20 language)."""
    return list(dict.fromkeys(_frame(get, domain)["curve"]))


@register("revisiting", curves=revisiting_curves)
def load_revisiting(get, curve: str | Sequence[str] | None = None, domain: str | Sequence[str] | None = None,
                    split: str | None = None, dedupe: bool = True) -> RunTable:
    """X = ``Seen Examples`` (examples for IC, tokens for NMT/LM/BB, for one fixed model), loss = ``Loss``
    (IC: error rate in [0, 1]; NMT: log-perplexity; LM: normalised log-loss in 0.85-0.999; BB: the task
    metric), with the authors' ``Training`` flag kept as ``training`` (1/0) and ``split``
    ("fit"/"extrapolate"). ``curve`` selects one curve ('Domain|Task|Model' or a 3-tuple, see
    :func:`curves`); without it every curve is loaded with the group column ``curve``. ``split`` keeps
    only "fit" or "extrapolate" rows; ``dedupe`` drops the exact duplicate LM rows."""
    cid = None if curve is None else _curve_id(curve)
    if cid is not None and domain is None and cid.split(_SEP, 1)[0] in _DOMAINS:
        domain = cid.split(_SEP, 1)[0]  # read only the file that holds it
    frame = _frame(get, domain, dedupe)
    if cid is not None:
        frame = frame[frame["curve"] == cid].reset_index(drop=True)
        if frame.empty:
            raise BayesScalingError(f"revisiting has no curve {cid!r}; list them with bayes_scaling.datasets.curves()",
                                    quantity="dataset_option")
    frame["split"] = np.where(frame["Training"].astype(int) == 1, "fit", "extrapolate")
    if split is not None:
        choice(split, ("fit", "extrapolate"), "split", "revisiting")
        frame = frame[frame["split"] == split].reset_index(drop=True)
    groups = ("curve",) if frame["curve"].nunique() > 1 else ()
    runs = load_runs(frame, params_col=None, tokens_col=None, compute_col=None, loss_col="Loss",
                     extra_cols={"X": "Seen Examples"}, group_cols=groups)
    kinds = sorted({_LOSS[d] for d in frame["Domain"].unique()})
    runs = replace(runs, notes=(*runs.notes, f"loss is not nats/token here: {'; '.join(kinds)}"))
    return with_columns(runs, training=frame["Training"].astype(int).to_numpy(), split=frame["split"].to_numpy(),
                        **({} if groups else {"curve": frame["curve"].to_numpy()}))
