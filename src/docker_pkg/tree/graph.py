"""The dependency graph of image definitions: order, ancestry, cycles."""

from __future__ import annotations

import graphlib
import itertools
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from docker_pkg.errors import DependencyError, ManyErrors
from docker_pkg.tree.definitions import CONTROL, TEMPLATE, ImageDefinition


@dataclass(frozen=True)
class DependencyGraph:
    """Edges run from an image to the images it depends on (its parents): the declared ones
    (``control``) and, when given, the ones inferred from the rendered Dockerfiles.

    A declared dependency that names no image of the tree is *external*: an image another
    tree builds and publishes. It is no node of the graph; ``external`` keeps it per image.
    ``folders`` (image to its folder) lets errors name the files involved.
    """

    parents: Mapping[str, tuple[str, ...]]
    declared: Mapping[str, tuple[str, ...]]
    external: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    folders: Mapping[str, Path] = field(default_factory=dict)

    def with_inferred(
        self, inferred: Mapping[str, Iterable[str]], *, check: bool = True
    ) -> DependencyGraph:
        """This graph plus ``inferred`` edges (order and ancestry then use both); with
        ``check``, a cycle among them all raises."""
        parents = {
            name: tuple(dict.fromkeys([*deps, *(p for p in inferred.get(name, ()) if p != name)]))
            for name, deps in self.declared.items()
        }
        graph = replace(self, parents=parents)
        if check:
            graph.order()
        return graph

    def is_inferred(self, child: str, parent: str) -> bool:
        return parent in self.parents[child] and parent not in self.declared[child]

    @classmethod
    def from_definitions(cls, definitions: Iterable[ImageDefinition]) -> DependencyGraph:
        by_name = {d.short_name: d for d in definitions}
        errors = constraint_errors(by_name.values())
        if len(errors) == 1:
            raise errors[0]
        if errors:
            raise ManyErrors(errors)
        declared = {
            name: tuple(p for p in d.depends if p in by_name) for name, d in by_name.items()
        }
        external = {
            name: outside
            for name, d in by_name.items()
            if (outside := tuple(p for p in d.depends if p not in by_name))
        }
        folders = {name: d.path for name, d in by_name.items()}
        graph = cls(declared, declared, external, folders)
        graph.order()  # raises on a cycle
        return graph

    @property
    def external_names(self) -> dict[str, list[str]]:
        """Each external dependency and the images that declare it."""
        users: dict[str, list[str]] = {}
        for name, outside in sorted(self.external.items()):
            for dep in outside:
                users.setdefault(dep, []).append(name)
        return dict(sorted(users.items()))

    @property
    def names(self) -> list[str]:
        return sorted(self.parents)

    def children(self, name: str) -> list[str]:
        return sorted(n for n, deps in self.parents.items() if name in deps)

    def ancestors(self, name: str) -> set[str]:
        return self._reach(name, lambda n: self.parents[n])

    def descendants(self, name: str) -> set[str]:
        return self._reach(name, self.children)

    @staticmethod
    def _reach(start: str, step: Callable[[str], Iterable[str]]) -> set[str]:
        seen: set[str] = set()
        todo = [start]
        while todo:
            for nxt in step(todo.pop()):
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        return seen

    def order(self, subset: Iterable[str] | None = None) -> list[str]:
        """Ancestors before descendants (also across images left out of ``subset``); among
        images ready together, by name, so the order is deterministic."""
        wanted = set(self.parents) if subset is None else set(subset)
        sorter: graphlib.TopologicalSorter[str] = graphlib.TopologicalSorter()
        for name in wanted:
            before = self.parents[name] if subset is None else self.ancestors(name) & wanted
            sorter.add(name, *before)
        try:
            sorter.prepare()
        except graphlib.CycleError as exc:
            raise self.cycle_error(list(exc.args[1])) from None
        ordered: list[str] = []
        while sorter.is_active():
            ready = sorted(sorter.get_ready())
            ordered.extend(ready)
            sorter.done(*ready)
        return ordered

    def cycle_error(self, cycle: list[str]) -> DependencyError:
        """A cycle as graphlib reports it (each image a parent of the next), with the file
        that makes each edge: the child's ``control`` or its template."""
        edges = []
        for parent, child in itertools.pairwise(cycle):
            folder = self.folders.get(child)
            if folder is None:
                edges.append(f"{child} depends on {parent}")
            elif parent in self.declared.get(child, ()):
                edges.append(f"{child} depends on {parent} (declared in {folder / CONTROL})")
            else:
                edges.append(f"{child} uses {parent} (in {folder / TEMPLATE})")
        first = self.folders.get(cycle[-1]) if cycle else None
        return DependencyError(
            "dependency cycle: " + " -> ".join(reversed(cycle)) + "; " + "; ".join(edges),
            path=first / CONTROL if first is not None else None,
        )


def constraint_errors(definitions: Iterable[ImageDefinition]) -> list[DependencyError]:
    """Version constraints of ``control`` files that the tree's images do not meet
    (constraints on external images cannot be checked here)."""
    all_of = list(definitions)
    by_name = {d.short_name: d for d in all_of}
    errors = []
    for definition in all_of:
        for constraint in definition.constraints:
            parent = by_name.get(constraint.image)
            if parent is None or _satisfies(
                parent.version, constraint.operator, constraint.version
            ):
                continue
            errors.append(
                DependencyError(
                    f"{definition.short_name} needs {constraint.image} ({constraint.operator} "
                    f"{constraint.version}), but the tree has {constraint.image} "
                    f"{parent.version}",
                    path=definition.path / CONTROL,
                    line=constraint.line,
                )
            )
    return errors


def _satisfies(version: str, operator: str, wanted: str) -> bool:
    from debian.debian_support import version_compare

    order = version_compare(version, wanted)
    return {
        "<<": order < 0,
        "<=": order <= 0,
        "=": order == 0,
        ">=": order >= 0,
        ">>": order > 0,
    }[operator]
