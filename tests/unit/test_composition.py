"""The composition root is plain: a static list of services, typed resources, no circle."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from services.plugin import Resources, ServicePlugin
from services.registry import PLUGINS, plugins_named
from services.runtime import System

ROOT = Path(__file__).resolve().parents[2]
COMPOSITION = ("services.runtime", "services.plugin", "services.registry")


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def is_type_checking(node: ast.If) -> bool:
    return isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"


def imports_at_import_time(tree: ast.Module, known: set[str]) -> set[str]:
    """Modules imported when the module itself is imported (not under TYPE_CHECKING, not
    inside functions)."""
    found: set[str] = set()

    def visit(body: list[ast.stmt]) -> None:
        for node in body:
            if isinstance(node, ast.If) and not is_type_checking(node):
                visit(node.body)
                visit(node.orelse)
            elif isinstance(node, ast.Try):
                visit(node.body)
            elif isinstance(node, ast.Import):
                found.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.add(node.module)
                found.update(f"{node.module}.{a.name}" for a in node.names)

    visit(tree.body)
    return {name for name in found if name in known}


def every_import(tree: ast.Module) -> set[str]:
    """Every module named in an import anywhere in the module (typing-only ones too)."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def import_graph() -> dict[str, set[str]]:
    paths = [*ROOT.glob("services/**/*.py"), *ROOT.glob("shared/**/*.py")]
    trees = {module_name(p): ast.parse(p.read_text()) for p in paths}
    return {name: imports_at_import_time(tree, set(trees)) for name, tree in trees.items()}


def cycles(graph: dict[str, set[str]]) -> list[set[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[set[str]] = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                connect(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = set()
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.add(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(component)

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    for node in graph:
        if node not in index:
            connect(node)
    return found


def test_no_import_circle_runs_through_the_composition_root() -> None:
    circles = [c for c in cycles(import_graph()) if c & set(COMPOSITION)]
    assert circles == []


def test_the_plugin_contract_knows_nothing_of_the_runtime_or_the_registry() -> None:
    tree = ast.parse((ROOT / "services" / "plugin.py").read_text())
    assert every_import(tree).isdisjoint({"services.runtime", "services.registry"})


def test_no_service_module_reaches_for_the_composition_root_even_for_types() -> None:
    reaching = []
    for path in ROOT.glob("services/*/*.py"):
        if "services.runtime" in every_import(ast.parse(path.read_text())):
            reaching.append(str(path.relative_to(ROOT)))
    allowed = {"services/governance/cli.py", "services/evaluation/cli.py"}  # commands build
    # the system they run
    assert set(reaching) <= allowed


@pytest.mark.parametrize("module", COMPOSITION)
def test_each_composition_module_imports_fresh_on_its_own(module: str) -> None:
    result = subprocess.run(
        [sys.executable, "-c", f"import {module}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr


def test_the_registry_is_a_static_list_without_dynamic_imports() -> None:
    source = (ROOT / "services" / "registry.py").read_text()
    assert "importlib" not in source and "ModuleNotFoundError" not in source
    assert all(isinstance(p, ServicePlugin) for p in PLUGINS)
    assert [p.name for p in PLUGINS] == [
        "referrals",
        "formulation",
        "reviews",
        "notifications",
        "governance",
        "evaluation",
        "children",
    ]


def test_the_system_is_no_service_locator() -> None:
    assert "__getattr__" not in vars(System) and "__getattr__" not in vars(Resources)
    assert "extras" not in {f for f in System.__dataclass_fields__}


def test_an_unknown_service_name_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match=r"unknown service.*nonesuch"):
        plugins_named(["referrals", "nonesuch"])


def test_no_plugin_is_handed_the_system() -> None:
    import inspect

    for plugin in PLUGINS:
        for job in (plugin.consumers, plugin.background):
            if job is None:
                continue
            first = next(iter(inspect.signature(job).parameters.values()))
            assert first.annotation not in ("System", System), (plugin.name, job)
