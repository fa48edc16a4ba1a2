"""The design's outcome log-likelihoods (candidates x worlds x draws) are filled in blocks of candidates, so
a design's memory is the array itself: the numbers equal the one-block computation, a 2,500-candidate design
at the default 128 worlds passes the bound, and a design too large for memory is refused with a fix that
never asks for fewer than 8 worlds (``design --worlds``' minimum)."""

from __future__ import annotations

import os

import numpy as np
import pytest

import bayes_scaling.queries.design_loglik as dl
from bayes_scaling import BayesScalingError
from bayes_scaling.queries.design import Preposterior, Worlds, draws_sigma_family, outcome_loglik
from bayes_scaling.testing import fake_fit

TARGET = 1e23  # FLOPs


@pytest.fixture(scope="module")
def pre():
    return Preposterior(*draws_sigma_family(fake_fit(draws=150)), TARGET, max_draws=300)


def one_block(pre, log_mu, w):
    """The unblocked formula (as before blocks): one (candidates, worlds, draws) temporary."""
    y = log_mu[w.truth] + pre.sigma[w.truth][:, None] * w.noise
    z = (y.T[:, :, None] - log_mu.T[:, None, :]) / pre.sigma[None, None, :]
    return pre.family.logpdf(z) - np.log(pre.sigma)[None, None, :]


@pytest.mark.parametrize("block", [1, 300 * 16, 300 * 16 * 3 + 7, 2**23])
def test_blocks_give_the_same_numbers(pre, block, monkeypatch):
    n = np.geomspace(1e8, 3e9, 11)
    d = 20 * n
    w = Worlds.draw(pre, len(n), 16, seed=3)
    log_mu = pre.log_mean(n, d)
    expected = one_block(pre, log_mu, w)
    monkeypatch.setattr(dl, "LOGLIK_BLOCK_VALUES", block)
    got = outcome_loglik(pre, log_mu, w)
    assert got.shape == (11, 16, pre.size)
    np.testing.assert_array_equal(got, expected)


def test_a_real_design_size_passes_on_a_16_gb_machine(monkeypatch):
    monkeypatch.setattr(dl, "physical_memory_bytes", lambda: 16e9)
    dl.check_loglik_memory(2500, 128, 800)  # 2.05 GB: 6ed5ca0 ran it (37 s)


@pytest.mark.parametrize("candidates, worlds, quantity, fix", [
    (2500, 128, "candidates", "at most 610 candidates"),  # 1 GB machine: 0.5 GB / (128 x 800 x 8 B)
    (2500, 10**6, "worlds", "at most 31 worlds"),  # no candidate fits at 1e6 worlds; 31 worlds at 2,500 do
    (200_000, 128, "candidates", "at most 610 candidates"),  # fewer than 8 worlds would fit: not suggested
])
def test_too_large_a_design_is_refused_with_a_fix_that_fits(candidates, worlds, quantity, fix, monkeypatch):
    monkeypatch.setattr(dl, "physical_memory_bytes", lambda: 1e9)
    with pytest.raises(BayesScalingError, match=fix) as e:
        dl.check_loglik_memory(candidates, worlds, 800)
    assert e.value.quantity == quantity
    text = str(e.value)
    assert len(text.splitlines()) == 1
    for k in range(1, 8):
        assert f"at most {k} worlds" not in text


def test_the_last_resort_advice_counts_the_candidates_and_unknown_memory_has_a_bound(monkeypatch):
    monkeypatch.setattr(dl, "physical_memory_bytes", lambda: 1e9)
    # 10^6 worlds: no candidate fits; at 8 worlds 200,000 candidates need fewer than 800 draws (0.5 GB / 12.8 MB)
    with pytest.raises(BayesScalingError, match="fewer candidates, or design on a fit of at most 39 draws") as e:
        dl.check_loglik_memory(200_000, 10**6, 800)
    assert e.value.quantity == "candidates"
    monkeypatch.setattr(dl, "physical_memory_bytes", lambda: None)  # a platform that does not say
    dl.check_loglik_memory(100, 128, 800)  # 82 MB
    with pytest.raises(BayesScalingError, match="not known"):
        dl.check_loglik_memory(10**6, 10**6, 10**6)


def test_a_container_limit_below_the_machine_memory_is_the_bound(monkeypatch, tmp_path):
    limit = tmp_path / "memory.max"
    limit.write_text("4294967296\n")  # 4 GiB
    monkeypatch.setattr(dl, "_CGROUP_LIMITS", (str(limit),))
    assert dl.physical_memory_bytes() == 4294967296.0
    limit.write_text("max\n")  # no limit: the machine's memory
    assert dl.physical_memory_bytes() == float(os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
