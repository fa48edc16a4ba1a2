"""Pythia checkpoint evals (``pythia_evals``; Biderman et al. 2023, arXiv:2304.01373): LAMBADA
log-perplexity and downstream accuracy per checkpoint."""

from __future__ import annotations

import numpy as np

from bayes_scaling.data.runs import RunTable, load_runs
from bayes_scaling.datasets.options import choice, in_range
from bayes_scaling.datasets.registry import register

_TASKS = ("lambada_openai", "piqa", "arc_easy", "arc_challenge", "winogrande", "sciq", "logiqa", "wsc", "mmlu")
_DATASETS = ("pile", "pile-deduped")
#: Chance accuracy (fraction) per task, the accuracy of a guess (the floor of a metric law): LAMBADA is open-ended
#: (the passage's last word, from the whole vocabulary: ~0; Paperno et al. 2016, arXiv:1606.06031); PIQA 2-way
#: (Bisk et al. 2020, arXiv:1911.11641); ARC 4-way (Clark et al. 2018, arXiv:1803.05457); WinoGrande 2-way
#: (Sakaguchi et al. 2020, arXiv:1907.10641); SciQ 4-way (Welbl et al. 2017, arXiv:1707.06209); LogiQA 4-way
#: (Liu et al. 2020, arXiv:2007.08124); WSC in SuperGLUE's yes/no form, 0.5 (Wang et al. 2019, arXiv:1905.00537;
#: its majority class scores above 0.5, a learned prior, not chance); MMLU 4-way (Hendrycks et al. 2021, arXiv:2009.03300).
CHANCE = {"lambada_openai": 0.0, "piqa": 0.5, "arc_easy": 0.25, "arc_challenge": 0.25, "winogrande": 0.5,
          "sciq": 0.25, "logiqa": 0.25, "wsc": 0.5, "mmlu": 0.25}
#: LAMBADA's perplexity is per target word (Paperno et al. 2016; lm-evaluation-harness ``lambada_openai`` ppl).
LAMBADA_UNIT = "nats/word"


@register("pythia_evals")
def load_pythia_evals(get, task: str | None = None, n_shot: int = 0, dataset: str | None = None,
                      final: bool = False, min_step: int = 1000, params: str = "N_nonembedding") -> RunTable:
    """N = ``N_nonembedding`` (or ``params="N_total"``), D = step x batch tokens, C = 6ND, loss = LAMBADA
    log-perplexity, ln of the target word's perplexity (the dataset's only loss) in nats/word: the mean negative
    log-likelihood of the last word of each passage, summed over that word's tokens (Paperno et al. 2016; the
    dataset's README), so its unit is ``"nats/word"``, which no per-token spec or loss fit is mixed with; it is
    not converted to per token (the tokens per word are not given). With ``task``: the task's accuracy (a
    fraction; ``acc``, ``mmlu_acc_macro`` for MMLU; a metric, ``loss_unit`` None, so a loss law is refused) with
    L = the LAMBADA log-perplexity (``predictor_unit`` nats/word, so a chain refuses a loss fit per token) and the
    task's chance level (:data:`CHANCE`).
    ``n_shot`` 0 or 5; ``dataset`` "pile" or "pile-deduped" (both by default: group column ``dataset``);
    checkpoints from step ``min_step`` on (early ones sit at chance), or the ``final`` ones. The batch-size
    variants are left out. Rows whose response is 0 or missing are dropped. Each row is a checkpoint of one of
    the 16 runs (8 sizes x 2 datasets), named by column ``run_id``: a mid-schedule loss of a run trained to
    300B tokens, not the final loss of a run trained to that D, so ``fit`` warns that a run's checkpoints are
    fitted as independent runs (:mod:`bayes_scaling.data.repeats`); ``final`` keeps one row per run, all at
    143000 steps (one D: a law of N alone)."""
    choice(n_shot, [0, 5], "n_shot", "pythia_evals")
    choice(params, ["N_nonembedding", "N_total"], "params", "pythia_evals")
    if task is not None:
        choice(task, _TASKS, "task", "pythia_evals")
    frame = get("pythia_evals_final.csv") if final else get("pythia_evals_checkpoints.csv")
    frame = frame[(frame["n_shot"] == n_shot) & (frame["batch_size_tokens"] == 2097152)]
    in_range(min_step, 0, int(frame["step"].max()), "min_step", "pythia_evals", "the first training step kept "
             "(steps of 2,097,152 tokens)")  # beyond the last checkpoint nothing is left
    frame = frame[frame["step"] >= min_step]
    if dataset is not None:
        choice(dataset, _DATASETS, "dataset", "pythia_evals")
        frame = frame[frame["dataset"] == dataset]
    loss_col = "lambada_logppl" if task is None else ("mmlu_acc_macro" if task == "mmlu" else f"{task}_acc")
    response = frame[loss_col].to_numpy(float)
    frame = frame[np.isfinite(response) & (response > 0)].reset_index(drop=True)
    groups = ("dataset",) if frame["dataset"].nunique() > 1 else ()
    return load_runs(frame, params_col=params, tokens_col="D_tokens", compute_col=None, loss_col=loss_col,
                     params_kind="total" if params == "N_total" else "non-embedding", group_cols=groups,
                     extra_cols={"L": "lambada_logppl"} if task is not None else {},
                     loss_unit=None if task is not None else LAMBADA_UNIT,  # a task: accuracy, a metric
                     predictor_unit=LAMBADA_UNIT if task is not None else None,
                     chance=None if task is None else CHANCE[task])  # the floor's prior of a metric law
