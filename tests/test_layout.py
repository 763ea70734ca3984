"""The house's layout as tests: layers that import downward only, no import circles, small modules.

`engine/traces/` is read bottom-up by a newcomer: the canonical span and text
rules, then semantic conventions, readers, the column types, the index, the
dataset, and on top the store and the analytics that answer the tools. An import
that goes up a layer, or a circle between modules, is the start of a tangle
nobody can walk; these tests name it the day it is written.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("halo_mcp", "engine", "sandbox")
# Lines a module may have (docstrings and comments included).
MAX_MODULE_LINES = 400
# engine.traces layers, bottom first; a module may import its own layer or lower ones.
TRACE_LAYERS: tuple[frozenset[str], ...] = (
    frozenset({"model", "memo", "quality", "user_regex", "failure_text"}),
    frozenset({"semconv"}),
    frozenset({"readers"}),
    frozenset({"columns"}),
    frozenset({"index"}),
    frozenset({"dataset", "frames"}),
    frozenset({"store", "analytics"}),
)


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            found[_module_name(path)] = path
    return found


MODULES = _modules()


def _imports(name: str, path: Path) -> Iterator[str]:
    """Every project module `name` imports: at the top, in functions and under TYPE_CHECKING alike."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            # `from pkg import sub` imports the submodule when there is one.
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names]
        else:
            continue
        for target in targets:
            while target and target not in MODULES:
                target = target.rpartition(".")[0]
            if target and target != name:
                yield target


GRAPH = {name: sorted(set(_imports(name, path))) for name, path in MODULES.items()}


def _trace_layer(module: str) -> int | None:
    parts = module.split(".")
    if parts[:2] != ["engine", "traces"] or len(parts) < 3:
        return None
    for level, names in enumerate(TRACE_LAYERS):
        if parts[2] in names:
            return level
    raise AssertionError(f"{module} is in no layer of TRACE_LAYERS: add its part of engine.traces to one")


def test_trace_modules_import_their_own_layer_or_lower_ones() -> None:
    upward = []
    for name, targets in GRAPH.items():
        level = _trace_layer(name)
        if level is None:
            continue
        for target in targets:
            other = _trace_layer(target)
            if other is not None and other > level:
                upward.append(f"{name} (layer {level}) imports {target} (layer {other})")
    assert not upward, "\n".join(upward)


def test_no_module_is_part_of_an_import_circle() -> None:
    # Tarjan's strongly connected components over the module graph.
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    circles: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in GRAPH.get(node, []):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                circles.append(sorted(component))

    for node in GRAPH:
        if node not in index:
            visit(node)
    assert not circles, "import circles:\n" + "\n".join(" <-> ".join(c) for c in circles)


def test_the_graph_sees_imports() -> None:
    """The checks above pass on an empty graph too: make sure this one is read."""
    assert "engine.traces.index.segments" in GRAPH["engine.traces.dataset"] or any(
        t.startswith("engine.traces.index") for t in GRAPH["engine.traces.dataset"]
    )
    assert "engine.traces.analytics.patterns" in GRAPH["engine.traces.analytics.detect"]


def test_modules_stay_under_the_line_limit() -> None:
    long = {
        name: n for name, path in MODULES.items() if (n := len(path.read_text().splitlines())) > MAX_MODULE_LINES
    }
    assert not long, f"modules over {MAX_MODULE_LINES} lines: {long}"


def test_no_module_is_split_into_prefix_siblings() -> None:
    """`store.py` beside `store_search.py` is one idea cut in two: a subpackage says it instead."""
    siblings = []
    for folder in {path.parent for path in MODULES.values()}:
        names = {p.stem.lstrip("_") for p in folder.glob("*.py") if p.stem != "__init__"}
        names |= {p.name for p in folder.iterdir() if (p / "__init__.py").exists()}
        for name in names:
            for other in names:
                if other.startswith(name + "_"):
                    siblings.append(f"{folder.relative_to(ROOT)}: {name} / {other}")
    assert not siblings, "\n".join(sorted(siblings))
