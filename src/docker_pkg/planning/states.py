"""Where each image of a tree stands before a run: in the registry, in the local engine, or
neither (spec 4.1), asked concurrently. Planning works without an engine too: an image that
is not in the registry is then of unknown local state."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from docker_pkg.errors import RegistryAnswerError
from docker_pkg.planning.plan import State, resolve_state
from docker_pkg.tree.workspace import Workspace

if TYPE_CHECKING:
    from docker_pkg.registry.client import RegistryClient

CHECKS_PER_WORKER = 4


class TagSource(Protocol):
    """An engine, or a pool of them: which images are there."""

    def image_exists(self, reference: str) -> bool: ...


@dataclass(frozen=True)
class StateScan:
    workspace: Workspace
    engine: TagSource | None
    registry: RegistryClient | None
    pull: bool = True
    # image -> what the registry answered about it, when that was a server error again and
    # again (a broken tag): the image counts as not published, the run goes on.
    unanswered: dict[str, str] = field(default_factory=dict)
    # labels whose last build did not finish (history): a tag of theirs in the engine is
    # not trusted; ``distrusted`` names the images found so, to be built again.
    untrusted: frozenset[str] = frozenset()
    distrusted: set[str] = field(default_factory=set)
    digests: dict[str, str] = field(default_factory=dict)  # image -> its manifest's, if published

    @property
    def pulling(self) -> bool:
        return self.pull and self.registry is not None

    def is_published(self, name: str) -> bool:
        if self.registry is None:
            return False
        repository = self.registry.repository_path(self.workspace.name(name))
        try:
            status = self.registry.manifest(repository, self.workspace.definitions[name].tag)
            if status.exists and status.digest:
                self.digests[name] = status.digest
            return status.exists
        except RegistryAnswerError as exc:
            self.unanswered[name] = str(exc)
            return False

    def states(self) -> dict[str, State]:
        """The state of every image, up to ``scan_workers`` images at a time (fewer for a
        small tree: each worker opens its own connections). The engine is asked
        per image and only when the registry does not settle it: an engine's list of every
        image costs more, the more it holds, than asking for the tree's own."""
        engine = self.engine

        def state_of(name: str) -> State:
            if engine is None:
                return State.PUBLISHED if self.is_published(name) else State.UNKNOWN
            label = self.workspace.label(name)

            def local() -> bool:
                if not engine.image_exists(label):
                    return False
                if label in self.untrusted:
                    self.distrusted.add(name)
                    return False
                return True

            return resolve_state(
                self.pulling, published=lambda: self.is_published(name), local=local
            )

        names = sorted(self.workspace.definitions)
        if engine is None and self.registry is None:
            return dict.fromkeys(names, State.UNKNOWN)
        workers = max(1, min(self.workspace.config.scan_workers, len(names) // CHECKS_PER_WORKER))
        with ThreadPoolExecutor(max_workers=workers) as pool:
            states = dict(zip(names, pool.map(state_of, names), strict=True))
        if self.unanswered and self.registry is not None:
            # One image's broken tag costs that image; a registry failing for everything
            # is one error about the registry.
            self.registry.check_alive()
        return states
