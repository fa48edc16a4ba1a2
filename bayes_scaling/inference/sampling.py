"""One call of nutpie's sampler that an interrupt stops: ``nutpie.sample`` (blocking) catches Ctrl-C
and returns the draws so far, which a caller would take for a finished (or stuck) run. Here
Ctrl-C or SIGTERM cancels the sampler and propagates, and a failed initialisation is one line.

nutpie's chains stop between draws, and cancelling waits for them. On a table of 1e5-1e6 rows one
draw of a deep tree (up to 1,023 gradients, each a pass over every row) takes minutes, so an
interrupt waits at most :data:`CANCEL_WAIT_S` seconds and propagates while the chains wind down;
the command line then ends the process at once (:func:`sampler_abandoned`)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import numpy as np

from bayes_scaling.conventions import check_seed
from bayes_scaling.errors import BayesScalingError, raise_received_interrupt

#: Seconds an interrupt waits for the chains to stop before it propagates without them.
CANCEL_WAIT_S = 2.0
#: Samplers still stopping after an interrupt, kept alive here (collecting one would wait for its chains).
_STOPPING: list = []


def sampler_abandoned() -> bool:
    """Did an interrupt leave a sampler whose chains are still finishing a draw? (A process that
    exits should then end at once, ``os._exit``, rather than wait for them while shutting down.)"""
    return any(t.is_alive() for _, t in _STOPPING)


def _cancel(sampler) -> None:
    """Cancel ``sampler``, waiting at most :data:`CANCEL_WAIT_S` seconds for its chains."""
    t = threading.Thread(target=sampler.cancel, name="bayes-scaling-cancel", daemon=True)
    t.start()
    t.join(CANCEL_WAIT_S)
    if t.is_alive():
        _STOPPING.append((sampler, t))


#: Threads the chains are sampled on; ``None``: nutpie's default (one per chain, up to the CPU count).
SAMPLER_THREADS: ContextVar[int | None] = ContextVar("sampler_threads", default=None)


@contextmanager
def sampler_threads(n: int | None) -> Iterator[None]:
    """Sample on ``n`` threads inside the block (a batch worker takes 1: one core per worker)."""
    token = SAMPLER_THREADS.set(n)
    try:
        yield
    finally:
        SAMPLER_THREADS.reset(token)


def sample_nuts(compiled, *, seed: int, **kwargs: Any):
    """``nutpie.sample(compiled, seed=seed, **kwargs)``, but a ``KeyboardInterrupt`` (Ctrl-C, or
    :class:`~bayes_scaling.errors.Terminated`) cancels sampling and is raised again, and an
    initialisation that fails (every starting point with a non-finite log density: priors far off
    the data's scale, or absurd prior parameters) raises a one-line :class:`BayesScalingError`."""
    import nutpie

    seed = check_seed(seed)
    threads = SAMPLER_THREADS.get()
    if threads is not None:
        kwargs.setdefault("cores", threads)
    raise_received_interrupt()  # a Ctrl-C lost while the model compiled stops here, before sampling
    sampler = nutpie.sample(compiled, seed=seed, blocking=False, **kwargs)
    try:
        return sampler.wait()
    except KeyboardInterrupt:
        _cancel(sampler)
        raise
    except RuntimeError as e:
        sampler.cancel()
        if "initialization" in str(e).lower():
            raise BayesScalingError("the sampler could not start: the log density is not finite at any starting "
                                    "point; the priors are likely at fault (absurd scales, or far from the data's "
                                    "units): check the spec's priors and the runs' units") from None
        raise


def stuck_chains(trace) -> list[int]:
    """Chains whose median log density is more than max(10, 5 robust sds) below the best chain's."""
    lp = np.asarray(trace["sample_stats"]["logp"].values, float)
    if lp.shape[0] < 2:
        return []
    med = np.nanmedian(lp, axis=1)
    best = int(np.nanargmax(med))
    q75, q25 = np.nanpercentile(lp[best], [75, 25])
    margin = max(10.0, 5.0 * (q75 - q25) / 1.349)
    return [int(c) for c in np.flatnonzero(~(med >= med[best] - margin))]
