"""Hostile-input sweep over every CLI sub-command (a check, not a timed benchmark).

Runs ``bayes_scaling.cli.main`` in-process on ~1,200 hostile inputs: damaged paths (missing, a folder,
empty, binary, a fit of the wrong kind), numbers (0, negative, nan, inf, 1e400, words), probabilities,
lists, damaged run tables (NaN, negative, one distinct N, units off by 1e6/1e9), outputs in missing or
read-only folders, conflicting flags. The sampler is replaced by a sentinel, so an input that reaches
sampling is caught. Fits are ``fake_fit`` (no sampling). Each case runs in an empty folder with its own
TMPDIR, under a 30 s alarm and an 8 GiB address-space cap. Expected: exit 2 with exactly one ``error:``
line naming the flag (or quantity), no traceback, nothing written and no temp file left; legal inputs
exit 0 (implausible units with a one-line ``warning:``).

    BAYES_SCALING_DATASETS=../shared/datasets .venv/bin/python benchmarks/hostile_sweep.py [--only SUBSTR] [--json OUT]
"""
import argparse, io, os, sys, json, shutil, signal, tempfile, contextlib, traceback, collections
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

ROOT = Path(tempfile.mkdtemp(prefix="hostile_sweep_"))
F = str(ROOT / "in")

class Reached(BaseException): pass
class TimedOut(BaseException): pass

import resource
resource.setrlimit(resource.RLIMIT_AS, (8 * 2**30, 8 * 2**30))
import bayes_scaling.inference.fit as fitmod
import bayes_scaling.inference.batch as batchmod
def _reach(*a, **k): raise Reached()
fitmod.compiled_model = _reach
batchmod._pool_run = _reach
batchmod._dask_run = _reach
from bayes_scaling.cli import main
from bayes_scaling.examples import EXAMPLE
from bayes_scaling.result import EnsembleResult
from bayes_scaling.testing import fake_fit, fake_hierarchical_fit, runs_frame

def build_inputs(D: Path) -> None:
    """The sweep's input files: fake fits (no sampling), damaged tables, specs and candidates."""
    D.mkdir(parents=True)
    T = EXAMPLE["truth"]
    a = fake_fit(seed=1, draws=50); a.save(D / "fit.nc")
    b = fake_fit(truth={**T, "beta": 0.30}, runs_truth=T, seed=1, draws=50); b.save(D / "fit_b.nc")
    fake_fit(seed=2, draws=50).save(D / "fit_other_runs.nc")  # the same law on other runs (compare-laws refuses)
    EnsembleResult({"right": a, "other": b}, {"right": 3.0, "other": 1.0}, {"method": "test"}).save(D / "ens.nc")
    fake_fit("sigmoid_metric", {"b": 0.25, "r": 2 / 3, "L0": 2.5, "k": 4.0}, draws=50, sigma=0.02).save(D / "metric.nc")
    fake_hierarchical_fit(draws=50).save(D / "hier.nc")
    fake_fit("kaplan_ns", {"alpha_N": 0.076, "alpha_S": 0.76, "N_c": 6.5e13, "S_c": 2.1e3}, draws=50).save(D / "kns.nc")
    xr.Dataset({"x": ("i", np.arange(3.0))}).to_netcdf(D / "notfit.nc")
    (D / "garbage.nc").write_bytes(b"\x89HDF\r\n\x1a\n" + os.urandom(200))
    (D / "empty.nc").write_bytes(b"")
    f = runs_frame(); f.to_csv(D / "runs.csv", index=False)
    f.to_parquet(D / "runs.parquet")
    (D / "empty.csv").write_text("")
    (D / "header.csv").write_text(",".join(f.columns) + "\n")
    (D / "latin1.csv").write_bytes(f.to_csv(index=False).encode() .replace(b"params", b"par\xe9ms\xff"))
    (D / "binary.csv").write_bytes(os.urandom(500))
    def w(name, g): g(f.copy()).to_csv(D / name, index=False)
    def setcol(c, v, i=0):
        def g(x): x[c] = x[c].astype(object); x.loc[i, c] = v; return x
        return g
    w("nan_loss.csv", setcol("loss", np.nan)); w("inf_loss.csv", setcol("loss", np.inf))
    w("neg_loss.csv", setcol("loss", -1.0)); w("zero_loss.csv", setcol("loss", 0.0))
    w("nan_params.csv", setcol("params", np.nan)); w("neg_params.csv", setcol("params", -5e8))
    w("zero_tokens.csv", setcol("tokens", 0)); w("inf_tokens.csv", setcol("tokens", np.inf))
    w("str_params.csv", setcol("params", "big")); w("str_loss.csv", setcol("loss", "n/a"))
    w("one_n.csv", lambda x: x.assign(params=1e8))
    w("dup_rows.csv", lambda x: pd.concat([x, x], ignore_index=True))
    w("no_loss.csv", lambda x: x.drop(columns="loss")); w("no_tokens.csv", lambda x: x.drop(columns="tokens"))
    w("one_row.csv", lambda x: x.head(1)); w("two_rows.csv", lambda x: x.head(2))
    w("params_millions.csv", lambda x: x.assign(params=x.params / 1e6))
    w("tokens_billions.csv", lambda x: x.assign(tokens=x.tokens / 1e9))
    w("loss_bits_x1e6.csv", lambda x: x.assign(loss=x.loss * 1e6))
    w("dup_colnames.csv", lambda x: x.set_axis(["params"] * 1 + list(x.columns[1:]), axis=1).rename(columns={"tokens": "params"}))
    w("curves.csv", lambda x: x.assign(curve=["a", "b"] * 8, arch=["x", "y"] * 8, seedc=[1, 2] * 8, width=[512.0] * 16, depth=[8.0] * 16, cov=np.arange(16.0)))
    w("curves_nan_by.csv", lambda x: x.assign(curve=["a", None] * 8))
    w("curves_one.csv", lambda x: x.assign(curve=["a"] * 15 + ["b"]))
    w("neg_width.csv", lambda x: x.assign(width=[-512.0] * 16, depth=[8.0] * 16))
    w("zero_depth.csv", lambda x: x.assign(width=[512.0] * 16, depth=[0.0] * 16))
    w("str_cov.csv", lambda x: x.assign(cov=["a"] * 16))
    w("nan_cov.csv", lambda x: x.assign(cov=[np.nan] + [1.0] * 15))
    w("seed_nan.csv", lambda x: x.assign(seedc=[np.nan] + [1] * 15))
    # candidates
    pd.DataFrame({"params": [1e8, 2e8], "tokens": [2e9, 4e9]}).to_csv(D / "cand.csv", index=False)
    pd.DataFrame({"params": [1e8, -2e8], "tokens": [2e9, 4e9]}).to_csv(D / "cand_neg.csv", index=False)
    pd.DataFrame({"params": [1e8, np.nan], "tokens": [2e9, 4e9]}).to_csv(D / "cand_nan.csv", index=False)
    pd.DataFrame({"params": [1e8, 1e8], "tokens": [2e9, 2e9]}).to_csv(D / "cand_dup.csv", index=False)
    pd.DataFrame({"params": [1e8]}).to_csv(D / "cand_nocol.csv", index=False)
    (D / "cand_empty.csv").write_text("params,tokens\n")
    (D / "bad.toml").write_text("[law\nname=")
    (D / "badlaw.toml").write_text("[law]\nname = 'nosuch'\n")
    (D / "empty.toml").write_text("")
    (D / "sub").mkdir(exist_ok=True)
    ro = D / "ro"; ro.mkdir(exist_ok=True); os.chmod(ro, 0o555)



def f(name): return f"{F}/{name}"

CASES = []  # (cls, argv, expect, needle)
def add(cls, argv, expect="E", needle=None):
    CASES.append((cls, [str(a) for a in argv], expect, needle))

POS = ["0", "-1", "nan", "inf", "1e400", "abc", "", "-inf"]
NONNEG = ["-1", "nan", "inf", "1e400", "abc", ""]
INTS = ["0", "-1", "abc", "", "1.5", "99999999999999999999999", "1e3"]
PROB = ["0", "1", "1.5", "-0.1", "nan", ""]

BASE = {
    "demo": ["demo", "--draws", "10", "--tune", "10", "--chains", "2"],
    "fit": ["fit", f("runs.csv"), "--law", "chinchilla", "--out", "out.nc"],
    "fit-many": ["fit-many", f("curves.csv"), "--by", "curve", "--law", "chinchilla", "--out-dir", ".", "--workers", "1"],
    "summary": ["summary", f("fit.nc")],
    "ensemble": ["ensemble", f("runs.csv"), "--laws", "chinchilla,chinchilla_tied", "--weights", "equal", "--out", "out.nc"],
    "predict": ["predict", f("fit.nc"), "--params", "1e9", "--tokens", "2e10"],
    "predict-metric": ["predict-metric", f("fit.nc"), f("metric.nc"), "--params", "1e9", "--tokens", "2e10"],
    "target-metric": ["target-metric", f("fit.nc"), f("metric.nc"), "--target", "0.5"],
    "allocate": ["allocate", f("fit.nc"), "--compute", "1e22"],
    "target": ["target", f("fit.nc"), "--loss", "2.3"],
    "frontier": ["frontier", f("fit.nc"), "--compute-min", "1e20", "--compute-max", "1e22"],
    "breakdown": ["breakdown", f("fit.nc"), "--budget", "1e24"],
    "design": ["design", f("fit.nc"), "--target-compute", "1e23", "--ladder-budget", "1e21", "--worlds", "16", "--exchange", "0", "--top", "3", "--max-refits", "0"],
    "compare": ["compare", f("hier.nc"), "--compute", "1e21"],
    "shape": ["shape", f("fit.nc")],
    "compare-laws": ["compare-laws", f("fit.nc"), f("fit_b.nc")],
    "backtest": ["backtest", f("runs.csv"), "--law", "chinchilla", "--holdout-fraction", "0.25"],
    "isoflop-check": ["isoflop-check", f("fit.nc"), "--bootstrap", "50"],
    "datasets": ["datasets", "chinchilla_epoch", "--out", "ds.csv"],
    "report": ["report", f("fit.nc"), "--out", "r.md", "--no-refits"],
}
# baselines (legal; shape on a non-shape fit is expected to be refused)
for c, a in BASE.items():
    add("baseline", a, "E" if c == "shape" else "OK")

def vals(cls, cmd, flag, values, expect="E", needle=None, base=None):
    for v in values:
        add(cls, [*(base or BASE[cmd]), flag, v], expect, needle or flag)

FIT_CMDS = ["summary", "predict", "predict-metric", "target-metric", "allocate", "target", "frontier", "breakdown",
            "design", "compare", "shape", "compare-laws", "isoflop-check", "report"]
# ---- fit-file paths ------------------------------------------------------------------------------
BADFITS = {"missing": f("nosuch.nc"), "folder": f("sub"), "empty": f("empty.nc"), "garbage": f("garbage.nc"),
           "not-a-fit nc": f("notfit.nc"), "csv as fit": f("runs.csv"), "binary": f("binary.csv")}
for c in FIT_CMDS:
    a = BASE[c]
    for k, p in BADFITS.items():
        add("path:fit", [a[0], p, *a[2:]], "E", None)
    if c not in ("compare", "compare-laws"):
        add("path:metric-as-loss", [a[0], f("metric.nc"), *a[2:]], "E" if c not in ("summary", "report", "predict") else "?", None)
    if c not in ("compare", "shape"):
        add("path:ensemble", [a[0], f("ens.nc"), *a[2:]], "?", None)
# metric fit slot
for c in ("predict-metric", "target-metric"):
    a = BASE[c]
    for k, p in BADFITS.items():
        add("path:fit", [a[0], a[1], p, *a[3:]], "E", None)
    add("path:loss-as-metric", [a[0], a[1], a[1], *a[3:]], "E", None)
    add("path:metric-as-loss", [a[0], a[2], a[2], *a[3:]], "E", None)
    add("path:swapped", [a[0], a[2], a[1], *a[3:]], "E", None)
    add("path:ensemble", [a[0], f("ens.nc"), a[2], *a[3:]], "?", None)
    add("path:hier", [a[0], f("hier.nc"), a[2], *a[3:]], "?", None)
add("path:hier-expected", ["compare", f("fit.nc"), "--compute", "1e21"], "E", None)
add("path:hier-expected", ["compare", f("ens.nc"), "--compute", "1e21"], "E", None)
add("path:compare-laws", ["compare-laws", f("fit.nc")], "E", None)
add("path:compare-laws", ["compare-laws", f("fit.nc"), f("fit_other_runs.nc")], "E", None)
add("path:compare-laws", ["compare-laws", f("fit.nc"), f("metric.nc")], "E", None)
add("path:compare-laws", ["compare-laws", f("fit.nc"), f("hier.nc")], "E", None)
# ---- runs-file paths -----------------------------------------------------------------------------
BADRUNS = {"missing": f("nosuch.csv"), "folder": f("sub"), "empty": f("empty.csv"), "header only": f("header.csv"),
           "non-utf8": f("latin1.csv"), "binary": f("binary.csv"), "fit as runs": f("fit.nc"),
           "odd suffix": f("bad.toml")}
CSVBAD = ["nan_loss", "inf_loss", "neg_loss", "zero_loss", "nan_params", "neg_params", "zero_tokens", "inf_tokens",
          "str_params", "str_loss", "one_n", "no_loss", "one_row", "dup_colnames"]
CSVWARN = ["dup_rows", "no_tokens", "two_rows", "params_millions", "tokens_billions", "loss_bits_x1e6"]
for c in ("fit", "fit-many", "ensemble", "backtest"):
    a = BASE[c]
    for k, p in BADRUNS.items():
        add("path:runs", [a[0], p, *a[2:]], "E", None)
    if c == "fit-many":
        continue
    for n in CSVBAD:
        add("csv", [a[0], f(n + ".csv"), *a[2:]], "E", None)
    for n in CSVWARN:
        add("csv-unit", [a[0], f(n + ".csv"), *a[2:]], "?", None)
# ---- outputs ---------------------------------------------------------------------------------------
for c, flag in (("fit", "--out"), ("ensemble", "--out"), ("report", "--out"), ("datasets", "--out"), ("demo", "--out")):
    a = BASE[c]
    suffix = {"report": ".md", "datasets": ".csv"}.get(c, ".nc")
    for v in ("nofolder/x" + suffix, ".", "/proc/x" + suffix, f("runs.csv") + "/x" + suffix, "", "x.txt"):
        i = a.index(flag) if flag in a else None
        argv = (a[:i] + [flag, v] + a[i + 2:]) if i is not None else [*a, flag, v]
        add("path:out", argv, "E", flag if v not in ("x.txt",) else None)
add("path:out=in", ["report", f("fit.nc"), "--out", f("fit.nc"), "--no-refits"], "E", "--out")
add("path:out=in", ["fit", f("runs.csv"), "--law", "chinchilla", "--out", f("fit.nc")], "?", "--out")
add("path:out=in", ["fit", f("runs.csv"), "--law", "chinchilla", "--out", f("runs.csv")], "E", "--out")
add("path:out=in", ["ensemble", f("runs.csv"), "--laws", "chinchilla,chinchilla_tied", "--out", f("runs.csv")], "E", "--out")
add("path:out=in", ["ensemble", f("runs.csv"), "--laws", "chinchilla,chinchilla_tied", "--out", f("fit.nc")], "?", "--out")
for v in ("nofolder", f("runs.csv"), "", "/proc"):
    vals("path:out-dir", "fit-many", "--out-dir", [v], "E", "--out-dir",
         base=["fit-many", f("curves.csv"), "--by", "curve", "--law", "chinchilla", "--workers", "1"])
# ---- sampler counts (fit commands) ------------------------------------------------------------------
for c in ("demo", "fit", "fit-many", "ensemble", "backtest"):
    for flag in ("--draws", "--tune", "--chains"):
        vals("int:sampler", c, flag, INTS)
        vals("int:sampler-huge", c, flag, ["1000000000"], "E", flag)
    vals("int:seed", c, "--seed", ["-1", "abc", "", str(2**64), "1.5", "nan"])
    if c != "demo":
        vals("prob:ci", c, "--ci", PROB) if c not in ("fit-many", "backtest") else None
vals("prob:ci", "demo", "--ci", PROB)
# ---- --ci everywhere ---------------------------------------------------------------------------------
for c in ("summary", "predict", "predict-metric", "target-metric", "allocate", "target", "frontier", "breakdown",
          "compare", "shape", "isoflop-check"):
    vals("prob:ci", c, "--ci", PROB)
vals("prob:ci", "report", "--ci-prob", PROB)
# ---- numbers per command --------------------------------------------------------------------------------
for flag in ("--params", "--tokens", "--compute", "--unique-tokens", "--x", "--steps"):
    base = BASE["predict"] if flag in ("--params", "--tokens") else ["predict", f("fit.nc"), "--params", "1e9"]
    vals("num:predict", "predict", flag, POS, base=[x for x in base] if flag not in ("--params", "--tokens") else
         [a for i, a in enumerate(base) if not (a == flag or (i > 0 and base[i - 1] == flag))])
for flag in ("--params", "--tokens", "--compute"):
    b = BASE["predict-metric"]
    base = [a for i, a in enumerate(b) if not (a == flag or (i > 0 and b[i - 1] == flag))]
    if flag == "--compute":
        base = b[:3] + ["--params", "1e9"]
    vals("num:predict-metric", "predict-metric", flag, POS, base=base)
add("conflict", ["predict-metric", f("fit.nc"), f("metric.nc")], "E", None)
add("conflict", [*BASE["predict-metric"], "--compute", "1e21"], "E", None)
add("conflict", ["predict", f("fit.nc")], "E", None)
add("conflict", [*BASE["predict"], "--compute", "1e21"], "E", None)
vals("num:target-metric", "target-metric", "--target", ["0", "1", "1.5", "-0.1", "nan", "abc", ""],
     base=BASE["target-metric"][:3])
vals("num:target-metric", "target-metric", "--budget", POS)
vals("int:seed", "target-metric", "--seed", ["-1", "abc", str(2**64)])
vals("int:seed", "predict-metric", "--seed", ["-1", "abc", str(2**64)])
add("num:target-metric", [*BASE["target-metric"][:3], "--target", "0.999"], "?", None)
add("num:target-metric", [*BASE["target-metric"][:3], "--target", "0.01"], "?", None)
for flag in ("--compute", "--flops-per-token", "--alt-tokens-per-param", "--alt-params", "--max-params", "--max-tokens",
             "--n-ctx", "--aspect-ratio"):
    base = BASE["allocate"] if flag != "--compute" else ["allocate", f("fit.nc")]
    if flag in ("--n-ctx", "--aspect-ratio"):
        base = [*BASE["allocate"], "--cost", "kaplan"] + (["--n-ctx", "2048"] if flag == "--aspect-ratio" else [])
    vals("num:allocate", "allocate", flag, POS, base=base)
vals("str:utility", "allocate", "--utility", ["", "quantile:", "quantile:0", "quantile:1", "quantile:1.5", "quantile:nan", "median", "quantile:abc", "mean:0.5"])
vals("str:group", "allocate", "--group", ["nosuch", ""])
vals("str:group", "compare", "--groups", ["nosuch", ""])
add("str:group", [*BASE["compare"], "--groups", "x", "x"], "E", "--groups")
add("str:group", [*BASE["compare"], "--groups", "x"], "E", "--groups")
add("str:group", ["allocate", f("hier.nc"), "--compute", "1e22", "--group", "nosuch"], "E", "--group")
add("str:group", ["predict", f("hier.nc"), "--params", "1e9", "--tokens", "2e10", "--group", "nosuch"], "E", "--group")
add("str:group", ["predict", f("hier.nc"), "--params", "1e9", "--tokens", "2e10", "--group", ""], "E", "--group")
add("str:group", ["predict", f("fit.nc"), "--params", "1e9", "--tokens", "2e10", "--group", "x"], "E", "--group")
add("conflict", [*BASE["allocate"], "--max-params", "1e3"], "?", None)
add("conflict", [*BASE["allocate"], "--max-tokens", "1e3"], "?", None)
add("conflict", [*BASE["allocate"], "--cost", "kaplan"], "E", "--n-ctx")
add("conflict", [*BASE["allocate"], "--cost", "fitted"], "?", None)
add("conflict", [*BASE["allocate"], "--n-ctx", "2048"], "E", "--cost")
add("conflict", [*BASE["allocate"], "--compute-unit", "pf-days", "--compute", "1e-30"], "?", None)
add("conflict", ["allocate", f("fit.nc"), "--compute", "1e60"], "?", None)
add("conflict", ["allocate", f("fit.nc"), "--compute", "1e5"], "?", None)
vals("num:target", "target", "--loss", POS, base=["target", f("fit.nc")])
vals("num:target", "target", "--compute", POS)
add("num:target", ["target", f("fit.nc"), "--loss", "0.1"], "?", None)
add("num:target", ["target", f("fit.nc"), "--loss", "100"], "?", None)
vals("num:target", "target", "--flops-per-token", POS)
vals("num:frontier", "frontier", "--compute-min", POS, base=["frontier", f("fit.nc"), "--compute-max", "1e22"])
vals("num:frontier", "frontier", "--compute-max", POS, base=["frontier", f("fit.nc"), "--compute-min", "1e20"])
vals("int:frontier", "frontier", "--points", INTS + ["1", "1001"])
vals("num:frontier", "frontier", "--converged-within", POS + ["1", "2"])
add("conflict", ["frontier", f("fit.nc"), "--compute-min", "1e22", "--compute-max", "1e20"], "E", "--compute-min")
add("conflict", ["frontier", f("fit.nc"), "--compute-min", "1e22", "--compute-max", "1e22"], "E", "--compute-min")
add("conflict", ["frontier", f("kns.nc"), "--compute-min", "1e20", "--compute-max", "1e22", "--converged-within", "0"], "E", "--converged-within")
add("conflict", ["frontier", f("kns.nc"), "--compute-min", "1e20", "--compute-max", "1e22", "--converged-within", "1.5"], "E", "--converged-within")
add("conflict", ["frontier", f("kns.nc"), "--compute-min", "1e20", "--compute-max", "1e22", "--converged-within", "nan"], "E", "--converged-within")
for flag in ("--budget", "--path-ne", "--path-p", "--delta"):
    vals("num:breakdown", "breakdown", flag, POS if flag != "--delta" else NONNEG)
vals("int:seed", "breakdown", "--seed", ["-1", "abc", str(2**64)])
for flag in ("--kaplan-d", "--kaplan-ns"):
    for k, p in list(BADFITS.items())[:4]:
        add("path:breakdown", [*BASE["breakdown"], flag, p], "E", flag)
for flag in ("--target-compute", "--ladder-budget"):
    b = BASE["design"]
    base = [a for i, a in enumerate(b) if not (a == flag or (i > 0 and b[i - 1] == flag))]
    vals("num:design", "design", flag, POS, base=base)
CAPPED = {"--batch", "--exchange", "--top", "--max-refits", "--refit-sims"}  # at most the candidates: legal
for flag in ("--batch", "--worlds", "--exchange", "--max-refits", "--refit-sims", "--prior-draws", "--top"):
    b = BASE["design"]
    base = [a for i, a in enumerate(b) if not (a == flag or (i > 0 and b[i - 1] == flag))]
    ints = [v for v in INTS if not (flag in CAPPED and v.startswith("999"))] + (["0"] if False else [])
    vals("int:design", "design", flag, [v for v in ints if not (flag in ("--exchange", "--max-refits") and v == "0")], base=base)
    vals("int:design-huge", "design", flag, ["1000000000", "99999999999999999999999"] if flag not in CAPPED else [], "E", flag, base=base)
    if flag in CAPPED:
        vals("int:design-capped", "design", flag, ["1000000000"] + (["0"] if flag in ("--exchange", "--max-refits") else []), "?", base=base)
vals("num:design", "design", "--flops-per-token", POS)
vals("num:design", "design", "--min-ess", NONNEG + ["0"])
vals("int:seed", "design", "--seed", ["-1", "abc", str(2**64)])
for lo, hi in (("10", "1"), ("0", "10"), ("-1", "5"), ("nan", "5"), ("1", "inf"), ("5", "5")):
    add("num:design", [*BASE["design"], "--shapes", lo, hi], "E", "--shapes")
for k, p in {"missing": f("nosuch.csv"), "empty": f("empty.csv"), "neg": f("cand_neg.csv"), "nan": f("cand_nan.csv"),
             "dup": f("cand_dup.csv"), "nocol": f("cand_nocol.csv"), "header": f("cand_empty.csv"),
             "binary": f("binary.csv"), "folder": f("sub"), "word": "mesh"}.items():
    add("path:candidates", [*BASE["design"], "--candidates", p], "E" if k != "dup" else "?", "--candidates")
SPECD = ["design", "--spec", "chinchilla", "--target-compute", "1e23", "--ladder-budget", "1e21", "--top", "3", "--prior-draws", "50"]
add("baseline", SPECD, "OK")
for v in ("nosuch", f("bad.toml"), f("badlaw.toml"), f("empty.toml"), f("sub"), "", f("binary.csv"), "sigmoid_metric"):
    add("path:spec", [SPECD[0], "--spec", v, *SPECD[3:]], "E", "spec")
add("conflict", ["design", f("fit.nc"), *SPECD[1:]], "E", "--spec")
add("conflict", ["design", *SPECD[3:]], "E", None)
add("conflict", [*BASE["design"], "--prior-draws", "50"], "E", "--prior-draws")
add("conflict", [*SPECD, "--cost", "fitted"], "E", "--cost")
vals("int:design", "design", "--prior-draws", INTS, base=SPECD[:-2])
add("path:design", ["design", f("metric.nc"), *BASE["design"][2:]], "E", None)
add("path:design", ["design", f("kns.nc"), *BASE["design"][2:]], "E", None)
for flag in ("--compute", "--params", "--tokens", "--rope", "--flops-per-token"):
    base = BASE["compare"] if flag in ("--rope", "--flops-per-token") else ["compare", f("hier.nc")] + (["--tokens", "2e10"] if flag == "--params" else ["--params", "1e9"] if flag == "--tokens" else [])
    vals("num:compare", "compare", flag, POS, base=base)
add("conflict", [*BASE["compare"], "--params", "1e9", "--tokens", "2e10"], "E", None)
add("conflict", ["compare", f("hier.nc"), "--params", "1e9"], "E", "--tokens")
vals("num:shape", "shape", "--rope", POS)
vals("str:method", "compare-laws", "--method", ["x", ""])
add("path:compare-laws", ["compare-laws", f("fit.nc"), f("nosuch.nc")], "E", None)
add("path:compare-laws", ["compare-laws", f("fit.nc"), f("garbage.nc")], "E", None)
for flag, v in (("--holdout-above", POS), ("--holdout-fraction", ["0", "1", "1.5", "-0.1", "nan", "abc", ""]),
                ("--n-boot", INTS)):
    b = BASE["backtest"]
    base = b if flag == "--n-boot" else [a for i, a in enumerate(b) if not (a == "--holdout-fraction" or (i > 0 and b[i - 1] == "--holdout-fraction"))]
    vals("num:backtest", "backtest", flag, v, base=base)
add("conflict", ["backtest", f("runs.csv"), "--law", "chinchilla", "--holdout-above", "1e30"], "E", "--holdout-above")
add("conflict", ["backtest", f("runs.csv"), "--law", "chinchilla", "--holdout-above", "1"], "E", "--holdout-above")
add("conflict", [*BASE["backtest"], "--holdout-above", "1e20"], "E", None)
add("conflict", ["backtest", f("runs.csv"), "--law", "chinchilla", "--holdout-fraction", "0.01"], "?", "--holdout-fraction")
add("conflict", ["backtest", f("runs.csv"), "--law", "chinchilla", "--holdout-fraction", "0.99"], "W", "--holdout-fraction")
vals("int:isoflop", "isoflop-check", "--bootstrap", INTS)
vals("int:seed", "isoflop-check", "--seed", ["-1", "abc", str(2**64)])
vals("str:group", "isoflop-check", "--group", ["x", ""])
add("str:group", ["isoflop-check", f("hier.nc"), "--group", "nosuch"], "E", "--group")
# datasets
for v in ("nosuch", "", "../etc", "chinchilla_epoch/x"):
    add("str:dataset", ["datasets", v], "E", None)
for v in ("nokey", "=x", "best_lr", "source=nosuch", "curve=", "nosuchkey=1", "variant=x"):
    add("str:option", ["datasets", "chinchilla_epoch", "--out", "ds.csv", "--option", v], "E", "--option")
for v in ("source=nosuch", "curve=nosuch", "variant=nosuch"):
    add("str:option", ["datasets", "isoflops" if "source" in v else "revisiting" if "curve" in v else "datablations",
                       "--out", "ds.csv", "--option", v], "E", "--option")
add("str:option", ["datasets", "chinchilla_epoch", "--out", "ds.csv", "--option", "a=1", "--option", "a=2"], "E", "--option")
add("str:option", ["datasets", "--option", "a=1"], "E", "--option")
for v in (f("nosuch"), f("runs.csv"), "", f("sub")):
    add("path:data-home", ["datasets", "chinchilla_epoch", "--out", "ds.csv", "--data-home", v], "E" if v else "?", "--data-home")
# report
for v in ("0", "-1", "nan", "inf", "abc", ""):
    add("num:report", [*BASE["report"], "--budgets", v], "E", "--budgets")
    add("num:report", [*BASE["report"], "--design-budget", v], "E", "--design-budget")
add("num:report", [*BASE["report"], "--budgets", *["1e22"] * 2000], "?", "--budgets")
add("num:report", [*BASE["report"], "--budgets", "1e22", "1e22"], "?", "--budgets")
add("conflict", ["report", f("fit.nc"), "--out", "r.md", "--format", "html", "--no-refits"], "?", "--format")
add("conflict", ["report", f("fit.nc"), "--out", "r.pdf", "--no-refits"], "E", "--out")
for k, p in list(BADFITS.items())[:4]:
    add("path:kaplan-fits", [*BASE["report"], "--kaplan-fits", p, p], "E", "--kaplan-fits")
add("path:kaplan-fits", [*BASE["report"], "--kaplan-fits", f("fit.nc"), f("fit.nc")], "E", "--kaplan-fits")
# fit options
FB = BASE["fit"]
for flag, vs in (("--law", ["nosuch", "", "sigmoid_metric", "kaplan_ns", "data_constrained"]),
                 ("--spec", ["nosuch", f("bad.toml"), f("badlaw.toml"), f("empty.toml"), f("sub"), f("binary.csv"), ""]),
                 ("--params-col", ["nosuch", "", "loss", "tokens"]), ("--tokens-col", ["nosuch", "params"]),
                 ("--compute-col", ["nosuch", "loss"]), ("--loss-col", ["nosuch", "", "params"]),
                 ("--group-col", ["nosuch", "", "loss", "params"]), ("--vary", ["", "alpha,alpha", "nosuch", ","]),
                 ("--seed-col", ["nosuch", "", "loss"]), ("--covariate", ["nosuch", "", "loss"]),
                 ("--col", ["U=nosuch", "Q=params", "U", "=x", "U=", "X=params", "U=tokens"]),
                 ("--n-ctx", POS), ("--aspect-ratio", POS)):
    for v in vs:
        base = FB if flag not in ("--n-ctx", "--aspect-ratio") else [*FB, "--cost", "kaplan"] + (["--n-ctx", "2048"] if flag == "--aspect-ratio" else [])
        if flag == "--spec":
            base = [a for a in FB if a not in ("--law", "chinchilla")]
        if flag == "--law":
            base = [a for a in FB if a not in ("--law", "chinchilla")]
        exp = "E"
        if (flag, v) in (("--params-col", "loss"), ("--params-col", "tokens"), ("--tokens-col", "params"),
                         ("--compute-col", "loss"), ("--loss-col", "params")):
            exp = "W"  # the project's rule: implausible values warn (fail under --strict)
        if (flag, v) in (("--group-col", "params"), ("--seed-col", "loss")):
            exp = "?"
        add(f"fit:{flag}", [*base, flag, v], exp, flag if flag not in ("--law", "--spec") else None)
CB = ["fit", f("curves.csv"), "--law", "chinchilla", "--out", "out.nc"]
for argv, exp, nd in ((["--shape-cols", "width", "nosuch"], "E", "--shape-cols"), (["--shape-cols", "width", "width"], "E", "--shape-cols"),
                      (["--group-col", "arch", "--vary", "nosuch"], "E", "--vary"), (["--group-col", "curve", "--vary", "E"], "?", None),
                      (["--vary", "alpha"], "E", "--group-col"), (["--seed-col", "seedc"], "OK", None),
                      (["--covariate", "cov"], "OK", None), (["--shape-cols", "width", "depth"], "?", None),
                      (["--group-col", "arch", "--residual-process"], "E", "--residual-process"),
                      (["--run-noise"], "?", None), (["--col", "SE=cov", "--run-noise"], "?", None),
                      (["--col", "SE=cov"], "E", None), (["--cost", "fitted", "--compute-col", ""], "E", "--cost"),
                      (["--cost", "kaplan"], "E", "--n-ctx"), (["--aspect-ratio", "64"], "E", "--cost"),
                      (["--compute-unit", "pf-days"], "?", None), (["--compute-col", "", "--tokens-col", ""], "E", None),
                      (["--params-kind", "non-embedding"], "?", None),
                      (["--calibrate-extrapolation", "--residual-process"], "?", None)):
    add("fit:combo", [*CB, *argv], exp, nd)
for n, col, flag in (("neg_width", "--shape-cols", ["width", "depth"]), ("zero_depth", "--shape-cols", ["width", "depth"]),
                     ("str_cov", "--covariate", ["cov"]), ("nan_cov", "--covariate", ["cov"]), ("seed_nan", "--seed-col", ["seedc"])):
    add("fit:col-content", ["fit", f(n + ".csv"), "--law", "chinchilla", "--out", "out.nc", col, *flag], "?" if n == "seed_nan" else "E", col)
# fit-many
MB = BASE["fit-many"]
for v in ("nosuch", "", "loss"):
    add("fit-many:--by", [MB[0], MB[1], "--by", v, *MB[4:]], "E" if v != "loss" else "?", "--by")
add("fit-many:--by", [MB[0], f("curves_nan_by.csv"), *MB[2:]], "E", "--by")
add("fit-many:--by", [MB[0], f("curves_one.csv"), *MB[2:]], "?", None)
vals("int:workers", "fit-many", "--workers", [v for v in INTS if not v.startswith("999")], base=MB[:-2])
vals("int:workers-huge", "fit-many", "--workers", ["100000", "99999999999999999999999"], "?", base=MB[:-2])  # capped at the curves
vals("str:scheduler", "fit-many", "--scheduler", [""], base=MB[:-2])
vals("str:scheduler", "fit-many", "--scheduler", ["tcp://127.0.0.1:1", "localhost"], "?", base=MB[:-2])
# ensemble
EB = BASE["ensemble"]
for v in ("", "chinchilla", "chinchilla,chinchilla", "chinchilla,nosuch", ",", "chinchilla,sigmoid_metric", "chinchilla,kaplan_ns"):
    add("ensemble:--laws", [EB[0], EB[1], "--laws", v, *EB[4:]], "E", None)
add("ensemble:--spec", [EB[0], EB[1], "--spec", "chinchilla", "--spec", "chinchilla", *EB[4:]], "E", None)
add("ensemble:--spec", [EB[0], EB[1], "--spec", "nosuch", *EB[4:]], "E", "--spec")
add("ensemble:--spec", [*EB, "--spec", "kaplan_nd"], "?", None)
add("ensemble:--weights", [EB[0], EB[1], EB[2], EB[3], "--score", "crps", "--weights", "equal", *EB[6:]], "E", "--score")
add("ensemble:--weights", [EB[0], EB[1], EB[2], EB[3], "--weights", "lfo", *EB[6:]], "?", None)
add("ensemble:--residual-process", [*EB, "--residual-process", "--group-col", "arch"], "E", None)

# ---- runner ----------------------------------------------------------------------------------------------
def listing(folder):
    return {str(p.relative_to(folder)): p.stat().st_mtime_ns for p in Path(folder).rglob("*") if p.is_file()}

def _alarm(signum, frame): raise TimedOut()

def run_case(argv, timeout=30):
    work = tempfile.mkdtemp(prefix="case_", dir=str(ROOT / "work"))
    old = os.getcwd(); os.chdir(work)
    before_in = listing(F)
    tdir = tempfile.mkdtemp(prefix="tmpd_", dir=str(ROOT)); tempfile.tempdir = tdir; os.environ["TMPDIR"] = tdir
    err, out = io.StringIO(), io.StringIO()
    rc, exc = None, None
    signal.signal(signal.SIGALRM, _alarm); signal.alarm(timeout)
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
            rc = main(argv)
    except Reached:
        rc = "REACHED"
    except TimedOut:
        rc = "TIMEOUT"
    except SystemExit as e:
        rc = f"SystemExit({e.code})"
    except BaseException as e:
        exc = "".join(traceback.format_exception_only(type(e), e)).strip()
        rc = "EXC"
    finally:
        signal.alarm(0)
        os.chdir(old)
    left = sorted(listing(work))
    changed = [k for k, v in listing(F).items() if before_in.get(k) != v] + [k for k in before_in if not os.path.exists(f"{F}/{k}")]
    tempfile.tempdir = None; os.environ.pop("TMPDIR", None)
    tmp_new = sorted(os.listdir(tdir)); shutil.rmtree(tdir, ignore_errors=True)
    shutil.rmtree(work, ignore_errors=True)
    return rc, out.getvalue(), err.getvalue(), exc, left, changed, tmp_new

def judge(expect, needle, rc, out, err, exc, left, changed, tmp_new):
    probs = []
    lines = [l for l in err.strip().splitlines() if l.strip()]
    if exc: probs.append("exception")
    if "Traceback" in err: probs.append("traceback")
    if "out of memory" in err: probs.append("oom")
    if rc == "TIMEOUT": probs.append("timeout")
    if isinstance(rc, str) and rc.startswith("SystemExit"): probs.append("systemexit")
    if changed: probs.append("input-changed")
    if tmp_new: probs.append("tmp-left(third-party)")
    errlines = [l for l in lines if l.startswith("error:")]
    other = [l for l in lines if not (l.startswith("error:") or l.startswith("warning:"))]
    if other: probs.append("stray-stderr")
    if expect == "E":
        if rc == "REACHED": probs.append("not-refused(sampled)")
        elif rc == 0: probs.append("not-refused(rc0)")
        elif rc not in (2, "EXC", "TIMEOUT") and not str(rc).startswith("SystemExit"): probs.append(f"rc={rc}")
        if rc == 2:
            if len(errlines) != 1: probs.append("not-one-error-line")
            if needle and needle not in err: probs.append("flag-not-named")
            if left: probs.append("file-left")
    elif expect == "OK":
        if rc not in (0, "REACHED"): probs.append(f"refused-legal(rc={rc})")
    elif expect == "W":
        if rc in (0, "REACHED") and not any(l.startswith("warning:") for l in lines): probs.append("no-warning")
        if rc == 2 and len(errlines) != 1: probs.append("not-one-error-line")
        if rc not in (0, 2, "REACHED"): probs.append(f"rc={rc}")
    else:
        if rc == 2 and len(errlines) != 1: probs.append("not-one-error-line")
        if rc == 2 and left: probs.append("file-left")
        if rc not in (0, 2, "REACHED", "EXC", "TIMEOUT"): probs.append(f"rc={rc}")
    if len([l for l in lines if l.startswith("error:")]) > 1 and "not-one-error-line" not in probs: probs.append("multi-error")
    return probs

if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", default=None, help="run the cases whose class or command contains this text")
    ap.add_argument("--json", default=None, help="write every case's result here")
    opts = ap.parse_args()
    if not os.environ.get("BAYES_SCALING_DATASETS"):
        print("note: BAYES_SCALING_DATASETS is not set: the `datasets` cases refuse for that reason", file=sys.stderr)
    flt = opts.only
    results = []
    try:
        build_inputs(Path(F))
        (ROOT / "work").mkdir()
        for i, (cls, argv, expect, needle) in enumerate(CASES):
            if flt and flt not in cls and flt not in " ".join(argv[:1]):
                continue
            r = run_case(argv)
            probs = judge(expect, needle, *r)
            rc, out, err, exc, left, changed, tmp_new = r
            results.append({"i": i, "cls": cls, "argv": argv, "expect": expect, "rc": rc, "err": err.strip()[-600:],
                            "exc": exc, "left": left, "probs": probs, "tmp": tmp_new})
            if probs:
                print(f"BAD {i:4d} {cls:22s} rc={rc!s:8s} {' '.join(a.replace(F + '/', '') for a in argv)[:150]}", flush=True)
                print(f"        probs={probs} exc={exc} err={err.strip()[-400:]!r} left={left} tmp={tmp_new}", flush=True)
    finally:
        if (Path(F) / "ro").exists():
            os.chmod(Path(F) / "ro", 0o755)
        shutil.rmtree(ROOT, ignore_errors=True)
    if opts.json:
        Path(opts.json).write_text(json.dumps(results, indent=1, default=str))
    n = len(results)
    bad = [r for r in results if r["probs"]]
    print(f"\nCASES {n}  MISBEHAVING {len(bad)}")
    by = collections.Counter(r["cls"].split(":")[0] for r in bad)
    allc = collections.Counter(r["cls"].split(":")[0] for r in results)
    for k in sorted(allc): print(f"  {k:20s} {by.get(k, 0):4d} / {allc[k]}")
    pc = collections.Counter(p.split("(")[0] for r in bad for p in r["probs"])
    print("  by problem:", dict(pc))
    sys.exit(1 if bad else 0)
