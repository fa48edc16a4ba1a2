"""Stop or go's verdict for run design (:mod:`bayes_scaling.queries.design`), its Monte Carlo noise and its
check by real refits.

Every expected value of a design is an average over simulated worlds (a true draw and an outcome each), so it
carries a Monte Carlo standard error (:func:`mc_se`). A gain or net saving within ``NOISE_SE`` standard errors
of 0 is shown as within noise, not as a reduction or a loss. Where the importance weights of the verdict's
batch collapse and real warm refits were run (:func:`refit_check`), the verdict is chosen again among all
scored options (:func:`choose`), each by its refits where it has them, else by reweighting; the text names
the estimate of each figure it gives and the other's value for every batch refit."""

from __future__ import annotations

import numpy as np

#: the greedy batch's rules, as reports name them
RULES = {"per_flop": "gain per FLOP", "gain": "gain", "paced": "gain within an equal share of the budget left"}
#: a mean within this many standard errors of 0 is shown as within Monte Carlo noise (about a two-sided 95% band)
NOISE_SE = 2.0
#: share of simulated worlds scored by the Laplace update above which a figure is labelled its estimate (most
#: of its worlds rest on it; the same rule as a candidate's ``method``)
LAPLACE_MAJORITY = 0.5
#: how each estimate is named in the verdict's sentence
_BY = {"reweighting": "reweighting", "laplace": "the Laplace update", "refits": "real refits"}


def estimate_of(step: dict) -> str:
    """``"laplace"`` where more than :data:`LAPLACE_MAJORITY` of a step's worlds were scored by the Laplace update
    (its importance weights collapsed there), else ``"reweighting"``."""
    return "laplace" if step.get("laplace_share", 0.0) > LAPLACE_MAJORITY else "reweighting"


def mc_se(values) -> float:
    """Standard error (units of ``values``) of the mean of independent simulated values: sd (ddof 1) / sqrt(n);
    NaN for fewer than 2 values."""
    v = np.asarray(values, float).reshape(-1)
    return float(np.std(v, ddof=1) / np.sqrt(v.size)) if v.size > 1 else float("nan")


def within_noise(mean: float, se: float) -> bool:
    """Whether ``mean`` is within ``NOISE_SE`` standard errors ``se`` (same unit) of 0; False where the SE is unknown."""
    return bool(np.isfinite(se) and abs(mean) < NOISE_SE * se)


def gain_text(gain: float, se: float, fmt: str = ".3g") -> str:
    """A gain and its SE for a table: ``"0.00012 ± 0.0004 (noise)"`` when within noise, else the gain alone."""
    if within_noise(gain, se):
        return f"{gain:{fmt}} ± {se:.2g} (noise)"
    return f"{gain:{fmt}}"


def best_go(sg: dict) -> dict:
    """The verdict of stop or go: the action of largest expected net saving (value - cost, FLOPs at the
    target) among stopping (0) and the first picks of each scored batch, the reported one (``sg``) and its
    ``alternatives``. The reported batch is chosen for the objective (e.g. var(log N*)), not for net
    FLOPs, so another batch can save more. All are scored on the same simulated outcomes, so the best of
    them is optimistic: its expected net saving is biased upward by the choice (the winner's curse, as for
    the choice of k), more so the more batches and the closer their savings. ``go_batch``: ``"reported"``,
    a rule name, or None (stop); ``go_runs``: how many first picks of that batch to run (0: stop);
    ``reported_go_runs``: the best count for the reported batch alone; ``best_net_se_flops``: the Monte Carlo
    SE of the chosen net saving over the simulated worlds (NaN where unknown; it leaves out the error of the
    Laplace update where that scored the worlds); ``estimate``: ``"reweighting"``, ``"laplace"`` where most of
    the chosen picks' worlds were scored by the Laplace update (:func:`estimate_of`), or ``"none"`` for a STOP
    (after refits :func:`choose` sets ``"refits"`` where the verdict rests on them; a STOP's ``best_net_flops``
    is then 0, the refits' nets are in ``refits``); ``laplace_share`` and ``ess``: the chosen picks' (a STOP:
    the reported batch's best prefix's)."""
    nets = [0.0] + [st["net_flops"] for st in sg["steps"]]
    k = int(np.argmax(nets))
    net, net_se = nets[k], (sg["steps"][k - 1].get("net_se_flops", float("nan")) if k else 0.0)
    reported = sg.get("reported_go_runs", sg["go_runs"])
    best = max(sg["alternatives"], key=lambda a: a["net_flops"], default=None)
    out = {"reported_go_runs": reported, "batches_scored": 1 + len(sg["alternatives"])}
    if best is not None and best["net_flops"] > net:
        return {**out, "verdict": "go", "go_batch": best["rule"], "go_runs": best["go_runs"],
                "best_net_flops": best["net_flops"], "best_net_se_flops": best.get("net_se_flops", float("nan")),
                "estimate": estimate_of(best), "laplace_share": best.get("laplace_share", 0.0),
                "verdict_ess": best.get("ess", float("inf"))}
    if sg["steps"]:  # a STOP's figures: the reported batch's best prefix (the picks refits would check)
        st = sg["steps"][int(np.argmax(nets[1:]))] if not k else sg["steps"][k - 1]
        share, ess = st.get("laplace_share", 0.0), st.get("ess", float("inf"))
    else:
        share, ess = 0.0, float("inf")
    return {**out, "verdict": "go" if reported else "stop", "go_batch": "reported" if reported else None,
            "go_runs": reported, "best_net_flops": net, "best_net_se_flops": net_se,
            "estimate": estimate_of({"laplace_share": share}) if reported else "none", "laplace_share": share,
            "verdict_ess": ess}


def go_picks(sg: dict) -> list[dict]:
    """The runs (dicts with N parameters and D tokens) the verdict of stop or go proposes, in order: the first
    ``go_runs`` picks of its ``go_batch`` (none for a STOP)."""
    k, which = int(sg.get("go_runs") or 0), sg.get("go_batch")
    if sg.get("verdict") != "go" or not k or which is None:
        return []
    if which == "reported":
        return [{"N": st["N"], "D": st["D"]} for st in sg["steps"][:k]]
    alt = next(a for a in sg["alternatives"] if a["rule"] == which)
    return [{"N": p["N"], "D": p["D"]} for p in alt["picks"][:k]]


def options(sg: dict) -> list[dict]:
    """The scored actions of stop or go, stop first, then the reported batch's best prefix (its step of
    largest net saving, even where not positive: the prefix a STOP's refit checks), then each alternative's
    best prefix: ``batch`` (None, ``"reported"`` or a rule), ``runs``, ``net`` and ``se`` (FLOPs), ``ess``
    (median ESS of the picks' weights), ``laplace_share`` and ``estimate``: ``"refits"`` where real refits of
    those picks were run (``sg["refits"]``), else ``"laplace"`` or ``"reweighting"`` (:func:`estimate_of`)."""
    out = [{"batch": None, "runs": 0, "net": 0.0, "se": 0.0, "ess": float("inf"), "laplace_share": 0.0,
            "estimate": "none"}]
    if sg["steps"]:
        k = int(np.argmax([st["net_flops"] for st in sg["steps"]])) + 1
        st = sg["steps"][k - 1]
        out.append({"batch": "reported", "runs": k, "net": st["net_flops"], "se": st.get("net_se_flops", float("nan")),
                    "ess": st.get("ess", float("inf")), "laplace_share": st.get("laplace_share", 0.0)})
    out += [{"batch": a["rule"], "runs": a["go_runs"], "net": a["net_flops"], "se": a.get("net_se_flops", float("nan")),
             "ess": a.get("ess", float("inf")), "laplace_share": a.get("laplace_share", 0.0)}
            for a in sg["alternatives"] if a["go_runs"]]
    for o in out[1:]:
        rc = (sg.get("refits") or {}).get(o["batch"])
        o["estimate"] = estimate_of(o)
        if rc and rc["runs"] == o["runs"]:
            o.update(net=rc["net_flops"], se=rc["net_se_flops"], estimate="refits")
    return out


def choose(sg: dict) -> dict:
    """The verdict again, after real refits: the option (:func:`options`) of largest net saving, each by its
    refits where it has them, else by reweighting (ties: stop, then the reported batch). ``refit_check``:
    the chosen option's refits (``used``), or for a STOP the first batch refit (its refits found no saving)."""
    opts = options(sg)
    best = max(opts, key=lambda o: o["net"])
    refits = sg.get("refits") or {}
    rc = refits.get(best["batch"]) if best["estimate"] == "refits" else \
        (next(iter(refits.values()), None) if best["batch"] is None else None)
    return {"verdict": "go" if best["runs"] else "stop", "go_batch": best["batch"], "go_runs": best["runs"],
            "best_net_flops": best["net"], "best_net_se_flops": best["se"], "estimate": best["estimate"],
            "laplace_share": best["laplace_share"] if best["estimate"] != "refits" else 0.0, "verdict_ess": best["ess"],
            "refit_check": {**rc, "used": True} if rc else None}


def to_refit(sg: dict, min_ess: float) -> dict | None:
    """The option real refits should check next: the verdict's batch (a STOP: the reported batch's best
    prefix) where it was not refit yet and either its weights collapsed (median ESS < ``min_ess``) or another
    batch has been refit (so that a verdict never weighs one option's refit net, free of the winner's curse as its
    refits score worlds apart from those that chose it, and unbiased where the refits' likelihood is the one that
    simulated their outcomes, a fit without a discrepancy: :func:`~bayes_scaling.inference.design.no_refit_reason`,
    against another's reweighting net, the optimistic best of several prefixes on the worlds that chose it); else None."""
    opts = options(sg)
    o = next((o for o in opts if o["batch"] == sg["go_batch"]), None) if sg["verdict"] == "go" else \
        (opts[1] if len(opts) > 1 and opts[1]["batch"] == "reported" else None)
    return (o if o and o["runs"] and o["estimate"] in ("reweighting", "laplace") and (o["ess"] < min_ess or sg.get("refits"))
            else None)


def _name(batch: str) -> str:
    return "the batch above" if batch == "reported" else "the greedy batch by " + RULES[batch]


def _pm(net: float, se: float) -> str:
    return f"{net:+.3g} ± {se:.2g}" if np.isfinite(se) else f"{net:+.3g}"


def _optimism(sg: dict) -> str:
    if sg.get("estimate") == "refits":  # refits score their own simulated outcomes, not those that chose
        return ""
    k = sg.get("batches_scored", 1 + len(sg.get("alternatives", ())))
    return (f"; the best of {k} batches scored on the same simulated outcomes, so this net saving is optimistic"
            if k > 1 else "")


def _net(net: float, se: float, by: str = "") -> str:
    if not np.isfinite(se):
        return f"net {net:+.3g} FLOPs{by}"
    noise = (f", within {NOISE_SE:g} SE of 0: not told apart from Monte Carlo noise (more --worlds would tell)"
             if within_noise(net, se) else "")
    return f"net {net:+.3g} ± {se:.2g} FLOPs{by}{noise}"


def collapse_note(sg: dict, min_ess: float, *, refits: bool = True, why: str | None = None) -> str | None:
    """The warning a design gives where its verdict's figures rest on collapsed importance weights (the
    verdict's picks' median ESS below ``min_ess``, :func:`best_go`'s ``verdict_ess``; a STOP: the reported
    batch's best prefix) and no real refits rechecked them; None otherwise. ``refits``: whether refits can be
    run for this result (not for an ensemble's mixture of laws); ``why``: the reason they cannot, where not that
    (:func:`~bayes_scaling.inference.design.no_refit_reason`)."""
    ess = sg.get("verdict_ess", sg.get("ess", float("inf")))
    if sg.get("estimate") == "refits" or not ess < min_ess:
        return None
    how = (why if why else "recheck with real refits (--max-refits 1 or more)" if refits else
           "an ensemble's design reweights only: recheck on its members' fits with real refits")
    return f"weights collapsed (ESS {ess:.0f}): {how}"


def _laplace_note(sg: dict) -> str:
    """Where the verdict rests on the Laplace update: how much, and what its ± leaves out."""
    if sg.get("estimate") != "laplace":
        return ""
    return (f"; a share {sg.get('laplace_share', 1.0):.2g} of its simulated outcomes scored by the Laplace update, "
            f"their importance weights having collapsed (ESS {sg.get('verdict_ess', float('nan')):.0f}): the ± is the Monte "
            f"Carlo SE over the outcomes and leaves out that approximation's own error")


def _refit_text(rc: dict) -> str:
    return (f"real refits ({rc['sims']} simulated outcomes, net {_pm(rc['net_flops'], rc['net_se_flops'])} FLOPs "
            f"for the first {rc['runs']} pick(s) of {_name(rc['batch'])}), the importance weights having collapsed "
            f"(ESS {rc['ess']:.0f}); {_BY[rc.get('reweight_estimate', 'reweighting')]} gave "
            f"{rc['reweight_net_flops']:+.3g} FLOPs")


def _which_estimate(sg: dict) -> str:
    """The refits behind the verdict (``from real refits ...``) and those of batches they ruled out."""
    rc, refits = sg.get("refit_check") or {}, sg.get("refits") or {}
    if not refits and rc.get("used"):  # a verdict from refit_check's record alone
        refits = {rc["batch"]: rc}
    first = rc.get("batch") if rc.get("used") else None
    text = f"; from {_refit_text(refits[first])}" if first in refits else ""
    others = [r for b, r in refits.items() if b != first]
    tail = ": no saving either" if sg["verdict"] == "stop" else ": no more saving than the verdict"
    return text + "".join(f"; {_refit_text(r)}{tail}" for r in others)


def verdict_text(sg: dict) -> str:
    """Stop or go in one sentence (:func:`best_go`, or :func:`choose` after refits): the batch to run, or
    stop; which estimate each net saving is (reweighting, the Laplace update or real refits) and the other's value."""
    rc = sg.get("refit_check") or {}
    if sg["verdict"] == "stop":
        if rc.get("used"):
            return "STOP: real refits find no saving over the cost of the batch the reweighting chose" + _which_estimate(sg)
        return "STOP: the current ladder is enough for this decision (no batch scored saves more than it costs)"
    est = sg.get("estimate", "reweighting")
    by = (" by real refits" if est == "refits" else f" by {_BY[est]}" if est == "laplace" or sg.get("refits") else "")
    if sg["go_batch"] == "reported":
        net = _net(sg["best_net_flops"], sg.get("best_net_se_flops", float("nan")), by)
        return (f"GO: run the first {sg['go_runs']} pick(s) of the batch above ({net}{_laplace_note(sg)}{_optimism(sg)}"
                f"{_which_estimate(sg)})")
    alt = next(a for a in sg["alternatives"] if a["rule"] == sg["go_batch"])
    runs = "; ".join(f"N = {p['N']:.3g}, D = {p['D']:.3g}" for p in alt["picks"][:sg["go_runs"]])
    mine = next((o for o in options(sg) if o["batch"] == "reported"), None)
    reported = max(0.0, mine["net"]) if mine else 0.0
    kind = _BY[mine["estimate"]] if mine else "reweighting"
    net = _net(sg["best_net_flops"], sg.get("best_net_se_flops", float("nan")),
               by or (" by reweighting" if kind != "reweighting" else ""))
    return (f"GO: run the first {sg['go_runs']} pick(s) of the greedy batch by {RULES[alt['rule']]} [{runs}] ({net}, "
            f"more than the batch above's best {reported:+.3g} by {kind}: that batch is chosen for the objective, this "
            f"verdict for the FLOPs saved{_laplace_note(sg)}{_optimism(sg)}{_which_estimate(sg)})")


def refit_check(sg: dict, scores: list[float], now: float, target: float, cost_flops: float, ess: float,
                batch: str, runs: int) -> dict:
    """Record real refits of the first ``runs`` picks of ``batch`` (``"reported"`` or a rule name: an option
    of :func:`options`) and choose the verdict again (:func:`choose`) with their net saving in place of the
    reweighting's. ``scores``: the expected wasted compute (fraction of C) after those picks in each
    simulated world, by real warm refits; ``now``: before them; ``target``: C in FLOPs; ``cost_flops``: the
    picks' cost; ``ess``: their importance weights' median ESS. Returns the updates of ``sg`` (``refits``:
    every batch's refit record, by batch, with both estimates)."""
    value = (now - np.asarray(scores, float)) * target
    net, se = float(np.mean(value)) - cost_flops, mc_se(value)
    mine = next((o for o in options({**sg, "refits": {}}) if o["batch"] == batch and o["runs"] == runs), None)
    reweight = mine["net"] if mine else float("nan")
    check = {"used": False, "sims": len(scores), "net_flops": net, "net_se_flops": se, "runs": runs, "batch": batch,
             "ess": ess, "reweight_net_flops": reweight, "reweight_estimate": mine["estimate"] if mine else "reweighting", "reweight_verdict": sg.get("reweight_verdict", sg["verdict"]),
             "scores": [float(s) for s in scores]}
    refits = {**(sg.get("refits") or {}), batch: check}
    return {"refits": refits, "reweight_verdict": check["reweight_verdict"], **choose({**sg, "refits": refits})}
