"""Build, verify and publish the images of a plan on a pool of engines, isolating failures.

The tasks (:mod:`.run_tasks`) run in parallel on the scheduler; an engine lost mid-run takes
no more work, and the builds it was running are tried once more on another engine.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from docker_pkg.engines.pool import EnginePool, Member
from docker_pkg.errors import OperationError
from docker_pkg.inventory.publishing import attach_missing, publish_kept
from docker_pkg.inventory.store import InventoryStore
from docker_pkg.inventory.taking import Inventories
from docker_pkg.planning.plan import State
from docker_pkg.registry.client import RegistryClient
from docker_pkg.registry.credentials import Credentials
from docker_pkg.running.image_work import ImageWork
from docker_pkg.running.model import BuildOptions, ImageResult, plan_results
from docker_pkg.running.pool_work import PoolWork, learn_holdings
from docker_pkg.running.run_records import RunRecords
from docker_pkg.running.run_tasks import (
    BUILD,
    INVENTORY,
    PUBLISH,
    apply,
    building,
    chain_tasks,
    skip_reason,
)
from docker_pkg.running.scheduler import Scheduler, Task
from docker_pkg.running.verify import ProcessGroup
from docker_pkg.tree.definitions import Rendered
from docker_pkg.tree.workspace import Workspace

log = logging.getLogger(__name__)


@dataclass
class BuildRun:
    """One run over one workspace, on a pool of engines, with an optional registry client."""

    workspace: Workspace
    pool: EnginePool
    registry: RegistryClient | None
    options: BuildOptions
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    log_dir: Path | None = None
    processes: ProcessGroup = field(default_factory=ProcessGroup)
    redactor: logging.Filter | None = None
    keep_failed: Path | None = None
    labels: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    credentials: Credentials | None = None
    # image -> references of its Dockerfiles to external dependencies (pulled before a build)
    external: Mapping[str, list[str]] = field(default_factory=dict)
    platform: str = ""  # what every image is built for ("": the engines' own)
    platforms: tuple[str, ...] = ()  # set: images of several platforms (PlatformRun)
    on_output: Callable[[str, str], None] = lambda name, line: None
    on_placed: Callable[[str, str], None] = lambda name, engine: None
    # every image's rendered Dockerfiles: one whose engine was lost may be built again
    rendered: dict[str, Rendered] = field(default_factory=dict)
    # labels whose tags in the engines are not to be trusted (built again by this run)
    untrusted: frozenset[str] = frozenset()
    inventory_dir: Path | None = None  # where inventories are kept (None: not kept)

    def __post_init__(self) -> None:
        self.records = RunRecords(
            self.workspace.label, self.log_dir, self.redactor, self.keep_failed
        )
        self.warnings = self.records.warnings
        self.work = ImageWork(
            self.workspace,
            self.registry,
            self.records.image_logger,
            nocache=self.options.nocache,
            pulling=self.pulling,
            builder=self.options.builder,
            credentials=self.credentials,
            labels=self.labels,
            external=self.external,
            keep_failed=self.keep_failed,
            processes=self.processes,
            environ=self.environ,
            # late bound: the progress view sets on_output after the run is made
            on_output=lambda name, line: self.on_output(name, line),  # noqa: PLW0108
        )
        self.engines = PoolWork(
            self.workspace,
            self.pool,
            self.work,
            self.records,
            pulling=self.pulling,
            several_platforms=bool(self.platforms),
            on_placed=lambda unit, engine: self.on_placed(unit, engine),  # noqa: PLW0108
            built_on=lambda member, name: self.built_on(member, name),  # noqa: PLW0108
            rendered=self.rendered,
            inventories=run_inventories(self),
        )

    @property
    def pulling(self) -> bool:
        return self.options.pull and self.registry is not None

    def close_logs(self) -> None:
        self.records.close_logs()

    def cancel(self) -> None:
        """Stop everything in progress: engine builds and verification processes."""
        self.pool.cancel()
        self.processes.cancel()

    def pull_base_images(self) -> list[str]:
        """Refresh every ``base_images`` entry on every engine; warnings for failures."""
        warnings: list[str] = []
        for member in self.pool.alive:
            warnings.extend(
                w for w in self.work.pull_base_images(member.engine) if w not in warnings
            )
        return warnings

    def tasks(
        self,
        chain: list[str],
        rendered: Mapping[str, Rendered],
        states: Mapping[str, State],
        to_publish: list[str],
    ) -> dict[str, Task]:
        """The build and publish tasks of this run, with their dependencies."""
        self.rendered.update(rendered)
        self.engines.note_published(n for n, s in states.items() if s is State.PUBLISHED)
        return chain_tasks(
            self.workspace.graph,
            chain,
            to_publish,
            lambda name: self._build_task(name, rendered[name]),
            self._publish_task,
            publish_at_end=self.options.publish_at_end,
            inventory=self._inventory_task if self.engines.inventories is not None else None,
        )

    def _build_task(self, name: str, rendered: Rendered, platform: str = "") -> Callable[[], str]:
        def run() -> str:
            try:
                image_id = self.engines.build_somewhere(name, rendered, platform or self.platform)
            except OperationError as exc:
                self.records.image_logger(name).error("%s", exc)
                self.records.keep_inputs(name, rendered)
                raise
            self.records.forget_inputs(name)
            return image_id

        return run

    def built_on(self, member: Member, name: str) -> None:
        """Note the engine that built ``name`` (a run of several platforms notes each)."""
        self.records.built_on(name, member.name)

    def _publish_task(self, name: str, verified: bool) -> Callable[[], str | None]:
        def push(member: Member) -> str | None:
            if not verified:
                self.engines.verify(member, name)
            with self.records.phase(name, PUBLISH):
                digest = self.work.push(name, member.engine)
                inventories = self.engines.inventories
                if inventories is not None and self.registry is not None and digest:
                    publish_kept(inventories, self.registry, member.engine, name, digest)
                return digest

        def run() -> str | None:
            try:
                digest = self.engines.on_holder(name, self.platform, push)
            except OperationError as exc:
                self.records.image_logger(name).error("%s", exc)
                raise
            self.engines.note_published([name])
            return digest

        return run

    def _inventory_task(self, name: str) -> Callable[[], str]:
        def run() -> str:
            try:
                return self.engines.take_inventory(name, self.platform)
            except OperationError as exc:
                self.records.image_logger(name).error("inventory: %s", exc)
                raise

        return run

    def skip_reason(self, task: Task, failed: Task) -> str:
        """Why ``task`` is not run, ``failed`` having failed."""
        return skip_reason(task, failed, self.unit_labels()[failed.key.split(":", 1)[1]])

    def unit_labels(self) -> dict[str, str]:
        """The label of each thing the run works on (here: each image)."""
        return self.workspace.labels

    def limits(self) -> dict[str, int]:
        """How many tasks of each kind run at once: a build per engine slot."""
        jobs = max(1, self.options.jobs)
        return {BUILD: max(1, self.pool.total_jobs), PUBLISH: jobs, INVENTORY: jobs}

    def execute(
        self,
        tasks: dict[str, Task],
        on_event: Callable[[Task], None],
        clock: Callable[[], datetime],
    ) -> bool:
        """Run the tasks; False when interrupted."""
        learn_holdings(self.pool, self.workspace, tasks)
        self.pool.forget(self.untrusted)
        scheduler = Scheduler(
            tasks,
            limits=self.limits(),
            clock=clock,
            on_event=on_event,
            skip_reason=self.skip_reason,
            fail_fast=self.options.fail_fast,
        )
        return scheduler.run(on_interrupt=self.cancel)

    def results(
        self,
        tasks: Mapping[str, Task],
        states: Mapping[str, State],
        why: Mapping[str, str] | None = None,
    ) -> list[ImageResult]:
        """One result per scanned image, in build order."""
        results = plan_results(self.workspace, states, why, building(tasks))
        for result in results:
            name = result.name
            kinds = (BUILD, INVENTORY, PUBLISH)
            for task in (tasks.get(f"{kind}:{name}") for kind in kinds):
                if task is not None and not apply(result, task):
                    break
            self.records.fill(result, [name])
        return results


def run_inventories(run: BuildRun) -> Inventories | None:
    """What takes each image's inventory in ``run``; None with ``sbom: false``."""
    if not run.workspace.config.sbom:
        return None
    store = InventoryStore(run.inventory_dir) if run.inventory_dir is not None else None
    return Inventories(run.workspace, run.rendered, store)


def inventory_repairs(run: BuildRun, digests: Mapping[str, str]) -> dict[str, Task]:
    """A task per published image without its inventory in the registry (image ->
    manifest digest): its inventory published, nothing built."""
    inventories, registry = run.engines.inventories, run.registry
    if inventories is None or registry is None:
        return {}
    tasks = {}
    for name, digest in digests.items():

        def repair(name: str = name, digest: str = digest) -> str:
            member = next(
                m for m in run.pool.alive if m.platform == run.platform or not run.platform
            )
            auth = run.engines.auth_for(run.workspace.label(name))
            return attach_missing(inventories, registry, member.engine, name, digest, auth=auth)

        key = f"{INVENTORY}:{name}"
        tasks[key] = Task(key, INVENTORY, (), repair)
    return tasks
