"""Loaders for published scaling-law datasets, mapped to validated runs tables in canonical units.

Each dataset is a set of files under a *data home*, laid out like the project's ``shared/datasets``
folder (``<data_home>/<folder>/<file>``). :func:`data_home` resolves it from an argument, else the
environment variable ``BAYES_SCALING_DATASETS``, else ``~/.cache/bayes_scaling/datasets``.
:func:`fetch` returns a file's local path after checking its pinned SHA-256. When the file is
missing it is downloaded (from a mirror of the data-home layout given by ``mirror`` or
``BAYES_SCALING_DATASETS_MIRROR``, then from the byte-identical raw file in the source repository
at the pinned commit), checked, and renamed into place atomically. Files that were converted from
their source (datablations, Gemstones, BNSL) have no byte-identical public copy: they load only
from a data home or a mirror.

>>> runs = load("chinchilla_epoch")                       # doctest: +SKIP
>>> runs = load("revisiting", curve="IC|inet_5|ViT/B/16")  # doctest: +SKIP

Units follow :mod:`bayes_scaling.data.runs`: N in parameters, D in tokens, C in FLOPs, U in unique
tokens, X in the dataset's scale axis, loss as the source reports it (nats/token unless noted).
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import inspect
import os
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from bayes_scaling.files import atomic_path
from bayes_scaling.data.runs import RunTable, load_runs
from bayes_scaling.errors import BayesScalingError

ENV_HOME = "BAYES_SCALING_DATASETS"
ENV_MIRROR = "BAYES_SCALING_DATASETS_MIRROR"
DEFAULT_HOME = Path("~/.cache/bayes_scaling/datasets")
DOWNLOAD_TIMEOUT_S = 60.0
_CHUNK = 1 << 16
_GH = "https://raw.githubusercontent.com"
_HINT = f"set {ENV_HOME} to a folder with a local copy"


@dataclass(frozen=True)
class DataFile:
    """One file of a dataset.

    ``path`` is relative to the data home (``<folder>/<file>``); ``urls`` are byte-identical public
    copies at pinned commits, tried in order; ``derived_from`` names the upstream source of a file
    that was converted (so it has no byte-identical copy to download).
    """

    path: str
    sha256: str
    urls: tuple[str, ...] = ()
    derived_from: str = ""

    @property
    def name(self) -> str:
        """The file's path inside its dataset folder."""
        return self.path.split("/", 1)[1]


@dataclass(frozen=True)
class Dataset:
    """A registered dataset: files, provenance and the loader mapping it to a :class:`RunTable`."""

    name: str
    title: str
    files: tuple[DataFile, ...]
    citation: str
    license: str
    units: str
    loader: Callable[..., RunTable]
    curves: Callable[..., list[str]] | None = None

    def file(self, name: str | None = None) -> DataFile:
        if name is None:
            return self.files[0]
        for f in self.files:
            if name in (f.name, f.path):
                return f
        raise BayesScalingError(f"dataset {self.name!r} has no file {name!r}; its files are {[f.name for f in self.files]}")


# --------------------------------------------------------------------------------------------------
# Data home, hashing and download
# --------------------------------------------------------------------------------------------------


def data_home(path: str | os.PathLike | None = None) -> Path:
    """The data home: ``path``, else ``$BAYES_SCALING_DATASETS``, else ``~/.cache/bayes_scaling/datasets``."""
    if path is None or str(path) == "":
        path = os.environ.get(ENV_HOME) or DEFAULT_HOME
    return Path(path).expanduser()


_data_home = data_home  # ``fetch`` and ``load`` take an argument of the same name


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


class _HashMismatch(Exception):
    pass


def _download(url: str, target: Path, sha256: str, timeout: float = DOWNLOAD_TIMEOUT_S) -> None:
    """Stream ``url`` to a temporary file next to ``target``, check its SHA-256, then rename it into place.

    Nothing is left at ``target`` (or in a partial file) when the download or the check fails.
    """
    with atomic_path(target, ".part") as tmp:
        h = hashlib.sha256()
        with open(tmp, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as resp:
            while chunk := resp.read(_CHUNK):
                h.update(chunk)
                out.write(chunk)
        got = h.hexdigest()
        if got != sha256:
            raise _HashMismatch(f"downloaded bytes have SHA-256 {got}, expected {sha256} (the file changed upstream or "
                                f"the download was corrupted); nothing was written")


def _reason(err: BaseException) -> str:
    if isinstance(err, urllib.error.HTTPError):
        return f"HTTP {err.code} {err.reason}"
    if isinstance(err, urllib.error.URLError):
        return f"{err.reason}"
    return str(err) or type(err).__name__


def _mirror_url(mirror: str, rel: str) -> str:
    return mirror.rstrip("/") + "/" + urllib.parse.quote(rel)


def fetch(
    name: str,
    data_home: str | os.PathLike | None = None,
    download: bool = True,
    *,
    file: str | None = None,
    mirror: str | None = None,
) -> Path:
    """Local path of one file of dataset ``name`` (default: its first file), verified against its pinned SHA-256.

    A file already at ``<data_home>/<folder>/<file>`` is hashed and returned (a mismatch raises).
    Otherwise, with ``download``, it is fetched from ``mirror`` (or ``$BAYES_SCALING_DATASETS_MIRROR``,
    a URL laid out like the data home) and then the source repository's raw file at the pinned
    commit, written atomically into the data home. Every failure is one :class:`BayesScalingError`.
    """
    ds = info(name)
    f = ds.file(file)
    home = _data_home(data_home)
    local = home / f.path
    if local.is_file():
        got = _sha256(local)
        if got != f.sha256:
            raise BayesScalingError(
                f"dataset {ds.name!r} file {str(local)!r} has SHA-256 {got}, expected {f.sha256}: it is not the pinned "
                f"version; delete it to re-download, or replace it with the pinned copy"
            )
        return local
    where = f"not found in {str(home)!r}"
    if not download:
        raise BayesScalingError(f"dataset {ds.name!r} file {f.path!r} {where} and download=False; {_HINT}")
    mirror = mirror or os.environ.get(ENV_MIRROR) or None
    urls = ([_mirror_url(mirror, f.path)] if mirror else []) + list(f.urls)
    if not urls:
        raise BayesScalingError(
            f"dataset {ds.name!r} file {f.path!r} {where}, and it has no byte-identical public copy to download "
            f"(it was converted from {f.derived_from}); {_HINT} (or {ENV_MIRROR} to a mirror of that layout)"
        )
    created = [p for p in (local.parent, *local.parent.parents) if not p.exists()]
    try:
        local.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise BayesScalingError(f"dataset {ds.name!r}: cannot create {str(local.parent)!r} to download into "
                                f"({e.strerror or e}); {_HINT}") from None
    failures = []
    for url in urls:
        try:
            _download(url, local, f.sha256)
            return local
        except _HashMismatch as e:
            failures.append(f"{url}: {e}")
        except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as e:
            failures.append(f"{url}: {_reason(e)}")
    for p in created:  # leave the data home as it was (the folders are empty: nothing was written)
        with contextlib.suppress(OSError):
            p.rmdir()
    raise BayesScalingError(
        f"dataset {ds.name!r} file {f.path!r} {where} and could not be downloaded from {'; '.join(failures)}; {_HINT}"
    )


# --------------------------------------------------------------------------------------------------
# Registry and public entry points
# --------------------------------------------------------------------------------------------------

REGISTRY: dict[str, Dataset] = {}


def _register(ds: Dataset) -> None:
    REGISTRY[ds.name] = ds


def list_datasets() -> list[str]:
    """Names of the registered datasets, for :func:`load`."""
    return list(REGISTRY)


def info(name: str) -> Dataset:
    """The descriptor of dataset ``name``: files with hashes and URLs, citation, license and units."""
    try:
        return REGISTRY[name]
    except KeyError:
        raise BayesScalingError(f"unknown dataset {name!r}; known datasets are {list_datasets()}") from None


class _Getter:
    """Fetches a dataset's files for its loader and records which ones were read."""

    def __init__(self, ds: Dataset, data_home, download: bool, mirror: str | None):
        self.ds, self.home, self.download, self.mirror = ds, data_home, download, mirror
        self.used: list[tuple[Path, str]] = []

    def __call__(self, file: str | None = None) -> pd.DataFrame:
        path = fetch(self.ds.name, self.home, self.download, file=file, mirror=self.mirror)
        self.used.append((path, self.ds.file(file).sha256))
        return pd.read_csv(path)


def _call(fn: Callable, ds: Dataset, get: _Getter, options: dict, what: str):
    params = inspect.signature(fn).parameters
    allowed = [p for p in params if p != "get"]
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise BayesScalingError(f"dataset {ds.name!r} {what} has no option(s) {unknown}; its options are {allowed}")
    return fn(get, **options)


def load(
    name: str,
    *,
    data_home: str | os.PathLike | None = None,
    download: bool = True,
    mirror: str | None = None,
    **options,
) -> RunTable:
    """Load dataset ``name`` (see :func:`list_datasets`) as a validated :class:`RunTable`.

    ``options`` are the dataset's own (e.g. ``paper_subset=True`` for datablations, ``variant=`` for
    Gemstones, ``curve=`` for the revisiting benchmark); the table's ``source`` and ``sha256`` name
    the files read.
    """
    ds = info(name)
    get = _Getter(ds, data_home, download, mirror)
    runs = _call(ds.loader, ds, get, options, "loader")
    paths = [str(p) for p, _ in get.used]
    shas = [s for _, s in get.used]
    note = f"dataset {ds.name!r}: {ds.title}. {ds.citation}. License: {ds.license}."
    return replace(runs, source="; ".join(paths), sha256=",".join(shas), notes=(*runs.notes, note))


def curves(name: str = "revisiting", *, data_home=None, download: bool = True, mirror: str | None = None,
           **options) -> list[str]:
    """Curve ids of a learning-curve dataset (``revisiting``), for ``load(name, curve=...)``."""
    ds = info(name)
    if ds.curves is None:
        raise BayesScalingError(f"dataset {name!r} is not a set of learning curves; "
                                f"curves exist for {[n for n, d in REGISTRY.items() if d.curves]}")
    return _call(ds.curves, ds, _Getter(ds, data_home, download, mirror), options, "curves()")


def _with_columns(runs: RunTable, **columns) -> RunTable:
    """Attach informational per-run columns (e.g. ``split``) that no law reads."""
    frame = runs.frame.copy()
    for key, values in columns.items():
        frame[key] = np.asarray(values)
    return replace(runs, frame=frame)


def _choice(value, allowed: Sequence[str], option: str, dataset: str) -> None:
    if value not in allowed:
        raise BayesScalingError(f"dataset {dataset!r}: {option} must be one of {list(allowed)}, got {value!r}")


def _as_list(value) -> list[str] | None:
    if value is None:
        return None
    return [value] if isinstance(value, str) else list(value)


# --------------------------------------------------------------------------------------------------
# Epoch AI's extraction of Chinchilla Figure 4
# --------------------------------------------------------------------------------------------------


def _load_chinchilla_epoch(get, drop_highest_loss: int = 0) -> RunTable:
    """N = ``Model Size`` (total parameters, embeddings included), C = ``Training FLOP`` (FLOPs),
    D = C / (6N) tokens (derived, as Epoch does), loss = final MassiveText training loss (nats/token,
    decoded from the marker colour). ``drop_highest_loss=5`` reproduces Epoch's n = 240 sample."""
    if not isinstance(drop_highest_loss, (int, np.integer)) or isinstance(drop_highest_loss, bool) or drop_highest_loss < 0:
        raise BayesScalingError(f"dataset 'chinchilla_epoch': drop_highest_loss must be a whole number >= 0 (5 gives "
                                f"Epoch's n = 240 sample), got {drop_highest_loss!r}")
    frame = get()
    if drop_highest_loss:
        frame = frame.drop(frame["loss"].nlargest(int(drop_highest_loss)).index).reset_index(drop=True)
    return load_runs(frame, params_col="Model Size", compute_col="Training FLOP", tokens_col=None,
                     loss_col="loss", params_kind="total")


_register(Dataset(
    name="chinchilla_epoch",
    title="Chinchilla Figure 4 points extracted from the SVG by Epoch AI (245 runs)",
    files=(DataFile(
        "chinchilla_epoch_besiroglu2024/svg_extracted_data.csv",
        "193478df4e90f040016431996c45682659306840ecdadf83cfb9cd5ca0aa1b30",
        (f"{_GH}/epoch-research/analyzing-chinchilla/92258837425e1b5f2851d624287f0120583a3d0e/data/svg_extracted_data.csv",),
    ),),
    citation="Besiroglu, Erdil, Barnett, You 2024, Chinchilla Scaling: A replication attempt (arXiv:2404.10102); "
             "data of Hoffmann et al. 2022 (arXiv:2203.15556), Fig. 4",
    license="none stated (no license file): research use, cite the paper",
    units="N total params; C FLOPs; D = C/(6N) tokens; loss nats/token",
    loader=_load_chinchilla_epoch,
))


# --------------------------------------------------------------------------------------------------
# Revisiting Neural Scaling Laws benchmark (learning curves)
# --------------------------------------------------------------------------------------------------

_REV_FILES = {"vision": "benchmark.vision.csv", "lang": "benchmark.lang.csv"}
_REV_DOMAINS = {"IC": "vision", "NMT": "lang", "LM": "lang", "BB": "lang"}
_REV_LOSS = {"IC": "n-shot error rate (0-1)", "NMT": "log-perplexity", "LM": "normalised validation log-loss",
             "BB": "the BIG-bench task's preferred metric"}
_CURVE_SEP = "|"


def _rev_frame(get, domain, dedupe: bool = True) -> pd.DataFrame:
    domains = _as_list(domain)
    if domains is not None:
        for d in domains:
            _choice(d, list(_REV_DOMAINS), "domain", "revisiting")
    files = [f for f in ("vision", "lang") if domains is None or any(_REV_DOMAINS[d] == f for d in domains)]
    frame = pd.concat([get(_REV_FILES[f]) for f in files], ignore_index=True)
    if domains is not None:
        frame = frame[frame["Domain"].isin(domains)]
    if dedupe:  # benchmark.lang.csv repeats 687 LM rows exactly
        frame = frame.drop_duplicates()
    frame = frame.reset_index(drop=True)
    frame["curve"] = (frame["Domain"].astype(str) + _CURVE_SEP + frame["Task"].astype(str) + _CURVE_SEP
                      + frame["Model"].astype(str))
    return frame


def _curve_id(curve) -> str:
    if isinstance(curve, str):
        return curve
    parts = [str(p) for p in curve]
    if len(parts) != 3:
        raise BayesScalingError(f"a revisiting curve is (domain, task, model) or 'domain|task|model', got {curve!r}")
    return _CURVE_SEP.join(parts)


def _curves_revisiting(get, domain: str | Sequence[str] | None = None) -> list[str]:
    """Curve ids ``'Domain|Task|Model'`` in file order (72 vision, then 20 language)."""
    return list(dict.fromkeys(_rev_frame(get, domain)["curve"]))


def _load_revisiting(get, curve: str | Sequence[str] | None = None, domain: str | Sequence[str] | None = None,
                     split: str | None = None, dedupe: bool = True) -> RunTable:
    """X = ``Seen Examples`` (examples for IC, tokens for NMT/LM/BB, for one fixed model), loss = ``Loss``
    (IC: error rate in [0, 1]; NMT: log-perplexity; LM: normalised log-loss in 0.85-0.999; BB: the task
    metric), with the authors' ``Training`` flag kept as ``training`` (1/0) and ``split``
    ("fit"/"extrapolate"). ``curve`` selects one curve ('Domain|Task|Model' or a 3-tuple, see
    :func:`curves`); without it every curve is loaded with the group column ``curve``. ``split`` keeps
    only "fit" or "extrapolate" rows; ``dedupe`` drops the exact duplicate LM rows."""
    cid = None if curve is None else _curve_id(curve)
    if cid is not None and domain is None and cid.split(_CURVE_SEP, 1)[0] in _REV_DOMAINS:
        domain = cid.split(_CURVE_SEP, 1)[0]  # read only the file that holds it
    frame = _rev_frame(get, domain, dedupe)
    if cid is not None:
        frame = frame[frame["curve"] == cid].reset_index(drop=True)
        if frame.empty:
            raise BayesScalingError(f"revisiting has no curve {cid!r}; list them with bayes_scaling.datasets.curves()")
    frame["split"] = np.where(frame["Training"].astype(int) == 1, "fit", "extrapolate")
    if split is not None:
        _choice(split, ("fit", "extrapolate"), "split", "revisiting")
        frame = frame[frame["split"] == split].reset_index(drop=True)
    groups = ("curve",) if frame["curve"].nunique() > 1 else ()
    runs = load_runs(frame, params_col=None, tokens_col=None, compute_col=None, loss_col="Loss",
                     extra_cols={"X": "Seen Examples"}, group_cols=groups)
    kinds = sorted({_REV_LOSS[d] for d in frame["Domain"].unique()})
    runs = replace(runs, notes=(*runs.notes, f"loss is not nats/token here: {'; '.join(kinds)}"))
    return _with_columns(runs, training=frame["Training"].astype(int).to_numpy(), split=frame["split"].to_numpy(),
                         **({} if groups else {"curve": frame["curve"].to_numpy()}))


_NSLPFN = f"{_GH}/DongWooLee-Eli/nslpfn/10a5a60911a2a22ef453d8b4ddf1408b6a6075d9/data"
_GOOGLE = f"{_GH}/google-research/google-research/9853680c781781bd8d3de20aa61c7373ce059913/revisiting_neural_scaling_laws/data"
_register(Dataset(
    name="revisiting",
    title="Revisiting Neural Scaling Laws benchmark: 92 learning curves (vision few-shot, NMT, LM, BIG-bench)",
    files=(
        DataFile("revisiting_scaling_laws_alabdulmohsin2022/benchmark.vision.csv",
                 "23b00692d71e58aa5a2a941e831d57688e0977fdcf5f5125ff7b64283b5d9e83",
                 (f"{_NSLPFN}/benchmark.vision.csv", f"{_GOOGLE}/benchmark.vision.csv")),
        DataFile("revisiting_scaling_laws_alabdulmohsin2022/benchmark.lang.csv",
                 "63c346db00a66b692e1ea9a0f71a2f2b267e55f74be5b863a92e199dffbf0983",
                 (f"{_NSLPFN}/benchmark.lang.csv", f"{_GOOGLE}/benchmark.lang.csv")),
    ),
    citation="Alabdulmohsin, Neyshabur, Zhai 2022, Revisiting Neural Scaling Laws in Language and Vision "
             "(NeurIPS 2022, arXiv:2209.06640)",
    license="Apache-2.0 (google-research repository)",
    units="X examples (IC) or tokens (NMT/LM/BB) seen; loss: error rate, log-perplexity or normalised log-loss",
    loader=_load_revisiting,
    curves=_curves_revisiting,
))


# --------------------------------------------------------------------------------------------------
# Datablations (data-constrained scaling)
# --------------------------------------------------------------------------------------------------


def _load_datablations(get, paper_subset: bool = False) -> RunTable:
    """N = ``params`` (total), D = ``tokens`` (total tokens trained), U = ``unique_tokens``, C = 6ND
    (derived), loss = final C4 validation loss (nats/token), ``seed`` for the replicates (NaN
    otherwise). ``paper_subset=True`` keeps the 182 runs behind the published data-constrained fit."""
    frame = get()
    if paper_subset:
        frame = frame[frame["in_paper_fit_182"] == 1].reset_index(drop=True)
    return load_runs(frame, params_col="params", tokens_col="tokens", compute_col=None, loss_col="val_loss",
                     params_kind="total", extra_cols={"U": "unique_tokens"}, seed_col="seed")


_register(Dataset(
    name="datablations",
    title="Scaling Data-Constrained Language Models: final C4 validation losses (296 runs; 182 in the paper fit)",
    files=(DataFile(
        "datablations_muennighoff2023/datablations_final_val_loss.csv",
        "ec49e832f4068d018f1ed40e484e3e7840ef50fcab3541cb9bf4ab64a2116219",
        derived_from="https://github.com/huggingface/datablations/blob/13701315b163f1c54642b94ad237b2699187c3ee/"
                     "utils/parametric_fit.ipynb (dict NAMES_TO_VAL_LOSSES)",
    ),),
    citation="Muennighoff, Rush, Barak, Le Scao, Piktus, Tazi, Pyysalo, Wolf, Raffel 2023, Scaling Data-Constrained "
             "Language Models (NeurIPS 2023, arXiv:2305.16264)",
    license="Apache-2.0",
    units="N total params; D tokens; U unique tokens; C = 6ND FLOPs; loss nats/token",
    loader=_load_datablations,
))


# --------------------------------------------------------------------------------------------------
# Gemstones (width x depth)
# --------------------------------------------------------------------------------------------------

_GEM_VARIANTS = {"cool_end": "gemstones_cool_end.csv", "cool_begin": "gemstones_cool_begin.csv",
                 "hot": "gemstones_hot.csv", "hot_100bplus": "gemstones_hot_100bplus.csv",
                 "lr_ablation_hot": "gemstones_lr_ablation_hot.csv"}
_GEM_SOURCE = ("https://github.com/mcleish7/gemstone-scaling-laws/blob/5f420478f6057b0cbb4d13405fb10ca64675bccb/"
               "wandb_dfs/wandb_df_for_fitting_{}.jsonl")


def _load_gemstones(get, variant: str = "cool_end") -> RunTable:
    """N = ``params`` (active parameters incl. embeddings), D = ``tokens`` (step x 2048 x 2048),
    C = 6ND (derived), loss = ``val_loss`` (nats/token), shape covariate ``log_aspect_ratio`` =
    log(width / depth). Group column ``model`` (``w<width>_d<depth>``): the runs of one model are
    checkpoints (or cooldowns) of one training run, not independent runs. ``variant``: "cool_end"
    (default: losses after the cooldowns, 199 runs), "cool_begin", "hot" (constant-LR checkpoints),
    "hot_100bplus" or "lr_ablation_hot"."""
    _choice(variant, list(_GEM_VARIANTS), "variant", "gemstones")
    frame = get(_GEM_VARIANTS[variant]).copy()
    frame["model"] = [f"w{int(w)}_d{int(d)}" for w, d in zip(frame["width"], frame["depth"])]
    return load_runs(frame, params_col="params", tokens_col="tokens", compute_col=None, loss_col="val_loss",
                     params_kind="total", shape_cols=("width", "depth"), group_cols=("model",))


_register(Dataset(
    name="gemstones",
    title="Gemstones model suite: 22 width x depth shapes at matched token counts",
    files=tuple(
        DataFile(f"gemstones_mcleish2025/{fname}", sha, derived_from=_GEM_SOURCE.format(src))
        for fname, sha, src in (
            ("gemstones_cool_end.csv", "c7afdcc14cd49dc7099b83bb43619e51ddd00ef426b0dcf1366b662888df8e61", "cool_end"),
            ("gemstones_cool_begin.csv", "fe428b86e5e81ccf5b9454769f7ab0e41f6bf82d22c19e5c21dbabd0c8a88367",
             "cool_begin"),
            ("gemstones_hot.csv", "57355b5ed2700f482d7ab2fd309805b85f9d6013a58aa9175993acf7b27cea6c", "hot"),
            ("gemstones_hot_100bplus.csv", "a5cd65452e6e273debb2786d00ef798003f5e0507f5a81d21aa31e446ef91f24",
             "hot_100b+"),
            ("gemstones_lr_ablation_hot.csv", "96ce07cc806a428d5db4037f53823fb029b8e2de3dbb48bb94fa6e0ba75cee18",
             "lr_ablation_hot"),
        )
    ),
    citation="McLeish, Kirchenbauer, Miller, Singh, Bhatele, Goldblum, Panda, Goldstein 2025, Gemstones: A Model "
             "Suite for Multi-Faceted Scaling Laws (NeurIPS 2025, arXiv:2502.06857)",
    license="MIT",
    units="N total params (incl. embeddings); D tokens; C = 6ND FLOPs; loss nats/token; log(width/depth)",
    loader=_load_gemstones,
))


# --------------------------------------------------------------------------------------------------
# Open Athena isoFLOP compilation and the Marin ladder
# --------------------------------------------------------------------------------------------------

_OA = f"{_GH}/Open-Athena/scaling-law-analysis/3e0656ee3dce1a2c89aa67691920f5eb9d30f0fc/data/isoflops/extract"
_ISO_SOURCES = ("epochai_chinchilla", "ml_scalefit", "misfitting", "llama_3", "marin_202603")
_ISO_FILE = DataFile("isoflops_compilation_openathena/isoflops.csv",
                     "cf343ffda3106862e0e73bfc10ed017f683a03e46f4540896a213276fd180651", (f"{_OA}/isoflops.csv",))
_MARIN_SHA = {"comma": "0b352c08b3c96d97ef3d7534becbc0a2918493e6e37961943b022056277e4406",
              "dclm": "8a75a0fbc7b34250501de17ab336fdf99d6bee67e44f62b8bed4b81fb9f033af",
              "nemotron": "5e615183ba71083721a5bc169adf7c9c997c4820fd69f383f108e0a4ca3ea375"}
_MARIN_FILES = tuple(
    DataFile(f"isoflops_compilation_openathena/marin_raw/isoflop-{d}.csv", sha,
             (f"{_OA}/marin_202603/raw/isoflop-{d}.csv",))
    for d, sha in _MARIN_SHA.items()
)
_ISO_CITATION = ("Open-Athena/scaling-law-analysis @ 3e0656e, compiling Hoffmann et al. 2022 (via Epoch AI and "
                 "apple/ml-scalefit), Li et al. 2025 (Mis)Fitting, Llama 3 (arXiv:2407.21783, digitised) and the "
                 "Marin Scaling Ladders report (2026)")


def _isoflops_runs(frame: pd.DataFrame) -> RunTable:
    groups = ("dataset",) if frame["dataset"].nunique() > 1 else ()
    return load_runs(frame, params_col="params", tokens_col="tokens", compute_col="budget", loss_col="loss",
                     params_kind="total", group_cols=groups)


def _load_isoflops(get, source: str | None = None, dataset: str | Sequence[str] | None = None,
                   condition: str | None = None) -> RunTable:
    """N = ``params`` (total; C/(6D) for llama_3), D = ``tokens``, C = ``budget`` (the nominal isoFLOP
    budget in FLOPs; x3 of the run-name budget for Marin), loss = ``loss`` (nats; its definition is the
    source's). ``source`` is required: one of epochai_chinchilla, ml_scalefit, misfitting, llama_3,
    marin_202603; ``dataset`` filters it; ``condition`` ("raw_loss" or "exp_loss") is required for
    llama_3. With several datasets the group column is ``dataset``."""
    if source is None:
        raise BayesScalingError(f"dataset 'isoflops' is a compilation of sources whose losses differ: choose one with "
                                f"source=, one of {list(_ISO_SOURCES)}")
    _choice(source, _ISO_SOURCES, "source", "isoflops")
    frame = get()
    frame = frame[frame["source"] == source]
    datasets = _as_list(dataset)
    if datasets is not None:
        unknown = sorted(set(datasets) - set(frame["dataset"]))
        if unknown:
            raise BayesScalingError(f"isoflops source {source!r} has no dataset {unknown}; "
                                    f"its datasets are {sorted(frame['dataset'].unique())}")
        frame = frame[frame["dataset"].isin(datasets)]
    conditions = sorted(frame["condition"].dropna().unique())
    if condition is not None:
        _choice(condition, conditions or ["(none)"], "condition", f"isoflops source {source!r}")
        frame = frame[frame["condition"] == condition]
    elif len(conditions) > 1:
        raise BayesScalingError(f"isoflops source {source!r} lists each run under conditions {conditions}; choose one "
                                f"with condition= (exp_loss = exp(raw_loss))")
    return _isoflops_runs(frame.reset_index(drop=True))


_register(Dataset(
    name="isoflops",
    title="Open Athena isoFLOP compilation (947 points from 5 sources; choose one with source=)",
    files=(_ISO_FILE,),
    citation=_ISO_CITATION,
    license="none stated (no license file); the underlying data belongs to each source",
    units="N total params; D tokens; C = nominal budget FLOPs; loss nats (source-specific definition)",
    loader=_load_isoflops,
))


def _load_marin(get, dataset: str | Sequence[str] | None = None) -> RunTable:
    """The Marin scaling ladder from the compilation: one Llama-2-style architecture trained on Comma,
    DCLM and Nemotron-CC (258 runs). N = ``params`` (total), D = ``tokens``, C = ``budget`` (FLOPs,
    x3 the forward-pass budget in the run name), loss = Paloma macro-average eval loss (nats/token),
    group column ``dataset`` (comma, dclm, nemotron). ``dataset`` keeps a subset."""
    return _load_isoflops(get, source="marin_202603", dataset=dataset)


_register(Dataset(
    name="marin",
    title="Marin scaling ladder (isoFLOP runs of one architecture on 3 pretraining datasets, 258 runs)",
    files=(_ISO_FILE,),
    citation="Marin project, Scaling Ladders W&B report (March 2026), via " + _ISO_CITATION.split(",")[0],
    license="none stated (no license file)",
    units="N total params; D tokens; C budget FLOPs; loss Paloma macro eval loss (nats/token); group dataset",
    loader=_load_marin,
))


def _load_marin_raw(get, dataset: str | Sequence[str] | None = None,
                    include_validation_optimal: bool = False) -> RunTable:
    """The raw W&B exports behind ``marin``: N = ``parameter_count`` (total), D =
    ``throughput/total_tokens``, C = ``throughput/total_gflops`` x 1e9 (logged FLOPs), loss =
    ``eval/paloma/macro_loss`` (nats/token), group column ``dataset``. The "validation-optimal" runs
    (a different budget convention) are dropped unless ``include_validation_optimal``, as the
    compilation does (leaving 85 + 85 + 88 runs)."""
    names = _as_list(dataset) or list(_MARIN_SHA)
    for d in names:
        _choice(d, list(_MARIN_SHA), "dataset", "marin_raw")
    parts = []
    for d in names:
        raw = get(f"marin_raw/isoflop-{d}.csv")
        if not include_validation_optimal:
            raw = raw[~raw["Name"].astype(str).str.contains("validation-optimal", regex=False)]
        parts.append(pd.DataFrame({
            "name": raw["Name"].astype(str), "dataset": d, "params": raw["parameter_count"],
            "tokens": raw["throughput/total_tokens"], "compute": raw["throughput/total_gflops"] * 1e9,
            "loss": raw["eval/paloma/macro_loss"],
        }))
    frame = pd.concat(parts, ignore_index=True)
    return load_runs(frame, params_col="params", tokens_col="tokens", compute_col="compute", loss_col="loss",
                     params_kind="total", group_cols=("dataset",) if len(names) > 1 else ())


_register(Dataset(
    name="marin_raw",
    title="Marin scaling ladder, raw W&B exports (92 / 85 / 96 runs on Comma / DCLM / Nemotron-CC)",
    files=_MARIN_FILES,
    citation="Marin project, Scaling Ladders W&B report (March 2026), exported in Open-Athena/scaling-law-analysis "
             "@ 3e0656e",
    license="none stated (no license file)",
    units="N total params; D tokens; C logged FLOPs; loss Paloma macro eval loss (nats/token); group dataset",
    loader=_load_marin_raw,
))


# --------------------------------------------------------------------------------------------------
# BNSL 4-digit addition
# --------------------------------------------------------------------------------------------------


def _load_bnsl(get, split: str | None = None) -> RunTable:
    """X = ``train_dataset_size`` (training examples, 160-928), loss = ``test_loss`` (test
    cross-entropy, nats), with the script's ``split`` kept as a column ("fit" for the first 14
    points, "extrapolate" for the last 3); ``split=`` keeps only one part."""
    frame = get()
    if split is not None:
        _choice(split, ("fit", "extrapolate"), "split", "bnsl_addition")
        frame = frame[frame["split"] == split].reset_index(drop=True)
    runs = load_runs(frame, params_col=None, tokens_col=None, compute_col=None, loss_col="test_loss",
                     extra_cols={"X": "train_dataset_size"})
    return _with_columns(runs, split=frame["split"].astype(str).to_numpy())


_register(Dataset(
    name="bnsl_addition",
    title="Broken Neural Scaling Laws example: 4-digit addition test loss vs training-set size (17 points)",
    files=(DataFile(
        "bnsl_4digit_addition_caballero2022/bnsl_4digit_addition.csv",
        "f46d4582c3f15cb0f12102aa208415e3c862ff4272ad1c18dbec5e2af7f15cd6",
        derived_from="https://github.com/ethancaballero/broken_neural_scaling_laws/blob/"
                     "ffa608f7ca7910b6f6bcbd39915491353ad5d600/"
                     "fit_bnsl_and_extrapolate__4_digit_addition__dataset_size_x-axis.py (numpy literals)",
    ),),
    citation="Caballero, Gupta, Rish, Krueger 2022, Broken Neural Scaling Laws (ICLR 2023, arXiv:2210.14891), Fig. 4",
    license="none stated (no license file)",
    units="X training examples; loss test cross-entropy (nats)",
    loader=_load_bnsl,
))


# --------------------------------------------------------------------------------------------------
# (Mis)Fitting Scaling Laws
# --------------------------------------------------------------------------------------------------

_HADASAH = f"{_GH}/hadasah/scaling_laws/1f3708c0a12df0effb0ee906b1da5f9f0ff4f4f1/data"


def _load_misfitting(get, checkpoints: str = "last", params_kind: str = "total", best_lr: bool = False) -> RunTable:
    """N = ``N`` (total, 57M-1.18B) or ``N_no_emb`` with ``params_kind="non-embedding"``; D = ``D``
    (tokens seen); C = the authors' precise ``C`` or ``C_no_emb`` (FLOPs); loss = C4 eval loss
    (nats/token). ``checkpoints``: "last" (final checkpoint of each of 261 runs) or "all" (4,852
    mid-schedule checkpoints, correlated within a run). ``best_lr`` keeps the lowest loss per
    (model, planned tokens, checkpoint) over the learning-rate sweeps."""
    _choice(checkpoints, ("last", "all"), "checkpoints", "misfitting")
    _choice(params_kind, ("total", "non-embedding"), "params_kind", "misfitting")
    frame = get("scaling_results_last_ckpt_only.csv" if checkpoints == "last" else "scaling_results.csv")
    if best_lr:
        keys = ["model", "train_tokens", "current_steps"]
        frame = frame.loc[frame.groupby(keys)["loss"].idxmin()].reset_index(drop=True)
    emb = params_kind == "total"
    return load_runs(frame, params_col="N" if emb else "N_no_emb", tokens_col="D", compute_col="C" if emb else "C_no_emb",
                     loss_col="loss", params_kind=params_kind)


_register(Dataset(
    name="misfitting",
    title="(Mis)Fitting Scaling Laws open_lm sweep: 11 sizes x token budgets x learning rates",
    files=(
        DataFile("misfitting_li2025/scaling_results_last_ckpt_only.csv",
                 "cd96b9eb8e5b2adc80e6739a642dd8554590edc96234d36859ab6ed0f5c30562",
                 (f"{_HADASAH}/scaling_results_last_ckpt_only.csv",)),
        DataFile("misfitting_li2025/scaling_results.csv",
                 "193b4b7665365112605417e2ef06d55efe599cfa08412354e3ae42c3af7a9f58",
                 (f"{_HADASAH}/scaling_results.csv",)),
    ),
    citation="Li, Kudugunta, Zettlemoyer 2025, (Mis)Fitting Scaling Laws: A Survey of Scaling Law Fitting Techniques "
             "in Deep Learning (ICLR 2025, arXiv:2502.18969)",
    license="none stated for the data (no license file at the repository root)",
    units="N total or non-embedding params; D tokens; C FLOPs (authors' count); loss C4 eval nats/token",
    loader=_load_misfitting,
))

__all__ = ["REGISTRY", "DataFile", "Dataset", "curves", "data_home", "fetch", "info", "list_datasets", "load"]
