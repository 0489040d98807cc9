from __future__ import annotations

from pathlib import Path

import pytest

from docker_pkg.definitions import ImageDefinition
from docker_pkg.errors import DependencyError
from docker_pkg.graph import DependencyGraph


def graph(edges: dict[str, tuple[str, ...]]) -> DependencyGraph:
    return DependencyGraph.from_definitions(
        ImageDefinition(name, "1", Path("/defs") / name, deps) for name, deps in edges.items()
    )


TREE = {
    "base": (),
    "python": ("base",),
    "node": ("base",),
    "app": ("python", "node"),
    "tool": ("app",),
}


def test_order_puts_parents_first_and_is_deterministic() -> None:
    g = graph(TREE)
    assert g.order() == ["base", "node", "python", "app", "tool"]
    assert g.order({"tool", "python"}) == ["python", "tool"]


def test_ancestors_and_descendants() -> None:
    g = graph(TREE)
    assert g.ancestors("tool") == {"app", "python", "node", "base"}
    assert g.descendants("python") == {"app", "tool"}
    assert g.children("base") == ["node", "python"]
    assert g.ancestors("base") == set()


def test_cycle_is_an_error_naming_the_images() -> None:
    with pytest.raises(DependencyError, match="dependency cycle") as info:
        graph({"a": ("c",), "b": ("a",), "c": ("b",), "d": ()})
    message = str(info.value)
    assert all(name in message for name in ("a", "b", "c"))
    assert "d" not in message.replace("dependency", "")
    assert info.value.exit_status == 2


def test_unknown_dependency_names_the_control_file() -> None:
    with pytest.raises(DependencyError, match="'ghost'") as info:
        graph({"a": ("ghost",)})
    assert info.value.path == Path("/defs/a/control")
