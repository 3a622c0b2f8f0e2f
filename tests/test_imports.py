"""The layers of the house, checked from the source: no import cycle among the project's
modules (function-level imports included: a cycle hidden in a function is still a
cycle), and the package ``alexnet`` never imports Streamlit (the CLI, the benchmarks and
the tests use it without the app)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("alexnet", "explorer")
# Cycles known and owned elsewhere, each named with the reason it is allowed for now.
KNOWN_CYCLES: set[frozenset[str]] = set()  # none today; an entry needs its reason written above it


def _modules() -> dict[str, Path]:
    """Dotted module name → file, for every module of the project's packages."""
    out = {}
    for pkg in PACKAGES:
        for path in sorted((ROOT / pkg).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


def _type_checking_only(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> bool:
    while node in parents:
        node = parents[node]
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            return True
    return False


def _imported(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The project modules ``name`` imports anywhere in its file (not under TYPE_CHECKING)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if not isinstance(node, (ast.Import, ast.ImportFrom)) or _type_checking_only(node, parents):
            continue
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        else:
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*up, base] if base else up)
            # `from pkg import sub` imports the submodule sub when there is one, else pkg
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
        found |= {t for t in targets if t in modules and t != name}
    return found


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imported(name, path, modules) for name, path in modules.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected group of two or more modules (Tarjan), as sorted lists."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return groups


def _path_in(group: list[str], graph: dict[str, set[str]]) -> str:
    """One import loop through the group, for the failure message: a → b → … → a."""
    start, seen, path = group[0], set(), [group[0]]
    while True:
        nxt = sorted(m for m in graph[path[-1]] if m in group)
        step = next((m for m in nxt if m == start), None) or next((m for m in nxt if m not in seen), nxt[0])
        path.append(step)
        if step == start or step in seen:
            return " → ".join(path)
        seen.add(step)


def test_the_checker_finds_cycles_and_function_level_imports(tmp_path):
    """The checker itself: a loop through a function-level import is found, a DAG is not a loop."""
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycles(graph) == [["a", "b", "c"]] and _path_in(["a", "b", "c"], graph) == "a → b → c → a"
    assert _cycles({"a": {"b"}, "b": set()}) == []
    f = tmp_path / "m.py"
    f.write_text("import os\nfrom typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg import t\n"
                 "def f():\n    from . import other\n    from .sub import x\n")
    found = _imported("pkg.m", f, {"pkg": f, "pkg.m": f, "pkg.other": f, "pkg.sub": f, "pkg.t": f})
    assert found == {"pkg.other", "pkg.sub"}


def test_no_import_cycles_among_project_modules():
    graph = _graph()
    assert "alexnet.train" in graph and "explorer.train_form" in graph
    loops = [g for g in _cycles(graph) if frozenset(g) not in KNOWN_CYCLES]
    assert not loops, "import cycles: " + "; ".join(_path_in(g, graph) for g in loops)


def test_the_package_never_imports_streamlit():
    offenders = []
    for path in sorted((ROOT / "alexnet").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            offenders += [f"{path.relative_to(ROOT)}:{node.lineno} {n}" for n in names
                          if n == "streamlit" or n.startswith("streamlit.")]
    assert not offenders, "alexnet/ imports streamlit: " + ", ".join(offenders)
