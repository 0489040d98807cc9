"""The package's shape, read from its source (nothing of it is run): parts whose imports run
one way, no import cycle, no private name taken from another module, classes and functions
small enough to read in one sitting."""

from __future__ import annotations

import ast
import graphlib
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "src" / "docker_pkg"
MAX_CLASS, MAX_FUNCTION, MAX_TOP_MODULES = 200, 80, 15

# Each part may import only parts of a lower rank (and its own modules). Modules at the top
# of the package other than the doorway are what every part shares.
RANKS = {
    "shared": 0,
    "config": 1,
    "tree": 2,
    "engines": 3,
    "registry": 3,
    "planning": 4,
    "inventory": 4,
    "running": 5,
    "outputs": 6,
    "commands": 7,
    "doorway": 8,
}
DOORWAY = {"cli", "arguments", "__main__"}


def _modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        if path.name.endswith("_pb2.py"):
            continue
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def _type_checking_only(tree: ast.AST) -> set[int]:
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped.update(id(n) for stmt in node.body for n in ast.walk(stmt))
    return skipped


def _imports(module: str, path: Path) -> list[tuple[str, list[str]]]:
    """(module imported, names taken) for every import of the package in ``module``, at any
    depth (a lazy import still ties two modules), except those only for type checking."""
    tree = ast.parse(path.read_text("utf-8"))
    skipped = _type_checking_only(tree)
    found = []
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.startswith("docker_pkg"):
                found.append((node.module, [a.name for a in node.names]))
        elif isinstance(node, ast.Import):
            found.extend((a.name, []) for a in node.names if a.name.startswith("docker_pkg"))
        assert not (isinstance(node, ast.ImportFrom) and node.level), f"relative import in {path}"
    return found


def _part(module: str) -> str:
    parts = module.split(".")
    if len(parts) == 1:
        return "shared"
    if len(parts) == 2 and not (PACKAGE / parts[1]).is_dir():
        return "doorway" if parts[1] in DOORWAY else "shared"
    return parts[1]


MODULES = _modules()
IMPORTS = {module: _imports(module, path) for module, path in MODULES.items()}


def test_no_import_cycle() -> None:
    graph = {
        module: {target for target, _ in found if target in MODULES and target != module}
        for module, found in IMPORTS.items()
    }
    graphlib.TopologicalSorter(graph).prepare()  # raises CycleError naming the cycle


def test_parts_import_only_parts_below_them() -> None:
    upward = sorted(
        f"{module} imports {target}"
        for module, found in IMPORTS.items()
        for target, _ in found
        if _part(target) != _part(module)
        and RANKS[_part(target)] >= RANKS[_part(module)]
        and not (_part(module) == "doorway" and _part(target) == "doorway")
    )
    assert upward == []


def test_no_private_name_is_taken_from_another_module() -> None:
    taken = sorted(
        f"{module} takes {target}.{name}"
        for module, found in IMPORTS.items()
        for target, names in found
        for name in names
        if name.startswith("_") and not name.startswith("__")
    )
    assert taken == []


@pytest.mark.parametrize("module", sorted(MODULES))
def test_classes_and_functions_are_short(module: str) -> None:
    tree = ast.parse(MODULES[module].read_text("utf-8"))
    long = []
    for node in ast.walk(tree):
        limit = (
            MAX_CLASS
            if isinstance(node, ast.ClassDef)
            else MAX_FUNCTION
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
            else None
        )
        if limit is not None and node.end_lineno is not None:
            lines = node.end_lineno - node.lineno + 1
            if lines > limit:
                long.append(f"{node.name}: {lines} lines")
    assert long == []


def test_few_modules_at_the_top_and_every_part_says_what_it_holds() -> None:
    top = [p for p in PACKAGE.glob("*.py") if p.name != "__init__.py"]
    assert len(top) <= MAX_TOP_MODULES
    for folder in (p for p in PACKAGE.rglob("*") if p.is_dir() and p.name != "__pycache__"):
        init = folder / "__init__.py"
        assert init.exists(), folder
        assert ast.get_docstring(ast.parse(init.read_text("utf-8"))), f"{init} has no docstring"
