"""Print Quill's package-level import graph: edges, mutual pairs and cycles.

Run with ``uv run python scripts/package_graph.py``. Each top-level module or package under
``quill`` is one node; an edge A -> B means some module of A imports some module of B
(imports inside ``if TYPE_CHECKING`` included, as the type checker sees them). It also
counts the module imports that run from a lower layer up to a higher one, using the layers
contract in pyproject.toml (packages that contract does not name are left out of that count).
"""

from __future__ import annotations

import sys
import tomllib
from collections import defaultdict
from itertools import combinations
from pathlib import Path

import grimp


def package_edges(graph: grimp.ImportGraph) -> dict[str, dict[str, int]]:
    """Counts of module-level imports between top-level packages of ``quill``."""
    edges: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for module in graph.modules:
        source = _top(module)
        for imported in graph.find_modules_directly_imported_by(module):
            target = _top(imported)
            if source and target and source != target:
                edges[source][target] += 1
    return edges


def _top(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "quill" else None


def strongly_connected(edges: dict[str, dict[str, int]]) -> list[list[str]]:
    """Tarjan's components with more than one package: each is a knot of cycles."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    nodes = sorted(set(edges) | {t for targets in edges.values() for t in targets})

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(edges.get(node, {})):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    sys.setrecursionlimit(10_000)
    for node in nodes:
        if node not in index:
            visit(node)
    return found


def layer_ranks(pyproject: Path) -> dict[str, int]:
    """Top-level package -> its layer's height (0 = bottom), from the layers contract."""
    config = tomllib.loads(pyproject.read_text())["tool"]["importlinter"]
    layers = next(c["layers"] for c in config["contracts"] if c["type"] == "layers")
    ranks: dict[str, int] = {}
    for height, line in enumerate(reversed(layers)):
        for member in line.replace(":", "|").split("|"):
            ranks[member.strip().removeprefix("quill.")] = height
    return ranks


def upward_imports(graph: grimp.ImportGraph, ranks: dict[str, int]) -> list[tuple[str, str]]:
    found = []
    for module in sorted(graph.modules):
        source = _top(module)
        for imported in sorted(graph.find_modules_directly_imported_by(module)):
            target = _top(imported)
            if (source in ranks and target in ranks and source != target
                    and ranks[target] > ranks[source]):
                found.append((module, imported))
    return found


def main() -> None:
    graph = grimp.build_graph("quill", cache_dir=None)
    edges = package_edges(graph)
    print("package edges (imports):")
    for source in sorted(edges):
        targets = ", ".join(f"{t}({n})" for t, n in sorted(edges[source].items()))
        print(f"  {source} -> {targets}")
    mutual = [(a, b) for a, b in combinations(sorted(edges), 2)
              if b in edges[a] and a in edges.get(b, {})]
    print(f"\npackage pairs importing each other: {len(mutual)}")
    for a, b in mutual:
        print(f"  {a} <-> {b}")
    knots = strongly_connected(edges)
    print(f"\npackages caught in import cycles: {sum(len(k) for k in knots)} "
          f"in {len(knots)} knot(s)")
    for knot in knots:
        print("  " + ", ".join(knot))
    upward = upward_imports(graph, layer_ranks(Path(__file__).parents[1] / "pyproject.toml"))
    print(f"\nimports from a lower layer up to a higher one: {len(upward)}")
    for importer, imported in upward:
        print(f"  {importer} -> {imported}")


if __name__ == "__main__":
    main()
