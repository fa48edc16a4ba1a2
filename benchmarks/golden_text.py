"""Same text across a refactor: what ``golden_outputs.py`` does not reach.

``golden_outputs.py`` compares the numbers of the commands' JSON. This script records the *text* views of
the query commands (``summary``, ``predict``, ``allocate``, ``target``, ``frontier`` of a chinchilla fit and
of a kaplan_ns fit, ``breakdown`` of kaplan_c / kaplan_d fits, ``predict-metric``, ``target-metric``), their
JSON, the Markdown reports (``--no-refits``), plot titles and legend labels, a few library answers
(``load_runs`` in PF-days, ``simulate``, weights of mixtures and ensembles) and the messages of bad input,
and compares them with a recording line by line. Fits are built by ``testing.fake_fit`` (seeded draws,
no sampling), so a run takes ~30 s and does not depend on the CPU. Paths and timings are masked.

    .venv/bin/python benchmarks/golden_text.py --record /tmp/text.txt   # before a change
    .venv/bin/python benchmarks/golden_text.py --check /tmp/text.txt    # after it: SAME TEXT or exit 1
"""

from __future__ import annotations

import argparse
import contextlib
import difflib
import io
import re
import sys
import tempfile
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SIGMOID = {"b": 0.25, "r": 2 / 3, "L0": 2.5, "k": 4.0}
KAPLAN_NS = {"alpha_N": 0.076, "alpha_S": 0.76, "N_c": 6.5e13, "S_c": 2.1e3}


class Recorder:
    def __init__(self, tmp: Path):
        self.tmp, self.lines = tmp, []

    def mask(self, text: str) -> str:
        import bayes_scaling

        code_root = str(Path(bayes_scaling.__file__).resolve().parents[1])  # the checkout being run
        text = text.replace(str(self.tmp), "TMP").replace(code_root, "ROOT").replace(str(ROOT), "ROOT")
        return re.sub(r"\b\d+(\.\d+)? s\b", "T s", text)  # timings

    def cli(self, argv: list[str]) -> None:
        from bayes_scaling.cli import main

        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                rc = main(argv)
            except SystemExit as e:
                rc = e.code
        self.lines += [self.mask(f"$ {' '.join(argv)} -> exit {rc}"), self.mask(out.getvalue()),
                       "stderr: " + self.mask(err.getvalue())]

    def call(self, label: str, f) -> None:
        try:
            self.lines.append(f"{label}: {f()!r}")
        except Exception as e:  # the message of bad input is part of the record
            self.lines.append(f"{label}: {type(e).__name__}: {e} (quantity={getattr(e, 'quantity', None)})")


def record(tmp: Path) -> list[str]:
    import numpy as np
    import pandas as pd

    from bayes_scaling.cost import CostLaw
    from bayes_scaling.data.runs import load_runs
    from bayes_scaling.examples import EXAMPLE
    from bayes_scaling.plots.allocation import plot_frontier
    from bayes_scaling.plots.posterior import plot_posterior
    from bayes_scaling.posterior.mixture import MixtureEvaluator
    from bayes_scaling.queries.draws import budgets_flops
    from bayes_scaling.result import FitResult
    from bayes_scaling.result.ensemble import EnsembleResult
    from bayes_scaling.simulate import isoflop_design, simulate_runs, true_loss
    from bayes_scaling.testing import fake_fit

    r = Recorder(tmp)
    f = str(fake_fit("chinchilla", draws=200).save(tmp / "f.nc"))
    kns = str(fake_fit("kaplan_ns", KAPLAN_NS, draws=50).save(tmp / "kns.nc"))
    kc = str(fake_fit("kaplan_c", {"alpha_C": 0.050, "C_c": 3.1e8}, seed=1).save(tmp / "kc.nc"))
    kd = str(fake_fit("kaplan_d", {"alpha_D": 0.095, "D_c": 5.4e13}, seed=2).save(tmp / "kd.nc"))
    m = str(fake_fit("sigmoid_metric", SIGMOID, draws=200, sigma=0.02).save(tmp / "m.nc"))
    for j in ([], ["--json"]):
        r.cli(["summary", f, *j])
        r.cli(["predict", f, "--params", "7e9", "--tokens", "1.4e11", *j])
        r.cli(["allocate", f, "--compute", "1e23", "--alt-tokens-per-param", "20", *j])
        r.cli(["allocate", f, "--compute", "1000", "--compute-unit", "pf-days", *j])
        r.cli(["target", f, "--loss", "2.1", "--compute", "1e23", *j])
        r.cli(["frontier", f, "--compute-min", "1e20", "--compute-max", "1e24", *j])
        r.cli(["frontier", kns, "--compute-min", "1e20", "--compute-max", "1e22", "--points", "3", *j])
        r.cli(["frontier", kns, "--compute-min", "1", "--compute-max", "100", "--compute-unit", "pf-days",
               "--points", "3", *j])
        r.cli(["breakdown", kc, "--kaplan-d", kd, "--budget", "1e24", *j])
        r.cli(["breakdown", kc, "--kaplan-d", kd, "--budget", "1e4", "--compute-unit", "pf-days", *j])
        r.cli(["predict-metric", f, m, "--params", "1e9", "--tokens", "2e10", *j])
        r.cli(["target-metric", f, m, "--target", "0.6", "--budget", "1e22", *j])
        r.cli(["target-metric", f, m, "--target", "0.99", *j])
    r.cli(["allocate", f, "--compute", "-1"])
    for fit_file, extra in ((f, []), (m, []), (kns, []), (kc, ["--kaplan-fits", kc, kd])):
        r.cli(["report", fit_file, "--out", str(tmp / "rep.md"), "--no-refits", *extra])
        rep = tmp / "rep.md"
        r.lines.append(r.mask(rep.read_text()) if rep.exists() else "no report")
        rep.unlink(missing_ok=True)

    fit = FitResult.load(f)
    r.lines.append("posterior titles: " + repr([a.get_title() for a in plot_posterior(fit).axes]))
    r.lines.append("frontier labels: " + repr([[ln.get_label() for ln in a.get_lines()]
                                               for a in plot_frontier(fit, 1e20, 1e24).axes]))
    c_flops = np.array([1.2e18, 1.2e20, 1.2e22])
    df = pd.DataFrame({"params": [1e8, 1e9, 1e10], "tokens": [2e9, 2e10, 2e11], "compute": c_flops / 8.64e19,
                       "loss": [3.0, 2.6, 2.3]})
    for unit in ("pf-days", "flops", "days"):
        r.call(f"load_runs {unit}", lambda: load_runs(df, compute_unit=unit).frame.to_dict("list"))
    truth = EXAMPLE["truth"]
    r.call("true_loss kaplan_c", lambda: true_loss("kaplan_c", {"alpha_C": 0.05, "C_c": 3.1e8}, C=c_flops).tolist())
    r.call("true_loss missing D", lambda: true_loss("chinchilla", truth, N=[1e9]))
    r.call("simulate", lambda: simulate_runs("chinchilla", truth, isoflop_design([1e19, 1e20], [5, 20])).to_dict("list"))
    for kw in ({"k": -1}, {"a": "x"}, {"kind": "kaplan", "n_ctx": 0, "aspect_ratio": 64},
               {"kind": "kaplan", "n_ctx": 1024, "aspect_ratio": float("nan")}):
        r.call(f"CostLaw {kw}", lambda: CostLaw(**kw))
    ev = fit.evaluator
    for w in ({"a": 1.0, "b": 3.0}, {"a": 0.1, "b": 0.2}, {"a": 0.0, "b": 0.0}, {"a": -1, "b": 2},
              {"a": float("nan"), "b": 1}, {"a": 1}):
        r.call(f"mixture {w}", lambda: (lambda mix: (mix.weights, {k: v.tolist() for k, v in mix.picks.items()}))(
            MixtureEvaluator({"a": ev, "b": ev}, w, n_draws=37, seed=3)))
        r.call(f"ensemble {w}", lambda: EnsembleResult({"a": fit, "b": fit}, w).weights)
    for unit in ("flops", "pf-days", "x"):
        r.call(f"budgets_flops {unit}", lambda: budgets_flops([1.0, 2e3], unit).tolist())
    return "\n".join(r.lines).splitlines()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = ap.add_mutually_exclusive_group(required=True)
    mode.add_argument("--record", type=Path, help="write the text to this file")
    mode.add_argument("--check", type=Path, help="compare the text with this recording")
    args = ap.parse_args()
    warnings.filterwarnings("ignore")
    with tempfile.TemporaryDirectory() as d:
        lines = record(Path(d))
    if args.record:
        args.record.parent.mkdir(parents=True, exist_ok=True)
        args.record.write_text("\n".join(lines) + "\n")
        print(f"recorded {len(lines)} lines in {args.record}")
        return 0
    want = args.check.read_text().splitlines()
    diff = list(difflib.unified_diff(want, lines, "recorded", "now", n=1, lineterm=""))
    if diff:
        print("\n".join(diff[:80]))
        print(f"TEXT DIFFERS: {sum(ln.startswith('-') for ln in diff[2:])} line(s) changed of {len(want)}")
        return 1
    print(f"{len(lines)} lines, SAME TEXT")
    return 0


if __name__ == "__main__":
    sys.exit(main())
