"""The package's import graph has no cycle (issue 31, item 6).

Every ``import`` / ``from ... import`` statement of every ``.py`` file counts,
at module level or inside a function alike: a function-level import only
hides a cycle until the function runs. Relative imports are resolved against
the importing module's package; ``from pkg import name`` is an edge to
``pkg.name`` when that is a module, else to ``pkg``. The implicit import of a
parent package (``import a.b`` runs ``a/__init__``) is not an edge: every
submodule would otherwise form a cycle with its own ``__init__``.
"""
import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "sklearn_patchdesc"


def _module_name(path, root):
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def import_graph(package_dir):
    """``{module: set of the package's modules it imports}`` for every file under ``package_dir``."""
    root = Path(package_dir).parent
    files = {_module_name(p, root): p for p in sorted(Path(package_dir).rglob("*.py"))}
    graph = {}
    for name, path in files.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        edges = set()
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                edges.update(a.name for a in node.names if a.name in files)
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    parts = package.split(".")
                    base = parts[:len(parts) - (node.level - 1)]
                    base = ".".join(base + ([node.module] if node.module else []))
                else:
                    base = node.module
                for alias in node.names:
                    target = f"{base}.{alias.name}"
                    if target in files:
                        edges.add(target)
                    elif base in files:
                        edges.add(base)
        graph[name] = edges - {name}
    return graph


def find_cycle(graph):
    """One import cycle as ``[a, b, ..., a]``, or ``None`` (depth-first search)."""
    state, stack = {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        state[node] = "done"
        stack.pop()
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def test_the_package_has_no_import_cycle():
    graph = import_graph(PACKAGE)
    assert len(graph) > 50 and "sklearn_patchdesc.describe._hardnet" in graph
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def _write(root, files):
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def test_a_cycle_through_a_function_level_relative_import_is_found(tmp_path):
    _write(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/a.py": "from .sub.b import thing\n",
        "pkg/sub/__init__.py": "",
        "pkg/sub/b.py": "def thing():\n    from ..a import other\n    from . import c\n",
        "pkg/sub/c.py": "import os\n",
    })
    graph = import_graph(tmp_path / "pkg")
    assert graph["pkg.a"] == {"pkg.sub.b"}
    assert graph["pkg.sub.b"] == {"pkg.a", "pkg.sub.c"}
    assert graph["pkg.sub.c"] == set()
    assert find_cycle(graph) == ["pkg.a", "pkg.sub.b", "pkg.a"]


@pytest.mark.parametrize("importer", ["import pkg.a\n", "from pkg import a\n",
                                      "from pkg.a import x\n"])
def test_absolute_imports_are_edges_too(tmp_path, importer):
    _write(tmp_path, {"pkg/__init__.py": "", "pkg/a.py": "def f():\n    import pkg.b\n",
                      "pkg/b.py": importer})
    assert find_cycle(import_graph(tmp_path / "pkg")) == ["pkg.a", "pkg.b", "pkg.a"]


def test_estimator_packages_do_not_reach_into_inversion():
    """inversion studies the other packages' networks; they share code through neutral modules.

    (The multi-scale descriptor used to take its VGG16 builder from ``inversion``.)
    """
    graph = import_graph(PACKAGE)
    lower = ("datasets", "denoise", "describe", "metrics", "model_selection")
    reaching = sorted(f"{a} -> {b}" for a, deps in graph.items() for b in deps
                      if (a.split(".") + [""])[1] in lower and b.startswith("sklearn_patchdesc.inversion"))
    assert reaching == []
