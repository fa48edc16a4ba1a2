"""Fits as stored and viewed: :class:`FitResult` (one law's posterior) and :class:`EnsembleResult`
(several laws on the same runs, with stacking weights); :func:`load_fit` reads either from disk."""

from bayes_scaling.result.ensemble import ENSEMBLE_FORMAT, EnsembleResult
from bayes_scaling.result.fit import FORMAT, FitResult, package_versions

__all__ = ["ENSEMBLE_FORMAT", "FORMAT", "EnsembleResult", "FitResult", "load_fit", "package_versions"]


def load_fit(path):
    """A :class:`FitResult` or an :class:`EnsembleResult`, whichever the file holds."""
    from pathlib import Path

    import h5py

    from bayes_scaling.errors import BayesScalingError

    p = Path(path)
    if p.is_file():
        try:
            with h5py.File(p, "r") as f:
                marker = f.attrs.get("bayes_scaling_format")
        except OSError:
            marker = None
        if isinstance(marker, bytes):
            marker = marker.decode()
        if marker == ENSEMBLE_FORMAT:
            return EnsembleResult.load(p)
    elif p.exists():
        raise BayesScalingError(f"fit file {str(p)!r} is not a file")
    return FitResult.load(p)
