"""Saving and loading fits (no sampling: posteriors from ``fake_fit``)."""

from __future__ import annotations

import numpy as np

from bayes_scaling.testing import fake_hierarchical_fit


def test_hierarchical_fit_round_trips_exactly_and_is_readable_by_others(tmp_path):
    """Text columns (the group labels) come back with the same dtype, the whole tree is identical, and
    the saved file gets the usual permissions (not the temp file's 0600)."""
    import os
    import stat

    import xarray as xr

    from bayes_scaling.result import FitResult

    h = fake_hierarchical_fit(draws=20)
    old = os.umask(0o022)
    try:
        path = h.save(tmp_path / "h.nc")
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    back = FitResult.load(path)
    xr.testing.assert_identical(back.tree, h.tree)
    assert back.spec.content_key() == h.spec.content_key()


def test_package_versions_are_read_once_per_process(monkeypatch):
    """Every fit records the package versions; reading them parses metadata files (~30 ms), so they
    are read once per process, not at every fit of a batch."""
    from importlib import metadata

    from bayes_scaling.result import package_versions

    first = package_versions()
    assert first["numpy"] == np.__version__ and "Python" in first
    monkeypatch.setattr(metadata, "version", lambda pkg: (_ for _ in ()).throw(AssertionError("read again")))
    assert package_versions() == first
    first["numpy"] = "edited by a caller"  # each call hands out its own dict: the cache is not edited
    assert package_versions()["numpy"] == np.__version__
