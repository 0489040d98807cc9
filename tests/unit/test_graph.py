from __future__ import annotations

from pathlib import Path

import pytest

from docker_pkg.errors import DependencyError
from docker_pkg.tree.definitions import ImageDefinition
from docker_pkg.tree.graph import DependencyGraph


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


def test_cycle_is_an_error_naming_the_images_and_their_control_files() -> None:
    with pytest.raises(DependencyError, match="dependency cycle") as info:
        graph({"a": ("c",), "b": ("a",), "c": ("b",), "d": ()})
    message = str(info.value)
    assert any(f"{x} -> {y} -> {z} -> {x}" in message for x, y, z in ("acb", "cba", "bac"))
    for child, parent in (("a", "c"), ("b", "a"), ("c", "b")):
        assert f"{child} depends on {parent} (declared in /defs/{child}/control)" in message
    assert "/defs/d" not in message
    assert info.value.exit_status == 2


def test_an_image_depending_on_itself_is_a_cycle_naming_its_control_file() -> None:
    with pytest.raises(DependencyError, match="dependency cycle") as info:
        graph({"a": ("a",)})
    assert info.value.path == Path("/defs/a/control")


def test_unknown_dependency_is_external_and_no_node() -> None:
    g = graph({"a": ("ghost", "b"), "b": (), "c": ("ghost",)})
    assert g.order() == ["b", "c", "a"]
    assert g.parents["a"] == ("b",)
    assert g.external == {"a": ("ghost",), "c": ("ghost",)}
    assert g.external_names == {"ghost": ["a", "c"]}
    assert g.ancestors("a") == {"b"}
