"""Fits as stored and viewed: :class:`FitResult` (one law's posterior) and :class:`EnsembleResult`
(several laws on the same runs, with stacking weights); :func:`load_fit` reads either from disk."""

from bayes_scaling.result.ensemble import ENSEMBLE_FORMAT, EnsembleResult, require_fit
from bayes_scaling.result.fit import FORMAT, FitResult, package_versions

__all__ = ["ENSEMBLE_FORMAT", "FORMAT", "EnsembleResult", "FitResult", "load_fit", "package_versions", "require_fit"]


def load_fit(path, argument: str = "FIT"):
    """A :class:`FitResult` or an :class:`EnsembleResult`, whichever the file holds (``argument``: the
    command-line argument that named it, for the message when ``path`` is empty)."""
    import h5py

    from bayes_scaling.errors import BayesScalingError
    from bayes_scaling.files import given_path

    p = given_path(path, argument)
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
