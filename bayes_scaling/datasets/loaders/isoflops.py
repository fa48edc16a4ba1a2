"""Open Athena isoFLOP compilation (``isoflops``) and the Marin ladder from it (``marin``) or raw (``marin_raw``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import pandas as pd

from bayes_scaling.data.runs import RunTable, load_runs
from bayes_scaling.datasets.options import as_list, choice
from bayes_scaling.datasets.registry import register
from bayes_scaling.errors import BayesScalingError

_SOURCES = ("epochai_chinchilla", "ml_scalefit", "misfitting", "llama_3", "marin_202603")
_MARIN_DATASETS = ("comma", "dclm", "nemotron")


@register("isoflops")
def load_isoflops(get, source: str | None = None, dataset: str | Sequence[str] | None = None,
                  condition: str | None = None) -> RunTable:
    """N = ``params`` (total; C/(6D) for llama_3), D = ``tokens``, C = ``budget`` (the nominal isoFLOP
    budget in FLOPs; x3 of the run-name budget for Marin), loss = ``loss`` (nats; its definition is the
    source's). ``source`` is required: one of epochai_chinchilla, ml_scalefit, misfitting, llama_3,
    marin_202603; ``dataset`` filters it; ``condition`` ("raw_loss" or "exp_loss") is required for
    llama_3. With several datasets the group column is ``dataset``. For llama_3 the unit of the loss is not
    stated by the source (a figure's "validation loss" digitised, 0.69-0.93 raw; ``exp_loss`` = exp(raw),
    2.00-2.54): it is labelled nats/token only by default, and a note says so."""
    if source is None:
        raise BayesScalingError(f"dataset 'isoflops' is a compilation of sources whose losses differ: choose one with "
                                f"source=, one of {list(_SOURCES)}")
    choice(source, _SOURCES, "source", "isoflops")
    frame = get()
    frame = frame[frame["source"] == source]
    datasets = as_list(dataset, "dataset")
    if datasets is not None:
        unknown = sorted(set(datasets) - set(frame["dataset"]))
        if unknown:
            raise BayesScalingError(f"isoflops source {source!r} has no dataset {unknown}; "
                                    f"its datasets are {sorted(frame['dataset'].unique())}")
        frame = frame[frame["dataset"].isin(datasets)]
    conditions = sorted(frame["condition"].dropna().unique())
    if condition is not None:
        choice(condition, conditions or ["(none)"], "condition", f"isoflops source {source!r}")
        frame = frame[frame["condition"] == condition]
    elif len(conditions) > 1:
        raise BayesScalingError(f"isoflops source {source!r} lists each run under conditions {conditions}; choose one "
                                f"with condition= (exp_loss = exp(raw_loss))")
    frame = frame.reset_index(drop=True)
    groups = ("dataset",) if frame["dataset"].nunique() > 1 else ()
    runs = load_runs(frame, params_col="params", tokens_col="tokens", compute_col="budget", loss_col="loss",
                     params_kind="total", group_cols=groups)
    if source != "llama_3":
        return runs
    return replace(runs, notes=(*runs.notes, f"loss ({condition}) of llama_3: a digitised figure's validation loss whose "
                                             f"unit the source does not state; labelled nats/token by default only"))


@register("marin")
def load_marin(get, dataset: str | Sequence[str] | None = None) -> RunTable:
    """The Marin scaling ladder from the compilation: one Llama-2-style architecture trained on Comma,
    DCLM and Nemotron-CC (258 runs). N = ``params`` (total), D = ``tokens``, C = ``budget`` (FLOPs,
    x3 the forward-pass budget in the run name), loss = Paloma macro-average eval loss (nats/token),
    group column ``dataset`` (comma, dclm, nemotron). ``dataset`` keeps a subset."""
    return load_isoflops(get, source="marin_202603", dataset=dataset)


@register("marin_raw")
def load_marin_raw(get, dataset: str | Sequence[str] | None = None,
                   include_validation_optimal: bool = False) -> RunTable:
    """The raw W&B exports behind ``marin``: N = ``parameter_count`` (total), D =
    ``throughput/total_tokens``, C = ``throughput/total_gflops`` x 1e9 (logged FLOPs), loss =
    ``eval/paloma/macro_loss`` (nats/token), group column ``dataset``. The "validation-optimal" runs
    (a different budget convention) are dropped unless ``include_validation_optimal``, as the
    compilation does (leaving 85 + 85 + 88 runs)."""
    names = as_list(dataset, "dataset") or list(_MARIN_DATASETS)
    for d in names:
        choice(d, list(_MARIN_DATASETS), "dataset", "marin_raw")
    parts = []
    for d in names:
        raw = get(f"marin_raw/isoflop-{d}.csv")
        if not include_validation_optimal:
            raw = raw[~raw["Name"].astype(str).str.contains("validation-optimal", regex=False)]
        parts.append(pd.DataFrame({
            "name": raw["Name"].astype(str), "dataset": d, "params": raw["parameter_count"],
            "tokens": raw["throughput/total_tokens"], "compute": raw["throughput/total_gflops"] * 1e9,
            "loss": raw["eval/paloma/macro_loss"],
        }))
    frame = pd.concat(parts, ignore_index=True)
    return load_runs(frame, params_col="params", tokens_col="tokens", compute_col="compute", loss_col="loss",
                     params_kind="total", group_cols=("dataset",) if len(names) > 1 else ())
