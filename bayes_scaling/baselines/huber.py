"""Hoffmann et al. 2022 "Approach 3" point fit of any registered law: the sum of Huber_delta
(delta = 1e-3) residuals of log-loss, minimised with L-BFGS-B from many starts."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from bayes_scaling.baselines._core import Coords, lhs, multistart, natural, prepare
from bayes_scaling.conventions import seeded_rng
from bayes_scaling.errors import BayesScalingError
from bayes_scaling.laws.registry import get_law

#: Huber threshold on log-loss residuals (Hoffmann et al. 2022, App. D.2).
HUBER_DELTA = 1e-3


@dataclass(frozen=True)
class HuberFit:
    """Result of :func:`huber_fit`.

    ``p``: best parameters in the law convention (exponents/shapes as is, ``log_<name>`` for
    positive constants). ``objective``: sum of Huber_delta(residual of log-loss) / delta at the
    best start. Convergence: ``n_agree`` of ``n_starts`` starts reached the best objective within a
    relative 1e-6 (several independent starts agreeing is the convergence check); ``n_success``
    counts SciPy's success flags.
    """

    law: str
    p: dict[str, float]
    objective: float
    delta: float
    n_obs: int
    n_starts: int
    n_agree: int
    n_success: int
    ref: dict[str, float] = field(repr=False)
    theta: np.ndarray = field(repr=False)

    @property
    def params(self) -> dict[str, float]:
        """Parameters in natural units (E in loss units, A/B/... in their own units, exponents)."""
        return natural(get_law(self.law), self.p)

    def predict_log(self, log_inputs: Mapping[str, np.ndarray]) -> np.ndarray:
        """Natural log of the predicted loss at ``log_inputs`` (natural logs of the inputs)."""
        law = get_law(self.law)
        x = {n: np.asarray(log_inputs[n], float) for n in law.input_names}
        return np.asarray(law.log_loss(np, x, self.p), float)

    def predict(self, log_inputs: Mapping[str, np.ndarray]) -> np.ndarray:
        """Predicted loss (units of the fitted loss) at ``log_inputs``."""
        return np.exp(self.predict_log(log_inputs))


def _start_array(coords: Coords, starts, x, y, seed: int, default: int) -> np.ndarray:
    """Starts in ``theta``: a Latin hypercube of ``starts`` (or ``default``) points, or the given ``p`` dicts."""
    if starts is None or isinstance(starts, (int, np.integer)):
        n = default if starts is None else int(starts)
        if n < 1:
            raise BayesScalingError("starts must be a positive count or a list of parameter dicts")
        lo, hi = coords.box(x, y)
        return lhs(n, lo, hi, seeded_rng(seed))
    return np.array([coords.from_p(s) for s in starts])


def huber_fit(law_name: str, log_inputs: Mapping[str, np.ndarray], log_loss, *, delta: float = HUBER_DELTA,
              starts: int | Sequence[Mapping[str, float]] | None = None, seed: int = 0) -> HuberFit:
    """Hoffmann-style (Approach 3) point fit of any registered law.

    Minimises sum_i Huber_delta(law.log_loss(x_i) - log_loss_i) over the law's parameters with
    L-BFGS-B from many starts, in centred log coordinates (see :class:`~bayes_scaling.baselines._core.Coords`).

    Parameters
    ----------
    law_name : a registered law (:func:`bayes_scaling.get_law`).
    log_inputs : ``{input: natural log of the input}`` in the law's units (N parameters, D tokens,
        C FLOPs or PF-days as the law says, U unique tokens, X any scale).
    log_loss : natural log of the observed loss (nats/token, or the data's own units).
    delta : Huber threshold on log-loss residuals (1e-3 as in Hoffmann et al. 2022).
    starts : number of Latin-hypercube starts over a data-driven box (default 48), or explicit
        starts as law-convention ``p`` dicts.
    seed : seed of the starts (the fit is deterministic given it).
    """
    law = get_law(law_name)
    x, y = prepare(law, log_inputs, log_loss)
    ref = {n: float(np.mean(v)) for n, v in x.items()}
    coords = Coords(law, ref)
    st = _start_array(coords, starts, x, y, seed, default=48)
    res = multistart(coords, x, y, float(delta), st)
    p = {k: float(v) for k, v in coords.to_p(res["theta"]).items()}
    return HuberFit(law=law.name, p=p, objective=res["f"], delta=float(delta), n_obs=int(y.size),
                    n_starts=res["n_starts"], n_agree=res["n_agree"], n_success=res["n_success"], ref=ref,
                    theta=res["theta"])
