"""The datasets package's pooch cache and manifest, on a small made-up file (no shared data, no network)."""

from __future__ import annotations

import hashlib
import os
import stat
import urllib.error
import urllib.request

import pooch
import pytest

import bayes_scaling.datasets as bsd
from bayes_scaling.datasets.manifest import read_manifest
from bayes_scaling.errors import BayesScalingError

BYTES = b"N,D,loss\n1e8,2e9,3.1\n2e8,4e9,2.9\n"
SHA = hashlib.sha256(BYTES).hexdigest()
PATH = "toy_2026/toy.csv"


@pytest.fixture
def toy(tmp_path, monkeypatch):
    """A registered dataset ``toy`` whose one file is served from a file:// URL; urlopen sees only that."""
    source = tmp_path / "source.csv"
    source.write_bytes(BYTES)
    calls = []
    real = urllib.request.urlopen

    def guarded(url, *args, **kwargs):
        calls.append(url)
        if not str(url).startswith("file:"):
            raise urllib.error.URLError("network disabled in tests")
        return real(url, *args, **kwargs)

    monkeypatch.setattr(urllib.request, "urlopen", guarded)
    monkeypatch.delenv(bsd.ENV_MIRROR, raising=False)
    ds = bsd.Dataset(name="toy", title="toy", files=(bsd.DataFile(PATH, SHA, (source.as_uri(),)),), citation="c",
                     license="l", units="u", loader=lambda get: None)
    monkeypatch.setitem(bsd.REGISTRY, "toy", ds)
    return source, calls


def test_download_goes_through_pooch_with_the_pinned_hash(toy, tmp_path, monkeypatch, capfd):
    seen = []
    real_retrieve = pooch.retrieve

    def spy(url, known_hash=None, **kwargs):
        seen.append(known_hash)
        return real_retrieve(url, known_hash=known_hash, **kwargs)

    monkeypatch.setattr(pooch, "retrieve", spy)
    path = bsd.fetch("toy", tmp_path / "home")
    assert path == tmp_path / "home" / PATH and path.read_bytes() == BYTES
    assert seen == [f"sha256:{SHA}"]
    assert capfd.readouterr().err == ""  # pooch's "Downloading data from ..." stays quiet
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~_umask()  # not pooch's 0600 temporary file
    assert sorted(p.name for p in path.parent.iterdir()) == ["toy.csv"]


def test_cached_file_is_reused_offline(toy, tmp_path, monkeypatch):
    source, calls = toy
    home = tmp_path / "home"
    bsd.fetch("toy", home)
    assert len(calls) == 1
    source.unlink()  # the URL is gone: only the cache can answer
    assert bsd.fetch("toy", home) == home / PATH
    assert bsd.fetch("toy", home, download=False) == home / PATH
    assert len(calls) == 1


def test_wrong_hash_is_refused_in_one_line(toy, tmp_path):
    source, _ = toy
    source.write_bytes(BYTES + b"3e8,6e9,2.8\n")
    home = tmp_path / "home"
    with pytest.raises(BayesScalingError) as ei:
        bsd.fetch("toy", home)
    msg = str(ei.value)
    assert "\n" not in msg and hashlib.sha256(source.read_bytes()).hexdigest() in msg and f"expected {SHA}" in msg
    assert "nothing was written" in msg and not home.exists()


def test_tampered_cached_file_is_refused_not_replaced(toy, tmp_path):
    home = tmp_path / "home"
    local = bsd.fetch("toy", home)
    local.write_bytes(BYTES.replace(b"3.1", b"3.2"))
    with pytest.raises(BayesScalingError) as ei:
        bsd.fetch("toy", home)
    assert "\n" not in str(ei.value) and "delete it to re-download" in str(ei.value)
    assert local.read_bytes() == BYTES.replace(b"3.1", b"3.2")  # pooch would have re-downloaded it


def test_manifest_and_loaders_match():
    assert list(read_manifest()) == bsd.list_datasets()  # every entry has a loader, in manifest order
    with pytest.raises(BayesScalingError) as ei:
        bsd.register("no_such_dataset")
    assert "\n" not in str(ei.value) and "manifest.toml" in str(ei.value)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
