"""The package's imports point one way: no cycles, and pure logic imports no web or export stack."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[3] / "sidecar"

FRAMEWORKS = ("starlette", "uvicorn", "aiohttp", "httpx", "opentelemetry", "prometheus_client")
"""Imports that pure logic must not make (web frameworks, HTTP clients, telemetry SDKs)."""

PURE = (
    "sidecar.decoders",
    "sidecar.sketches",
    "sidecar.drift",
    "sidecar.drift_rules",
    "sidecar.drift_batch",
    "sidecar.feature_rates",
    "sidecar.derived",
    "sidecar.quality",
    "sidecar.statistics",
    "sidecar.deciles",
    "sidecar.windows",
    "sidecar.outcomes",
    "sidecar.signals",
    "sidecar.reference",
)
"""Modules (or rooms) of pure logic: testable without a socket or an event loop."""

HOT_PATH = ("sidecar.proxy",)
CORE = (
    "sidecar.capture",
    "sidecar.analysis",
    "sidecar.monitor",
    "sidecar.model_state",
    "sidecar.policies",
)
"""The analysis core: it knows its sinks only through protocols."""


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> Iterator[str]:
    """Every module `path` imports, type-only imports included."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join([*base, *([node.module] if node.module else [])])
            else:
                target = node.module or ""
            yield target
            # `from sidecar import reports` imports the module sidecar.reports.
            for alias in node.names:
                yield f"{target}.{alias.name}"


def _graph() -> dict[str, set[str]]:
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        graph[name] = {m for m in _imports(path) if m in modules and m != name}
    return graph


def _within(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def _offenders(importers: tuple[str, ...], forbidden: tuple[str, ...]) -> list[str]:
    """Imports from modules under `importers` of modules under `forbidden`."""
    return [
        f"{name} imports {target}"
        for name, targets in _graph().items()
        if _within(name, importers)
        for target in targets
        if _within(target, forbidden)
    ]


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle of the graph, or None (iterative depth-first search)."""
    state: dict[str, int] = {}
    for root in sorted(graph):
        if state.get(root):
            continue
        stack: list[tuple[str, Iterator[str]]] = [(root, iter(sorted(graph[root])))]
        path = [root]
        state[root] = 1
        while stack:
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                state[node] = 2
                stack.pop()
                path.pop()
            elif state.get(child) == 1:
                return [*path[path.index(child) :], child]
            elif not state.get(child):
                state[child] = 1
                path.append(child)
                stack.append((child, iter(sorted(graph[child]))))
    return None


class TestImportGraph:
    def test_the_package_has_no_import_cycle(self) -> None:
        """No module reaches itself through imports, counting imports made only for typing."""
        cycle = _cycle(_graph())
        assert cycle is None, " -> ".join(cycle or [])

    def test_the_cycle_finder_finds_a_cycle(self) -> None:
        """The check itself can fail: a graph with a -> b -> a is reported."""
        assert _cycle({"a": {"b"}, "b": {"a"}}) == ["a", "b", "a"]

    @pytest.mark.parametrize("prefix", PURE)
    def test_pure_logic_imports_no_framework(self, prefix: str) -> None:
        """Decoders, sketches, statistics, outcomes and signals import no web or telemetry stack."""
        offenders = [
            f"{_module_name(path)} imports {target}"
            for path in PACKAGE.rglob("*.py")
            if _within(_module_name(path), (prefix,))
            for target in _imports(path)
            if target.split(".")[0] in FRAMEWORKS
        ]
        assert offenders == []

    def test_pure_logic_imports_only_pure_logic_and_vocabulary(self) -> None:
        """Pure modules import no proxy, export, command, admin or runtime module."""
        impure = ("sidecar.proxy", "sidecar.export", "sidecar.commands", "sidecar.demo")
        impure += ("sidecar.admin", "sidecar.runtime", "sidecar.server", "sidecar.persistence")
        assert _offenders(PURE, impure) == []

    def test_the_analysis_core_imports_nothing_from_export(self) -> None:
        """Capture, analysis, monitor and policies import no exporter; the runtime wires them."""
        assert _offenders(CORE, ("sidecar.export", "sidecar.admin", "sidecar.runtime")) == []

    def test_the_hot_path_imports_nothing_from_export(self) -> None:
        """The proxy reaches metrics through a protocol, never by importing sidecar.export."""
        assert _offenders(HOT_PATH, ("sidecar.export",)) == []
