"""``design``: which runs next. With a fit, candidate runs ranked by the expected reduction of the
decision's uncertainty at the target budget per FLOP, a greedy batch within the ladder budget and
stop-or-go; with ``--spec`` and no runs yet, the IsoFLOP grid that minimises the expected posterior
uncertainty. Compute in FLOPs (or ``--compute-unit pf-days``)."""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np

from bayes_scaling.commands.args import (add_compute_unit_arg, add_cost_args, add_json_arg, cost_from_args,
                                         int_at_least, positive_float, refuse_unused, seed_value, to_flops)
from bayes_scaling.commands.output import emit, query_lines, query_record
from bayes_scaling.conventions import (CI_PROB, COMPUTE_UNIT_NAMES, FLOPS_PER_PARAM_TOKEN, MAX_EXTRA_SHAPES,
                                       MAX_MONTE_CARLO, MAX_REACH_DECADES, TRUSTED_TOKENS_PER_PARAM, flops_to_unit,
                                       in_loss_unit, is_ensemble)
from bayes_scaling.cost import CostLaw
from bayes_scaling.errors import BayesScalingError

#: Options of a design from a fit's draws (flag -> (dest, default)), which a new project's (--spec) does not use.
_FIT_ONLY = {"--candidates": ("candidates", "grid"), "--shapes": ("shapes", None),
             "--reach-optimal-shape": ("reach_optimal_shape", False), "--batch": ("batch", 4),
             "--worlds": ("worlds", 128), "--min-ess": ("min_ess", 50.0), "--no-laplace": ("no_laplace", False),
             "--max-refits": ("max_refits", 3), "--refit-sims": ("refit_sims", 4), "--exchange": ("exchange", 20),
             "--candidate-se": ("candidate_se", None)}
_SPEC_ONLY = {"--prior-draws": ("prior_draws", 400)}
_VAR_LABEL = {"n_star": "var log N*", "n_star_width": "width of N*'s 90% interval", "loss": "var loss at the decision",
              "wasted_compute": "E[wasted compute]"}


def read_candidates(path: str, cost) -> tuple[np.ndarray, np.ndarray]:
    """Candidate runs from a CSV (read and checked as a runs file is): columns params and tokens (or N
    and D), or params and compute (C, FLOPs, priced by the cost law ``cost``); one row per distinct run."""
    import pandas as pd

    from bayes_scaling.data.sources import read_source

    try:
        frame, _, _ = read_source(path, what="candidate runs")
    except BayesScalingError as e:
        raise BayesScalingError(*e.problems, quantity="candidates") from None
    where = f"candidate runs file {path!r}"

    def col(*names):
        hit = next((c for c in names if c in frame), None)
        return None if hit is None else pd.to_numeric(frame[hit], errors="coerce").to_numpy(float)

    n, d, c = col("params", "N"), col("tokens", "D"), col("compute", "C")
    if n is None and d is not None and c is not None:
        if not cost.linear:
            raise BayesScalingError(f"{where}: with {cost.describe()} give params (with tokens or compute), not tokens "
                                    f"and compute", quantity="candidates")
        n = c / (cost.k * d)
    if d is None and n is not None and c is not None:
        d = cost.tokens(c, n)
    if n is None or d is None:
        raise BayesScalingError(f"{where} needs columns params and tokens (or one of them and compute); columns are "
                                f"{list(frame.columns)}", quantity="candidates")
    if len(n) == 0:
        raise BayesScalingError(f"{where} has a header but no rows: add one candidate run per row",
                                quantity="candidates")
    bad = np.flatnonzero(~(np.isfinite(n * d) & (n > 0) & (d > 0)))
    if bad.size:
        raise BayesScalingError(f"{where}: every N and D must be a finite number > 0; not in data row(s) "
                                f"{(bad[:10] + 1).tolist()}", quantity="candidates")
    dup = np.flatnonzero(pd.DataFrame({"n": n, "d": d}).duplicated().to_numpy())
    if dup.size:
        raise BayesScalingError(f"{where} repeats a run (same N and D) in data row(s) {(dup[:10] + 1).tolist()}: list "
                                f"each candidate once", quantity="candidates")
    return n, d


def _budget_below_runs(args, smallest_flops: float) -> str:
    """The refusal of a ladder budget below the fit's smallest run, in the unit the user typed (``--compute-unit``);
    the minimum is rounded up to 3 significant digits, so the number it names is accepted."""
    unit = COMPUTE_UNIT_NAMES[args.compute_unit]
    lo = float(flops_to_unit(smallest_flops, args.compute_unit))
    step = 10.0 ** (math.floor(math.log10(lo)) - 2)
    least = math.ceil(lo / step - 1e-6) * step
    flops = "" if unit == "FLOPs" else f" = {smallest_flops:.3g} FLOPs"
    return (f"--ladder-budget {args.ladder_budget:g} {unit} is below the fit's smallest run ({lo:.3g} {unit}{flops}): "
            f"every grid candidate would be smaller than the runs you have, where the law has no data; raise "
            f"--ladder-budget to at least {least:.3g} {unit}, or give candidate runs with --candidates FILE (runs "
            f"outside the data are flagged)")


def cmd_design(args) -> int:
    if (args.fit is None) == (args.spec is None):
        raise BayesScalingError("give a fit file (runs so far) or --spec SPEC (a new project)"
                                + (", not both" if args.fit is not None else ""))
    target = to_flops(args.target_compute, args.compute_unit)
    budget = to_flops(args.ladder_budget, args.compute_unit)
    if budget > target:
        warnings.warn(f"the ladder budget ({budget:.3g} FLOPs) exceeds the run it plans for ({target:.3g} FLOPs): "
                      f"check that --ladder-budget and --target-compute are not swapped", UserWarning, stacklevel=2)
    if args.spec is not None:
        refuse_unused(args, _FIT_ONLY, "to a design from a fit (FIT.nc), not to a new project's (--spec)")
        return _new_project(args, target, budget)
    refuse_unused(args, _SPEC_ONLY, "to a new project's design (--spec), not to a design from a fit")
    from bayes_scaling.inference.design import no_refit_reason, refit_expected
    from bayes_scaling.queries.design import (OBJECTIVE_UNITS, RULES, candidate_grid, collapse_note, design_runs,
                                              posterior_objective, verdict_text)
    from bayes_scaling.queries.design_preposterior import decision_now
    from bayes_scaling.queries.design_shapes import data_box, keep_to_shapes, shapes_range, optimal_shape_interval, outside
    from bayes_scaling.queries.design_verdict import NOISE_SE, gain_text, go_picks, within_noise
    from bayes_scaling.queries.draws import resolve_cost
    from bayes_scaling.result import load_fit

    result = load_fit(args.fit)
    no_refits = is_ensemble(result) or no_refit_reason(result)
    if no_refits:  # a mixture of laws, or a fit with a discrepancy, is reweighted only: no refits
        # --max-refits 0 (and, for an ensemble, --no-laplace) ask for what its design does anyway
        asked = ("--refit-sims",) + (("--max-refits",) if args.max_refits > 0 else ())
        refuse_unused(args, {k: _FIT_ONLY[k] for k in asked}, "to a single fit's design (an ensemble's is reweighted only)"
                      if is_ensemble(result) else f"where refits can run ({no_refit_reason(result)})")
    cost = resolve_cost(result, cost_from_args(args, getattr(result, "runs", None)), args.flops_per_token)
    # the default range: the trusted shapes (where the Chinchilla form was fitted, Hoffmann et al. 2022); the
    # candidates outside the fit's own runs' shapes, sizes N or costs C are flagged (--shapes restricts the shapes)
    box = data_box(result, cost)
    fitted = box.shapes
    shapes = tuple(TRUSTED_TOKENS_PER_PARAM if args.shapes is None else args.shapes)
    reach = None  # --reach-optimal-shape: the posterior's interval of the optimal shape at the target
    if args.candidates == "grid":
        reach = optimal_shape_interval(result, target, cost=cost) if args.reach_optimal_shape else None
        try:
            n, d = candidate_grid(box.compute, budget, cost=cost, ratios=shapes, reach=reach)
        except BayesScalingError as e:
            if e.quantity != "ladder_budget":
                raise
            raise BayesScalingError(_budget_below_runs(args, box.compute[0]), quantity="ladder_budget") from None
    elif args.reach_optimal_shape:
        raise BayesScalingError("--reach-optimal-shape extends the grid candidates; a candidates CSV gives its runs' own "
                                "shapes", quantity="reach_optimal_shape")
    elif args.shapes is not None:
        raise BayesScalingError("--shapes sets the grid candidates' range; a candidates CSV gives its runs' own shapes",
                                quantity="shapes")
    else:
        n, d = read_candidates(args.candidates, cost)

    def refit(nn, dd, objective):  # the objective after runs (nn, dd) in each simulated world
        score = lambda f: posterior_objective(f, target, objective, cost=cost)  # noqa: E731
        return refit_expected(result, nn, dd, score, sims=args.refit_sims, seed=args.seed,
                              candidate_se=args.candidate_se)["scores"]

    des = design_runs(result, target, budget, n, d, objective=args.objective, batch=args.batch, worlds=args.worlds,
                      min_ess=args.min_ess, refit=None if args.max_refits == 0 or no_refits else refit,
                      max_refits=args.max_refits, seed=args.seed, cost=cost, laplace=not args.no_laplace,
                      exchange=args.exchange, candidate_se=args.candidate_se)
    cands, batch, sg = des.candidate_records(), des.batch_records(), des.stop_go
    base_why = "candidates file" if args.candidates != "grid" else "trusted shapes" if args.shapes is None else "--shapes range"
    for r in cands + batch:  # why each candidate was proposed (the extension beyond the range, or the range) and where
        why = "optimal shape at the target" if reach is not None and outside(r["D"] / r["N"], shapes) else base_why
        off = {k: bool(v[0]) for k, v in box.outside([r["N"]], [r["D"]], [r["cost_flops"]]).items()}
        r.update(outside_trusted=bool(outside(r["D"] / r["N"])), outside_data_shapes=off["shapes"],
                 outside_data_N=off["N"], outside_data_C=off["C"], outside_data=box.where([r["N"]], [r["D"]], [r["cost_flops"]])[0],
                 proposed_for=why)
    beyond = sum(r["outside_data_shapes"] for r in cands)
    beyond_scale = sum(r["outside_data_N"] or r["outside_data_C"] for r in cands)
    flagged = beyond + beyond_scale > 0
    runs_box = (f"N {box.params[0]:.3g}-{box.params[1]:.3g} parameters, C {box.compute[0]:.3g}-{box.compute[1]:.3g} "
                f"FLOPs")
    gos = go_picks(sg)
    go_where = box.where([p["N"] for p in gos], [p["D"] for p in gos], [cost.flops(p["N"], p["D"]) for p in gos])
    go_off = [w for w in go_where if "N" in w.split(",") or "C" in w.split(",")]
    span = [float(np.min(d / n)), float(np.max(d / n))]
    extended = reach is not None and bool(np.any(outside(d / n, shapes)))
    obj_unit = in_loss_unit(OBJECTIVE_UNITS[args.objective], result.loss_unit)
    disc = result.discrepancy  # what each simulated outcome carries: predict's predictive of a new run
    rel_se, se_source = des.outcome.relative_se, des.outcome.se_source  # a new run's evaluation SE/loss, or None
    outcome = "fitted noise" + ("" if rel_se is None else " + evaluation SE") + ("" if disc is None else
                                " + extrapolation discrepancy" + (" + residual process" if disc.residual is not None else ""))
    out: dict[str, Any] = {
        "target_compute_flops": target, "ladder_budget_flops": budget, "cost": cost.describe(),
        "objective": args.objective, "objective_units": obj_unit, "objective_now": des.gains.before,
        **decision_now(result, des.pre), "draws": des.pre.size, "worlds": args.worlds, "min_ess": args.min_ess,
        "laplace": des.laplace, "outcome": outcome, "candidate_se_relative": rel_se, "candidate_se_source": se_source, "shapes_tokens_per_param": (span if extended else list(shapes)) if args.candidates == "grid" else None,
        "trusted_tokens_per_param": list(TRUSTED_TOKENS_PER_PARAM), "shapes_extended": extended,
        "data_tokens_per_param": list(fitted), "candidates_outside_data_shapes": beyond,
        "data_params": list(box.params), "data_compute_flops": list(box.compute),
        "candidates_outside_data_scale": beyond_scale,
        "verdict_runs_outside_data_scale": len(go_off),
        "optimal_shape_interval_tokens_per_param": None if reach is None else list(reach),
        "optimal_shape_ci_prob": None if reach is None else CI_PROB,
        "candidates": cands, "batch": batch, "batch_cost_flops": sum(b["cost_flops"] for b in batch),
        "batch_expected_after": batch[-1]["after"] if batch else des.gains.before,
        "seconds": des.seconds, "batch_rule": des.rule, "batch_exchange_moves": des.exchanged,
        "batch_refit_expected_after": des.batch_refit, "stop_or_go": sg, "refit_note": des.refit_note,
        "candidates_over_budget": int(np.size(n) - len(des.cost)),
        "verdict_warning": collapse_note(sg, args.min_ess, refits=not is_ensemble(result), why=des.refit_note),
        "law_form_weights": des.form_weights,  # an ensemble's: held at the stacking weights
        "verdict_scale_warning": (f"{len(go_off)} of the {len(gos)} run(s) the verdict proposes lie outside your runs' "
                                  f"{runs_box}: their value rests on the law holding there, which your data do not "
                                  f"test" if go_off else None),
    }
    n_now = out["decision_N_now"]  # the guard at the decision now, at the target
    out.update(query_record(result, CI_PROB, {"N": n_now, "D": float(cost.tokens(target, n_now)), "C": target}))

    def text():
        yield (f"design for C = {target:.3g} FLOPs with a ladder budget of {budget:.3g} FLOPs ({cost.describe()}); objective "
               f"{_VAR_LABEL[args.objective]} = {des.gains.before:.4g} {obj_unit} now "
               f"({des.pre.size} draws, {args.worlds} simulated outcomes per run, each with the {outcome}; "
               + (f"an outcome whose importance weights have ESS < {args.min_ess:g} is scored by the Laplace update)"
                  if des.laplace else "reweighting only: Laplace update "
                  + ("off)" if args.no_laplace else "not for an ensemble's mixture of laws)")))
        if des.refit_note:
            yield f"  {des.refit_note}"
        if des.form_weights:
            yield f"  {des.form_weights}"
        if rel_se is not None:
            yield (f"  evaluation SE of new runs: {100 * rel_se:.3g}% of loss ("
                   + ("given by --candidate-se" if se_source == "given" else f"{se_source}; --candidate-se to set it")
                   + "), in each simulated outcome and its likelihood")
        if extended:
            yield (f"  extended to {span[0]:.3g}-{span[1]:.3g} tokens/parameter: the posterior's {CI_PROB:.0%} interval of "
                   f"the optimal shape at C = {target:.3g} FLOPs is {reach[0]:.3g}-{reach[1]:.3g}, beyond "
                   f"{shapes[0]:g}-{shapes[1]:g} (shape 'optimal' below)"
                   + (f"; cut at {MAX_REACH_DECADES:g} decades beyond the range" if reach[0] < span[0] * (1 - 1e-9)
                      or reach[1] > span[1] * (1 + 1e-9) else ""))
        if beyond:
            yield (f"  {beyond} of {len(cands)} candidates lie outside the fit's shapes, {shapes_range(fitted)} "
                   f"tokens/parameter (column 'data': D/N): the law has no runs of yours there, so their value "
                   f"rests on its form holding beyond your data ({keep_to_shapes(fitted)})")
        if beyond_scale:
            yield (f"  {beyond_scale} of {len(cands)} candidates lie outside your runs' {runs_box} (column 'data': "
                   f"N or C): the law is assumed to hold there")
        if out["candidates_over_budget"]:
            yield (f"  {out['candidates_over_budget']} of {np.size(n)} candidates cost more than the ladder budget "
                   f"and are left out")
        yield (f"  gain: expected reduction of the objective ({obj_unit}); one within {NOISE_SE:g} Monte Carlo SE of 0 "
               f"(over the simulated outcomes) is shown as gain ± SE (noise)")
        yield (f"  {'N':>9} {'D':>9} {'D/N':>6} {'cost':>9} {'gain':>26} {'gain%':>6} {'gain/EFLOP':>10} {'ESS':>5}  how"
               + ("        data" if flagged else "") + ("       shape" if extended else ""))
        for r in cands[:args.top]:
            noise = within_noise(r["gain"], r["gain_se"])
            yield (f"  {r['N']:>9.3g} {r['D']:>9.3g} {r['tokens_per_param']:>6.3g} {r['cost_flops']:>9.3g} "
                   f"{gain_text(r['gain'], r['gain_se']):>26} "
                   + (f"{'-':>6} {'-':>10}" if noise else
                      f"{100 * r['relative_gain']:>5.1f}% {1e18 * r['gain_per_flop']:>10.3g}")
                   + f" {r['ess']:>5.0f}  {r['method']:<8}"
                   + (f"  {r['outside_data'] or 'inside':>8}" if flagged else "")
                   + (f"  {'optimal' if r['proposed_for'].startswith('optimal') else 'grid':>8}" if extended else "")
                   ).rstrip()
        rule = RULES[des.rule]
        yield ((f"batch refined by exchange ({des.exchanged} move(s)) from the greedy batch ({rule} rule), in order of "
                f"gain per FLOP" if des.exchanged else f"greedy batch ({rule} rule; each pick conditioned on the "
                f"earlier ones' simulated outcomes)") + f", {len(batch)} runs:")
        for i, b in enumerate(batch, 1):
            yield (f"  {i}. N = {b['N']:.3g}, D = {b['D']:.3g} ({b['cost_flops']:.3g} FLOPs; total "
                   f"{b['cumulative_cost']:.3g}): expected {_VAR_LABEL[args.objective]} after {b['after']:.4g} "
                   f"(ESS {b['ess']:.0f})" + (f"; outside your runs' {b['outside_data']}" if b["outside_data"] else ""))
        if des.batch_refit is not None:
            yield f"  weights collapsed for the batch: real refits give {des.batch_refit:.4g} after it"
        yield (f"stop or go: allocate's decision at C (N = {out['decision_N_now']:.3g}) wastes "
               f"{out['decision_wasted_now']:.2%} of it in expectation now ({out['decision_draws']} draws); the plan of "
               f"least expected waste on the design's grid (N = {out['least_waste_N_now']:.3g}, {des.pre.size} draws) "
               f"wastes {sg['expected_wasted_now']:.2%}, the value the savings below are measured from (perfect information "
               f"would save {sg['evpi_flops']:.3g} FLOPs); after the first k picks of the batch above:")
        for i, st in enumerate(sg["steps"], 1):
            yield (f"  k = {i} (N = {st['N']:.3g}, D = {st['D']:.3g}): {st['expected_wasted_after']:.2%}, saves "
                   f"{st['value_flops']:.3g} ± {st['value_se_flops']:.2g} FLOPs in expectation for "
                   f"{st['cost_flops']:.3g} (net {st['net_flops']:+.3g}"
                   + (f"; Laplace update for a share {st['laplace_share']:.2g} of outcomes" if st.get("laplace_share") else "")
                   + ")")
        yield "  -> " + verdict_text(sg)
        if out["verdict_warning"]:
            yield "  !! " + out["verdict_warning"]
        if out["verdict_scale_warning"]:
            yield "  !! " + out["verdict_scale_warning"]
        yield from query_lines(result, out)

    return emit(text, out, as_json=args.json)


def _new_project(args, target: float, budget: float) -> int:
    from bayes_scaling.inference.design import prior_draws
    from bayes_scaling.inference.fit import resolve_spec
    from bayes_scaling.queries.design_prior import PriorLadder, design_new_ladder

    if args.objective not in ("n_star", "loss"):
        raise BayesScalingError(f"a new project's design (--spec) takes --objective n_star or loss, got {args.objective}")
    spec = resolve_spec(None, args.spec)
    if not spec.law.has("allocation"):
        raise BayesScalingError(f"design needs a law of N and D; spec {spec.name!r} is for {spec.law.name!r}")
    cost = cost_from_args(args) or CostLaw("6nd", k=args.flops_per_token)  # refused before the prior draws
    params, sigma = prior_draws(spec, args.prior_draws, seed=args.seed)
    prior = PriorLadder(spec.law, params, sigma, spec.likelihood.dist, target, objective=args.objective, cost=cost)
    rows = design_new_ladder(prior, budget)
    best = rows[0]
    summary = lambda r: {k: r[k] for k in ("budgets", "per_budget", "spacing", "width", "cost_flops",  # noqa: E731
                                           "expected_var", "median_var")}
    out = {"spec": spec.name, "target_compute_flops": target, "ladder_budget_flops": budget,
           "cost": prior.cost.describe(),
           "objective": args.objective, "prior_draws": args.prior_draws, "prior_expected_var": float(np.mean(prior.prior_var)),
           "shapes_tokens_per_param": list(TRUSTED_TOKENS_PER_PARAM),
           "best": {**summary(best), "runs": [{"N": float(a), "D": float(b), "tokens_per_param": float(b / a)}
                                              for a, b in zip(best["N"], best["D"])]},
           "designs": [summary(r) for r in rows[:args.top]]}
    what = "log N*" if args.objective == "n_star" else "L* (nats/token)"
    unit = "(log parameters)^2" if args.objective == "n_star" else "(nats/token)^2"

    def text():
        yield (f"new project ({spec.name}): IsoFLOP ladders spending {budget:.3g} FLOPs, ranked by the expected "
               f"posterior variance of {what} at C = {target:.3g} FLOPs (Laplace, {args.prior_draws} prior draws; "
               f"linearised prior variance: {out['prior_expected_var']:.3g} {unit}, g^T Cov g averaged over the draws)")
        yield ("  budgets: IsoFLOP budgets, each C_max / spacing^i; sizes: runs per budget, log-even over N*/width to "
               f"N* x width, cut to the trusted shapes {TRUSTED_TOKENS_PER_PARAM[0]:g}-{TRUSTED_TOKENS_PER_PARAM[1]:g} "
               f"tokens/parameter (Hoffmann et al. 2022's runs; a fit's design grid keeps to them too); var: posterior "
               f"variance of {what} after the ladder, {unit}, its mean and median over the prior")
        yield (f"  {'budgets':>8} {'sizes':>5} {'spacing':>7} {'width':>5} {'largest C':>10} {'mean var':>9} "
               f"{'median var':>10}")
        for r in out["designs"]:
            yield (f"  {len(r['budgets']):>8} {r['per_budget']:>5} {r['spacing']:>7.3g} {r['width']:>5.3g} "
                   f"{r['budgets'][-1]:>10.3g} {r['expected_var']:>9.3g} {r['median_var']:>10.3g}")
        yield "best ladder's runs (N parameters, D tokens):"
        for run in out["best"]["runs"]:
            yield f"  N = {run['N']:.3g}, D = {run['D']:.3g} (D/N {run['tokens_per_param']:.3g})"

    return emit(text, out, as_json=args.json)


def add_parser(sub) -> None:
    """Register ``design``."""
    p = sub.add_parser("design", help="which runs next: value of information per FLOP, a batch, stop or go")
    p.add_argument("fit", nargs="?", default=None, help="fit file (.nc) of the runs so far (or --spec for none)")
    p.add_argument("--spec", default=None, help="a new project with no runs: spec whose priors simulate the truth")
    p.add_argument("--target-compute", type=positive_float, required=True, help="budget of the big run")
    p.add_argument("--ladder-budget", type=positive_float, required=True, help="compute for the ladder runs")
    add_compute_unit_arg(p, "unit of --target-compute and --ladder-budget")
    p.add_argument("--candidates", default=_FIT_ONLY["--candidates"][1],
                   help="'grid' (IsoFLOP candidates) or a .csv/.parquet file with columns params, tokens "
                        "(read like a runs file: each run once)")
    p.add_argument("--objective", choices=("n_star", "n_star_width", "loss", "wasted_compute"), default="n_star",
                   help="var of log N*, width of N*'s 90%% interval (decades), var of the loss at the "
                        "decision, or expected wasted compute (default %(default)s; with --spec: n_star, or loss: "
                        "the var of the optimal loss L* at each draw's own optimum, not at one decision)")
    p.add_argument("--batch", type=int_at_least(1), default=_FIT_ONLY["--batch"][1],
                   help="runs in the batch, at most (default %(default)s)")
    p.add_argument("--flops-per-token", type=positive_float, default=FLOPS_PER_PARAM_TOKEN,
                   help="training FLOPs per parameter per token (default 6)")
    add_cost_args(p, stored=False)
    p.add_argument("--worlds", type=int_at_least(8), default=_FIT_ONLY["--worlds"][1],
                   help="simulated outcomes per run (default %(default)s)")
    p.add_argument("--shapes", type=positive_float, nargs=2, default=None, metavar=("LO", "HI"),
                   help=f"grid candidates' tokens/parameter range LO < HI (default {TRUSTED_TOKENS_PER_PARAM}: the "
                        f"trusted shapes, the span of Hoffmann et al. 2022's runs; candidates outside the fit's own "
                        f"runs' shapes are flagged, and --shapes with the fit's range keeps to them)")
    p.add_argument("--reach-optimal-shape", action="store_true",
                   help=f"also propose grid candidates out to the posterior's {100 * CI_PROB:.0f}%% interval of the "
                        f"compute-optimal D/N at the target where it lies beyond the range, at the grid's spacing (at "
                        f"most {MAX_EXTRA_SHAPES} more ratios; off by default: see benchmarks/README, run design)")
    p.add_argument("--min-ess", type=positive_float, default=_FIT_ONLY["--min-ess"][1],
                   help="importance-weight ESS below which a simulated outcome is scored by the Laplace update and "
                        "the best candidates are refit (default %(default)s)")
    p.add_argument("--no-laplace", action="store_true", help="reweighting only (refits where the weights collapse)")
    p.add_argument("--exchange", type=int_at_least(0), default=_FIT_ONLY["--exchange"][1],
                   help="refine the greedy batch by swaps among the K best candidates by gain and by gain per FLOP "
                        "(0: greedy only; default %(default)s)")
    p.add_argument("--max-refits", type=int_at_least(0), default=_FIT_ONLY["--max-refits"][1],
                   help="candidates rechecked by real refits; with K > 0 the batch and stop or go's verdict are "
                        "also refit where their importance weights collapse (then the verdict is chosen again, the "
                        "option it lands on refit too: at most 4 batches; 0: no refits)")
    p.add_argument("--candidate-se", type=float, default=None, metavar="SE/LOSS",
                   help="a new run's evaluation SE as a fraction of its loss (dimensionless, e.g. 0.003), added to each "
                        "simulated outcome and its likelihood; only for a fit with --run-noise and an SE column "
                        "(default: the median SE/loss of its recorded runs)")
    p.add_argument("--refit-sims", type=int_at_least(1), default=_FIT_ONLY["--refit-sims"][1],
                   help="simulated worlds per refit check")
    p.add_argument("--prior-draws", type=int_at_least(50, high=MAX_MONTE_CARLO), default=_SPEC_ONLY["--prior-draws"][1],
                   help="--spec: prior draws (default %(default)s)")
    p.add_argument("--top", type=int_at_least(1), default=10, help="rows of the table (default %(default)s)")
    p.add_argument("--seed", type=seed_value, default=0, help="seed of the simulated outcomes")
    add_json_arg(p)
    p.set_defaults(func=cmd_design)
