"""The report of an ensemble of law forms, led by a section on the ensemble itself: members and stacking
weights (and how stable they were across cuts), and the compute-optimal allocation at the report's budgets
from the mixture beside each member, with the share of each interval that the law form contributes. The
planning sections that follow answer with the mixture; the per-fit ones show the heaviest member."""

from __future__ import annotations

from bayes_scaling.report._model import Para, Report, Section, Table, draws_interval, num

def ensemble_section(ens, budgets, ci: float, mixture_titles=()) -> Section:
    """Members, weights, weights per cut, held-out scores; N* and L* by law form at ``budgets`` (FLOPs);
    ``mixture_titles``: the sections answered by the mixture."""
    from bayes_scaling.queries.allocate import compute_optimal
    from bayes_scaling.result.ensemble import law_form_share

    info = ens.info
    how = {"lfo": "leave-future-out", "loo": "PSIS-LOO", "equal": "equal"}.get(info.get("method"), "given")
    sec = Section("ensemble", "Ensemble of law forms")
    top = max(ens.weights, key=ens.weights.get)
    sec.add(Para(f"{len(ens.members)} law forms fitted to the same {len(ens.runs)} runs and mixed by "
                 f"{how} stacking weights. The planning sections ({', '.join(mixture_titles)}) answer with the "
                 f"mixture, as `allocate`, `frontier` and `breakdown` do, so their intervals include the "
                 f"uncertainty about the law's form; the table below gives each form's answer beside it. The "
                 f"per-fit sections (priors, sampler diagnostics, parameters, noise, sensitivity refits, "
                 f"reproducibility) show the heaviest member, {top}, and say so in their titles."))
    cuts = info.get("weights_per_cut", {})
    lpd = info.get("heldout_lpd_per_member", {})
    rows = []
    for k, m in ens.members.items():
        d = m.diagnostics
        rows.append([k, f"`{m.law.formula}`", f"{ens.weights[k]:.3f}",
                     *(f"{cuts[c].get(k, float('nan')):.2f}" for c in cuts),
                     num(lpd[k]) if k in lpd else "n/a", f"{d.r_hat_max:.3f}", str(d.divergences)])
    sec.add(Table(["member", "law", "weight", *(f"weight below {c} dec." for c in cuts), "held-out log score (each run once)",
                   "R-hat max", "divergences"], rows,
                  "Members, their stacking weights (overall and fitted below each cut) and diagnostics"))
    if budgets is not None and all(m.law.has("allocation") for m in ens.members.values()):
        rows = []
        for c in budgets:
            per = ens.member_answers(lambda m: compute_optimal(m, c)["N_opt"].isel(budget=0, drop=True))
            mix = compute_optimal(ens, c)
            share = float(law_form_share(per, ens.weights))
            rows.append([num(c), draws_interval(mix["N_opt"].isel(budget=0), ci, 3),
                         draws_interval(mix["loss_opt"].isel(budget=0), ci, 4),
                         "; ".join(f"{k} {draws_interval(v, ci, 3)}" for k, v in per.items()), f"{share:.0%}"])
        sec.add(Table(["budget (FLOPs)", "N* (mixture)", f"L* {ens.loss_unit} (mixture)", "N* by member",
                       "law-form share of var log N*"], rows,
                      "Compute-optimal allocation by the ensemble, and by each law form"))
    return sec


def ensemble_report(ens, top: str, sections: list, subtitle: str, budgets, ci: float, mixture_titles) -> Report:
    """The report of ``ens`` from its ``sections`` (built from the mixture, ``mixture_titles``, or from member
    ``top``), with the ensemble section first (allocation at ``budgets``, FLOPs)."""
    weights = ", ".join(f"{k} {w:.2f}" for k, w in ens.weights.items())
    return Report(f"Scaling-law report: ensemble of {len(ens.members)} law forms on {len(ens.runs)} runs",
                  f"Weights {weights}; heaviest member {top}: " + subtitle,
                  [ensemble_section(ens, budgets, ci, mixture_titles), *sections])
