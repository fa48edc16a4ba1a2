"""The teaching notebooks in ``notebooks/``: stored without outputs, and each one runs top to bottom.

The notebooks are executed with nbclient in a kernel that runs *this* interpreter (a kernelspec
written at test time whose argv is ``sys.executable``; never whatever ``python3`` kernel a user has
installed), with cwd ``notebooks/``, small draw counts from the environment
(``BAYES_SCALING_NB_DRAWS/TUNE/CHAINS``; exported values win) and the third-party datasets from
``$BAYES_SCALING_DATASETS`` (a notebook is skipped when a file it reads is absent).
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import pytest
from conftest import DATASETS

nbformat = pytest.importorskip("nbformat")

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
EPOCH = "chinchilla_epoch_besiroglu2024/svg_extracted_data.csv"
#: Every notebook, the dataset files it reads (relative to the data home) and its wall-clock limit in
#: seconds (generous: the five take about 3 minutes together on 2 idle cores with the small draws).
NOTEBOOK_SPECS = {
    "01_quickstart.ipynb": ((), 240),
    "02_chinchilla_reanalysis.ipynb": ((EPOCH,), 300),
    "03_kaplan_claims.ipynb": (("misfitting_li2025/scaling_results_last_ckpt_only.csv",
                                "gemstones_mcleish2025/gemstones_cool_end.csv"), 480),
    "04_architecture_comparison.ipynb": (("isoflops_compilation_openathena/isoflops.csv",), 360),
    "05_budget_decision_memo.ipynb": ((EPOCH,), 300),
    "06_law_form_uncertainty.ipynb": ((EPOCH,), 300),
    "07_designing_a_ladder.ipynb": ((), 240),
    "08_ladder_to_accuracy.ipynb": (("olmo_ladder_bhagia2024/olmo_ladder_checkpoints.csv",), 480),
}
SMALL_DRAWS = {"BAYES_SCALING_NB_DRAWS": "200", "BAYES_SCALING_NB_TUNE": "200", "BAYES_SCALING_NB_CHAINS": "2"}
KERNEL_NAME = "bayes-scaling-this-python"


def _paths() -> list[Path]:
    return sorted(NOTEBOOKS.glob("*.ipynb"))


def test_every_notebook_is_listed():
    assert sorted(p.name for p in _paths()) == sorted(NOTEBOOK_SPECS)


@pytest.mark.parametrize("path", _paths(), ids=lambda p: p.stem)
def test_notebook_is_stored_clean(path):
    """Valid nbformat 4, no outputs and no execution counts (outputs are stripped in git), and the
    draw counts read from the environment so that CI can run it small."""
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    assert nb.nbformat == 4
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code, "a notebook without code"
    for i, cell in enumerate(code):
        assert cell.get("outputs") == [], f"code cell {i} has outputs: clear them before committing"
        assert cell.get("execution_count") is None, f"code cell {i} has an execution count"
        assert "execution" not in cell.get("metadata", {}), f"code cell {i} carries execution timing metadata"
    source = "\n".join(c.source for c in code)
    for var in SMALL_DRAWS:
        assert f'os.environ.get("{var}"' in source, f"draw counts must come from ${var}"
    assert "ci_prob=0.9" in source or "CI = 0.9" in source


@pytest.fixture(scope="module")
def kernel_manager_factory(tmp_path_factory):
    """Kernel managers for a kernelspec that runs this interpreter (not the first ``python3`` on PATH
    or in a user's Jupyter folders)."""
    pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import AsyncKernelManager

    kernels = tmp_path_factory.mktemp("jupyter") / "kernels"
    spec_dir = kernels / KERNEL_NAME
    spec_dir.mkdir(parents=True)
    (spec_dir / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": f"bayes_scaling tests ({sys.executable})",
        "language": "python",
    }))

    def make():
        ksm = KernelSpecManager(kernel_dirs=[str(kernels)])
        return AsyncKernelManager(kernel_name=KERNEL_NAME, kernel_spec_manager=ksm)

    return make


def _execute(nb, km, cwd: Path, timeout_s: float) -> float:
    """Run every cell (nbclient) with the whole notebook limited to ``timeout_s``: each cell may use
    what is left of it (``nbclient.exceptions.CellTimeoutError`` otherwise). Returns the seconds taken."""
    from nbclient import NotebookClient

    deadline = time.monotonic() + timeout_s
    client = NotebookClient(nb, km=km, kernel_name=KERNEL_NAME, shutdown_kernel="immediate",
                            timeout_func=lambda cell: max(1, int(deadline - time.monotonic())),
                            resources={"metadata": {"path": str(cwd)}})
    start = time.perf_counter()
    client.execute(cleanup_kc=True)  # shut the kernel down afterwards (also on errors): the manager is ours
    return time.perf_counter() - start


def test_kernel_runs_this_interpreter(kernel_manager_factory, tmp_path):
    """The notebooks' kernel is this Python (the project's .venv when run via `make test`)."""
    from nbformat import v4

    nb = v4.new_notebook(cells=[v4.new_code_cell("import os, sys; print(sys.executable); print(sys.prefix); "
                                                 "print(os.getcwd())")])
    _execute(nb, kernel_manager_factory(), tmp_path, 60)
    executable, prefix, cwd = nb.cells[0].outputs[0]["text"].split()
    assert os.path.realpath(prefix) == os.path.realpath(sys.prefix)
    assert os.path.samefile(executable, sys.executable)
    assert os.path.samefile(cwd, tmp_path)


@pytest.mark.sampling
@pytest.mark.parametrize("path", _paths(), ids=lambda p: p.stem)
def test_notebook_runs(path, kernel_manager_factory, monkeypatch):
    from nbclient.exceptions import CellTimeoutError

    needs, timeout_s = NOTEBOOK_SPECS[path.name]
    missing = [f for f in needs if not (DATASETS / f).exists()]
    if missing:
        pytest.skip(f"dataset file(s) {missing} not found under {DATASETS} (set BAYES_SCALING_DATASETS)")
    for var, value in SMALL_DRAWS.items():  # the kernel inherits this environment
        monkeypatch.setenv(var, os.environ.get(var, value))
    monkeypatch.setenv("BAYES_SCALING_DATASETS", str(DATASETS))
    nb = nbformat.read(path, as_version=4)
    try:
        seconds = _execute(nb, kernel_manager_factory(), NOTEBOOKS, timeout_s)
    except CellTimeoutError:
        pytest.fail(f"{path.name} did not finish within {timeout_s} s")
    print(f"{path.name}: {seconds:.1f} s")
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert not errors
