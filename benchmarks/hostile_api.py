"""Hostile-input sweep over the public Python API (a check, not a timed benchmark).

Calls the names of ``bayes_scaling.__all__`` and the result objects' methods in-process on hostile
arguments, one argument at a time from a legal base call: numbers (0, negative, nan, inf, 1e400, text,
None, bool, complex, a list), arrays (empty, 2-d, mismatched lengths, NaN inside, object dtype, text),
probabilities, counts, names, run frames (missing columns, wrong dtypes, empty, duplicated rows, one
distinct N, a non-default index) and fits of the wrong kind; plus legal inputs in unusual types (lists,
NumPy scalars, 0-d arrays, pandas Series, Python ints). Fits are ``fake_fit`` (no sampling) and the
sampler is replaced by a sentinel, so an input that would reach sampling is caught. Each case runs under
a 30 s alarm. Classes: ok (a legal input answered with finite numbers), clear (a ``BayesScalingError``
naming the argument), unnamed (a ``BayesScalingError`` that does not name it), obscure (any other
exception), refused (a legal input refused), silent (an answer from illegal input, or NaN/inf from
legal input), reached (illegal input reached the sampler), hang. Every class but ok and clear misbehaves.

    BAYES_SCALING_DATASETS=/work/shared/datasets .venv/bin/python benchmarks/hostile_api.py [--only SUBSTR] [--json OUT] [-v]
"""
import argparse, collections, json, os, signal, sys, tempfile, time, traceback, warnings

import numpy as np
import pandas as pd
import xarray as xr


class Reached(BaseException): pass
class TimedOut(BaseException): pass


import bayes_scaling.inference.fit as fitmod
import bayes_scaling.inference.batch as batchmod
def _reach(*a, **k): raise Reached()
fitmod.compiled_model = _reach
batchmod._pool_run = _reach
batchmod._dask_run = _reach

import bayes_scaling as bs
from bayes_scaling import BayesScalingError
from bayes_scaling.examples import EXAMPLE
from bayes_scaling.result import EnsembleResult
from bayes_scaling.testing import fake_fit, fake_hierarchical_fit, runs_frame

T = EXAMPLE["truth"]
A = fake_fit(draws=50, seed=1)
B = fake_fit(truth={**T, "beta": 0.30}, runs_truth=T, draws=50, seed=1)
M = fake_fit("sigmoid_metric", {"b": 0.25, "r": 2 / 3, "L0": 2.5, "k": 4.0}, draws=50, sigma=0.02)
H = fake_hierarchical_fit(draws=50)


def _with_se_noise(res):
    """``res`` recorded as fitted with run noise and an SE column: the one kind of fit that takes a new run's
    evaluation SE (``se=`` / ``metric_se=``; any other refuses it as counted twice, checked below)."""
    res.tree.attrs["run_noise"] = json.dumps({"cells": 8, "replicate_cells": 2, "cell_by": ["N", "D"], "se": True})
    return res


ASE = _with_se_noise(fake_fit(draws=50, seed=1))
MSE = _with_se_noise(fake_fit("sigmoid_metric", {"b": 0.25, "r": 2 / 3, "L0": 2.5, "k": 4.0}, draws=50, sigma=0.02))
KNS = fake_fit("kaplan_ns", {"alpha_N": 0.076, "alpha_S": 0.76, "N_c": 6.5e13, "S_c": 2.1e3}, draws=50)
KND = fake_fit("kaplan_nd", {"alpha_N": 0.076, "alpha_D": 0.103, "N_c": 6.4e13, "D_c": 1.8e13}, draws=50)
KC = fake_fit("kaplan_c", {"alpha_C": 0.050, "C_c": 3.1e8}, draws=50)
KD = fake_fit("kaplan_d", {"alpha_D": 0.095, "D_c": 5.4e13}, draws=50)
PX = fake_fit("power_x", {"E": 1.5, "B": 10.0, "c0": 0.3}, draws=50)
BX = fake_fit("bnsl1_x", {"E": 1.5, "B": 10.0, "c0": 0.3, "c1": 0.2, "d1": 30.0, "f1": 0.3}, runs=PX.runs, draws=50)
E = EnsembleResult({"right": A, "other": B}, {"right": 3.0, "other": 1.0}, {"method": "test"})
FRAME = runs_frame()
RUNS = bs.load_runs(FRAME)
RF = A.runs.frame
CAND = bs.candidate_grid(RF.C.to_numpy(), 1e21, budgets=3, per_budget=4)
ISO = RF[["N", "D", "C", "loss"]].reset_index(drop=True)

WRONG_FITS = {"metric fit": M, "ensemble": E, "hierarchical": H, "kaplan_ns fit": KNS, "None": None,
              "a path string": "fit.nc", "a number": 3.0, "a RunTable": RUNS}

# ---- value catalogues: (label, value) -------------------------------------------------------------------
def bad_numbers(base):
    return [("0", 0.0), ("negative", -abs(base)), ("nan", float("nan")), ("inf", float("inf")),
            ("1e400", float("1e400")), ("-inf", float("-inf")), ("string", "abc"),
            ("None", None), ("bool", True), ("complex", complex(base, 1.0)), ("list of two", [base, base]),
            ("dict", {"x": base})]

def legal_numbers(base):
    out = [("numeric string (parsed, as from a file)", repr(float(base))), ("np.float64", np.float64(base)), ("0-d array", np.array(base)), ("np.float32", np.float32(base))]
    if float(base).is_integer() and abs(base) < 2**62:
        out += [("int", int(base)), ("np.int64", np.int64(int(base)))]
    return out

def bad_arrays(base):
    base = float(np.ravel(base)[0])
    return [("empty list", []), ("empty array", np.array([])), ("2-d", [[base], [base * 2]]),
            ("nan inside", [base, float("nan")]), ("inf inside", [base, float("inf")]), ("negative inside", [base, -base]),
            ("zero inside", [base, 0.0]), ("object dtype with text", np.array([base, "x"], dtype=object)),
            ("strings", ["a", "b"]), ("None", None), ("bool list", [True, False]), ("complex array", np.array([base + 1j])),
            ("dict", {"a": base}), ("set", {base})]

def legal_arrays(base):
    base = float(np.ravel(base)[0])
    return [("list", [base, base * 2]), ("tuple", (base, base * 2)), ("array", np.array([base, base * 2])),
            ("pd.Series", pd.Series([base, base * 2])), ("pd.Series with index", pd.Series([base, base * 2], index=[7, 3])),
            ("0-d array", np.array(base)), ("np.float32 array", np.array([base], dtype=np.float32)),
            ("object array of floats", np.array([base, base * 2], dtype=object))] + legal_numbers(base)

BAD_PROBS = [("0", 0.0), ("1", 1.0), ("1.2", 1.2), ("-0.1", -0.1), ("nan", float("nan")), ("string", "high"),
             ("None", None), ("bool", True), ("complex", 0.9 + 0j), ("list", [0.9])]
LEGAL_PROBS = [("numeric string (parsed, as from a file)", "0.8"), ("np.float64", np.float64(0.8)), ("0-d array", np.array(0.8)), ("np.float32", np.float32(0.8))]

def bad_counts(minimum=1):
    out = [("negative", -1), ("float 2.5", 2.5), ("float 3.0", 3.0), ("huge", 10**30), ("string", "3"),
           ("None", None), ("bool", True), ("nan", float("nan")), ("inf", float("inf"))]
    return out + ([("0", 0)] if minimum > 0 else []) + ([("below minimum", minimum - 1)] if minimum > 1 else [])

def legal_counts(base):
    return [("np.int64", np.int64(base)), ("np.int32", np.int32(base))]

BAD_SEEDS = [("negative", -1), ("2^64", 2**64), ("float 1.5", 1.5), ("string", "0"), ("bool", True), ("nan", float("nan"))]
LEGAL_SEEDS = [("np.int64", np.int64(3)), ("np.uint64", np.uint64(3))]
BAD_NAMES = [("unknown", "nosuch"), ("empty string", ""), ("int", 3), ("list", ["x"])]

#: Values of an argument's kind that this argument accepts by design (documented), with the expectation.
LEGAL_HERE = {
    ("FitResult.predict", "se", "0"): "OK",  # se = 0: no evaluation error (the default None means the same)
    ("FitResult.predict", "se", "None"): "OK",
    ("predict_metric", "metric_se", "0"): "OK", ("predict_metric", "metric_se", "None"): "OK",
    ("contradiction_point", "n_e", "list of two"): "OK",  # one path per element (documented)
    ("contradiction_point", "p_n", "list of two"): "OK",
    ("with_chance", "chance", "0"): "OK",  # chance 0: an open-ended task (LAMBADA), a HalfNormal floor prior
    ("compute_for_metric", "budgets", "list of two"): "OK", ("compute_for_metric", "budgets", "None"): "OK",
    ("decide", "max_params", "None"): "OK", ("decide", "max_tokens", "None"): "OK",  # None: no limit
    ("decide", "max_params", "inf"): "OK", ("decide", "max_tokens", "inf"): "OK",  # +inf: no limit, as None
    ("decide", "max_params", "1e400"): "OK", ("decide", "max_tokens", "1e400"): "OK",
    ("decide", "alt_tokens_per_param", "None"): "OK", ("decide", "alternatives", "None"): "OK",
    ("fit", "tune", "None"): "R",  # None: the default tuning
    ("fit_many", "workers", "None"): "R", ("fit_many", "chunk", "None"): "R",
    ("FitResult.save", "path", "unknown"): "OK",  # a file name without a suffix is still a file
    ("simulate_runs", "sigma", "0"): "OK",  # noise-free runs
    ("fit_many", "workers", "huge"): "R", ("fit_many", "chunk", "huge"): "R",  # capped at the number of tables
    ("posterior_objective", "max_draws", "huge"): "OK",  # a cap: the posterior's draws are used when fewer
    ("design_runs", "max_draws", "huge"): "OK", ("design_runs", "batch", "huge"): "OK",  # a cap, as above
}
for _f in ("CostLaw.flops", "CostLaw.tokens", "CostLaw.params_at_ratio", "true_loss"):
    for _a in ("n_params", "tokens", "compute", "tokens_per_param", "N", "D"):
        LEGAL_HERE[(_f, _a, "2-d")] = "A"  # elementwise over arrays of any shape (e.g. chain x draw x point)
#: Unit conversions are elementwise arithmetic: any real numbers pass (NaN stays NaN); only non-numbers fail.
for _f, _a in (("flops_to_pf_days", "flops"), ("pf_days_to_flops", "pf_days")):
    for _lab in ("empty list", "empty array", "2-d", "nan inside", "inf inside", "negative inside", "zero inside"):
        LEGAL_HERE[(_f, _a, _lab)] = "A"
#: Answers that hold inf by design: compute_for_metric's compute is inf where the budgets never reach the
#: target, contradiction_point's C_star where the curves never meet (both documented, with their share).
INF_OK = {"compute_for_metric", "contradiction_point", "prob_reach_metric"}

# ---- the cases ----------------------------------------------------------------------------------------------
CASES = []  # (cls, label, thunk, expect, needles)
def add(cls, label, thunk, expect, needles=()):
    CASES.append((cls, label, thunk, expect, tuple(needles)))

def sweep(name, call, base, arg, kind, basev=None, needles=None, legal=True, extra_bad=(), extra_legal=()):
    """One argument of one call: every bad value of its kind (expect a clear error naming it) and its
    legal unusual types (expect an answer)."""
    needles = needles or (arg,)
    v = basev if basev is not None else base.get(arg)
    bad, good = {"num": (bad_numbers, legal_numbers), "arr": (bad_arrays, legal_arrays),
                 "prob": (lambda _: BAD_PROBS, lambda _: LEGAL_PROBS),
                 "count": (lambda _: bad_counts(v if isinstance(v, int) and v <= 1 else 1), legal_counts),
                 "seed": (lambda _: BAD_SEEDS, lambda _: LEGAL_SEEDS),
                 "name": (lambda _: BAD_NAMES, lambda _: [])}[kind]
    for lab, x in [*bad(v), *extra_bad]:
        add(f"{kind}:{name}", f"{name}({arg}={lab})", (lambda x=x: call(**{**base, arg: x})),
            LEGAL_HERE.get((name, arg, lab), "E"), needles)
    if legal and name != "fit_cost":  # fit_cost needs one value per run: its legal types are below
        for lab, x in [*good(v), *extra_legal]:
            add(f"{kind}:{name}", f"{name}({arg}={lab}) legal", (lambda x=x: call(**{**base, arg: x})),
                "?" if lab.startswith("numeric string") else "OK", needles)


def build():
    # baselines
    add("baseline", "fit(RUNS) reaches the sampler", lambda: bs.fit(RUNS, law="chinchilla", draws=10, tune=10, chains=2), "R")
    # ---- results: predict ----
    for who, res in (("FitResult", A), ("EnsembleResult", E)):
        p = lambda res=res, **k: res.predict(**k)
        base = {"N": 1e9, "D": 2e10, "seed": 0}
        add("baseline", f"{who}.predict", lambda p=p, base=base: p(**base), "OK")
        for arg in ("N", "D"):
            sweep(f"{who}.predict", p, base, arg, "arr", 1e9 if arg == "N" else 2e10)
        sweep(f"{who}.predict", p, {"N": 1e9, "C": 1.2e20, "seed": 0}, "C", "arr", 1.2e20)
        sweep(f"{who}.predict", p, base, "seed", "seed")
        sweep(f"{who}.predict", p, base, "group", "name", "x", legal=False, needles=("group",))
        add(f"arr:{who}.predict", f"{who}.predict(N, D mismatched)", lambda p=p: p(N=[1e9, 2e9], D=[1e10, 2e10, 3e10]), "E", ("N", "D", "values"))
        add(f"arr:{who}.predict", f"{who}.predict(nothing)", lambda p=p: p(), "E", ("N", "D", "C"))
        add(f"arr:{who}.predict", f"{who}.predict(unknown input Z)", lambda p=p: p(N=1e9, D=2e10, Z=3.0), "E", ("Z",))
        add(f"name:{who}.summary", f"{who}.summary()", lambda res=res: res.summary(), "OK")
        sweep(f"{who}.summary", lambda res=res, **k: res.summary(**k), {}, "ci_prob", "prob", 0.9)
    sweep("FitResult.predict", lambda **k: ASE.predict(**k), {"N": 1e9, "D": 2e10, "seed": 0}, "se", "num", 0.01,
          extra_legal=[("None", None)])
    add("num:FitResult.predict", "FitResult.predict(se=0.01) of a fit without run noise",
        lambda: A.predict(N=1e9, D=2e10, se=0.01), "E", ("se", "twice"))
    sweep("FitResult.predict", lambda **k: A.predict(**k), {"N": 1e9, "D": 2e10, "seed": 0}, "covariates", "name",
          {"nosuch": 1.0}, legal=False, extra_bad=[("dict unknown", {"nosuch": 1.0}), ("dict nan", {"width": float("nan")})])
    add("baseline", "hier.predict(group=x)", lambda: H.predict(N=1e9, D=2e10, group="x"), "OK")
    sweep("hier.predict", lambda **k: H.predict(**k), {"N": 1e9, "D": 2e10}, "group", "name", "x", legal=False)
    sweep("FitResult.law_params", lambda **k: A.law_params(**k), {}, "seed", "seed", 0)
    sweep("hier.law_params", lambda **k: H.law_params(**k), {}, "group", "name", "x", legal=False)
    sweep("FitResult.save", lambda **k: A.save(**k), {}, "path", "name", "x.nc", legal=False, needles=("path", "fit file"),
          extra_bad=[("None", None), ("folder", "."), ("missing folder", "nofolder/x.nc")])
    # ---- allocation ----
    cases = {
        "compute_optimal": (bs.compute_optimal, {"result": A, "compute": 1e22}, {"compute": ("arr", ("compute",)),
                            "flops_per_token": ("num", ("flops_per_token", "FLOPs per")), "compute_unit": ("name", ("compute_unit", "unit")),
                            "group": ("name", ("group",))}),
        "frontier_exponents": (bs.frontier_exponents, {"result": A, "compute_min": 1e20, "compute_max": 1e22},
                               {"compute_min": ("num", ("compute_min", "compute")), "compute_max": ("num", ("compute_max", "compute")),
                                "flops_per_token": ("num", ("flops_per_token", "FLOPs per"))}),
        "plan_outcome": (bs.plan_outcome, {"result": A, "compute": 1e22, "n_params": 1e10},
                         {"compute": ("num", ("compute",)), "n_params": ("num", ("n_params", "parameters"))}),
        "decide": (bs.decide, {"result": A, "compute": 1e22}, {"compute": ("num", ("compute",)),
                   "utility": ("name", ("utility",)), "max_params": ("num", ("max_params", "parameters")),
                   "max_tokens": ("num", ("max_tokens", "tokens")), "alt_tokens_per_param": ("num", ("alt_tokens_per_param", "tokens per param", "tokens/param")),
                   "grid": ("count", ("grid",)), "alternatives": ("name", ("alternatives",))}),
        "compute_for_loss": (bs.compute_for_loss, {"result": A, "target_loss": 2.3}, {"target_loss": ("num", ("target loss", "target_loss")),
                             "flops_per_token": ("num", ("flops_per_token", "FLOPs per"))}),
        "prob_reach": (bs.prob_reach, {"result": A, "target_loss": 2.3, "compute": 1e22},
                       {"target_loss": ("num", ("target loss", "target_loss")), "compute": ("num", ("compute",))}),
        "predict_loss": (bs.predict_loss, {"result": A, "N": 1e9, "D": 2e10, "seed": 0}, {"N": ("arr", ("N",)), "D": ("arr", ("D",))}),
        "data_requirement": (bs.data_requirement, {"result": KND, "n_min": 1e8, "n_max": 1e10},
                             {"n_min": ("num", ("n_min",)), "n_max": ("num", ("n_max",)), "delta": ("num", ("delta",)),
                              "points": ("count", ("points",))}),
        "tokens_for_loss": (bs.tokens_for_loss, {"result": KND, "N": 1e9, "target_loss": 2.5},
                            {"N": ("arr", ("N",)), "target_loss": ("num", ("target loss", "target_loss"))}),
        "tokens_to_limit_overfitting": (bs.tokens_to_limit_overfitting, {"result": KND, "N": 1e9},
                                        {"N": ("arr", ("N",)), "delta": ("num", ("delta",))}),
        "efficient_frontier": (bs.efficient_frontier, {"result": KNS, "compute_pf_days": 1.0},
                               {"compute_pf_days": ("arr", ("compute", "PF-days")), "b_star": ("num", ("b_star",)), "alpha_b": ("num", ("alpha_b",))}),
        "efficient_vs_converged": (bs.efficient_vs_converged, {"result": KNS, "compute_pf_days": 1.0},
                                   {"compute_pf_days": ("num", ("compute", "PF-days")), "f": ("num", ("f", "convergence"))}),
        "converged_plan_loss": (bs.converged_plan_loss, {"result": KNS, "compute_pf_days": 1.0},
                                {"compute_pf_days": ("num", ("compute", "PF-days")), "f": ("num", ("f", "convergence"))}),
        "contradiction_point": (bs.contradiction_point, {"fit_c": KC, "fit_d": KD},
                                {"n_e": ("arr", ("n_e",)), "p_n": ("arr", ("p_n",)), "compute_factor": ("num", ("compute_factor",)),
                                 "seed": ("seed", ("seed",))}),
        "group_losses": (bs.group_losses, {"result": H, "compute": 1e21}, {"compute": ("num", ("compute",)),
                         "groups": ("name", ("group",)), "flops_per_token": ("num", ("flops_per_token", "FLOPs per"))}),
        "compute_multiplier": (bs.compute_multiplier, {"result": H, "a": "x", "b": "y", "compute": 1e21},
                               {"compute": ("num", ("compute",)), "a": ("name", ("group", "a")), "b": ("name", ("group", "b"))}),
        "compare_groups": (bs.compare_groups, {"result": H, "compute": 1e21}, {"compute": ("num", ("compute",)),
                           "rope": ("num", ("rope",)), "seed": ("seed", ("seed",)), "groups": ("name", ("group",))}),
        "shape_effect": (bs.shape_effect, {"result": None}, {}),
        "approach2_check": (bs.approach2_check, {"result": A, "n_boot": 50}, {"n_boot": ("count", ("n_boot",)),
                            "seed": ("seed", ("seed",)), "ci_prob": ("prob", ("ci_prob",))}),
        "isoflop_minima": (bs.isoflop_minima, {"frame": ISO, "n_boot": 50}, {"n_boot": ("count", ("n_boot",)),
                           "ci_prob": ("prob", ("ci_prob",))}),
        "predict_metric": (bs.predict_metric, {"loss_fit": A, "metric_fit": MSE, "N": 1e9, "D": 2e10, "seed": 0},
                           {"N": ("arr", ("N",)), "D": ("arr", ("D",)), "metric_se": ("num", ("metric_se",)), "seed": ("seed", ("seed",))}),
        "compute_for_metric": (bs.compute_for_metric, {"loss_fit": A, "metric_fit": M, "target": 0.5},
                               {"target": ("prob", ("target",)), "budgets": ("arr", ("budget",)), "seed": ("seed", ("seed",))}),
        "prob_reach_metric": (bs.prob_reach_metric, {"loss_fit": A, "metric_fit": M, "target": 0.5, "compute": 1e22},
                              {"target": ("prob", ("target",)), "compute": ("num", ("compute",))}),
        "posterior_objective": (bs.posterior_objective, {"result": A, "target_flops": 1e23, "objective": "n_star"},
                                {"target_flops": ("num", ("target_flops", "target")), "objective": ("name", ("objective",)),
                                 "max_draws": ("count", ("max_draws",))}),
        "candidate_grid": (bs.candidate_grid, {"runs_compute": np.geomspace(1e18, 1e21, 16), "budget": 1e21, "budgets": 10},
                           {"runs_compute": ("arr", ("runs_compute", "compute")), "budget": ("num", ("budget",)),
                            "budgets": ("count", ("budgets",)), "per_budget": ("count", ("per_budget",)),
                            "ratios": ("arr", ("ratios", "tokens per param", "tokens/param"))}),
        "design_runs": (bs.design_runs, {"result": A, "target_flops": 1e23, "ladder_budget": 1e21, "n_params": CAND[0],
                                         "tokens": CAND[1], "worlds": 16, "exchange": 0, "max_refits": 0},
                        {"target_flops": ("num", ("target_flops", "target")), "ladder_budget": ("num", ("ladder_budget", "budget")),
                         "batch": ("count", ("batch",)), "worlds": ("count", ("worlds",)), "max_draws": ("count", ("max_draws",)),
                         "min_ess": ("num", ("min_ess",)), "seed": ("seed", ("seed",)), "objective": ("name", ("objective",)),
                         "flops_per_token": ("num", ("flops_per_token", "FLOPs per"))}),
        "extrapolation_report": (bs.extrapolation_report, {"result": A, "query": {"N": np.array([1e9]), "D": np.array([2e10])}},
                                 {"ci_prob": ("prob", ("ci_prob",))}),
        "break_test": (bs.break_test, {"unbroken": PX, "broken": BX}, {"ci_prob": ("prob", ("ci_prob",))}),
        "compare_fits": (bs.compare_fits, {"fits": {"a": A, "b": B}}, {"method": ("name", ("method",))}),
        "summarize": (bs.summarize, {"da": A.posterior["alpha"]}, {"ci_prob": ("prob", ("ci_prob",))}),
        "summary_record": (bs.summary_record, {"da": A.posterior["alpha"]}, {"ci_prob": ("prob", ("ci_prob",))}),
        "prior_draws": (bs.prior_draws, {"spec": bs.load_spec("chinchilla"), "n": 50}, {"n": ("count", ("n", "draws")), "seed": ("seed", ("seed",)),
                        "spec": ("name", ("spec",))}),
        "flops_to_pf_days": (bs.flops_to_pf_days, {"flops": 1e20}, {"flops": ("arr", ("flops", "FLOPs"))}),
        "pf_days_to_flops": (bs.pf_days_to_flops, {"pf_days": 1.0}, {"pf_days": ("arr", ("pf_days", "PF-days"))}),
        "get_law": (bs.get_law, {"name": "chinchilla"}, {"name": ("name", ("law",))}),
        "laws_with": (bs.laws_with, {"capability": "allocation"}, {"capability": ("name", ("capability",))}),
        "load_spec": (bs.load_spec, {"spec": "chinchilla"}, {"spec": ("name", ("spec",))}),
        "get_family": (bs.get_family, {"name": "normal"}, {"name": ("name", ("family",)), "nu": ("num", ("nu",))}),
        "with_chance": (bs.with_chance, {"spec": bs.load_spec("sigmoid_metric"), "chance": 0.25},
                        {"chance": ("prob", ("chance",)), "rel_sd": ("num", ("rel_sd",))}),
        "simulate_runs": (bs.simulate_runs, {"law_name": "chinchilla", "truth": T, "design": bs.isoflop_design([1e19, 1e20], [20.0, 40.0])},
                          {"sigma": ("num", ("sigma",)), "nu": ("num", ("nu",)), "seed": ("seed", ("seed",)),
                           "family": ("name", ("family",)), "law_name": ("name", ("law",))}),
        "isoflop_design": (bs.isoflop_design, {"budgets_flops": [1e19, 1e20], "tokens_per_param": [20.0, 40.0]},
                           {"budgets_flops": ("arr", ("budgets_flops", "budget")), "tokens_per_param": ("arr", ("tokens_per_param", "tokens per param", "tokens/param"))}),
        "true_loss": (bs.true_loss, {"law_name": "chinchilla", "truth": T, "N": 1e9, "D": 2e10},
                      {"N": ("arr", ("N",)), "D": ("arr", ("D",)), "law_name": ("name", ("law",))}),
        "fit_cost": (lambda **k: bs.fit_cost(**k), {"n_params": RF.N.to_numpy(), "tokens": RF.D.to_numpy(), "compute": 6.1 * RF.N.to_numpy() * RF.D.to_numpy()},
                     {"n_params": ("arr", ("n_params", "parameters")), "tokens": ("arr", ("tokens",)), "compute": ("arr", ("compute",))}),
        "stacking_weights": (bs.stacking_weights, {"lpd": np.random.default_rng(0).normal(size=(16, 2))},
                             {"prior_alpha": ("num", ("prior_alpha",))}),
        "split_runs": (bs.split_runs, {"runs": RUNS, "law": "chinchilla", "holdout_fraction": 0.25},
                       {"holdout_fraction": ("prob", ("holdout_fraction",)), "law": ("name", ("law",))}),
        "split_runs above": (bs.split_runs, {"runs": RUNS, "law": "chinchilla", "holdout_above": 1e20},
                             {"holdout_above": ("num", ("holdout_above",))}),
    }
    for name, (fn, base, args) in cases.items():
        if name == "shape_effect":
            continue
        add("baseline", name, (lambda fn=fn, base=base: fn(**base)), "OK")
        for arg, (kind, needles) in args.items():
            basev = base.get(arg)
            if basev is None:
                basev = {"max_params": 1e11, "max_tokens": 1e12, "alt_tokens_per_param": 20.0, "delta": 0.02,
                         "points": 25, "b_star": 2.1e8, "alpha_b": 0.21, "f": 0.02, "n_e": 1.3e9, "p_n": 0.73,
                         "compute_factor": 2.0, "seed": 0, "rope": 0.01, "n_boot": 50, "ci_prob": 0.9,
                         "metric_se": 0.01, "budgets": 1e22, "max_draws": 800, "batch": 4, "min_ess": 50.0,
                         "per_budget": 10, "grid": 801, "nu": 4.0, "sigma": 0.01, "rel_sd": 0.1, "prior_alpha": 2.0,
                         "flops_per_token": 6.0, "ratios": 0.04, "group": "x", "groups": "x", "compute_unit": "flops",
                         "utility": "mean", "alternatives": {"x": 1e9}, "objective": "n_star", "method": "stacking",
                         "family": "student_t"}.get(arg, 1.0)
            if kind == "name":
                extra = [("dict bad", {"x": float("nan")})] if arg == "alternatives" else []
                legal_nonname = arg in ("groups",)
                sweep(name, lambda fn=fn, **k: fn(**k), base, arg, kind, basev, needles=needles, legal=False, extra_bad=extra)
            elif arg == "ratios":  # a (LO, HI) pair
                sweep(name, lambda fn=fn, **k: fn(**k), base, arg, "num", basev, needles=needles, legal=False,
                      extra_bad=[("reversed pair", (340.0, 0.04)), ("three values", (0.04, 1.0, 340.0))],)
                for lab, v in (("list", [0.04, 340.0]), ("array", np.array([0.04, 340.0])), ("pd.Series", pd.Series([0.04, 340.0]))):
                    add(f"arr:{name}", f"{name}(ratios={lab}) legal", (lambda fn=fn, v=v, base=base: fn(**{**base, "ratios": v})), "OK")
            elif kind == "arr" and arg in ("n_e", "p_n", "budgets"):
                sweep(name, lambda fn=fn, **k: fn(**k), base, arg, "num", basev, needles=needles)
            else:
                sweep(name, lambda fn=fn, **k: fn(**k), base, arg, kind, basev, needles=needles)
        # fits of the wrong kind for the first argument
        first = next(iter(base))
        if first in ("result", "loss_fit", "metric_fit", "fit_c", "fit_d", "unbroken", "broken") and name != "shape_effect":
            for lab, w in WRONG_FITS.items():
                if w is base[first]:
                    continue
                legal_kind = lab in ("ensemble", "hierarchical") or (lab == "kaplan_ns fit" and name == "extrapolation_report")
                expect = "?" if legal_kind and name in (
                    "predict_loss", "compute_optimal", "frontier_exponents", "plan_outcome", "decide", "compute_for_loss",
                    "prob_reach", "extrapolation_report", "posterior_objective", "design_runs", "approach2_check",
                    "data_requirement", "tokens_for_loss", "tokens_to_limit_overfitting",
                    "predict_metric", "compute_for_metric", "prob_reach_metric") else "E"
                add(f"fit:{name}", f"{name}({first}={lab})", (lambda fn=fn, base=base, w=w, first=first: fn(**{**base, first: w})),
                    expect, (first, "fit", "law", "result", "ensemble"))
    for lab, v in bad_arrays(1e8)[:9]:
        add("arr:design_runs", f"design_runs(n_params={lab})", (lambda v=v: bs.design_runs(A, 1e23, 1e21, v, CAND[1], worlds=16, exchange=0, max_refits=0)), "E", ("n_params", "candidate"))
    add("arr:design_runs", "design_runs(n_params, tokens of other lengths)", lambda: bs.design_runs(A, 1e23, 1e21, CAND[0], CAND[1][:3], worlds=16, exchange=0, max_refits=0), "E", ("n_params", "candidate"))
    for lab, conv in (("lists", list), ("pd.Series", pd.Series), ("tuples", tuple)):
        add("arr:fit_cost", f"fit_cost({lab}) legal", (lambda conv=conv: bs.fit_cost(conv(RF.N.to_numpy()), conv(RF.D.to_numpy()),
            conv(6.1 * RF.N.to_numpy() * RF.D.to_numpy()))), "OK")
    add("fit:shape_effect", "shape_effect(result=chinchilla without covariates)", lambda: bs.shape_effect(A), "E", ("covariate", "shape"))
    add("fit:compare_groups", "compare_groups(non-hierarchical)", lambda: bs.compare_groups(A, compute=1e21), "E", ("group", "hierarch"))
    add("fit:compare_fits", "compare_fits(one fit)", lambda: bs.compare_fits({"a": A}), "E", ("fits", "two"))
    add("fit:compare_fits", "compare_fits(list)", lambda: bs.compare_fits([A, B]), "E", ("fits",))
    add("fit:compare_fits", "compare_fits(other runs)", lambda: bs.compare_fits({"a": A, "b": fake_fit(draws=50, seed=2)}), "E", ("runs",))
    add("fit:compare_fits", "compare_fits(metric)", lambda: bs.compare_fits({"a": A, "b": M}), "E", ("runs", "fit", "metric"))
    add("fit:compare_fits", "compare_fits(ensemble)", lambda: bs.compare_fits({"a": A, "b": E}), "E", ("fit", "ensemble"))
    add("fit:predict_metric", "predict_metric(swapped)", lambda: bs.predict_metric(M, A, N=1e9, D=2e10), "E", ("metric", "loss"))
    add("fit:predict_metric", "predict_metric(loss, loss)", lambda: bs.predict_metric(A, A, N=1e9, D=2e10), "E", ("metric",))
    add("fit:fit_counterpart", "fit_counterpart(metric)", lambda: bs.fit_counterpart(M, draws=10, tune=10), "E", ("counterpart", "law"))
    add("fit:fit_counterpart", "fit_counterpart(None)", lambda: bs.fit_counterpart(None), "E", ("result", "fit"))
    add("fit:path_from_frontier", "path_from_frontier(chinchilla)", lambda: bs.path_from_frontier(A), "E", ("kaplan_ns",))
    add("fit:path_from_frontier", "path_from_frontier(None)", lambda: bs.path_from_frontier(None), "E", ("kaplan_ns", "fit"))
    add("fit:load_fit", "load_fit(missing)", lambda: bs.load_fit("nosuch.nc"), "E", ("FIT", "nosuch"))
    add("fit:load_fit", "load_fit(None)", lambda: bs.load_fit(None), "E", ("FIT", "path"))
    add("fit:load_fit", "load_fit(3)", lambda: bs.load_fit(3), "E", ("FIT", "path"))
    sweep("prob_before", lambda **k: bs.prob_before(**k), {"point": bs.contradiction_point(KC, KD), "budget_pf_days": 1e4},
          "budget_pf_days", "num", 1e4, needles=("budget", "PF-days"))
    add("fit:prob_before", "prob_before(point=dict)", lambda: bs.prob_before({}, 1e4), "E", ("point",))
    # ---- runs tables ----
    for lab, frame, expect in frames():
        add("frame:load_runs", f"load_runs({lab})", (lambda frame=frame: bs.load_runs(frame)), expect, ("column", "loss", "params", "tokens", "runs", "source", "N", "D"))
    for arg in ("params_col", "tokens_col", "loss_col"):
        for lab, v in (("missing column", "nosuch"), ("int", 3), ("empty", "")):
            add("name:load_runs", f"load_runs({arg}={lab})", (lambda arg=arg, v=v: bs.load_runs(FRAME, **{arg: v})), "E", (arg, str(v), "column"))
    for arg, vals in (("params_kind", ["nosuch", "", None]), ("compute_unit", ["nosuch", "", None]),
                      ("loss_unit", ["nosuch", ""]), ("group_cols", ["nosuch", ["nosuch"], [3]]), ("seed_col", ["nosuch", ""])):
        for v in vals:
            add("name:load_runs", f"load_runs({arg}={v!r})", (lambda arg=arg, v=v: bs.load_runs(FRAME, **{arg: v})), "E",
                (arg, "unit", "column", "kind", str(v)) if v else (arg, arg.replace("_col", " column").replace("_", " ")))
    add("name:load_runs", "load_runs(source=None)", lambda: bs.load_runs(None), "E", ("source", "runs"))
    add("name:load_runs", "load_runs(source=3)", lambda: bs.load_runs(3), "E", ("source", "runs"))
    add("name:load_runs", "load_runs(source=missing path)", lambda: bs.load_runs("nosuch.csv"), "E", ("nosuch", "runs"))
    add("name:load_runs", "load_runs(source=dict)", lambda: bs.load_runs({"params": [1e9], "tokens": [2e10], "loss": [3.0]}), "E", ("source", "runs", "DataFrame"))
    add("name:load_runs", "load_runs(source=list)", lambda: bs.load_runs([1, 2, 3]), "E", ("source", "runs", "DataFrame"))
    # ---- fit / fit_ensemble / fit_many / backtest (sampler is a sentinel) ----
    fb = {"runs": RUNS, "law": "chinchilla", "draws": 10, "tune": 10, "chains": 2}
    fcall = lambda **k: bs.fit(**k)
    for arg in ("draws", "chains"):
        sweep("fit", fcall, fb, arg, "count", 10 if arg == "draws" else 2, legal=False)
    for lab, v in bad_counts(0):
        add("count:fit", f"fit(tune={lab})", (lambda v=v: bs.fit(**{**fb, "tune": v})), LEGAL_HERE.get(("fit", "tune", lab), "E"), ("tune",))
    sweep("fit", fcall, fb, "seed", "seed", 0, legal=False)
    sweep("fit", fcall, fb, "law", "name", "chinchilla", legal=False, needles=("law",))
    for lab, v in (("unknown", "nosuch"), ("empty", ""), ("int", 3)):
        add("name:fit", f"fit(spec={lab})", (lambda v=v: bs.fit(RUNS, spec=v, draws=10, tune=10, chains=2)), "E", ("spec", "nosuch"))
    for lab, v in (("0", 0.0), ("1", 1.0), ("1.5", 1.5), ("nan", float("nan")), ("string", "high"), ("bool", True)):
        add("prob:fit", f"fit(target_accept={lab})", (lambda v=v: bs.fit(**{**fb, "target_accept": v})), "E", ("target_accept",))
    for lab, v in (("unknown", ["nosuch"]), ("string", "A"), ("int", 3)):
        add("name:fit", f"fit(vary={lab})", (lambda v=v: bs.fit(**{**fb, "vary": v})), "E", ("vary", "group", "nosuch"))
    for lab, v in (("unknown", "nosuch"), ("int", 3)):
        add("name:fit", f"fit(group_col={lab})", (lambda v=v: bs.fit(**{**fb, "group_col": v})), "E", ("group_col", "group", "nosuch"))
    for lab, v in (("path string missing", "nosuch.csv"), ("None", None), ("list", [1, 2]), ("FitResult", A)):
        add("frame:fit", f"fit(runs={lab})", (lambda v=v: bs.fit(v, law="chinchilla", draws=10, tune=10, chains=2)), "E", ("runs", "RunTable"))
    add("frame:fit", "fit(metric law on loss runs)", lambda: bs.fit(RUNS, law="sigmoid_metric", draws=10, tune=10, chains=2), "E", ("L", "metric", "predictor", "loss"))
    add("frame:fit", "fit(one distinct N)", lambda: bs.fit(bs.load_runs(FRAME.assign(params=1e8)), law="chinchilla", draws=10, tune=10, chains=2), "E", ("N", "param", "size"))
    eb = {"runs": RUNS, "laws": ["chinchilla", "chinchilla_tied"], "draws": 10, "tune": 10, "chains": 2, "method": "equal"}
    ecall = lambda **k: bs.fit_ensemble(**k)
    for arg in ("draws", "chains", "inner_draws"):
        sweep("fit_ensemble", ecall, eb, arg, "count", 10 if arg == "draws" else 2, legal=False)
    sweep("fit_ensemble", ecall, eb, "seed", "seed", 0, legal=False)
    sweep("fit_ensemble", ecall, eb, "prior_alpha", "num", 2.0, legal=False)
    for lab, v in (("unknown", ["chinchilla", "nosuch"]), ("empty", []), ("string", "chinchilla"),
                   ("duplicates", ["chinchilla", "chinchilla"]), ("int", 3), ("metric law", ["chinchilla", "sigmoid_metric"])):
        add("name:fit_ensemble", f"fit_ensemble(laws={lab})", (lambda v=v: bs.fit_ensemble(**{**eb, "laws": v})), "E", ("laws", "law"))
    for lab, v in (("unknown", "nosuch"), ("empty", ""), ("int", 3)):
        add("name:fit_ensemble", f"fit_ensemble(method={lab})", (lambda v=v: bs.fit_ensemble(**{**eb, "method": v})), "E", ("method",))
    for lab, v in (("negative", (-0.5, 1.0)), ("nan", (float("nan"),)), ("string", "abc"), ("zero", (0.0,))):
        add("arr:fit_ensemble", f"fit_ensemble(cut_decades={lab})", (lambda v=v: bs.fit_ensemble(**{**eb, "method": "lfo", "cut_decades": v})), "E", ("cut_decades", "decades"))
    add("frame:fit_ensemble", "fit_ensemble(runs=DataFrame) legal", lambda: bs.fit_ensemble(**{**eb, "runs": FRAME}), "R")
    add("arr:fit_ensemble", "fit_ensemble(cut_decades=one number) legal", lambda: bs.fit_ensemble(**{**eb, "method": "lfo", "cut_decades": 0.5}), "R")
    for lab, v in (("None", None), ("FitResult", A)):
        add("frame:fit_ensemble", f"fit_ensemble(runs={lab})", (lambda v=v: bs.fit_ensemble(**{**eb, "runs": v})), "E", ("runs", "RunTable"))
    bb = {"runs": RUNS, "law": "chinchilla", "holdout_fraction": 0.25, "draws": 10, "tune": 10, "chains": 2, "n_boot": 10}
    bcall = lambda **k: bs.backtest(**k)
    for arg in ("draws", "chains", "n_boot"):
        sweep("backtest", bcall, bb, arg, "count", bb[arg], legal=False)
    sweep("backtest", bcall, bb, "holdout_fraction", "prob", 0.25, legal=False)
    sweep("backtest", bcall, {**bb, "holdout_fraction": None}, "holdout_above", "num", 1e20, legal=False)
    sweep("backtest", bcall, bb, "seed", "seed", 0, legal=False)
    add("frame:backtest", "backtest(runs=DataFrame)", lambda: bs.backtest(**{**bb, "runs": FRAME}), "E", ("runs", "RunTable"))
    add("frame:backtest", "backtest(both holdouts)", lambda: bs.backtest(**{**bb, "holdout_above": 1e20}), "E", ("holdout",))
    mb = {"tables": {"a": RUNS, "b": RUNS}, "law": "chinchilla", "workers": 1, "draws": 10, "tune": 10, "chains": 2}
    mcall = lambda **k: bs.fit_many(**k)
    sweep("fit_many", mcall, mb, "workers", "count", 1, legal=False)
    sweep("fit_many", mcall, mb, "chunk", "count", 1, legal=False)
    for lab, v in (("empty", {}), ("list", [RUNS]), ("DataFrame values", {"a": FRAME}), ("None", None)):
        add("frame:fit_many", f"fit_many(tables={lab})", (lambda v=v: bs.fit_many(**{**mb, "tables": v})), "E", ("tables", "RunTable", "table"))
    add("name:fit_ensemble", "fit_ensemble(laws=one law) legal", lambda: bs.fit_ensemble(**{**eb, "laws": ["chinchilla"]}), "R")
    add("name:fit_many", "fit_many(out=for one table) legal", lambda: bs.fit_many(**{**mb, "out": {"a": "a.nc"}}), "R")
    add("frame:fit", "fit(runs=DataFrame) legal", lambda: bs.fit(FRAME, law="chinchilla", draws=10, tune=10, chains=2), "R")
    for lab, v in (("missing folder", {"a": "nofolder/a.nc", "b": "b.nc"}), ("list", ["a.nc"]), ("folder", {"a": "."})):
        add("name:fit_many", f"fit_many(out={lab})", (lambda v=v: bs.fit_many(**{**mb, "out": v})), "E", ("out",))
    # design / counterpart / refit_expected counts (sampling ones refuse before sampling)
    for arg in ("sims", "draws", "chains"):
        for lab, v in bad_counts(1):
            add(f"count:refit_expected", f"refit_expected({arg}={lab})", (lambda arg=arg, v=v: bs.refit_expected(
                A, 1e9, 2e10, lambda r: 0.0, **{arg: v})), "E", (arg,))
    for arg in ("n_breaks", "draws"):
        for lab, v in bad_counts(1):
            add(f"count:fit_counterpart", f"fit_counterpart({arg}={lab})", (lambda arg=arg, v=v: bs.fit_counterpart(
                A, **{arg: v})), "E", (arg,))
    # EnsembleResult constructor
    for lab, members, weights in (("empty", {}, {}), ("weights mismatch", {"a": A, "b": B}, {"a": 1.0}),
                                  ("negative weight", {"a": A, "b": B}, {"a": -1.0, "b": 2.0}),
                                  ("nan weight", {"a": A, "b": B}, {"a": float("nan"), "b": 1.0}),
                                  ("zero weights", {"a": A, "b": B}, {"a": 0.0, "b": 0.0}),
                                  ("member not a fit", {"a": A, "b": "x"}, {"a": 1.0, "b": 1.0}),
                                  ("metric with loss", {"a": A, "b": M}, {"a": 1.0, "b": 1.0})):
        add("fit:EnsembleResult", f"EnsembleResult({lab})", (lambda m=members, w=weights: EnsembleResult(m, w, {"method": "test"})), "E", ("weight", "member", "fit", "ensemble"))
    # CostLaw / PriorLadder
    add("baseline", "CostLaw.flops", lambda: bs.CostLaw().flops(1e9, 2e10), "OK")
    for meth, kw in (("flops", {"n_params": 1e9, "tokens": 2e10}), ("tokens", {"compute": 1e21, "n_params": 1e9}),
                     ("params_at_ratio", {"compute": 1e21, "tokens_per_param": 20.0})):
        for arg in kw:
            sweep(f"CostLaw.{meth}", (lambda meth=meth, **k: getattr(bs.CostLaw(), meth)(**k)), kw, arg, "arr", kw[arg],
                  needles=(arg, "compute", "param", "token", "FLOPs"))


def frames():
    f = FRAME
    def setv(c, v):
        g = f.copy(); g[c] = g[c].astype(object); g.loc[0, c] = v; return g
    yield "legal DataFrame", f, "OK"
    yield "non-default index", f.set_index(pd.Index(np.arange(100, 116))), "OK"
    yield "string index", f.set_axis([f"r{i}" for i in range(len(f))]), "OK"
    yield "shuffled index", f.sample(frac=1.0, random_state=0), "OK"
    yield "float32 columns", f.astype({"params": np.float32, "tokens": np.float32, "loss": np.float32}), "OK"
    yield "int columns", f.astype({"params": np.int64, "tokens": np.int64}), "OK"
    yield "duplicated rows", pd.concat([f, f]), "?"
    yield "duplicated index", pd.concat([f, f]).reset_index(drop=True).set_axis([0] * 32), "?"
    yield "empty", f.iloc[:0], "E"
    yield "no columns", pd.DataFrame(), "E"
    yield "missing loss", f.drop(columns="loss"), "E"
    yield "missing params (N from C = 6ND)", f.drop(columns="params"), "?"
    yield "missing params and compute (a law of D alone can use it)", f.drop(columns=["params", "compute"]), "?"
    yield "one row (a fit needs more; loading is legal)", f.head(1), "?"
    yield "nan loss", setv("loss", np.nan), "E"
    yield "inf loss", setv("loss", np.inf), "E"
    yield "negative loss", setv("loss", -1.0), "E"
    yield "string loss", setv("loss", "n/a"), "E"
    yield "string params", setv("params", "big"), "E"
    yield "negative params", setv("params", -5e8), "E"
    yield "zero tokens", setv("tokens", 0), "E"
    yield "None params", setv("params", None), "E"
    yield "bool loss column", f.assign(loss=True), "E"
    yield "complex loss", f.assign(loss=f.loss + 1j), "E"
    yield "datetime params", f.assign(params=pd.Timestamp("2020-01-01")), "E"
    yield "duplicated column names", f.set_axis(["params", "params", *f.columns[2:]], axis=1), "E"
    yield "MultiIndex columns", f.set_axis(pd.MultiIndex.from_tuples([(c, "x") for c in f.columns]), axis=1), "E"


# ---- running and judging -------------------------------------------------------------------------------------
def nonfinite(x, depth=0, inf_ok=False) -> bool:
    """True if an answer holds NaN (or, unless ``inf_ok``, inf) where a number is reported (object fields
    and strings skipped)."""
    bad = (lambda a: np.isnan(a).any()) if inf_ok else (lambda a: not np.isfinite(a).all())
    if depth > 4:
        return False
    if isinstance(x, xr.Dataset):
        return any(nonfinite(x[v], depth + 1, inf_ok) for v in x.data_vars)
    if isinstance(x, xr.DataArray):
        return x.dtype.kind == "f" and bool(bad(x.values))
    if isinstance(x, pd.DataFrame):  # ArviZ's compare leaves p_worse of the best fit NaN: "not applicable"
        num = x.drop(columns=["p_worse"], errors="ignore").select_dtypes("number")
        return bool(bad(num.to_numpy(dtype=float))) if num.size else False
    if isinstance(x, (float, np.floating)):
        return bool(bad(np.asarray(x)))
    if isinstance(x, np.ndarray):
        return x.dtype.kind == "f" and bool(bad(x))
    if isinstance(x, dict):
        return any(nonfinite(v, depth + 1, inf_ok) for v in x.values())
    if isinstance(x, (list, tuple)):
        return any(nonfinite(v, depth + 1, inf_ok) for v in x[:50])
    return False


def _alarm(signum, frame): raise TimedOut()


def run(case, timeout=30):
    cls, label, thunk, expect, needles = case
    signal.signal(signal.SIGALRM, _alarm); signal.alarm(timeout)
    t0 = time.time()
    out = exc = None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out = thunk()
    except BaseException as e:  # noqa: BLE001 (we classify everything, including our sentinels)
        exc = e
    finally:
        signal.alarm(0)
    dt = time.time() - t0
    if isinstance(exc, TimedOut):
        return "hang", "no answer in 30 s", dt
    if isinstance(exc, KeyboardInterrupt):
        raise exc
    inf_ok = label.split("(")[0] in INF_OK
    if expect == "A" and (exc is None or isinstance(exc, BayesScalingError)):
        return "ok", "any answer (elementwise)" if exc is None else str(exc)[:200], dt
    if expect == "?" and exc is None:
        return ("silent", "NaN or inf in the answer", dt) if nonfinite(out, inf_ok=inf_ok) else ("ok", "", dt)
    if isinstance(exc, Reached):
        return ("ok", "reached the sampler", dt) if expect in ("R", "?") else ("reached", "illegal input reached the sampler", dt)
    if exc is not None:
        msg = str(exc).splitlines()[0][:300] if str(exc) else ""
        if isinstance(exc, BayesScalingError):
            if expect == "OK":
                return "refused", msg, dt
            if "\n" in str(exc).strip():
                return "unnamed", "multi-line: " + msg, dt
            named = any(n.lower() in str(exc).lower() for n in needles) or (exc.quantity or "\0") in needles
            if expect == "E" and needles and not named:
                return "unnamed", msg, dt
            return "clear", msg, dt
        tb = traceback.extract_tb(exc.__traceback__)[-1]
        return "obscure", f"{type(exc).__name__}: {msg} [{tb.filename.split('site-packages/')[-1]}:{tb.lineno}]", dt
    if expect == "E":
        return "silent", f"answered illegal input: {type(out).__name__}", dt
    if expect == "R":
        return "silent", "did not reach the sampler", dt
    if nonfinite(out, inf_ok=inf_ok):
        return "silent", "NaN or inf in the answer", dt
    return "ok", "", dt


BAD = {"unnamed", "obscure", "refused", "silent", "reached", "hang"}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", help="run only cases whose class or label contains this")
    ap.add_argument("--json", help="write every case's verdict here")
    ap.add_argument("-v", "--verbose", action="store_true", help="print every misbehaving case")
    a = ap.parse_args(argv)
    out = os.path.abspath(a.json) if a.json else None
    build()
    cases = [c for c in CASES if not a.only or a.only in c[0] or a.only in c[1]]
    rows, t0 = [], time.time()
    home = os.getcwd()
    for case in cases:
        with tempfile.TemporaryDirectory() as scratch:  # a case that legally writes (e.g. a save) writes here
            os.chdir(scratch)
            try:
                verdict, detail, dt = run(case)
            finally:
                os.chdir(home)
        rows.append({"class": case[0], "case": case[1], "expect": case[3], "verdict": verdict, "detail": detail,
                     "seconds": round(dt, 3)})
        if a.verbose and verdict in BAD:
            print(f"{verdict:8s} {case[1]}: {detail}", flush=True)
    by = collections.Counter(r["verdict"] for r in rows)
    bad = [r for r in rows if r["verdict"] in BAD]
    print(f"{len(rows)} cases in {time.time() - t0:.0f} s: " + ", ".join(f"{k} {v}" for k, v in sorted(by.items())))
    print(f"misbehaving: {len(bad)}")
    for r in bad[:400]:
        print(f"  {r['verdict']:8s} {r['case']}: {r['detail']}")
    if out:
        with open(out, "w") as fh:
            json.dump({"cases": len(rows), "by_verdict": dict(by), "misbehaving": len(bad), "rows": rows}, fh, indent=1)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
