"""The OLMo model ladder (``olmo_ladder``; Bhagia et al. 2024, arXiv:2412.04403): final runs or checkpoints
with the C4 loss, each task's bits-per-byte and accuracy."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from bayes_scaling.data.runs import RunTable, load_runs
from bayes_scaling.datasets.options import as_list, choice, in_range
from bayes_scaling.datasets.registry import register
from bayes_scaling.errors import BayesScalingError

#: Task -> its column suffix: the paper's 8 main tasks ("v2_main": MMLU is the weighted test average),
#: then BoolQ and Winogrande.
TASKS = {"mmlu": "mmlu_avg_test", "hellaswag": "hellaswag_val", "arc_challenge": "arc_challenge_test",
         "arc_easy": "arc_easy_test", "piqa": "piqa_val", "csqa": "csqa_val", "socialiqa": "socialiqa_val",
         "openbookqa": "openbookqa_test", "boolq": "boolq_val", "winogrande": "winogrande_val"}
MAIN_TASKS = tuple(TASKS)[:8]
#: Chance accuracy (fraction) per task: 1 / the number of answer choices, the accuracy of a guess (the floor
#: of a metric law): MMLU 4-way (Hendrycks et al. 2021, arXiv:2009.03300), HellaSwag 4-way (Zellers et al. 2019,
#: arXiv:1905.07830), ARC 4-way (Clark et al. 2018, arXiv:1803.05457; a few items have 3 or 5 choices), PIQA 2-way
#: (Bisk et al. 2020, arXiv:1911.11641), CommonsenseQA 5-way (Talmor et al. 2019, arXiv:1811.00937), Social IQa
#: 3-way (Sap et al. 2019, arXiv:1904.09728), OpenBookQA 4-way (Mihaylov et al. 2018, arXiv:1809.02789), BoolQ
#: yes/no (Clark et al. 2019, arXiv:1905.10044: 0.5 is a guess; always answering the majority "yes" scores ~0.62,
#: a learned prior, not chance), WinoGrande 2-way (Sakaguchi et al. 2020, arXiv:1907.10641).
CHANCE = {"mmlu": 0.25, "hellaswag": 0.25, "arc_challenge": 0.25, "arc_easy": 0.25, "piqa": 0.5, "csqa": 0.2,
          "socialiqa": 1 / 3, "openbookqa": 0.25, "boolq": 0.5, "winogrande": 0.5}
SIZES = ("190M", "370M", "760M", "1B", "3B")
#: Rows of the untied input embedding and LM-head matrices (the OLMo-2 tokenizer's padded vocabulary; the
#: dataset's README: N_total = N + d_model x 100352).
VOCAB_ROWS = 100352
#: ``params`` choices: the authors' count, Kaplan et al. 2020's non-embedding count, every parameter.
PARAMS = ("N", "non_embedding", "N_total")
_TARGETS = ("c4", "bpb", "acc")


def task_column(kind: str, task: str) -> str:
    """The column of ``kind`` ("bpb": bits-per-byte of the correct answer; "acc": accuracy) for ``task``."""
    choice(task, list(TASKS), "task", "olmo_ladder")
    return f"{kind}_{TASKS[task]}"


def _last_fraction(frame, drop_first: float):
    """Each run's checkpoints after the first ``drop_first`` of its steps (the paper drops 10%)."""
    last = frame.groupby("run_id")["step"].transform("max")
    return frame[frame["step"] > drop_first * last]


@register("olmo_ladder")
def load_olmo_ladder(get, target: str = "c4", task: str | None = None, sizes: str | Sequence[str] | None = None,
                     replicates: bool = True, checkpoints: bool = False, drop_first: float = 0.1,
                     params: str = "N", compute: str = "6ND") -> RunTable:
    """N = ``N`` (the authors' count, which they call non-embedding: the non-embedding parameters plus the untied LM
    head; declared ``params_kind="total"``, the kind it is nearer in ratio at every size, 1.1-1.4x below the total;
    ``params="non_embedding"``: Kaplan et al. 2020's non-embedding count, N - d_model x :data:`VOCAB_ROWS`, without
    the LM head either; ``params="N_total"`` for all),
    D = ``D_tokens``, C = 6ND FLOPs, or with ``compute="authors"`` the paper's own count ``C_flops`` = D x (2N +
    4 N_total + 12 n_layers d_model seq_len) FLOPs (OLMo's forward + backward FLOPs per token, 1.2-1.7x 6ND on
    this ladder; Bhagia et al. 2024 ``get_step1_data_by_name``), ``seed`` = the replicate (orig, rerun, seed-1, seed-1-init), group column
    ``size`` (190M ... 3B): a label of model size (one N per group), not a grouping to fit by (the whole
    ladder trains on one data mix, olmoe-mix-0924). ``target``: "c4" (loss = ``val_ce_c4_en``,
    nats/token), "bpb" (loss = the task's bits-per-byte) or "acc" (loss = the task's accuracy, a fraction, and L = its bits-per-byte, for metric
    laws, with the task's chance level :data:`CHANCE` recorded for the floor's prior); ``task`` one of :data:`TASKS`. ``sizes`` keeps some sizes; ``replicates=False`` keeps the main
    ladder only; ``checkpoints=True`` reads every evaluated checkpoint after the first ``drop_first`` of
    each run (intermediate checkpoints are not finished runs at that D)."""
    choice(target, _TARGETS, "target", "olmo_ladder")
    choice(params, list(PARAMS), "params", "olmo_ladder")
    choice(compute, ["6ND", "authors"], "compute", "olmo_ladder")
    if target != "c4" and task is None:
        raise BayesScalingError(f"dataset 'olmo_ladder': target={target!r} needs task=, one of {list(TASKS)}")
    frame = get("olmo_ladder_checkpoints.csv") if checkpoints else get("olmo_ladder_final.csv")
    in_range(float(drop_first), 0, 1, "drop_first", "olmo_ladder", "the fraction of each run's first steps left out "
             "with checkpoints=true", high_open=True)  # 1 or more would leave out every checkpoint
    if checkpoints:
        frame = _last_fraction(frame, float(drop_first))
    if params != "N":
        frame = _with_params(frame, params, get)
    keep = as_list(sizes, "sizes")
    for s in keep or ():
        choice(s, SIZES, "sizes", "olmo_ladder")
    mask = np.ones(len(frame), bool)
    if keep is not None:
        mask &= frame["size_key"].isin(keep).to_numpy()
    if not replicates:
        mask &= (frame["replicate"] == "orig").to_numpy()
    frame = frame[mask].rename(columns={"size_key": "size"}).reset_index(drop=True)
    loss_col = "val_ce_c4_en" if target == "c4" else task_column(target, task)
    extra = {"L": task_column("bpb", task)} if target == "acc" else {}
    runs = load_runs(frame, params_col="N" if params == "non_embedding" else params, tokens_col="D_tokens", loss_col=loss_col,
                     compute_col="C_flops" if compute == "authors" else None,
                     params_kind="non-embedding" if params == "non_embedding" else "total", extra_cols=extra,
                     seed_col="replicate", group_cols=("size",),
                     loss_unit={"bpb": "bits/byte", "acc": None}.get(target, "nats/token"),  # acc: a metric
                     predictor_unit="bits/byte" if target == "acc" else None,  # acc: L is the task's bits-per-byte
                     chance=CHANCE[task] if target == "acc" else None)
    if params != "N":
        return runs
    return replace(runs, notes=(*runs.notes, "N is the authors' count (ladder.py MODEL_PARAMS), which they call "
                                             "non-embedding: the non-embedding parameters plus the untied LM head "
                                             "(d_model x 100352), so neither Kaplan et al. 2020's non-embedding count "
                                             "nor the total; declared as total parameters, the kind it is nearer in "
                                             "ratio at every size (1.1-1.4x below the total, 1.1-1.7x above the "
                                             "non-embedding count), so priors in the total convention (Hoffmann et al. "
                                             "2022) read an N up to 1.4x below the true total (at 190M); "
                                             "--option params=N_total counts every parameter (Hoffmann's count), "
                                             "--option params=non_embedding drops the LM head (Kaplan's count, for "
                                             "priors in Kaplan's convention)"))


def _with_params(frame, params: str, get):
    """``frame`` with column ``N_total`` (every parameter) or, for ``params="non_embedding"``, ``N`` replaced
    by N - d_model x :data:`VOCAB_ROWS` (no LM head): the sizes come from the run table, which the checkpoints
    file lacks."""
    sizes = get("olmo_ladder_runs.csv").set_index("run_id")
    frame = frame.copy()
    if params == "N_total":
        frame["N_total"] = frame["run_id"].map(sizes["N_total"])
    else:
        frame["N"] = frame["run_id"].map(sizes["N"] - sizes["d_model"] * VOCAB_ROWS)
    if frame[["N_total" if params == "N_total" else "N"]].isna().any().any():
        raise BayesScalingError("dataset 'olmo_ladder': a run of the loss file is missing from "
                                "olmo_ladder_runs.csv, so its parameter count is unknown")
    return frame
