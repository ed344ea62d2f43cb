"""The layering contracts in pyproject.toml hold (import-linter), and no engine module imports itself
in a circle, checked in every test run."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parent.parent
MAX_MODULE_LINES = 500  # the project's limit for a module of engine/, console/ or cli/


def test_import_contracts_are_kept() -> None:
    lint_imports = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run([str(lint_imports), "--no-cache"], cwd=ROOT, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Contracts: 4 kept, 0 broken." in result.stdout


def import_cycles(package: str) -> list[list[str]]:
    """The groups of `package`'s modules that import one another in a circle (type-only imports too)."""
    graph = grimp.build_graph(package, cache_dir=None)
    edges = {module: graph.find_modules_directly_imported_by(module) & graph.modules
             for module in graph.modules}
    order: dict[str, int] = {}
    lowest: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(module: str) -> None:  # Tarjan's strongly connected components
        order[module] = lowest[module] = len(order)
        stack.append(module)
        for imported in edges[module]:
            if imported not in order:
                visit(imported)
                lowest[module] = min(lowest[module], lowest[imported])
            elif imported in stack:
                lowest[module] = min(lowest[module], order[imported])
        if lowest[module] == order[module]:
            group = stack[stack.index(module):]
            del stack[stack.index(module):]
            if len(group) > 1:
                cycles.append(sorted(group))

    for module in sorted(graph.modules):
        if module not in order:
            visit(module)
    return cycles


def test_no_import_cycle_among_engine_modules() -> None:
    assert import_cycles("engine") == []


def test_no_engine_console_or_cli_module_is_over_500_lines() -> None:
    modules = [path for folder in ("engine", "console", "cli") for path in (ROOT / folder).rglob("*.py")]
    long = {str(path.relative_to(ROOT)): count for path in modules
            if (count := len(path.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES}
    assert modules and not long, f"split these modules (at most {MAX_MODULE_LINES} lines each): {long}"
