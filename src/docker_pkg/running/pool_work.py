"""An image's work on the engines of a pool: built and verified on the engine placement
chooses, its parents moved there first (pulled when published, else streamed from an engine
that holds them); verified and pushed from the engine that holds it. What an engine lost
mid-run took with it is done again elsewhere (:mod:`.engine_loss`)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import TypeVar

from docker_pkg.engines.moving import bring
from docker_pkg.engines.pool import EnginePool, Member
from docker_pkg.errors import (
    BuildError,
    EngineLost,
    OperationError,
    PublishError,
    VerifyError,
)
from docker_pkg.inventory.taking import Inventories, image_id
from docker_pkg.running.engine_loss import LossLedger, check_alive, lost_member
from docker_pkg.running.image_work import ImageWork
from docker_pkg.running.run_records import RunRecords
from docker_pkg.running.run_tasks import BUILD, MOVE, VERIFY, building
from docker_pkg.running.scheduler import Task
from docker_pkg.tree.definitions import Rendered
from docker_pkg.tree.workspace import Workspace

T = TypeVar("T")


class Published:
    """The labels in the registry, which an engine that needs them pulls (when pulling)."""

    def __init__(self, pulling: bool):
        self._pulling = pulling
        self._labels: set[str] = set()
        self._lock = threading.Lock()

    def note(self, labels: Iterable[str]) -> None:
        with self._lock:
            self._labels |= set(labels)

    def holds(self, label: str) -> bool:
        with self._lock:
            return self._pulling and label in self._labels


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
        rendered: Mapping[str, Rendered],
        inventories: Inventories | None = None,
    ):
        self.workspace = workspace
        self.pool = pool
        self.work = work
        self.records = records
        self.pulling = pulling
        self.several_platforms = several_platforms
        self.on_placed = on_placed
        self.built_on = built_on
        self.rendered = rendered  # of every image: any may have to be built again
        self.inventories = inventories  # None: no inventory is taken
        self.ledger = LossLedger()
        self._names = {label: name for name, label in workspace.labels.items()}
        self.published = Published(pulling)
        self._image_ids: dict[str, str] = {}  # label -> ID of the image this run built
        self._lock = threading.Lock()

    def phase_name(self, phase: str, platform: str) -> str:
        """A phase of one platform's image carries the platform (``build linux/arm64``)."""
        return f"{phase} {platform}" if self.several_platforms else phase

    def note_published(self, names: Iterable[str]) -> None:
        """These images are in the registry: an engine that needs them pulls them."""
        self.published.note(self.workspace.label(n) for n in names)

    def auth_for(self, reference: str) -> Mapping[str, str] | None:
        registry = self.workspace.config.registry
        return self.work.auth() if registry and reference.startswith(registry + "/") else None

    def build_somewhere(self, name: str, rendered: Rendered, platform: str) -> str:
        """Build and verify on the engine placement chooses, its parents moved there first;
        when an engine the work depends on is lost, again on another one of the platform."""
        label = self.workspace.label(name)
        parents = [self.workspace.label(p) for p in self.workspace.graph.parents[name]]
        unit = self.unit(name, platform)
        lost: list[Member] = []
        while True:
            member = self.pool.acquire(unit, platform, parents, exclude=lost)
            self.on_placed(unit, member.name)
            try:
                return self._on(member, name, label, parents, rendered)
            except EngineLost as exc:
                self.lose(exc, member, name, platform, lost=lost, error=BuildError)
            finally:
                self.pool.release(member, unit)

    def unit(self, name: str, platform: str) -> str:
        return f"{name}@{platform}" if self.several_platforms else name

    def lose(
        self,
        exc: EngineLost,
        near: Member | None,
        name: str,
        platform: str,
        *,
        lost: list[Member],
        error: type[OperationError],
    ) -> None:
        """Mark the engine ``exc`` is about as lost, note it in ``lost`` and the retry of
        ``name``; raise ``exc`` when no engine is left at all (the run stops), ``error``
        when none is left for ``platform`` or the work was already done again after losing
        that engine."""
        gone = lost_member(self.pool, exc, near)
        if gone is None:
            raise exc
        self.pool.mark_lost(gone)
        if not self.pool.alive:
            raise exc
        self.records.retried(self.unit(name, platform), f"{gone.name}: {exc}")
        if gone in lost or not self.pool.serves(platform):
            raise error(str(exc)) from None
        self.records.image_logger(name).warning(
            "Engine %s was lost (%s); doing the work again on another engine", gone.name, exc
        )
        lost.append(gone)

    def on_holder(self, name: str, platform: str, work: Callable[[Member], T]) -> T:
        """``work`` on an engine that holds ``name``; when an engine it depends on is lost,
        again on another holder (``name`` built again where no engine holds it any more)."""
        lost: list[Member] = []
        while True:
            member = None
            try:
                member = self.holder(name, platform)
                return work(member)
            except EngineLost as exc:
                self.lose(exc, member, name, platform, lost=lost, error=PublishError)

    def _on(
        self, member: Member, name: str, label: str, parents: list[str], rendered: Rendered
    ) -> str:
        started = datetime.now().astimezone()
        moved = bring(
            self.pool,
            member,
            parents,
            published=self.published.holds,
            auth=self.auth_for,
            output=self.records.image_logger(name),
            restore=self.restore,
        )
        if moved:
            self.records.record_phase(name, self.phase_name(MOVE, member.platform), started)
        with self.records.phase(name, self.phase_name(BUILD, member.platform)):
            image_id = self.work.build(name, rendered, member.engine, member.emulated)
        self.pool.record(member, label)
        self.built_on(member, name)
        self.verify(member, name)
        with self._lock:
            self._image_ids[label] = image_id
        return image_id

    def take_inventory(self, name: str, platform: str) -> str:
        """Take the inventory of ``name`` on an engine that holds it; its digest."""
        assert self.inventories is not None
        inventories = self.inventories
        own = platform if self.several_platforms else ""  # each platform's image apart
        label = inventories.label(name, own)

        def take(member: Member) -> str:
            with self._lock:
                known = None if own else self._image_ids.get(label)
            ident = known or image_id(member.engine, label)
            kept = inventories.take(member.engine, name, ident, own)
            packages, warnings = len(kept.inventory.packages), kept.inventory.warnings
            introduced = sorted(
                f"{k[0]} {k[2]}" for k, who in kept.introduced.items() if who == name
            )
            self.records.inventory(name, packages, kept.digest, warnings, introduced)
            return kept.digest

        return self.on_holder(name, platform, take)

    def verify(self, member: Member, name: str) -> None:
        """Verify ``name`` on ``member``; a failure whose cause is the engine's loss is that
        loss, not the image's."""
        with self.records.phase(name, self.phase_name(VERIFY, member.platform)):
            try:
                self.work.verify(name, member.engine, member.platform)
            except VerifyError as exc:
                check_alive(member, exc)
                raise

    def restore(self, label: str, member: Member) -> None:
        """Build ``label`` again on ``member``, which holds a slot for the work that needs
        it: its only copy was on an engine that was lost, and it is not published."""
        name = self._names[label]
        with self.ledger.image(name):
            if self.pool.holders(label):
                return  # made again meanwhile, for another build
            engines = [m.name for m in self.pool.members if m.lost and label in m.holds]
            why = f"{label} was only on lost engine(s) {', '.join(engines) or '?'}"
            self.ledger.again(name, engines, why)
            self.records.retried(name, f"{why}; built again on {member.name}")
            self.records.image_logger(name).warning("%s; building it again on %s", why, member.name)
            parents = [self.workspace.label(p) for p in self.workspace.graph.parents[name]]
            self._on(member, name, label, parents, self.rendered[name])

    def holder(self, name: str, platform: str) -> Member:
        """The engine to verify and push ``name`` from: the one that built it, else any that
        holds it; when none does any more (lost with its engine), it is built again."""
        label = self.workspace.label(name)
        holders = [m for m in self.pool.holders(label) if not platform or m.platform == platform]
        if holders:
            built_on = self.records.last_engine(name)
            return next((m for m in holders if m.name == built_on), holders[0])
        if name not in self.rendered:
            raise PublishError(f"{label} is on no engine left to push it from")
        parents = [self.workspace.label(p) for p in self.workspace.graph.parents[name]]
        unit = self.unit(name, platform)
        member = self.pool.acquire(unit, platform, parents)
        try:
            self.restore(label, member)
        finally:
            self.pool.release(member, unit)
        return member


def learn_holdings(pool: EnginePool, workspace: Workspace, tasks: Mapping[str, Task]) -> None:
    """Which engine holds the parents the builds need. A pool of several lists every
    engine's images (placement weighs them all); one engine is asked only about the
    parents the scan did not look for, since its list grows with everything it holds."""
    if not tasks:
        return
    if len(pool.members) > 1:
        pool.local_tags()
        return
    built = building(tasks)
    parents = {p for name in built for p in workspace.graph.parents[name]}
    known = pool.members[0].holds
    for parent in sorted(parents - built):
        if parent not in workspace.definitions:
            continue
        label = workspace.label(parent)
        if label not in known:
            pool.image_exists(label)
