"""One call of nutpie's sampler that an interrupt stops: ``nutpie.sample`` (blocking) catches Ctrl-C
and returns the draws so far, which a caller would take for a finished (or stuck) run. Here
Ctrl-C or SIGTERM cancels the sampler and propagates, and a failed initialisation is one line."""

from __future__ import annotations

from typing import Any

from bayes_scaling.errors import BayesScalingError

#: nutpie's seed is an unsigned 64-bit integer; restarts add to it, so stay well below 2^64.
MAX_SEED = 2**63 - 1


def sample_nuts(compiled, *, seed: int, **kwargs: Any):
    """``nutpie.sample(compiled, seed=seed, **kwargs)``, but a ``KeyboardInterrupt`` (Ctrl-C, or
    :class:`~bayes_scaling.errors.Terminated`) cancels sampling and is raised again, and an
    initialisation that fails (every starting point with a non-finite log density: priors far off
    the data's scale, or absurd prior parameters) raises a one-line :class:`BayesScalingError`."""
    import nutpie

    if not 0 <= int(seed) <= MAX_SEED:
        raise BayesScalingError(f"seed must be an integer in [0, 2^63 - 1], got {seed}")
    sampler = nutpie.sample(compiled, seed=int(seed), blocking=False, **kwargs)
    try:
        return sampler.wait()
    except KeyboardInterrupt:
        sampler.cancel()
        raise
    except RuntimeError as e:
        sampler.cancel()
        if "initialization" in str(e).lower():
            raise BayesScalingError("the sampler could not start: the log density is not finite at any starting "
                                    "point; the priors are likely at fault (absurd scales, or far from the data's "
                                    "units): check the spec's priors and the runs' units") from None
        raise
