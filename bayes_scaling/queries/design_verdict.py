"""Stop or go's verdict for run design (:mod:`bayes_scaling.queries.design`), its Monte Carlo noise and its
check by real refits.

Every expected value of a design is an average over simulated worlds (a true draw and an outcome each), so it
carries a Monte Carlo standard error (:func:`mc_se`). A gain or net saving within ``NOISE_SE`` standard errors
of 0 is shown as within noise, not as a reduction or a loss. Where the importance weights of the verdict's
batch collapse and real warm refits were run (:func:`refit_check`), the verdict rests on the refits; the text
names the estimate it used and gives the other's value."""

from __future__ import annotations

import numpy as np

#: the greedy batch's rules, as reports name them
RULES = {"per_flop": "gain per FLOP", "gain": "gain", "paced": "gain within an equal share of the budget left"}
#: a mean within this many standard errors of 0 is shown as within Monte Carlo noise (about a two-sided 95% band)
NOISE_SE = 2.0


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
    SE of the chosen net saving (NaN where unknown)."""
    nets = [0.0] + [st["net_flops"] for st in sg["steps"]]
    k = int(np.argmax(nets))
    net, net_se = nets[k], (sg["steps"][k - 1].get("net_se_flops", float("nan")) if k else 0.0)
    reported = sg.get("reported_go_runs", sg["go_runs"])
    best = max(sg["alternatives"], key=lambda a: a["net_flops"], default=None)
    out = {"reported_go_runs": reported, "batches_scored": 1 + len(sg["alternatives"])}
    if best is not None and best["net_flops"] > net:
        return {**out, "verdict": "go", "go_batch": best["rule"], "go_runs": best["go_runs"],
                "best_net_flops": best["net_flops"], "best_net_se_flops": best.get("net_se_flops", float("nan"))}
    return {**out, "verdict": "go" if reported else "stop", "go_batch": "reported" if reported else None,
            "go_runs": reported, "best_net_flops": net, "best_net_se_flops": net_se}


def _optimism(sg: dict) -> str:
    if (sg.get("refit_check") or {}).get("used"):  # refits score their own simulated outcomes, not those that chose
        return ""
    k = sg.get("batches_scored", 1 + len(sg.get("alternatives", ())))
    return (f"; the best of {k} batches scored on the same simulated outcomes, so this net saving is optimistic"
            if k > 1 else "")


def _net(net: float, se: float) -> str:
    if not np.isfinite(se):
        return f"net {net:+.3g} FLOPs"
    noise = (f", within {NOISE_SE:g} SE of 0: not told apart from Monte Carlo noise (more --worlds would tell)"
             if within_noise(net, se) else "")
    return f"net {net:+.3g} ± {se:.2g} FLOPs{noise}"


def _which_estimate(sg: dict) -> str:
    rc = sg.get("refit_check")
    if not rc:
        return ""
    if rc["used"]:
        return (f"; from real refits ({rc['sims']} simulated outcomes, net {rc['net_flops']:+.3g} ± "
                f"{rc['net_se_flops']:.2g} FLOPs for the first {rc['runs']} pick(s) of "
                f"{'the batch above' if rc['batch'] == 'reported' else 'the greedy batch by ' + RULES[rc['batch']]}), "
                f"the importance weights having collapsed (ESS {rc['ess']:.0f}); reweighting gave "
                f"{rc['reweight_net_flops']:+.3g} FLOPs")
    return ""


def verdict_text(sg: dict) -> str:
    """Stop or go in one sentence (:func:`best_go`, or the refit check): the batch to run, or stop; which
    estimate the verdict used (reweighting or real refits) and the other's value."""
    rc = sg.get("refit_check") or {}
    if sg["verdict"] == "stop":
        if rc.get("used"):
            return "STOP: real refits find no saving over the cost of the batch the reweighting chose" + _which_estimate(sg)
        return "STOP: the current ladder is enough for this decision (no batch scored saves more than it costs)"
    net = _net(sg["best_net_flops"], sg.get("best_net_se_flops", float("nan")))
    if sg["go_batch"] == "reported":
        return f"GO: run the first {sg['go_runs']} pick(s) of the batch above ({net}{_optimism(sg)}{_which_estimate(sg)})"
    alt = next(a for a in sg["alternatives"] if a["rule"] == sg["go_batch"])
    runs = "; ".join(f"N = {p['N']:.3g}, D = {p['D']:.3g}" for p in alt["picks"][:sg["go_runs"]])
    reported = max([0.0] + [st["net_flops"] for st in sg["steps"]])
    return (f"GO: run the first {sg['go_runs']} pick(s) of the greedy batch by {RULES[alt['rule']]} [{runs}] ({net}, "
            f"more than the batch above's best {reported:+.3g}: that batch is chosen for the objective, this verdict "
            f"for the FLOPs saved{_optimism(sg)}{_which_estimate(sg)})")


def refit_check(sg: dict, scores: list[float], now: float, target: float, cost_flops: float, ess: float,
                batch: str, runs: int) -> dict:
    """Replace the verdict by real refits of the first ``runs`` picks of ``batch`` (``"reported"`` or a rule
    name: the verdict's own, or for a STOP the reported batch's best, ``batch="reported"``). ``scores``: the expected wasted compute
    (fraction of C) after those picks in each simulated world, by real warm refits; ``now``: before them;
    ``target``: C in FLOPs; ``cost_flops``: the picks' cost; ``ess``: their importance weights' median ESS.
    The refits' net saving (mean over the worlds, its SE) decides: GO with those picks if it is > 0, else
    STOP. Returns the updates of ``sg`` (``refit_check`` records both estimates)."""
    value = (now - np.asarray(scores, float)) * target
    net, se = float(np.mean(value)) - cost_flops, mc_se(value)
    # what reweighting gave for the same picks (a STOP's check is of the reported batch's best picks)
    reweight = sg["best_net_flops"] if sg["verdict"] == "go" else sg["steps"][runs - 1]["net_flops"]
    check = {"used": True, "sims": len(scores), "net_flops": net, "net_se_flops": se, "runs": runs, "batch": batch,
             "ess": ess, "reweight_net_flops": reweight, "reweight_verdict": sg["verdict"],
             "scores": [float(s) for s in scores]}
    if net > 0:
        return {"refit_check": check, "verdict": "go", "go_batch": batch, "go_runs": runs, "best_net_flops": net,
                "best_net_se_flops": se}
    return {"refit_check": check, "verdict": "stop", "go_batch": None, "go_runs": 0, "best_net_flops": net,
            "best_net_se_flops": se}
