"""Training cost laws: the FLOPs of a run of N parameters on D tokens, C = f(N) D, where f(N) is the
training FLOPs per token. The one place that says what a run costs; allocation, frontiers and run
design ask a :class:`CostLaw` (stored with a fit) instead of assuming 6ND.

Kinds (all in FLOPs, never PF-days):

- ``6nd``: f(N) = k N with k = 6 FLOPs per parameter per token (Kaplan et al. 2020 §2.1);
- ``kaplan``: Kaplan et al. 2020 Table 1, f(N) = 3 (2 N + 2 n_layer n_ctx d_attn) with the shape
  implied by N and an aspect ratio r = d_model / n_layer (d_attn = d_model, d_ff = 4 d_model, so
  N = 12 n_layer d_model^2 non-embedding parameters): f(N) = 6 N (1 + n_ctx / (12 d_model)), larger
  than 6N, and relatively largest for small models (:func:`bayes_scaling.accounting.training_flops`);
- ``fitted``: f(N) = k N^a, k and a fitted by least squares on log(C / D) = log k + a log N to the
  compute the runs recorded (:func:`fit_cost`).

Queries work in x = log(C / k) (log parameter-tokens for 6ND): D = exp(x) / (N g(N)) with the
overhead g(N) = f(N) / (k N) (1 for ``6nd``); :meth:`CostLaw.log_tokens` is that map.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace

import numpy as np

from bayes_scaling.accounting import training_flops
from bayes_scaling.conventions import FLOPS_PER_PARAM_TOKEN, check_positive, check_positive_array, is_ensemble
from bayes_scaling.errors import BayesScalingError

COST_KINDS = ("6nd", "kaplan", "fitted")
#: A fitted cost law needs runs at this many distinct N, and recorded compute within this rms error
#: (natural log; 0.1 = about 10%) for its form k N^a D to be trusted.
MIN_DISTINCT_N = 2
MAX_RMS_LOG_ERROR = 0.1


@dataclass(frozen=True)
class CostLaw:
    """Training FLOPs C = f(N) D of a run of N parameters on D tokens (see the module docstring).
    ``k``: FLOPs per parameter per token of the leading term; ``a``: exponent of N (``fitted``);
    ``n_ctx``: context length in tokens and ``aspect_ratio``: d_model / n_layer (``kaplan``);
    ``rms_log_error``, ``n_runs`` and ``n_max`` (the largest N it was fitted to): how well and where a
    fitted law matches the recorded compute."""

    kind: str = "6nd"
    k: float = FLOPS_PER_PARAM_TOKEN
    a: float = 1.0
    n_ctx: float | None = None
    aspect_ratio: float | None = None
    rms_log_error: float | None = None
    n_runs: int | None = None
    n_max: float | None = None

    def __post_init__(self):
        if self.kind not in COST_KINDS:
            raise BayesScalingError(f"cost must be one of {', '.join(COST_KINDS)}, got {self.kind!r}", quantity="cost")
        for name, what in (("k", "FLOPs per parameter per token k"), ("a", "cost exponent a")):  # stored as floats
            object.__setattr__(self, name, check_positive(f"{what} must be a number > 0", getattr(self, name), "cost"))
        if self.kind == "kaplan":
            if self.n_ctx is None:
                raise BayesScalingError("the kaplan cost needs the context length n_ctx (tokens)", quantity="n_ctx")
            object.__setattr__(self, "n_ctx", check_positive("context length n_ctx (tokens) must be a number > 0",
                                                             self.n_ctx, "n_ctx"))
            if self.aspect_ratio is None:
                raise BayesScalingError("the kaplan cost needs the aspect ratio d_model / n_layer (give it, or shape "
                                        "columns in the runs)", quantity="aspect_ratio")
            object.__setattr__(self, "aspect_ratio", check_positive("aspect ratio d_model / n_layer must be a number > 0",
                                                                    self.aspect_ratio, "aspect_ratio"))
            if self.k != FLOPS_PER_PARAM_TOKEN:
                raise BayesScalingError("the kaplan cost counts 6 FLOPs per parameter per token (3 x 2, Kaplan et al. "
                                        "2020 Table 1); give k only with the 6nd cost", quantity="cost")

    @property
    def linear(self) -> bool:
        """True when C = k N D (closed-form allocations apply)."""
        return self.kind == "6nd" or (self.kind == "fitted" and self.a == 1.0)

    def d_model(self, n_params):
        """Width implied by N non-embedding parameters at the aspect ratio (``kaplan``): N = 12 d^3 / r."""
        return np.cbrt(np.asarray(n_params, float) * self.aspect_ratio / 12.0)

    def flops_per_token(self, n_params):
        """Training FLOPs per token f(N) for N parameters (array)."""
        n = np.asarray(n_params, float)
        if self.kind == "kaplan":
            width = self.d_model(n)
            return np.asarray(training_flops(n, 1.0, n_layer=width / self.aspect_ratio, n_ctx=self.n_ctx,
                                             d_attn=width), float)
        return self.k * n ** self.a

    def flops(self, n_params, tokens):
        """Training compute C = f(N) D in FLOPs (N parameters, D tokens: finite numbers > 0)."""
        n = check_positive_array("n_params must be finite numbers of parameters > 0", n_params, "N")
        return self.flops_per_token(n) * check_positive_array("tokens must be finite numbers > 0", tokens, "D")

    def log_overhead(self, log_n):
        """log g(N) = log(f(N) / (k N)) at log N (0 for 6ND)."""
        log_n = np.asarray(log_n, float)
        if self.kind == "6nd":
            return np.zeros_like(log_n)
        if self.kind == "fitted":
            return (self.a - 1.0) * log_n
        # = log(f(N) / 6N) of flops_per_token in closed form (fast inside the allocation searches)
        return np.log1p(self.n_ctx / (12.0 * self.d_model(np.exp(log_n))))

    def log_tokens(self, x, log_n):
        """log D that spends x = log(C / k) at log N."""
        return x - log_n - self.log_overhead(log_n)

    def tokens(self, compute, n_params):
        """Tokens D that spend ``compute`` FLOPs at N parameters (finite numbers > 0)."""
        c = check_positive_array("compute must be finite numbers of FLOPs > 0", compute, "C")
        return c / self.flops_per_token(check_positive_array("n_params must be finite numbers > 0", n_params, "N"))

    def params(self, compute, tokens):
        """Parameters N at which a run on ``tokens`` tokens costs ``compute`` FLOPs (f(N) D = C; f increases with N)."""
        c, d = np.broadcast_arrays(np.asarray(compute, float), np.asarray(tokens, float))
        if self.kind != "kaplan":
            return (c / (self.k * d)) ** (1.0 / self.a)
        hi = np.log(c / (FLOPS_PER_PARAM_TOKEN * d))  # f(N) >= 6N: N <= C / (6D)
        lo = hi - 60.0
        for _ in range(100):
            mid = (lo + hi) / 2
            over = self.flops(np.exp(mid), d) > c
            lo, hi = np.where(over, lo, mid), np.where(over, mid, hi)
        return np.exp((lo + hi) / 2)

    def params_at_ratio(self, compute, tokens_per_param):
        """N such that a run of N parameters on D = r N tokens costs ``compute`` FLOPs (r = tokens/parameter)."""
        c, r = np.broadcast_arrays(check_positive_array("compute must be finite numbers of FLOPs > 0", compute, "C"),
                                   check_positive_array("tokens_per_param must be finite numbers > 0", tokens_per_param,
                                                        "tokens_per_param"))
        if self.linear:
            return np.sqrt(c / (self.k * r))
        lo, hi = np.zeros(c.shape), np.log(c)
        for _ in range(80):  # f(N) r N increases with N
            mid = (lo + hi) / 2
            over = self.flops(np.exp(mid), r * np.exp(mid)) > c
            lo, hi = np.where(over, lo, mid), np.where(over, mid, hi)
        return np.exp((lo + hi) / 2)

    def describe(self) -> str:
        if self.kind == "6nd":
            return f"C = {self.k:g} N D FLOPs"
        if self.kind == "fitted":
            fit = (f"; fitted to {self.n_runs} runs' recorded compute (N <= {self.n_max:.3g}), rms log error "
                   f"{self.rms_log_error:.3g}") if self.n_runs else ""
            return f"C = {self.k:.4g} N^{self.a:.4f} D FLOPs{fit}"
        return (f"C = 6 N (1 + n_ctx / (12 d_model)) D FLOPs (Kaplan et al. 2020 Table 1; n_ctx = {self.n_ctx:g}, "
                f"d_model / n_layer = {self.aspect_ratio:g})")

    def to_json(self) -> str:
        return json.dumps({k: v for k, v in asdict(self).items() if v is not None}, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "CostLaw":
        try:
            fields = json.loads(text)
            return cls(**fields)
        except (TypeError, ValueError) as e:
            if isinstance(e, BayesScalingError):
                raise
            raise BayesScalingError(f"the stored cost law is unreadable ({' '.join(str(e).split())}): refit, or "
                                    f"override it", quantity="cost") from None


def stored_cost(result) -> CostLaw | None:
    """The cost law stored with a fit (its attribute ``cost_law``; an ensemble: its members', which
    must agree), or None (the fit assumes 6ND)."""
    if is_ensemble(result):
        costs = {m.tree.attrs.get("cost_law") for m in result.members.values()}
        if len(costs) > 1:
            raise BayesScalingError("the ensemble's members store different cost laws", quantity="cost")
        text = costs.pop()
    else:
        text = result.tree.attrs.get("cost_law")
    return CostLaw.from_json(text) if text else None


def store_cost(result, cost: CostLaw | None) -> None:
    """Store ``cost`` with a fit (saved with it); None removes a stored law (6ND)."""
    if cost is None:
        result.tree.attrs.pop("cost_law", None)
    else:
        result.tree.attrs["cost_law"] = cost.to_json()
    vars(result).pop("evaluator", None)  # a cached evaluator would complete query points with the old law


#: How :mod:`bayes_scaling.data.runs` notes a C or D it derived with 6ND (the load knows no cost law yet).
DERIVED_6ND = ("C = 6 N D", "D = C / (6 N)")


def derived_columns(runs) -> set[str]:
    """The columns among C and D that were derived rather than recorded (loading's notes, or
    :func:`with_cost`'s, begin "C = " or "D = "), whatever law derived them."""
    return {col for col in ("C", "D") for note in runs.derived if note.startswith(f"{col} = ")}


def ladder_cost(runs, cost: CostLaw | None) -> CostLaw:
    """The cost law in which ``runs``' C column (FLOPs) is spent, i.e. the one whose curve C(N, D) = C holds
    the runs of one rung: 6ND (k = 6) where loading derived C as 6ND, since that C is the ladder's nominal
    budget and its runs spent it as D = C / (6N) (under another cost law the runs of one rung have different
    costs, so no curve of that law passes through them all); else ``cost`` (None: 6ND), the law a recorded C
    (or a D derived from it, :func:`with_cost`) is read in. IsoFLOP curves, Approach 2 and new runs added to a
    table price a rung with it; every other query prices C(N, D) with the fit's cost law."""
    return CostLaw() if cost is None or DERIVED_6ND[0] in runs.derived else cost


#: How :func:`with_cost` notes a D it derived from recorded compute with a cost law (followed by the law).
DERIVED_D_COST = "D = C / f(N) of the fit's cost law"


def with_cost(runs, cost: CostLaw | None):
    """``runs`` (a :class:`~bayes_scaling.data.table.RunTable`) with a D that loading derived from a recorded
    C as C / (6N) derived again as C / f(N) with ``cost``, the law the fit stores (the law reads D, so D
    must be the tokens the recorded FLOPs bought under that law); a D this function derived with another law (note
    :data:`DERIVED_D_COST`, e.g. the outer fit's, read by a leave-future-out inner fit whose training runs
    make their own law) is derived again with ``cost`` the same way. A C derived as 6ND stays: it is the
    ladder's nominal budget (how rungs are planned; Hoffmann et al. 2022 §3.2), used only to group runs
    into budgets and to split them, while the law reads N and D and queries price C(N, D) with the cost
    law. Unchanged when nothing was derived, ``cost`` is None, ``cost`` is 6ND on a D loading derived as 6ND, the
    D was derived with ``cost`` already, or columns were recorded."""
    if cost is None:
        return runs
    note = next((n for n in runs.derived if n == DERIVED_6ND[1] or n.startswith(DERIVED_D_COST)), None)
    if note is None or (note == DERIVED_6ND[1] and cost.kind == "6nd" and cost.k == FLOPS_PER_PARAM_TOKEN):
        return runs
    d = cost.tokens(runs.frame["C"].to_numpy(float), runs.frame["N"].to_numpy(float))
    if note != DERIVED_6ND[1] and np.array_equal(d, runs.frame["D"].to_numpy(float)):
        return runs  # derived with this law already
    derived = list(runs.derived)
    frame = runs.frame.assign(D=d)
    derived[derived.index(note)] = f"{DERIVED_D_COST} ({cost.describe()})"
    return replace(runs, frame=frame, derived=tuple(derived))


#: The note fits saved between 9741b6e and a519964 left on a C derived as 6ND that they rewrote as the cost law's C.
REWRITTEN_C = "C = f(N) D of the fit's cost law"


def with_nominal_c(runs, law):
    """``runs`` read back from a fit file, with a C that fits saved between 9741b6e and a519964 rewrote as the cost
    law's C(N, D) (note :data:`REWRITTEN_C`) restored to the nominal C = 6 N D (FLOPs) and its note to "C = 6 N D",
    as :func:`with_cost` now keeps it. Only for laws of N and D (``law``), which never read C; a law of C read the
    rewritten C, so its runs stay as fitted. Unchanged otherwise."""
    notes = [n for n in runs.derived if n.startswith(REWRITTEN_C)]
    if not notes or not {"N", "D"} <= set(law.input_names):
        return runs
    frame = runs.frame.assign(C=FLOPS_PER_PARAM_TOKEN * runs.frame["N"].to_numpy(float) * runs.frame["D"].to_numpy(float))
    derived = tuple(DERIVED_6ND[0] if n == notes[0] else n for n in runs.derived)
    return replace(runs, frame=frame, derived=derived)


def fit_cost(n_params, tokens, compute) -> CostLaw:
    """The ``fitted`` cost law C = k N^a D from runs' recorded compute (FLOPs): least squares of
    log(C / D) on log N. Needs runs at 2 or more distinct N, and the form must match the records
    (rms log error <= 0.1), else one error naming the cost."""
    n, d, c = (check_positive_array(f"a fitted cost needs every run's {name} > 0", v, "cost").reshape(-1)
               for name, v in (("N (n_params)", n_params), ("D (tokens)", tokens), ("recorded compute C", compute)))
    if not n.size == d.size == c.size:
        raise BayesScalingError(f"n_params, tokens and compute must have one value per run, got {n.size}, {d.size} and "
                                f"{c.size}", quantity="cost")
    if np.unique(n).size < MIN_DISTINCT_N:
        raise BayesScalingError(f"a fitted cost needs runs at {MIN_DISTINCT_N} or more distinct N; these have "
                                f"{np.unique(n).size}", quantity="cost")
    y, x = np.log(c / d), np.log(n)
    a, log_k = np.polyfit(x, y, 1)
    rms = float(np.sqrt(np.mean((y - log_k - a * x) ** 2)))
    if not a > 0:
        raise BayesScalingError(f"the recorded compute per token falls with N (fitted exponent {a:.3g}): check the "
                                f"compute column and its unit", quantity="cost")
    if rms > MAX_RMS_LOG_ERROR:
        raise BayesScalingError(f"the recorded compute is not of the form C = k N^a D (rms log error {rms:.3g} > "
                                f"{MAX_RMS_LOG_ERROR:g}): check the compute column, or use another cost",
                                quantity="cost")
    return CostLaw("fitted", k=float(np.exp(log_k)), a=float(a), rms_log_error=rms, n_runs=int(n.size),
                   n_max=float(n.max()))


#: A fitted cost law is extrapolated, with a warning, when N* exceeds its largest run's N by this factor.
COST_EXTRAPOLATION_FACTOR = 3.0


class CostExtrapolationWarning(UserWarning):
    """A fitted cost law used beyond the runs it was fitted to (:func:`check_cost_range`); its own class so that
    an internal evaluation (e.g. a slope between C/10 and 10C around an asked budget) can be silenced alone."""


def check_cost_range(cost: CostLaw, n_params) -> None:
    """Warn when a fitted cost law is used at N (parameters; e.g. N* per draw, budgets on the last
    axis) whose median at some budget exceeds the largest N it was fitted to by
    :data:`COST_EXTRAPOLATION_FACTOR`: a power law in N need not hold there (a true count 6N +
    overhead tends to 6N; k N^a with a < 1 falls below it)."""
    if cost.kind != "fitted" or cost.n_max is None:
        return
    arr = np.asarray(n_params, float)
    n = float(np.max(np.median(arr.reshape(-1, arr.shape[-1]) if arr.ndim > 1 else arr[:, None], axis=0)))
    if n > COST_EXTRAPOLATION_FACTOR * cost.n_max:
        import warnings

        warnings.warn(f"N* = {n:.3g} is {n / cost.n_max:.3g}x the largest run the fitted cost law saw "
                      f"({cost.n_max:.3g}): its FLOPs per token are extrapolated (the kaplan cost keeps the 6N limit)",
                      CostExtrapolationWarning, stacklevel=3)


def cost_from_options(kind: str | None, *, flops_per_token: float = FLOPS_PER_PARAM_TOKEN, n_ctx=None,
                      aspect_ratio=None, runs=None) -> CostLaw | None:
    """A cost law from the command line's options: ``kind`` None gives None (the fit's stored law or
    6ND); ``fitted`` needs ``runs`` (a :class:`~bayes_scaling.data.table.RunTable` with recorded
    compute); ``kaplan`` takes its aspect ratio from the runs' shape columns when not given."""
    if kind is None:
        if n_ctx is not None or aspect_ratio is not None:
            raise BayesScalingError("n_ctx and the aspect ratio belong to the kaplan cost: give the cost too",
                                    quantity="cost")
        return None
    if kind == "6nd":
        return CostLaw("6nd", k=flops_per_token)
    if kind == "kaplan":
        if aspect_ratio is None and runs is not None and "log_aspect_ratio" in runs.frame:
            aspect_ratio = float(np.exp(np.median(runs.frame["log_aspect_ratio"])))
        return CostLaw("kaplan", n_ctx=n_ctx, aspect_ratio=aspect_ratio)
    if kind == "fitted":
        if runs is None:
            raise BayesScalingError("a fitted cost is fitted to the runs' recorded compute: give it when fitting",
                                    quantity="cost")
        derived = derived_columns(runs)
        if "C" not in runs.frame or derived:
            raise BayesScalingError(f"a fitted cost needs compute recorded beside N and D (the runs' "
                                    f"{' and '.join(sorted(derived)) or 'C'} {'were' if len(derived) > 1 else 'was'} derived, not recorded): record both, "
                                    f"or use --cost 6nd or kaplan", quantity="cost")
        f = runs.frame
        return fit_cost(f["N"], f["D"], f["C"])
    raise BayesScalingError(f"cost must be one of {', '.join(COST_KINDS)}, got {kind!r}", quantity="cost")


def training_cost(cost, train):
    """The cost law a fit to training runs stores (a backtest's, and its LFO calibration's inner fit): ``cost`` (a
    :class:`~bayes_scaling.cost.CostLaw`, or None for 6ND), or, where ``cost`` is a rule (a function of a runs table
    returning one: a cost law fitted to recorded compute, a Kaplan cost whose aspect ratio is the runs' median), that
    rule applied to the training runs ``train`` alone, so
    the held-out runs shape neither the fit nor the distance beyond it."""
    if callable(cost) and not isinstance(cost, CostLaw):
        cost = cost(train)
    if cost is not None and not isinstance(cost, CostLaw):
        raise BayesScalingError(f"cost must be a CostLaw or a function of the training runs returning one, got {cost!r}",
                                quantity="cost")
    return cost
