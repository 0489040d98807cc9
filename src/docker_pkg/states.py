"""Where each image of a tree stands before a run: in the registry, in the local engine, or
neither (spec 4.1), asked concurrently. Planning works without an engine too: an image that
is not in the registry is then of unknown local state."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Protocol

from docker_pkg.plan import State, resolve_state
from docker_pkg.registry import RegistryClient
from docker_pkg.workspace import Workspace


class TagSource(Protocol):
    """An engine, or a pool of them: what images are there."""

    def local_tags(self) -> set[str]: ...


@dataclass(frozen=True)
class StateScan:
    workspace: Workspace
    engine: TagSource | None
    registry: RegistryClient | None
    pull: bool = True

    @property
    def pulling(self) -> bool:
        return self.pull and self.registry is not None

    def is_published(self, name: str) -> bool:
        if self.registry is None:
            return False
        repository = self.registry.repository_path(self.workspace.name(name))
        return self.registry.manifest(repository, self.workspace.definitions[name].tag).exists

    def states(self) -> dict[str, State]:
        """The state of every image: the engine's tags asked for once, the registry
        ``scan_workers`` images at a time."""
        local = self.engine.local_tags() if self.engine is not None else None

        def state_of(name: str) -> State:
            if local is None:
                return State.PUBLISHED if self.is_published(name) else State.UNKNOWN
            label = self.workspace.label(name)
            return resolve_state(
                self.pulling,
                published=lambda: self.is_published(name),
                local=lambda: label in local,
            )

        names = sorted(self.workspace.definitions)
        if self.registry is None:
            return {name: state_of(name) for name in names}
        with ThreadPoolExecutor(max_workers=self.workspace.config.scan_workers) as pool:
            return dict(zip(names, pool.map(state_of, names), strict=True))
