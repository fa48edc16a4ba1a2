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


def test_a_file_with_a_c_rewritten_by_the_cost_law_reads_back_the_nominal_6nd(tmp_path):
    """Fits saved between 9741b6e and a519964 rewrote a C derived as 6ND as the cost law's C(N, D) (note "C = f(N) D
    of the fit's cost law"): on load the nominal C = 6 N D and its note come back (the ladder's budgets grouped
    again as planned); a law of C alone, which read the rewritten C, keeps it."""
    from dataclasses import replace

    from bayes_scaling.cost import CostLaw
    from bayes_scaling.data.runs import load_runs
    from bayes_scaling.result import load_fit
    from bayes_scaling.testing import fake_fit, runs_frame

    kaplan = CostLaw("kaplan", n_ctx=4096, aspect_ratio=64)
    note = f"C = f(N) D of the fit's cost law ({kaplan.describe()})"
    for law, truth in (("chinchilla", None), ("kaplan_c", {"alpha_C": 0.050, "C_c": 3.1e8})):
        runs = load_runs(runs_frame(law, truth).drop(columns="compute"))
        assert runs.derived == ("C = 6 N D",)
        f = runs.frame
        old = replace(runs, frame=f.assign(C=kaplan.flops(f["N"].to_numpy(float), f["D"].to_numpy(float))),
                      derived=(note,))
        back = load_fit(fake_fit(law, truth, runs=old, draws=20).save(tmp_path / f"{law}.nc")).runs
        if law == "chinchilla":
            assert back.derived == ("C = 6 N D",)
            np.testing.assert_allclose(back.frame["C"], 6.0 * f["N"] * f["D"], rtol=1e-12)
        else:
            assert back.derived == (note,)
            np.testing.assert_allclose(back.frame["C"], old.frame["C"], rtol=1e-12)
