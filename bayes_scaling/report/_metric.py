"""Report sections for downstream metrics and noise components: a metric law's floor, ceiling and curve
over the runs' losses (and beyond them, towards lower loss), and a run-noise fit's split of the noise into
configuration and run-to-run components, on the family's scale and in the response's units."""

from __future__ import annotations

import json

import numpy as np

from bayes_scaling.plots.common import pct
from bayes_scaling.report._model import Para, Section, Table, draws_interval, interval_header, num
from bayes_scaling.specs.moments import scipy_dist

#: Losses (fractions of the smallest observed) at which the metric is extrapolated beyond the runs.
EXTRAPOLATE_LOSS = (0.9, 0.8)


def metric_section(ctx) -> Section | None:
    """Downstream metrics: for a metric law (accuracy from a loss L), its floor and its ceiling (the metric
    as the loss goes to 0), and the metric at the runs' losses and below them, with intervals."""
    result, ci = ctx.result, ctx.ci
    law = result.law
    if law.response != "metric":
        return None
    sec = Section("metric", "Downstream metrics")
    unit = (f"in {result.predictor_unit}, as recorded" if result.predictor_unit else
            f"{law.inputs[0].unit}: its unit is not recorded")
    prov = result.spec.provenance
    if prov.get("chance") is not None:
        where = "given with --chance" if prov.get("chance_source") == "given" else "recorded in the runs table"
        floor_text = f"The floor's prior carries the benchmark's chance level, {float(prov['chance']):g} ({where}); "
    else:  # a fit without a chance level (or saved before it was recorded): say what the prior is instead
        median = float(scipy_dist(result.spec.priors[law.floor_param]).median())
        floor_text = (f"The floor's prior is the spec's, median {median:.3g}: no chance level was given "
                      f"(`fit --chance P`) or recorded with the runs; ")
    sec.add(Para(f"`{law.name}` maps a loss L ({unit}) to a bounded metric ({law.response_unit}, "
                 f"{result.spec.likelihood.describe()}). {floor_text}"
                 f"the runs see part of the curve only, so the ceiling rests mostly on its prior where they stop "
                 f"short of it. Chain it with a loss law of N and D (`predict-metric`, `target-metric`) to ask about "
                 f"a new model; they refuse a loss fit in another unit than L's where it is recorded."))
    ev = result.evaluator
    p = ev.params()  # DataArrays (chain, draw)
    floor = np.exp(p[f"log_{law.floor_param}"])
    at_zero = law.loss(np, {"L": np.log(1e-9)}, p)
    rows = [["floor (metric as the loss grows)", law.floor_param, draws_interval(floor, ci)],
            ["metric at zero loss (L -> 0, the best a loss can give)", "-", draws_interval(at_zero, ci)]]
    if "ceiling" in (derived := law.derived(p)):  # the law's own ceiling, a limit beyond any loss: named apart
        rows.append(["ceiling of the law (its limit as L -> -infinity, which no loss reaches)", "ceiling",
                     draws_interval(derived["ceiling"], ci)])
    sec.add(Table(["quantity", "parameter", f"{interval_header(ci)}"], rows,
                  f"Bounds of the metric ({law.response_unit})"))
    L = result.runs.frame["L"].to_numpy(float)
    grid = [*(float(np.quantile(L, q)) for q in (1.0, 0.5, 0.0)), *(f * float(L.min()) for f in EXTRAPOLATE_LOSS)]
    pred = result.predict(L=grid)
    rows = []
    for i, x in enumerate(grid):
        where = "in the runs" if i < 3 else f"{EXTRAPOLATE_LOSS[i - 3]:g} x the smallest (extrapolated)"
        rows.append([num(x), where, draws_interval(pred["loss"].isel(query=i), ci),
                     draws_interval(pred["loss_predictive"].isel(query=i), ci)])
    sec.add(Table(["loss L", "where", "metric (law)", "metric of a new evaluation"], rows,
                  f"The metric at the largest, median and smallest loss of the runs and below them; median "
                  f"[{pct(ci)} interval], {law.response_unit}"))
    return sec


def noise_section(ctx) -> Section | None:
    """Noise components of a fit with run noise: sigma_law (a configuration's offset from the law, shared by
    its replicates) and sigma_run (run to run), with their sum for a new run at a new configuration."""
    result, ci = ctx.result, ctx.ci
    rec = json.loads(result.tree.attrs.get("run_noise", "null") or "null")
    if not rec:
        return None
    post = result.posterior
    y = result.runs.frame["loss"].to_numpy(float)
    typical = float(np.median(y))
    slope = float(np.abs(result.spec.likelihood.dist.location_slope(typical)))
    unit = result.law.response_unit
    sec = Section("noise", "Noise components")
    sec.add(Para(f"{rec['cells']} configurations ({' and '.join(rec['cell_by'])}), {rec['replicate_cells']} of them "
                 f"with replicates; evaluation standard errors {'given per run (SE column)' if rec['se'] else 'not given (so the run-to-run sd includes the evaluation noise)'}. "
                 f"A replicate of a fitted configuration varies by sigma_run; a new run at a new configuration by "
                 f"sigma = sqrt(sigma_law^2 + sigma_run^2), which the predictions use."))
    rows = []
    for name, what in (("sigma_run", "run to run (seed, data order)"), ("sigma_law", "configuration off the law"),
                       ("sigma", "a new run at a new configuration")):
        d = post[name]
        rows.append([name, what, draws_interval(d, ci), draws_interval(d / slope, ci)])
    sec.add(Table(["component", "meaning", f"on the family's scale, {interval_header(ci)}",
                   f"in {unit} at the median response {num(typical)}"], rows,
                  "Noise components (delta method for the response's units)"))
    return sec
