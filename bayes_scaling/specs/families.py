"""Likelihood families of the law's response around the law: each one owns its PyMC observation,
its log density, its draws, its convolution with a Normal discrepancy and the scale it lives on, so
no other module switches on the family's name.

A family is standardised: ``sigma`` is its scale parameter on the family's scale (Student-t and
Normal: the scale; Laplace: b, so its sd is sigma * sqrt(2); :attr:`Family.sd_per_scale` says how
many standard deviations one unit of scale is). Laws return the log of their response;
:meth:`Family.location` maps that log to the family's scale (log-loss for the loss families, the logit
of a fraction for ``logit_normal``) and :meth:`Family.from_location` maps back. Register a new family
with :func:`register`.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from bayes_scaling.conventions import as_number, check_positive
from bayes_scaling.errors import BayesScalingError


class Family:
    """A standardised noise distribution of log-loss (location 0, scale 1)."""

    name: ClassVar[str]

    def __init__(self, nu: float = 4.0):
        self.nu = check_positive("nu (the Student-t degrees of freedom) must be a finite number > 0", nu, "nu")

    def describe(self) -> str:
        """Its name for reports (e.g. ``"Student-t (nu = 4)"``)."""
        raise NotImplementedError

    @property
    def sd_per_scale(self) -> float:
        """The standard deviation of the standardised noise: a noise of scale ``sigma`` has sd
        ``sd_per_scale * sigma`` (``math.inf`` where the variance is not finite)."""
        raise NotImplementedError

    def observe(self, pm: Any, name: str, mu: Any, sigma: Any, observed: Any, **kw) -> Any:
        """The observed PyMC variable of log-loss around ``mu`` with scale ``sigma``."""
        raise NotImplementedError

    def logpdf(self, z: np.ndarray) -> np.ndarray:
        """log density of the standardised residual ``z`` (subtract log sigma for the residual's)."""
        raise NotImplementedError

    def draws(self, rng: np.random.Generator, shape) -> np.ndarray:
        """Standardised noise draws of ``shape``."""
        raise NotImplementedError

    def logpdf_plus_normal(self, r: np.ndarray, sigma: np.ndarray, s) -> np.ndarray:
        """log density at residual ``r`` of this noise with scale ``sigma`` plus an independent
        Normal(0, s) (the extrapolation discrepancy); ``s`` one number >= 0 or an array (e.g. one per
        posterior draw) that broadcasts with ``r`` and ``sigma``, all on the family's scale."""
        raise NotImplementedError

    def location(self, xp: Any, log_value: Any) -> Any:
        """The family's scale from the log of the response (``xp``: numpy or pytensor.tensor):
        the identity for the families of log-loss."""
        return log_value

    def from_location(self, xp: Any, value: Any) -> Any:
        """Inverse of :meth:`location`: the log of the response."""
        return value

    def location_slope(self, value: np.ndarray) -> np.ndarray:
        """d location / d response at ``value`` (the response, e.g. a loss in nats/token): converts a
        standard error of the response to the family's scale (delta method); 1 / value on log-loss."""
        return 1.0 / np.asarray(value, float)

    def noise_unit(self, response_unit: str) -> str:
        """The unit of the noise scale ``sigma``: the family's scale of a response in
        ``response_unit`` (``log(nats/token)`` for the families of log-loss)."""
        return f"log({response_unit})"

    def add_noise(self, xp: Any, log_value: Any, sigma: Any, noise: Any) -> Any:
        """log of a new observation: standardised ``noise`` (:meth:`draws`) with scale ``sigma`` added on
        the family's scale (:meth:`location`) around the law's ``log_value``."""
        return self.from_location(xp, self.location(xp, log_value) + sigma * noise)

    def scale_with_se(self, sigma: Any, log_value: Any, se: Any, name: str = "se") -> Any:
        """The noise scale of a new observation whose evaluation standard error is ``se`` (in the response's
        units: the loss column's, or a fraction for a metric): ``sigma`` and ``se`` converted to the family's
        scale at the law's ``log_value`` (:meth:`location_slope`, the delta method) added in quadrature.
        ``sigma`` and ``log_value`` broadcast (NumPy arrays or xarray objects, whose dims are kept);
        ``name`` names the argument in the error for a bad ``se``."""
        s = as_number(se)
        if not (np.isfinite(s) and s >= 0):
            raise BayesScalingError(f"the evaluation standard error {name} must be a finite number >= 0 (in the "
                                    f"response's units: the loss column's, or a fraction for a metric), got {se!r}",
                                    quantity="SE")
        slope = self.location_slope(np.exp(np.asarray(log_value, float)))
        if hasattr(log_value, "dims"):  # an xarray object: keep its dims
            slope = log_value.copy(data=slope)
        return np.sqrt(sigma ** 2 + (s * slope) ** 2)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.describe()}>"


class StudentT(Family):
    name = "student_t"

    def describe(self) -> str:
        return f"Student-t (nu = {self.nu:g})"

    @property
    def sd_per_scale(self) -> float:
        """sqrt(nu / (nu - 2)) for nu > 2 (sqrt(2) at nu = 4); ``math.inf`` for nu <= 2, whose variance
        is infinite (1 < nu <= 2) or undefined (nu <= 1)."""
        return float(np.sqrt(self.nu / (self.nu - 2))) if self.nu > 2 else float("inf")

    def observe(self, pm, name, mu, sigma, observed, **kw):
        return pm.StudentT(name, nu=np.float64(self.nu), mu=mu, sigma=sigma, observed=observed, **kw)

    def logpdf(self, z):
        # closed form (scipy.stats.t.logpdf's value, ~10x faster on large arrays)
        return self._log_const() - (self.nu + 1) / 2 * np.log1p(np.asarray(z) ** 2 / self.nu)

    def _log_const(self) -> float:
        from scipy.special import gammaln

        nu = self.nu
        return float(gammaln((nu + 1) / 2) - gammaln(nu / 2) - 0.5 * np.log(nu * np.pi))

    def draws(self, rng, shape):
        return rng.standard_t(self.nu, size=shape)

    def logpdf_plus_normal(self, r, sigma, s):
        if np.all(np.asarray(s) == 0):
            return self.logpdf(np.asarray(r, float) / sigma) - np.log(sigma)
        return student_t_normal_logpdf(r, sigma, s, self.nu)


class Normal(Family):
    name = "normal"

    def describe(self) -> str:
        return "Gaussian"

    @property
    def sd_per_scale(self) -> float:
        return 1.0

    def observe(self, pm, name, mu, sigma, observed, **kw):
        return pm.Normal(name, mu=mu, sigma=sigma, observed=observed, **kw)

    def logpdf(self, z):
        from scipy import stats

        return stats.norm.logpdf(z)

    def draws(self, rng, shape):
        return rng.standard_normal(shape)

    def logpdf_plus_normal(self, r, sigma, s):
        v = sigma ** 2 + s * s  # exact: the sum of two Normals
        return -0.5 * np.log(2 * np.pi) - 0.5 * np.log(v) - 0.5 * r ** 2 / v


class Laplace(Family):
    """The Bayesian counterpart of Hoffmann et al.'s Huber loss with a small delta (close to L1)."""

    name = "laplace"

    def describe(self) -> str:
        return "Laplace"

    @property
    def sd_per_scale(self) -> float:
        """sqrt(2): Laplace(0, b) has variance 2 b^2."""
        return float(np.sqrt(2.0))

    def observe(self, pm, name, mu, sigma, observed, **kw):
        return pm.Laplace(name, mu=mu, b=sigma, observed=observed, **kw)

    def logpdf(self, z):
        from scipy import stats

        return stats.laplace.logpdf(z)

    def draws(self, rng, shape):
        return rng.laplace(0.0, 1.0, size=shape)

    def logpdf_plus_normal(self, r, sigma, s):
        return laplace_normal_logpdf(r, sigma, s)


def laplace_normal_logpdf(r: np.ndarray, b: np.ndarray, s) -> np.ndarray:
    """log density of Laplace(0, b) + Normal(0, s) at ``r`` (exact convolution, stable in the tails);
    ``s`` one number >= 0 or an array broadcasting with ``r`` and ``b`` (where it is 0: the Laplace alone)."""
    from scipy.special import erfc, erfcx

    r, b, s = (np.asarray(a, float) for a in (r, b, s))
    plain = -np.log(2 * b) - np.abs(r) / b
    if np.all(s == 0):
        return plain
    zero = s == 0
    s = np.where(zero, 1.0, s)  # any positive stand-in: those points take the Laplace alone below

    def log_term(x, e):  # log(exp(e) erfc(x)), with e - x^2 = -r^2 / (2 s^2)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            return np.where(x >= 0, np.log(erfcx(np.maximum(x, 0.0))) - r * r / (2 * s * s),
                            e + np.log(erfc(np.minimum(x, 0.0))))

    base = s * s / (2 * b * b)
    t1 = log_term((s / b - r / s) / np.sqrt(2), base - r / b)
    t2 = log_term((s / b + r / s) / np.sqrt(2), base + r / b)
    return np.where(zero, plain, np.logaddexp(t1, t2) - np.log(4 * b))


#: Trapezoid step in log(lambda), in units of the mixing density's width sqrt(2 / nu) (see below).
_T_STEP_WIDTHS = 0.8
#: Log-density the lower end of the log(lambda) range lies below the heaviest tail's peak (nats).
_T_LOWER_NATS = 20.0
#: Widths above the light end's peak where the range stops (the integrand falls as exp(-lambda) there).
_T_UPPER_WIDTHS = 4.0
_T_CHUNK = 1 << 22  # elements of (node x residual) held at once


def student_t_normal_logpdf(r: np.ndarray, sigma: np.ndarray, s, nu: float) -> np.ndarray:
    """log density at ``r`` of t_nu(0, sigma) + Normal(0, s) (``r``, ``sigma``, ``s`` in the same unit,
    e.g. log-loss; ``s`` >= 0, one number or an array, e.g. one per posterior draw): the exact convolution,
    by quadrature.

    The t is a scale mixture of Normals (t_nu(sigma) = Normal(0, sigma^2 / lambda), lambda ~ Gamma(nu/2,
    rate nu/2)), so the sum is Normal(0, sigma^2 / lambda + s^2) mixed over lambda. The integral over
    u = nu lambda / 2 is taken by the trapezoid rule in log u, which converges geometrically for this
    smooth integrand (Trefethen & Weideman 2014, SIAM Rev. 56:385): the step is a fixed fraction of the
    mixing density's width in log u (sqrt(2 / nu)); the range runs from far below the peak of the largest
    |r| / sigma's tail (small lambda, the t's heavy tail) to above that of lambda ~ 1 (the Normal's core),
    so it holds for every s / sigma. Largest error of the log density against adaptive quadrature
    (|r| / sigma <= 50, s / sigma <= 100, nu in 2.5..30): < 1e-4 nats. Broadcasts ``r``, ``sigma`` and
    ``s``; its cost is one exponential per node and value (about 20-40 nodes), in chunks of
    ``_T_CHUNK`` node x value elements."""

    r, sigma, s = np.broadcast_arrays(*(np.asarray(a, float) for a in (r, sigma, s)))
    half = nu / 2.0
    width = 1.0 / np.sqrt(half)
    z_max = float(np.max(np.abs(r) / sigma)) if r.size else 0.0
    lo = np.log((half + 0.5) / (1.0 + z_max ** 2 / nu)) - _T_LOWER_NATS / (half + 0.5)
    hi = np.log(half + 0.5) + _T_UPPER_WIDTHS * width
    h = _T_STEP_WIDTHS * width
    w = h * np.arange(np.floor(lo / h), np.ceil(hi / h) + 1)  # on one lattice: a wider range only adds nodes
    if len(w) * r.size <= _T_CHUNK:
        return _t_normal_nodes(r, sigma, s, nu, w, h)
    flat = [a.reshape(-1) for a in (r, sigma, s)]  # copies of broadcast views: one value each
    step = max(1, _T_CHUNK // len(w))
    return np.concatenate([_t_normal_nodes(*(a[i:i + step] for a in flat), nu, w, h)
                           for i in range(0, r.size, step)]).reshape(r.shape)


def _t_normal_nodes(r, sigma, s, nu, w, h):
    """:func:`student_t_normal_logpdf` on the nodes ``w`` (log u, step ``h``)."""
    from scipy.special import gammaln

    half = nu / 2.0
    w = w.reshape((-1,) + (1,) * r.ndim)
    v = (half * sigma ** 2) * np.exp(-w) + s * s  # variance given u (node, ...sigma)
    const = np.log(h) - gammaln(half) - 0.5 * np.log(2 * np.pi)
    c = half * w - np.exp(w) - 0.5 * np.log(v) + const  # log(u^(nu/2) e^-u / Gamma(nu/2)) + Normal's norm
    t = c - (0.5 * r * r) * (1.0 / v)
    m = t.max(axis=0)
    t -= m
    np.exp(t, out=t)
    return m + np.log(t.sum(axis=0))


class LogitNormal(Normal):
    """A bounded metric m in (0, 1) (accuracy as a fraction): logit(m) ~ Normal(logit(mu), sigma), so
    draws never leave (0, 1) and the noise shrinks near the floor and the ceiling. A law mean at or
    above 1 is held just below 1 (its logit stays finite; priors keep the ceiling below 1)."""

    name = "logit_normal"
    #: Largest log-mean the logit is taken of (mean 1 - 1e-9).
    LOG_MAX = float(np.log1p(-1e-9))

    def describe(self) -> str:
        return "logit-normal (accuracy on the logit scale)"

    def observe(self, pm, name, mu, sigma, observed, **kw):
        import pytensor.tensor as pt

        return pm.Normal(name, mu=self.location(pt, mu), sigma=sigma, observed=self.location(pt, observed), **kw)

    def location(self, xp, log_value):
        lv = xp.minimum(log_value, self.LOG_MAX)
        return lv - xp.log(-xp.expm1(lv))  # logit(m) = log m - log(1 - m)

    def location_slope(self, value):
        m = np.asarray(value, float)
        return 1.0 / (m * (1.0 - m))  # d logit(m) / dm

    def from_location(self, xp, value):
        return -xp.logaddexp(0.0, -value)  # log expit

    def noise_unit(self, response_unit):
        return f"logit({response_unit})"


FAMILIES: dict[str, type[Family]] = {}


def register(cls: type[Family]) -> type[Family]:
    """Make a family available to specs by its ``name``."""
    FAMILIES[cls.name] = cls
    return cls


for _cls in (StudentT, Normal, Laplace, LogitNormal):
    register(_cls)


def family_names() -> tuple[str, ...]:
    return tuple(FAMILIES)


def get_family(name: str, nu: float = 4.0) -> Family:
    """The family called ``name`` (``nu``: Student-t's degrees of freedom, ignored by the others)."""
    if not isinstance(name, str) or name not in FAMILIES:
        raise BayesScalingError(f"likelihood family must be one of {family_names()}, got {name!r}", quantity="family")
    return FAMILIES[name](nu)
