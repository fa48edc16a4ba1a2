"""Frequentist baselines that backtests compare the Bayesian fits against, computed in the same run.

* :func:`huber_fit` -- Hoffmann et al. 2022 "Approach 3" point fit of any registered law: the sum of
  Huber_delta (delta = 1e-3) residuals of log-loss, L-BFGS-B from many starts.
* :func:`huber_bootstrap` / :func:`predict_interval` -- nonparametric bootstrap of that fit (every
  resample refitted from its own independent starts, never from the full-data optimum) and
  percentile intervals of the predicted loss at new inputs.
* :func:`m4_fit` / :func:`m4_predict` -- the M4 estimator of Alabdulmohsin, Neyshabur, Zhai 2022
  (arXiv:2209.06640) for single-axis curves.
* :func:`bnsl_point_fit` -- point fit of the 1-break broken power law (Caballero et al. 2022,
  law ``bnsl1_x``) on a single axis.

Units: inputs are passed as *natural logs* of the law's inputs in the law's units (parameters,
tokens, FLOPs -- or PF-days for ``kaplan_c`` --, a generic scale for ``X``); losses are in the
units of the data (nats/token for language-model losses, or an error rate). Parameters follow the
law convention (``p``): exponents and shape parameters as they are, every positive constant as
``log_<name>`` (natural log of the constant in its own units).

NumPy and SciPy only: no PyMC, no MCMC. Modules: :mod:`.huber` (point fit), :mod:`.bootstrap`,
:mod:`.curves` (M4 and BNSL on one curve); ``_core`` holds what the Huber fit and its bootstrap share.
"""

from bayes_scaling.baselines._core import AGREE_RTOL  # public constant, as before the split (not in __all__)
from bayes_scaling.baselines.bootstrap import HuberBootstrap, huber_bootstrap, predict_interval
from bayes_scaling.baselines.curves import M4Fit, bnsl_point_fit, m4_fit, m4_predict
from bayes_scaling.baselines.huber import HUBER_DELTA, HuberFit, huber_fit

__all__ = [
    "HUBER_DELTA",
    "HuberBootstrap",
    "HuberFit",
    "M4Fit",
    "bnsl_point_fit",
    "huber_bootstrap",
    "huber_fit",
    "m4_fit",
    "m4_predict",
    "predict_interval",
]
