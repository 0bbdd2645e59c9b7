"""Imports run one way (ARCHITECTURE.md): cli -> fleet/advisor/analytics ->
gateway/guard/freqtrade/exchange -> memory -> config -> errors/kucoin, and the twin imports
only the leaves and itself.

Read from the source with ``ast`` (nothing is imported), imports inside functions included;
only ``if TYPE_CHECKING:`` blocks are exempt, as they never run.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"
ROOT = "bulkhead"

#: top to bottom; a package may import its own layer's packages and any layer below
LAYERS: tuple[frozenset[str], ...] = (
    frozenset({"cli", "__main__"}),
    frozenset({"fleet", "advisor", "analytics", "sim"}),
    frozenset({"gateway", "guard", "freqtrade", "exchange"}),
    frozenset({"memory"}),
    frozenset({"config"}),
    # leaves: the error tree, KuCoin's facts, plumbing helpers, structured logs, __version__
    frozenset({"errors", "kucoin", "plumbing", "logs", "__init__"}),
)
#: the twin stands beside the product: it shares only the leaves with it
TWIN = "sim"
TWIN_MAY_IMPORT = frozenset({"sim", "errors", "kucoin", "plumbing"})


@dataclass(frozen=True)
class Import:
    """One import of a bulkhead module by another, where it is written."""

    source: str  # the importing file, from bulkhead/ on
    line: int
    importer: str  # the importing package, e.g. "config"
    imported: str  # the imported package
    target: str  # the imported module, as written (resolved when relative)

    def __str__(self) -> str:
        return f"{self.source}:{self.line} imports {self.target}"


def package_of(module: str) -> str:
    """``bulkhead.config.models`` -> ``config``; ``bulkhead`` -> ``__init__``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def module_name(path: Path, src: Path) -> str:
    parts = list(path.relative_to(src).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _nodes(tree: ast.AST) -> Iterator[ast.AST]:
    """Every node, skipping the body (not the else) of ``if TYPE_CHECKING:``."""
    for child in ast.iter_child_nodes(tree):
        if isinstance(child, ast.If) and _is_type_checking(child.test):
            for node in child.orelse:
                yield node
                yield from _nodes(node)
            continue
        yield child
        yield from _nodes(child)


def _targets(node: ast.AST, module: str, is_package: bool) -> Iterator[str]:
    if isinstance(node, ast.Import):
        yield from (alias.name for alias in node.names)
    elif isinstance(node, ast.ImportFrom):
        if node.level:
            anchor = module.split(".") if is_package else module.split(".")[:-1]
            anchor = anchor[: len(anchor) - (node.level - 1)]
            base = ".".join([*anchor, node.module] if node.module else anchor)
        else:
            base = node.module or ""
        if base == ROOT:  # from bulkhead import x: x is a package or a name in __init__
            yield from (f"{ROOT}.{alias.name}" for alias in node.names)
        else:
            yield base


def bulkhead_imports(src: Path = SRC) -> list[Import]:
    found = []
    for path in sorted((src / ROOT).rglob("*.py")):
        module = module_name(path, src)
        source = path.relative_to(src).as_posix()
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in _nodes(tree):
            for target in _targets(node, module, path.name == "__init__.py"):
                if target != ROOT and not target.startswith(f"{ROOT}."):
                    continue
                imported = package_of(target)
                if (
                    not (src / ROOT / imported).is_dir()
                    and not (src / ROOT / f"{imported}.py").exists()
                ):
                    imported = "__init__"  # a name defined in bulkhead/__init__.py
                line = getattr(node, "lineno", 0)
                found.append(Import(source, line, package_of(module), imported, target))
    return found


def layer_of(package: str) -> int | None:
    return next((rank for rank, layer in enumerate(LAYERS) if package in layer), None)


def layering_problems(imports: list[Import]) -> list[str]:
    problems = []
    for imp in imports:
        for package in (imp.importer, imp.imported):
            if layer_of(package) is None:
                problems.append(f"{imp}: bulkhead.{package} is in no layer (add it to LAYERS)")
        high, low = layer_of(imp.importer), layer_of(imp.imported)
        if high is not None and low is not None and low < high:
            problems.append(
                f"{imp}: {imp.importer} (layer {high}) must not import "
                f"{imp.imported} (layer {low}, above it)"
            )
    return sorted(set(problems))


def twin_problems(imports: list[Import]) -> list[str]:
    return [
        f"{imp}: the twin ({TWIN}) may import only {', '.join(sorted(TWIN_MAY_IMPORT))}"
        for imp in imports
        if imp.importer == TWIN and imp.imported not in TWIN_MAY_IMPORT
    ]


def cycle_problems(imports: list[Import]) -> list[str]:
    """Each cycle between packages once, with the imports that close it."""
    edges: dict[str, dict[str, Import]] = {}
    for imp in imports:
        if imp.importer != imp.imported:
            edges.setdefault(imp.importer, {}).setdefault(imp.imported, imp)
    problems: list[str] = []
    seen: set[frozenset[str]] = set()

    def walk(path: list[str]) -> None:
        for nxt in sorted(edges.get(path[-1], {})):
            if nxt == path[0]:
                cycle = frozenset(path)
                if cycle not in seen:
                    seen.add(cycle)
                    steps = [*path, path[0]]
                    shown = "; ".join(str(edges[a][b]) for a, b in pairwise(steps))
                    problems.append(f"cycle {' -> '.join(steps)}: {shown}")
            elif nxt not in path and nxt > path[0]:  # each cycle from its smallest package
                walk([*path, nxt])

    for start in sorted(edges):
        walk([start])
    return problems


#: imports on their way out, each with why it is still here; delete the entry with the import
PENDING: dict[tuple[str, str], str] = {}
IMPORTS = [imp for imp in bulkhead_imports() if (imp.source, imp.target) not in PENDING]


def test_the_graph_is_read_from_the_source():
    packages = {imp.importer for imp in IMPORTS}
    assert {"cli", "config", "sim", "memory", "freqtrade"} <= packages


def test_no_package_imports_another_that_imports_it_back():
    problems = cycle_problems(IMPORTS)
    assert not problems, "\n".join(problems)


def test_imports_run_down_the_layers():
    problems = layering_problems(IMPORTS)
    assert not problems, "\n".join(problems)


def test_the_twin_imports_only_kucoin_errors_plumbing_and_itself():
    problems = twin_problems(IMPORTS)
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize(
    ("module", "line", "problem"),
    [
        ("config/bad.py", "from bulkhead.fleet import local", "config (layer 4) must not import"),
        ("sim/bad.py", "from bulkhead.config.models import Bot", "the twin (sim) may import"),
        ("memory/bad.py", "from bulkhead.strategy import X", "bulkhead.strategy is in no layer"),
        ("config/bad.py", "from ..memory import store", "config (layer 4) must not import"),
    ],
)
def test_a_bad_import_is_named_with_its_module_and_line(
    tmp_path: Path, module: str, line: str, problem: str
):
    for package in ("config", "sim", "memory", "fleet", "errors", "strategy"):
        (tmp_path / ROOT / package).mkdir(parents=True)
        (tmp_path / ROOT / package / "__init__.py").write_text("")
    (tmp_path / ROOT / "__init__.py").write_text("")
    (tmp_path / ROOT / module).write_text(f"import os\n\n\ndef late():\n    {line}\n")
    imports = bulkhead_imports(tmp_path)
    found = layering_problems(imports) + twin_problems(imports)
    assert any(f"{ROOT}/{module}:5 imports" in p and problem in p for p in found), found


def test_a_cycle_is_named_with_the_imports_that_close_it(tmp_path: Path):
    for package in ("memory", "config"):
        (tmp_path / ROOT / package).mkdir(parents=True)
        (tmp_path / ROOT / package / "__init__.py").write_text("")
    (tmp_path / ROOT / "memory" / "a.py").write_text("from bulkhead.config import b\n")
    (tmp_path / ROOT / "config" / "b.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from bulkhead.memory import x\n"
        "from bulkhead.memory import a\n"
    )
    (problem,) = cycle_problems(bulkhead_imports(tmp_path))
    assert problem.startswith("cycle config -> memory -> config: ")
    assert "bulkhead/config/b.py:4 imports bulkhead.memory" in problem
    assert "bulkhead/memory/a.py:1 imports bulkhead.config" in problem
