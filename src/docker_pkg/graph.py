"""The dependency graph of image definitions: order, ancestry, cycles."""

from __future__ import annotations

import graphlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from docker_pkg.definitions import CONTROL, ImageDefinition
from docker_pkg.errors import DependencyError, ManyErrors, UsageError


@dataclass(frozen=True)
class DependencyGraph:
    """Edges run from an image to the images it depends on (its parents): the declared ones
    (``control``) and, when given, the ones inferred from the rendered Dockerfiles."""

    parents: Mapping[str, tuple[str, ...]]
    declared: Mapping[str, tuple[str, ...]]

    def with_inferred(
        self, inferred: Mapping[str, Iterable[str]], *, check: bool = True
    ) -> DependencyGraph:
        """This graph plus ``inferred`` edges (order and ancestry then use both); with
        ``check``, a cycle among them all raises."""
        parents = {
            name: tuple(dict.fromkeys([*deps, *(p for p in inferred.get(name, ()) if p != name)]))
            for name, deps in self.declared.items()
        }
        graph = DependencyGraph(parents, self.declared)
        if check:
            graph.order()
        return graph

    def is_inferred(self, child: str, parent: str) -> bool:
        return parent in self.parents[child] and parent not in self.declared[child]

    @classmethod
    def from_definitions(cls, definitions: Iterable[ImageDefinition]) -> DependencyGraph:
        by_name = {d.short_name: d for d in definitions}
        errors: list[UsageError] = []
        for definition in by_name.values():
            for dep in definition.depends:
                if dep not in by_name:
                    errors.append(
                        DependencyError(
                            f"{definition.short_name} depends on {dep!r}, which is not an image "
                            "defined in this directory",
                            path=definition.path / CONTROL,
                        )
                    )
        if len(errors) == 1:
            raise errors[0]
        if errors:
            raise ManyErrors(errors)
        declared = {name: d.depends for name, d in by_name.items()}
        graph = cls(declared, declared)
        graph.order()  # raises on a cycle
        return graph

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
            cycle = list(exc.args[1])
            raise DependencyError("dependency cycle: " + " -> ".join(cycle)) from None
        ordered: list[str] = []
        while sorter.is_active():
            ready = sorted(sorter.get_ready())
            ordered.extend(ready)
            sorter.done(*ready)
        return ordered
