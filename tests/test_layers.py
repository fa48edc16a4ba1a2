"""The package's layers hold: every module imports only from its own layer or the ones below it,
no two modules import each other (directly or through others), no module imports another module's
private (underscore) name, and private modules (``_x.py``) are imported only from their own package.

Layers, lowest first (see ARCHITECTURE.md)::

    base -> data -> laws -> specs -> posterior -> result -> inference -> queries -> plots -> report -> cli
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "bayes_scaling"

#: Module-name prefix -> layer rank (the longest matching prefix wins).
LAYERS: dict[str, int] = {
    "bayes_scaling.errors": 0, "bayes_scaling.conventions": 0, "bayes_scaling.quantities": 0,
    "bayes_scaling.files": 0,
    "bayes_scaling.data": 1, "bayes_scaling.datasets": 1, "bayes_scaling.examples": 4,
    "bayes_scaling.accounting": 1, "bayes_scaling.cost": 1,
    "bayes_scaling.laws": 2,
    "bayes_scaling.specs": 3,
    "bayes_scaling.posterior": 4, "bayes_scaling.simulate": 4,
    "bayes_scaling.result": 5,
    "bayes_scaling.inference": 6, "bayes_scaling.baselines": 6, "bayes_scaling.testing": 6,
    "bayes_scaling.queries": 7,
    "bayes_scaling.plots": 8,
    "bayes_scaling.report": 9,
    "bayes_scaling.commands": 10, "bayes_scaling.cli": 10,
}
LAYER_NAMES = ["base", "data", "laws", "specs", "posterior", "result", "inference", "queries", "plots", "report",
               "cli"]
#: The package's front door and ``python -m`` entry may import anything (lazily).
EXEMPT = {"bayes_scaling", "bayes_scaling.__main__", "bayes_scaling.examples.__main__"}
MAX_LINES = 400


def _modules() -> dict[str, Path]:
    out = {}
    for f in sorted(PKG.rglob("*.py")):
        parts = f.relative_to(PKG.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = f
    return out


MODULES = _modules()


def rank(module: str) -> int:
    best = max((p for p in LAYERS if module == p or module.startswith(p + ".")), key=len, default=None)
    if best is None:
        raise AssertionError(f"module {module} is in no layer: add it to LAYERS (and ARCHITECTURE.md)")
    return LAYERS[best]


def _resolve(module: str, node: ast.ImportFrom) -> str:
    if node.level == 0:
        return node.module or ""
    base = module.split(".")
    if not MODULES[module].name == "__init__.py":
        base = base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def imports(module: str) -> list[tuple[str, str | None, int]]:
    """(imported module, imported name or None, line) for every import of this package."""
    tree = ast.parse(MODULES[module].read_text())
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            target = _resolve(module, node)
            if target.split(".")[0] != "bayes_scaling":
                continue
            for a in node.names:
                sub = f"{target}.{a.name}"
                out.append((sub, None, node.lineno) if sub in MODULES else (target, a.name, node.lineno))
        elif isinstance(node, ast.Import):
            out += [(a.name, None, node.lineno) for a in node.names if a.name.split(".")[0] == "bayes_scaling"]
    return out


def _owner(target: str) -> str:
    """The module a dotted import path names (a package's ``__init__`` for a package)."""
    while target not in MODULES and "." in target:
        target = target.rsplit(".", 1)[0]
    return target


def test_every_module_has_a_layer():
    for m in MODULES:
        if m not in EXEMPT:
            rank(m)


def test_no_upward_imports():
    bad = []
    for m in MODULES:
        if m in EXEMPT:
            continue
        for target, _, line in imports(m):
            t = _owner(target)
            if t in EXEMPT or t == m:
                continue
            if rank(t) > rank(m):
                bad.append(f"{MODULES[m].relative_to(PKG.parent)}:{line} ({LAYER_NAMES[rank(m)]}) imports {t} "
                           f"({LAYER_NAMES[rank(t)]})")
    assert not bad, "upward imports:\n" + "\n".join(bad)


def test_no_private_names_across_modules():
    bad = []
    for m in MODULES:
        for target, name, line in imports(m):
            t = _owner(target)
            where = f"{MODULES[m].relative_to(PKG.parent)}:{line}"
            if name and name.startswith("_") and t != m:
                bad.append(f"{where} imports {name} from {t}")
            private = [p for p in t.split(".") if p.startswith("_") and not p.startswith("__")]
            if private:
                pkg = t[: t.index(private[0])].rstrip(".")
                if not (m == pkg or m.startswith(pkg + ".")):
                    bad.append(f"{where} imports private module {t} from outside {pkg}")
    assert not bad, "private names used across modules:\n" + "\n".join(bad)


def test_no_import_cycles():
    graph = {m: {_owner(t) for t, _, _ in imports(m)} - {m} for m in MODULES}
    graph = {m: {t for t in ts if t in MODULES} for m, ts in graph.items()}
    graph = {m: {t for t in ts if t not in EXEMPT} for m, ts in graph.items() if m not in EXEMPT}
    index, low, stack, on, cycles = {}, {}, [], set(), []

    def visit(v):  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                cycles.append(sorted(comp))

    for v in graph:
        if v not in index:
            visit(v)
    assert not cycles, "import cycles:\n" + "\n".join(" <-> ".join(c) for c in cycles)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_module_size(module):
    n = len(MODULES[module].read_text().splitlines())
    assert n <= MAX_LINES, f"{MODULES[module].relative_to(PKG.parent)} has {n} lines (> {MAX_LINES}): split it"


def test_layer_checker_catches_violations(tmp_path):
    """The checker itself: an upward import and a private name are seen (guards against a vacuous pass)."""
    node = ast.parse("from bayes_scaling.cli import main\nfrom bayes_scaling.result import _column\n")
    found = [(_resolve("bayes_scaling.laws.base", n), [a.name for a in n.names]) for n in node.body]
    assert rank(_owner(found[0][0])) > rank("bayes_scaling.laws.base")
    assert found[1][1][0].startswith("_")
