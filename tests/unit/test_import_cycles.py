"""No import circle among the project's modules.

An import circle makes the order of first import decide what works, and hides
behind imports moved into functions; so imports anywhere in a module count,
except those read only by the type checker (``if TYPE_CHECKING:``). An edge goes
to the exact module named: ``from a.b import c`` points at ``a.b.c`` when that is
a module, else at ``a.b``.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("gateway", "adapters")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "_proto" in path.parts or "migrations" in path.parts:
                continue
            found[_module_name(path)] = path
    return found


def _type_checking_only(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imported(tree: ast.AST, package: str) -> Iterator[tuple[str, tuple[str, ...]]]:
    """(module, names) of each import statement, relative imports resolved."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and _type_checking_only(node):
            yield from (item for child in node.orelse for item in _imported(child, package))
            continue
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, ()
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            yield base, tuple(alias.name for alias in node.names)
        yield from _imported(node, package)


def import_graph(modules: Mapping[str, Path]) -> dict[str, set[str]]:
    """Module -> the project modules it imports."""
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        edges: set[str] = set()
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for module, names in _imported(tree, package):
            targets = [f"{module}.{n}" for n in names if f"{module}.{n}" in modules]
            if len(targets) < len(names) and module in modules:
                targets.append(module)
            edges.update(t for t in targets if t != name)
        graph[name] = edges
    return graph


def circles(graph: Mapping[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(start: str) -> None:
        # Iterative, so a long chain of imports cannot hit the recursion limit.
        work = [(start, iter(sorted(graph.get(start, ()))))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component: list[str] = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))

    for name in sorted(graph):
        if name not in index:
            visit(name)
    return sorted(found)


MODULES = _modules()


def test_the_graph_covers_the_project() -> None:
    graph = import_graph(MODULES)
    assert len(graph) > 100
    assert "gateway.core.catalog.model" in graph["gateway.core.catalog.parse"]
    assert "gateway.core.errors" in graph["gateway.core.catalog"]


def test_no_import_circle_among_project_modules() -> None:
    assert circles(import_graph(MODULES)) == []


@pytest.mark.parametrize(
    ("sources", "expected"),
    [
        (
            {
                "pkg/__init__.py": "",
                "pkg/a.py": "from pkg.b import thing\n",
                "pkg/b.py": "def f():\n    from pkg import a\n",
                "pkg/c.py": "from typing import TYPE_CHECKING\n"
                "if TYPE_CHECKING:\n    from pkg import a\n",
            },
            [["pkg.a", "pkg.b"]],
        ),
        (
            {
                "pkg/__init__.py": "from pkg.a import x\n",
                "pkg/a.py": "from . import b\n",
                "pkg/b.py": "from .c import y\n",
                "pkg/c.py": "from pkg.a import x\n",
            },
            [["pkg.a", "pkg.b", "pkg.c"]],
        ),
    ],
)
def test_the_check_sees_a_circle(
    tmp_path: Path, sources: dict[str, str], expected: list[list[str]]
) -> None:
    modules: dict[str, Path] = {}
    for relative, text in sources.items():
        path = tmp_path / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        parts = list(Path(relative).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    assert circles(import_graph(modules)) == expected
