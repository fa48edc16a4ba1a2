"""``datasets``: list the registered public datasets, or write one as a runs CSV that ``fit`` reads."""

from __future__ import annotations

import shlex

from bayes_scaling.commands.args import refuse_unused
from bayes_scaling.commands.output import emit
from bayes_scaling.conventions import DEFAULT_LOSS_UNIT
from bayes_scaling.data.repeats import repeated_runs_note
from bayes_scaling.errors import BayesScalingError

_TRUE, _FALSE = ("true", "yes", "on", "1"), ("false", "no", "off", "0")


def _option(text: str, loader) -> tuple[str, object]:
    """KEY=VALUE, with VALUE read as the loader's parameter KEY is typed (bool, int, float, else text)."""
    import inspect

    key, sep, raw = text.partition("=")
    if not sep or not key:
        raise BayesScalingError(f"--option takes KEY=VALUE (e.g. best_lr=true), got {text!r}")
    if not raw.replace(",", "").strip():  # "sizes=" or "dataset=,": no value (a list of none would select all)
        raise BayesScalingError(f"--option {key} names no value: give {key}=VALUE (several as {key}=A,B where the "
                                f"loader takes a list), or leave the option out")
    param = inspect.signature(loader).parameters.get(key)
    kind = str(param.annotation) if param is not None else "str"  # an unknown key is refused by the loader
    if kind == "bool":
        if raw.lower() not in _TRUE + _FALSE:
            raise BayesScalingError(f"--option {key} takes true or false, got {raw!r}")
        return key, raw.lower() in _TRUE
    for name, cast in (("int", int), ("float", float)):
        if kind == name:
            try:
                return key, cast(raw)
            except ValueError:
                raise BayesScalingError(f"--option {key} takes a number ({name}), got {raw!r}") from None
    return key, raw


def size_labels(runs) -> list[str]:
    """The group columns in which every group holds a single N (parameters): labels of model size, not a
    grouping to fit by: per-group parameters of a law of N could not be told apart from N's own term."""
    if "N" not in runs.frame:
        return []
    return [g for g in runs.columns.groups if (runs.frame.groupby(g)["N"].nunique() <= 1).all()]


def replicated_configurations(runs, inputs: tuple[str, ...] | None = None) -> tuple[int, tuple[str, ...]]:
    """(how many configurations hold runs of two or more seeds, the columns that define one): replicates, whose
    scatter ``fit --run-noise`` separates from the law's misfit, counted as the fit counts them
    (:func:`~bayes_scaling.inference.model.input_configurations`) over every input of the table's kind of law it
    carries (a metric law's L, keyed on the N and D that were set since each seed measures its own; a loss law's N, D, C, U, X, S) and the groups of
    the first suggested ``--group-col``: a law of fewer of them, or a fit without groups, sees these replicates too,
    so the hint holds for whichever LAW is fitted (``inputs``: these instead). (0, ()) for a table without seeds or of
    checkpoints (rows sharing a ``run_id``), which is not to be fitted row by row (load_runs warns)."""
    from bayes_scaling.data.table import RUN_ID_COLUMN
    from bayes_scaling.inference.model import input_configurations
    from bayes_scaling.laws.registry import get_law, list_laws

    frame = runs.frame
    if "seed" not in frame or (RUN_ID_COLUMN in frame and frame[RUN_ID_COLUMN].nunique() < len(frame)):
        return 0, ()
    metric = runs.loss_unit is None
    if inputs is None:
        inputs = tuple(dict.fromkeys(q for law in map(get_law, list_laws()) if (law.response == "metric") == metric
                                     for q in law.input_names))
    inputs = tuple(q for q in inputs if runs.has(q))
    if not inputs:
        return 0, ()
    group = [g for g in runs.columns.groups if g not in size_labels(runs)][:1]
    idx, _, by = input_configurations(inputs, runs, frame[group[0]].astype(str).to_numpy() if group else None)
    seeds = frame["seed"].astype(str).groupby(idx).nunique()
    return int((seeds > 1).sum()), by + tuple(g for g in group if g not in by)


def export_frame(runs):
    """(frame, fit arguments): the runs as :meth:`~bayes_scaling.data.table.RunTable.export_frame` writes them
    (N, D, C and the loss named as ``fit``'s defaults; a metric response named ``metric``, which ``fit`` reads as
    a metric), and the ``fit`` options that read it back (further inputs, groups other than :func:`size_labels`,
    the parameter convention, the loss unit or, for a metric, its predictor L's)."""
    frame = runs.export_frame()
    args = []
    if "tokens" not in frame:
        args += ["--tokens-col", ""]
    if "compute" not in frame:
        args += ["--compute-col", ""]
    if "params" not in frame:
        args += ["--params-col", ""]
    for q in ("U", "X", "S", "B", "L", "SE"):
        if q in frame:
            args += ["--col", f"{q}={q}"]
    for g in runs.columns.groups:
        if g not in size_labels(runs):
            args += ["--group-col", g]
    if "seed" in frame:  # the runs frame names the seed column "seed", whatever the source called it
        args += ["--seed-col", "seed"]
    for c in (*runs.columns.covariates, *(["log_aspect_ratio"] if runs.columns.shape else [])):
        args += ["--covariate", c]
    if runs.params_kind != "total":
        args += ["--params-kind", runs.params_kind]
    if runs.loss_unit not in (None, DEFAULT_LOSS_UNIT):  # None: a metric column, no loss unit
        args += ["--loss-unit", runs.loss_unit]
    elif runs.predictor_unit is not None:  # a metric column: --loss-unit is the unit of its predictor L
        args += ["--loss-unit", runs.predictor_unit]
    if runs.chance is not None:  # the task's chance level, the prior of a metric law's floor (also column 'chance')
        args += ["--chance", f"{runs.chance:.6g}"]
    if runs.loss_unit is None and replicated_configurations(runs)[0]:  # a metric law's logit-normal takes run noise
        args += ["--run-noise"]
    return frame, args


def _final_option(loader) -> str | None:
    """The loader option that keeps one row per run (its final checkpoint), as the fix of
    :func:`~bayes_scaling.data.repeats.repeated_runs_note`; None where the loader has none."""
    import inspect

    params = inspect.signature(loader).parameters
    if "final" in params:
        return "--option final=true keeps each run's final checkpoint"
    if "checkpoints" in params:
        default = str(params["checkpoints"].default).lower()
        return f"--option checkpoints={default} (the default) keeps each run's final checkpoint"
    return None


def cmd_datasets(args) -> int:
    from bayes_scaling import datasets as ds
    from bayes_scaling.files import atomic_path, check_out_file

    if args.name is None:
        refuse_unused(args, {"--out": ("out", None), "--option": ("option", [])},
                      "with a dataset name (`datasets NAME`)")
        return emit(f"{name}: {d.title}\n    {d.citation}\n    license: {d.license}; units: {d.units}"
                    for name, d in ((n, ds.info(n)) for n in ds.list_datasets()))
    if args.out is None:
        raise BayesScalingError("give --out FILE.csv to write the dataset (or no name to list the datasets)")
    out = check_out_file(args.out, "give a file name such as runs.csv")
    if out.suffix.lower() != ".csv":
        raise BayesScalingError(f"--out {str(out)!r} must end in .csv")
    loader = ds.info(args.name).loader
    options = {}
    for key, value in (_option(o, loader) for o in args.option):
        if key in options:
            raise BayesScalingError(f"--option {key} is given twice: give it once (several values as "
                                    f"{key}=A,B where the loader takes a list)")
        options[key] = value
    runs = ds.load(args.name, data_home=args.data_home, **options)
    frame, fit_args = export_frame(runs)
    with atomic_path(out) as tmp:
        frame.to_csv(tmp, index=False)  # as runs.to_csv(out)
    labels = [f"column {g!r} is not suggested as --group-col: each of its groups has a single N (a model-size "
              f"label), so per-group parameters of a law of N would not be identified" for g in size_labels(runs)]
    generic = repeated_runs_note(runs.frame, groups=runs.group_cols)  # said below with this loader's own fix
    labels += [f"note: {n}" for n in runs.notes if n != generic]  # the dataset's units and conventions
    if (repeats := repeated_runs_note(runs.frame, _final_option(loader), runs.group_cols)) is not None:
        labels.append(repeats)
    law, units = "LAW", []
    if runs.loss_unit is None:  # column "metric": fit reads it as a metric and refuses a loss law on it
        from bayes_scaling.laws.registry import get_law, list_laws

        metric = [w for w in list_laws() if get_law(w).response_unit != DEFAULT_LOSS_UNIT]
        law = "METRIC_LAW"
        units = [f"column metric is a metric (a fraction, no loss unit): fit it with a metric law ({', '.join(metric)}); "
                 f"a loss law is refused" + ("" if runs.predictor_unit else "; the unit of its predictor L is unknown "
                                             "(not recorded): give --loss-unit only if you know it")]
    n_rep, by = replicated_configurations(runs)
    if n_rep and runs.loss_unit is not None:  # a loss law's default spec is Student-t: run noise needs a Normal
        units.append(f"{n_rep} configuration(s) ({', '.join(by)}) hold runs of several seeds (replicates): add --run-noise to split "
                     f"run-to-run noise from the law's misfit, with a spec whose [likelihood] family is \"normal\" "
                     f"(the loss laws' default specs are Student-t)")
    return emit([f"wrote {out}: {len(frame)} runs of {args.name!r}, columns {', '.join(map(str, frame.columns))}",
                 *labels, *units,
                 "fit it with: bayes-scaling fit " + shlex.join([str(out), *fit_args]) + f" --law {law} --out FIT.nc"])


def add_parsers(sub) -> None:
    """Register ``datasets``."""
    p = sub.add_parser("datasets", help="list the public datasets, or write one as a runs CSV for fit")
    p.add_argument("name", nargs="?", default=None, help="dataset name (omit to list them)")
    p.add_argument("--out", default=None, help="CSV file to write (params, tokens, compute in FLOPs, loss ...)")
    p.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                   help="loader option, e.g. best_lr=true, paper_subset=true, variant=cool_end, curve=ID, source=...")
    p.add_argument("--data-home", default=None,
                   help="folder with local copies (default: $BAYES_SCALING_DATASETS, else a download cache)")
    p.set_defaults(func=cmd_datasets)
