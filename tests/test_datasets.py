"""Dataset loaders (no sampling): counts and units on the local copies, hash checks, download, offline errors.

No test touches the network: an autouse fixture lets ``urlopen`` open only ``file://`` URLs.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import time
import urllib.error
import urllib.request
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from conftest import DATASETS

import bayes_scaling as bs
import bayes_scaling.datasets as bsd
from bayes_scaling.data.runs import RunTable
from bayes_scaling.errors import BayesScalingError

EPOCH = "chinchilla_epoch_besiroglu2024/svg_extracted_data.csv"
_REAL_URLOPEN = urllib.request.urlopen


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """Only file:// URLs may be opened; anything else fails at once, as it would offline."""

    def guarded(url, *args, **kwargs):
        target = url if isinstance(url, str) else url.full_url
        if not target.startswith("file:"):
            raise urllib.error.URLError("network disabled in tests")
        return _REAL_URLOPEN(url, *args, **kwargs)

    monkeypatch.setattr(urllib.request, "urlopen", guarded)
    monkeypatch.delenv(bsd.ENV_MIRROR, raising=False)


@pytest.fixture
def home():
    """The local copies (``$BAYES_SCALING_DATASETS``, default ../shared/datasets); skips when absent."""
    if not (DATASETS / EPOCH).exists():
        pytest.skip(f"datasets not found at {DATASETS} (set BAYES_SCALING_DATASETS)")
    return DATASETS


def _one_line(err: pytest.ExceptionInfo, *parts: str) -> str:
    msg = str(err.value)
    assert "\n" not in msg
    for p in parts:
        assert p in msg, (p, msg)
    return msg


# ---------------------------------------------------------------- registry


def test_registry_descriptors_are_complete():
    names = bsd.list_datasets()
    assert {"chinchilla_epoch", "revisiting", "datablations", "gemstones", "isoflops", "marin", "marin_raw",
            "bnsl_addition"} <= set(names)
    for name in names:
        ds = bsd.info(name)
        assert ds.citation and ds.license and ds.units and ds.loader.__doc__
        for f in ds.files:
            assert re.fullmatch(r"[0-9a-f]{64}", f.sha256)
            assert f.path.count("/") >= 1
            assert f.urls or f.derived_from, f"{name}: {f.path} has neither a URL nor a provenance note"
            for url in f.urls:  # pinned to a full commit hash in the source repository
                assert re.match(r"https://raw\.githubusercontent\.com/[^/]+/[^/]+/[0-9a-f]{40}/", url), url


def test_pinned_hashes_match_local_copies(home):
    for name in bsd.list_datasets():
        for f in bsd.info(name).files:
            path = bsd.fetch(name, home, download=False, file=f.name)
            assert path == home / f.path
            assert hashlib.sha256(path.read_bytes()).hexdigest() == f.sha256


def test_data_home_resolution(monkeypatch, tmp_path):
    monkeypatch.setenv(bsd.ENV_HOME, str(tmp_path / "env"))
    assert bsd.data_home(tmp_path / "arg") == tmp_path / "arg"
    assert bsd.data_home() == tmp_path / "env"
    monkeypatch.delenv(bsd.ENV_HOME)
    assert bsd.data_home() == (bsd.DEFAULT_HOME).expanduser()
    assert str(bsd.data_home()).endswith(".cache/bayes_scaling/datasets")


def test_load_reads_the_environment_variable(home, monkeypatch):
    monkeypatch.setenv(bsd.ENV_HOME, str(home))
    runs = bsd.load("bnsl_addition")
    assert len(runs) == 17
    assert runs.source == str(home / bsd.info("bnsl_addition").files[0].path)
    assert runs.sha256 == bsd.info("bnsl_addition").files[0].sha256
    assert any("Caballero" in n for n in runs.notes)


def test_unknown_dataset_and_option_are_one_line_errors(home):
    with pytest.raises(BayesScalingError) as ei:
        bsd.load("chinchila", data_home=home)
    _one_line(ei, "unknown dataset 'chinchila'", "chinchilla_epoch")
    with pytest.raises(BayesScalingError) as ei:
        bsd.load("datablations", data_home=home, subset=182)
    _one_line(ei, "no option(s) ['subset']", "paper_subset")
    with pytest.raises(BayesScalingError) as ei:
        bsd.fetch("gemstones", home, download=False, file="nope.csv")
    _one_line(ei, "no file 'nope.csv'", "gemstones_cool_end.csv")


# ---------------------------------------------------------------- loaders: counts and units


def test_chinchilla_epoch(home):
    runs = bsd.load("chinchilla_epoch", data_home=home)
    assert isinstance(runs, RunTable) and len(runs) == 245
    f = runs.frame
    assert runs.params_kind == "total" and runs.derived == ("D = C / (6 N)",)
    # D = C / (6N) in tokens: 245M ... 318B; N 57M ... 16B parameters; C in FLOPs
    assert 2.4e8 < f["D"].min() < 2.5e8 and 3.1e11 < f["D"].max() < 3.2e11
    assert 5.7e7 < f["N"].min() and f["N"].max() < 1.7e10
    np.testing.assert_allclose(f["C"], 6 * f["N"] * f["D"])
    assert 1.9 < f["loss"].min() and f["loss"].max() < 5.1
    epoch240 = bsd.load("chinchilla_epoch", data_home=home, drop_highest_loss=5)
    assert len(epoch240) == 240 and epoch240.frame["loss"].max() < 5.0


def test_datablations(home):
    runs = bsd.load("datablations", data_home=home)
    assert len(runs) == 296
    f = runs.frame
    assert {"N", "D", "U", "C", "loss", "seed"} <= set(f.columns)
    assert (f["U"] <= f["D"] * (1 + 1e-9)).all()
    assert 7e6 < f["N"].min() and f["N"].max() < 9e9 and f["D"].max() <= 9e11
    assert f["seed"].notna().any() and f["seed"].isna().any()
    paper = bsd.load("datablations", data_home=home, paper_subset=True)
    assert len(paper) == 182


def test_gemstones(home):
    runs = bsd.load("gemstones", data_home=home)
    assert len(runs) == 199 and runs.covariate_names == ("log_aspect_ratio",)
    ratio = np.exp(runs.frame["log_aspect_ratio"])
    assert ratio.min() == pytest.approx(3.2) and ratio.max() == pytest.approx(320.0)
    assert 4.8e7 < runs.frame["N"].min() and runs.frame["N"].max() < 2.1e9
    assert runs.derived == ("C = 6 N D",)
    counts = {v: len(bsd.load("gemstones", data_home=home, variant=v)) for v in ("hot", "cool_begin", "hot_100bplus",
                                                                                  "lr_ablation_hot")}
    assert counts == {"hot": 220, "cool_begin": 199, "hot_100bplus": 770, "lr_ablation_hot": 200}
    with pytest.raises(BayesScalingError) as ei:
        bsd.load("gemstones", data_home=home, variant="cool")
    _one_line(ei, "variant must be one of", "cool_end")


def test_marin_from_compilation_and_raw_agree(home):
    runs = bsd.load("marin", data_home=home)
    assert len(runs) == 258 and runs.group_cols == ("dataset",)
    assert runs.frame["dataset"].value_counts().to_dict() == {"nemotron": 88, "comma": 85, "dclm": 85}
    f = runs.frame
    assert set(np.unique(f["C"])) <= {3 * b for b in (6e17, 1e18, 3e18, 6e18, 1e19, 3e19, 6e19, 1e20)}  # FLOPs, x3 budget
    ratio = f["C"] / (6 * f["N"] * f["D"])
    assert ratio.between(0.7, 1.1).all()
    raw = bsd.load("marin_raw", data_home=home)
    assert len(raw) == 258 and raw.frame["dataset"].value_counts().to_dict() == {"nemotron": 88, "comma": 85, "dclm": 85}
    key = ["dataset", "N", "D"]
    a, b = f.sort_values(key).reset_index(drop=True), raw.frame.sort_values(key).reset_index(drop=True)
    np.testing.assert_allclose(a["loss"], b["loss"])
    np.testing.assert_allclose(b["C"], a["C"], rtol=1e-4)  # logged GFLOPs x 1e9 = the nominal budget
    assert len(bsd.load("marin_raw", data_home=home, include_validation_optimal=True)) == 273
    one = bsd.load("marin", data_home=home, dataset="dclm")
    assert len(one) == 85 and one.group_cols == ()


def test_isoflops_compilation_needs_a_source(home):
    with pytest.raises(BayesScalingError) as ei:
        bsd.load("isoflops", data_home=home)
    _one_line(ei, "source=", "marin_202603")
    assert len(bsd.load("isoflops", data_home=home, source="misfitting")) == 176
    assert len(bsd.load("isoflops", data_home=home, source="epochai_chinchilla")) == 123
    with pytest.raises(BayesScalingError) as ei:
        bsd.load("isoflops", data_home=home, source="llama_3")
    _one_line(ei, "condition=", "exp_loss")
    llama = bsd.load("isoflops", data_home=home, source="llama_3", condition="exp_loss")
    assert len(llama) == 133 and llama.frame["loss"].between(1.9, 2.6).all()


def test_bnsl_keeps_the_split(home):
    runs = bsd.load("bnsl_addition", data_home=home)
    assert len(runs) == 17 and set(runs.frame.columns) == {"X", "loss", "split"}
    assert runs.frame["split"].tolist() == ["fit"] * 14 + ["extrapolate"] * 3
    assert runs.frame["X"].min() == 160 and runs.frame["X"].max() == 928
    fit = bsd.load("bnsl_addition", data_home=home, split="fit")
    assert len(fit) == 14 and runs.has("X") and not runs.has("N")


def test_revisiting_curves(home):
    ids = bsd.curves(data_home=home)
    assert len(ids) == 92 and len(set(ids)) == 92
    assert sum(i.startswith("IC|") for i in ids) == 72
    assert len(bsd.curves(data_home=home, domain=["NMT", "LM", "BB"])) == 20
    runs = bsd.load("revisiting", data_home=home, curve="IC|inet_5|ViT/B/16")
    assert len(runs) == 429 and runs.group_cols == ()
    assert runs.frame["split"].value_counts().to_dict() == {"extrapolate": 361, "fit": 68}
    assert ((runs.frame["training"] == 1) == (runs.frame["split"] == "fit")).all()
    assert runs.frame["loss"].between(0, 1).all() and 8e6 < runs.frame["X"].min()  # error rate vs examples seen
    assert any("error rate" in n for n in runs.notes)
    same = bsd.load("revisiting", data_home=home, curve=("IC", "inet_5", "ViT/B/16"), split="fit")
    assert len(same) == 68
    lm = bsd.load("revisiting", data_home=home, curve="LM|val_loss|1.68e+07")
    assert len(lm) == 119  # 476 rows with exact duplicates dropped
    assert len(bsd.load("revisiting", data_home=home, curve="LM|val_loss|1.68e+07", dedupe=False)) == 476
    everything = bsd.load("revisiting", data_home=home)
    assert len(everything) == 18883 + 712 and everything.group_cols == ("curve",)
    with pytest.raises(BayesScalingError) as ei:
        bsd.load("revisiting", data_home=home, curve="IC|inet_5|ViT/X")
    _one_line(ei, "no curve 'IC|inet_5|ViT/X'", "curves()")


def test_misfitting(home):
    runs = bsd.load("misfitting", data_home=home)
    assert len(runs) == 261 and runs.params_kind == "total"
    noemb = bsd.load("misfitting", data_home=home, params_kind="non-embedding", best_lr=True)
    assert noemb.params_kind == "non-embedding" and len(noemb) == 81
    assert noemb.frame["N"].min() < runs.frame["N"].min()


def test_misfitting_copied_rows_are_as_the_loader_says(home):
    """The loader's docstring: 21 pairs of final checkpoints share N, D, C and loss; 13 differ in peak
    LR, 8 repeat it, one pair is the same row twice; loading warns of 21 copied rows."""
    raw = pd.read_csv(home / "misfitting_li2025/scaling_results_last_ckpt_only.csv")
    copied = raw[raw.duplicated(["N", "D", "C", "loss"], keep=False)]
    sweep = raw[raw["sweep"].str.startswith("2024_11_10")]
    assert copied.index.equals(sweep.index) and set(copied["model"]) == {"misfitting_17m"}  # the whole sweep
    pairs = copied.groupby(["N", "D", "C", "loss"])
    assert pairs.ngroups == 21 and set(pairs.size()) == {2}
    same_lr = pairs["peak_lr"].nunique() == 1
    assert int(same_lr.sum()) == 8 and int((same_lr & (pairs["total_epochs"].nunique() > 1)).sum()) == 7
    assert int(raw.duplicated().sum()) == 1
    with pytest.warns(UserWarning, match="21 identical row"):
        bsd.load("misfitting", data_home=home)


# ---------------------------------------------------------------- hashes, download, offline


def _copy_epoch(home, dest_home):
    dest = dest_home / EPOCH
    dest.parent.mkdir(parents=True)
    shutil.copyfile(home / EPOCH, dest)
    return dest


def test_tampered_local_copy_raises(home, tmp_path):
    dest = _copy_epoch(home, tmp_path)
    assert bsd.fetch("chinchilla_epoch", tmp_path) == dest
    dest.write_bytes(dest.read_bytes().replace(b"5.005581996196243", b"5.005581996196244"))
    got = hashlib.sha256(dest.read_bytes()).hexdigest()
    with pytest.raises(BayesScalingError) as ei:
        bsd.load("chinchilla_epoch", data_home=tmp_path)
    _one_line(ei, "SHA-256", got, f"expected {bsd.info('chinchilla_epoch').files[0].sha256}")


def _with_urls(monkeypatch, name, *urls):
    ds = bsd.info(name)
    monkeypatch.setitem(bsd.REGISTRY, name, replace(ds, files=(replace(ds.files[0], urls=urls), *ds.files[1:])))


def test_download_from_pinned_url_into_empty_cache(home, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    _with_urls(monkeypatch, "chinchilla_epoch", "https://unreachable.invalid/x.csv", (home / EPOCH).as_uri())
    runs = bsd.load("chinchilla_epoch", data_home=cache)  # the first URL fails, the second serves the bytes
    target = cache / EPOCH
    assert len(runs) == 245 and runs.source == str(target)
    assert hashlib.sha256(target.read_bytes()).hexdigest() == bsd.info("chinchilla_epoch").files[0].sha256
    assert sorted(p.name for p in target.parent.iterdir()) == [target.name]  # no temporary file left
    _with_urls(monkeypatch, "chinchilla_epoch", "https://unreachable.invalid/x.csv")
    assert bsd.fetch("chinchilla_epoch", cache) == target  # cached: no download needed


def test_download_from_mirror_of_the_data_home(home, tmp_path, monkeypatch):
    monkeypatch.setenv(bsd.ENV_MIRROR, home.as_uri())
    cache = tmp_path / "cache"
    runs = bsd.load("datablations", data_home=cache, paper_subset=True)  # converted file: mirror only
    assert len(runs) == 182 and (cache / bsd.info("datablations").files[0].path).is_file()


def test_download_with_wrong_hash_leaves_nothing(home, tmp_path, monkeypatch):
    bad = tmp_path / "bad.csv"
    bad.write_bytes((home / EPOCH).read_bytes()[:-10])
    _with_urls(monkeypatch, "chinchilla_epoch", bad.as_uri())
    cache = tmp_path / "cache"
    cache.mkdir()
    with pytest.raises(BayesScalingError) as ei:
        bsd.fetch("chinchilla_epoch", cache)
    _one_line(ei, "could not be downloaded", bad.as_uri(), hashlib.sha256(bad.read_bytes()).hexdigest(),
              "nothing was written")
    assert list(cache.rglob("*")) == []  # no partial file, no stray folder


def test_offline_without_local_copy_is_a_clear_error(tmp_path, monkeypatch):
    calls = []

    def offline(url, *args, **kwargs):
        calls.append(url)
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    start = time.perf_counter()
    with pytest.raises(BayesScalingError) as ei:
        bsd.load("chinchilla_epoch", data_home=tmp_path / "empty")
    assert time.perf_counter() - start < 2
    url = bsd.info("chinchilla_epoch").files[0].urls[0]
    _one_line(ei, "dataset 'chinchilla_epoch'", "not found in", "could not be downloaded from", url,
              "Temporary failure in name resolution", "set BAYES_SCALING_DATASETS to a folder with a local copy")
    assert calls == [url]
    assert not (tmp_path / "empty").exists()
    with pytest.raises(BayesScalingError) as ei:
        bsd.fetch("chinchilla_epoch", tmp_path / "empty", download=False)
    _one_line(ei, "download=False", "BAYES_SCALING_DATASETS")
    with pytest.raises(BayesScalingError) as ei:
        bsd.load("gemstones", data_home=tmp_path / "empty")
    _one_line(ei, "no byte-identical public copy", "mcleish7/gemstone-scaling-laws", "BAYES_SCALING_DATASETS")
    assert len(calls) == 1


def test_cli_lists_and_exports_a_dataset_that_fit_reads_back(home, tmp_path, capsys):
    """`datasets NAME --out F.csv` writes the runs with fit's default column names and prints the fit
    options that read them back: the same runs, groups and further inputs."""
    import shlex

    from bayes_scaling.cli import main

    assert main(["datasets"]) == 0
    assert "marin:" in capsys.readouterr().out
    for name, options in (("marin", []), ("datablations", ["--option", "paper_subset=true"])):
        out = tmp_path / f"{name}.csv"
        assert main(["datasets", name, "--data-home", str(home), "--out", str(out), *options]) == 0
        printed = capsys.readouterr().out
        hint = shlex.split(printed.split("fit it with: bayes-scaling fit ", 1)[1])
        runs = bs.load_runs(str(out), group_cols=[hint[i + 1] for i, a in enumerate(hint) if a == "--group-col"],
                            extra_cols=dict(hint[i + 1].split("=") for i, a in enumerate(hint) if a == "--col"),
                            seed_col=next((hint[i + 1] for i, a in enumerate(hint) if a == "--seed-col"), None))
        want = bsd.load(name, data_home=home, **({"paper_subset": True} if options else {}))
        cols = ["N", "D", "C", "loss", *want.columns.groups, *(["U"] if "U" in want.frame else [])]
        pd.testing.assert_frame_equal(runs.frame[cols].reset_index(drop=True), want.frame[cols].reset_index(drop=True),
                                      check_dtype=False)
    for bad in (["datasets", "marin"], ["datasets", "marin", "--out", str(tmp_path / "x.txt")],
                ["datasets", "marin", "--out", str(tmp_path / "x.csv"), "--option", "oops"],
                ["datasets", "nope", "--out", str(tmp_path / "y.csv")]):
        assert main(bad) == 2
        assert len(capsys.readouterr().err.strip().splitlines()) == 1
    assert not (tmp_path / "x.csv").exists() and not (tmp_path / "y.csv").exists()


def test_cli_dataset_options_are_read_as_the_loader_types_them(home, tmp_path, capsys):
    from bayes_scaling.cli import main

    out = str(tmp_path / "m.csv")
    sizes = {}
    for value in ("false", "no", "true", "yes"):
        assert main(["datasets", "misfitting", "--data-home", str(home), "--out", out, "--option", f"best_lr={value}"]) == 0
        sizes[value] = int(capsys.readouterr().out.split("wrote ", 1)[1].split(": ", 1)[1].split()[0])
    assert sizes["false"] == sizes["no"] > sizes["true"] == sizes["yes"]
    for bad in ("best_lr=maybe", "checkpoints=1"):  # a bool that is neither; a text option given a number is text
        code = main(["datasets", "misfitting", "--data-home", str(home), "--out", out, "--option", bad])
        assert code == 2 and len(capsys.readouterr().err.strip().splitlines()) == 1
