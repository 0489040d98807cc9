"""An image's work on the engines of a pool: built and verified on the engine placement
chooses, its parents moved there first (pulled when published, else streamed from an engine
that holds them), tried once more on another engine of its platform when that engine is
lost; verified and pushed from the engine that holds it."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime

from docker_pkg.engines.moving import bring
from docker_pkg.engines.pool import EnginePool, Member
from docker_pkg.errors import BuildError, EngineLost, PublishError
from docker_pkg.running.image_work import ImageWork
from docker_pkg.running.run_records import RunRecords
from docker_pkg.running.run_tasks import BUILD, MOVE, VERIFY, building
from docker_pkg.running.scheduler import Task
from docker_pkg.tree.definitions import Rendered
from docker_pkg.tree.workspace import Workspace


class PoolWork:
    """Where each image of a run is built, verified and pushed."""

    def __init__(
        self,
        workspace: Workspace,
        pool: EnginePool,
        work: ImageWork,
        records: RunRecords,
        *,
        pulling: bool,
        several_platforms: bool,
        on_placed: Callable[[str, str], None],
        built_on: Callable[[Member, str], None],
    ):
        self.workspace = workspace
        self.pool = pool
        self.work = work
        self.records = records
        self.pulling = pulling
        self.several_platforms = several_platforms
        self.on_placed = on_placed
        self.built_on = built_on
        self._published: set[str] = set()  # labels in the registry
        self._lock = threading.Lock()

    def phase_name(self, phase: str, platform: str) -> str:
        """A phase of one platform's image carries the platform (``build linux/arm64``)."""
        return f"{phase} {platform}" if self.several_platforms else phase

    def note_published(self, names: Iterable[str]) -> None:
        """These images are in the registry: an engine that needs them pulls them."""
        labels = {self.workspace.label(n) for n in names}
        with self._lock:
            self._published |= labels

    def is_published(self, label: str) -> bool:
        with self._lock:
            return self.pulling and label in self._published

    def auth_for(self, reference: str) -> Mapping[str, str] | None:
        registry = self.workspace.config.registry
        return self.work.auth() if registry and reference.startswith(registry + "/") else None

    def build_somewhere(self, name: str, rendered: Rendered, platform: str) -> str:
        """Build and verify on the engine placement chooses, its parents moved there first;
        when that engine is lost, once more on another one of the platform."""
        label = self.workspace.label(name)
        parents = [self.workspace.label(p) for p in self.workspace.graph.parents[name]]
        unit = f"{name}@{platform}" if self.several_platforms else name
        lost: list[Member] = []
        while True:
            member = self.pool.acquire(unit, platform, parents, exclude=lost)
            self.on_placed(unit, member.name)
            try:
                return self._on(member, name, label, parents, rendered)
            except EngineLost as exc:
                self.pool.mark_lost(member)
                if not self.pool.alive:
                    raise
                self.records.retried(unit, f"{member.name}: {exc}")
                if lost or not self.pool.serves(platform):
                    raise BuildError(str(exc)) from None
                self.records.image_logger(name).warning(
                    "Engine %s was lost (%s); building again on another engine", member.name, exc
                )
                lost.append(member)
            finally:
                self.pool.release(member, unit)

    def _on(
        self, member: Member, name: str, label: str, parents: list[str], rendered: Rendered
    ) -> str:
        started = datetime.now().astimezone()
        moved = bring(
            self.pool,
            member,
            parents,
            published=self.is_published,
            auth=self.auth_for,
            output=self.records.image_logger(name),
        )
        if moved:
            self.records.record_phase(name, self.phase_name(MOVE, member.platform), started)
        with self.records.phase(name, self.phase_name(BUILD, member.platform)):
            image_id = self.work.build(name, rendered, member.engine, member.emulated)
        self.pool.record(member, label)
        self.built_on(member, name)
        with self.records.phase(name, self.phase_name(VERIFY, member.platform)):
            self.work.verify(name, member.engine, member.platform)
        return image_id

    def holder(self, name: str) -> Member:
        """The engine to verify and push ``name`` from: the one that built it, else any that
        holds it."""
        label = self.workspace.label(name)
        holders = self.pool.holders(label)
        if not holders:
            raise PublishError(f"{label} is on no engine left to push it from")
        built_on = self.records.last_engine(name)
        return next((m for m in holders if m.name == built_on), holders[0])

    def learn_holdings(self, tasks: Mapping[str, Task]) -> None:
        """Which engine holds the parents the builds need. A pool of several lists every
        engine's images (placement weighs them all); one engine is asked only about the
        parents the scan did not look for, since its list grows with everything it holds."""
        if not tasks:
            return
        if len(self.pool.members) > 1:
            self.pool.local_tags()
            return
        built = building(tasks)
        parents = {p for name in built for p in self.workspace.graph.parents[name]}
        known = self.pool.members[0].holds
        for parent in sorted(parents - built):
            if parent not in self.workspace.definitions:
                continue
            label = self.workspace.label(parent)
            if label not in known:
                self.pool.image_exists(label)
