"""Build, verify and publish the images of a plan on a pool of engines, isolating failures.

Each image of the build chain is one ``build`` task (move its parents to the engine chosen
for it, build, verify); each image to publish is one ``publish`` task (verify when not yet,
then push ``TAG`` and ``latest`` from an engine that holds it). A publish task waits for its
own build and for the publishing of its ancestors, so no image is pushed unverified and no
child before its parents. The scheduler runs them in parallel; an engine lost mid-run takes
no more work, and the builds it was running are tried once more on another engine.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from docker_pkg.engines.moving import bring
from docker_pkg.engines.pool import EnginePool, Member
from docker_pkg.errors import BuildError, EngineLost, OperationError, PublishError
from docker_pkg.logs import ImageLog
from docker_pkg.planning.plan import State
from docker_pkg.registry.client import RegistryClient
from docker_pkg.registry.credentials import Credentials
from docker_pkg.running.image_work import ImageWork
from docker_pkg.running.model import BuildOptions, ImageResult, Outcome, plan_results
from docker_pkg.running.scheduler import Scheduler, Status, Task, heights
from docker_pkg.running.verify import ProcessGroup
from docker_pkg.tree.definitions import Rendered
from docker_pkg.tree.workspace import Workspace

log = logging.getLogger(__name__)

BUILD, VERIFY, PUBLISH, MOVE = "build", "verify", "publish", "move"


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
    # Problems that do not fail an image (e.g. logs that cannot be written), said at the end.
    warnings: list[str] = field(default_factory=list)
    _logs: dict[str, ImageLog] = field(default_factory=dict)
    _phases: dict[str, dict[str, tuple[datetime, datetime]]] = field(default_factory=dict)
    _engines: dict[str, str] = field(default_factory=dict)  # image -> engine that built it
    _retries: dict[str, list[str]] = field(default_factory=dict)
    _published: set[str] = field(default_factory=set)  # labels in the registry
    _logs_lost: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.work = ImageWork(
            self.workspace,
            self.registry,
            self.image_logger,
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

    @property
    def pulling(self) -> bool:
        return self.options.pull and self.registry is not None

    def image_logger(self, name: str) -> ImageLog:
        with self._lock:
            if name not in self._logs:
                path = self.log_dir / f"{name}.log" if self.log_dir else None
                self._logs[name] = ImageLog(
                    self.workspace.label(name), path, self.redactor, self._log_failed
                )
            return self._logs[name]

    def _log_failed(self, path: Path, error: BaseException) -> None:
        """A per-image log file cannot be written (disk full, read-only): the build goes on,
        and the run says so once."""
        with self._lock:
            if self._logs_lost:
                return
            self._logs_lost = True
            self.warnings.append(f"per-image build logs could not be written ({path}: {error})")
        log.warning("Per-image build logs could not be written (%s: %s)", path, error)

    @contextlib.contextmanager
    def _phase(self, name: str, phase: str) -> Iterator[None]:
        """Record when ``phase`` of image ``name`` ran (also when it fails)."""
        started = datetime.now().astimezone()
        try:
            yield
        finally:
            self._record_phase(name, phase, started)

    def _record_phase(self, name: str, phase: str, started: datetime) -> None:
        with self._lock:
            self._phases.setdefault(name, {})[phase] = (started, datetime.now().astimezone())

    def close_logs(self) -> None:
        for image_log in self._logs.values():
            image_log.close()

    def cancel(self) -> None:
        """Stop everything in progress: engine builds and verification processes."""
        self.pool.cancel()
        self.processes.cancel()

    # -- the run --------------------------------------------------------------------------

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
        graph = self.workspace.graph
        self._published |= {
            self.workspace.label(n) for n, s in states.items() if s is State.PUBLISHED
        }
        in_chain = set(chain)
        chain_children = {n: [c for c in graph.children(n) if c in in_chain] for n in chain}
        priority = heights(chain_children, chain)
        tasks: dict[str, Task] = {}
        for name in chain:
            deps = tuple(f"{BUILD}:{a}" for a in sorted(graph.ancestors(name) & in_chain))
            tasks[f"{BUILD}:{name}"] = Task(
                f"{BUILD}:{name}",
                BUILD,
                deps,
                self._build_task(name, rendered[name]),
                priority=priority[name],
            )
        publishing = set(to_publish)
        for name in to_publish:
            needs = [f"{PUBLISH}:{a}" for a in sorted(graph.ancestors(name) & publishing)]
            if name in in_chain:
                needs.append(f"{BUILD}:{name}")
            if self.options.publish_at_end:
                needs.extend(f"{BUILD}:{n}" for n in chain if n != name)
            verified = name in in_chain
            tasks[f"{PUBLISH}:{name}"] = Task(
                f"{PUBLISH}:{name}", PUBLISH, tuple(needs), self._publish_task(name, verified)
            )
        return tasks

    def _is_published(self, label: str) -> bool:
        with self._lock:
            return self.pulling and label in self._published

    def _auth_for(self, reference: str) -> Mapping[str, str] | None:
        registry = self.workspace.config.registry
        return self.work.auth() if registry and reference.startswith(registry + "/") else None

    def _phase_name(self, phase: str, platform: str) -> str:
        """A phase of one platform's image carries the platform (``build linux/arm64``)."""
        return f"{phase} {platform}" if self.platforms else phase

    def _build_task(self, name: str, rendered: Rendered, platform: str = "") -> Callable[[], str]:
        def run() -> str:
            output = self.image_logger(name)
            try:
                image_id = self._build_somewhere(name, rendered, platform or self.platform)
            except OperationError as exc:
                output.error("%s", exc)
                self._keep(name, rendered)
                raise
            if self.keep_failed is not None:
                import shutil

                shutil.rmtree(self.keep_failed / name, ignore_errors=True)
            return image_id

        return run

    def _build_somewhere(self, name: str, rendered: Rendered, platform: str) -> str:
        """Build and verify on the engine placement chooses, its parents moved there first;
        when that engine is lost, once more on another one of the platform."""
        label = self.workspace.label(name)
        parents = [self.workspace.label(p) for p in self.workspace.graph.parents[name]]
        unit = f"{name}@{platform}" if self.platforms else name
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
                with self._lock:
                    self._retries.setdefault(unit, []).append(f"{member.name}: {exc}")
                if lost or not self.pool.serves(platform):
                    raise BuildError(str(exc)) from None
                self.image_logger(name).warning(
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
            published=self._is_published,
            auth=self._auth_for,
            output=self.image_logger(name),
        )
        if moved:
            self._record_phase(name, self._phase_name(MOVE, member.platform), started)
        with self._phase(name, self._phase_name(BUILD, member.platform)):
            image_id = self.work.build(name, rendered, member.engine, member.emulated)
        self.pool.record(member, label)
        self.built_on(member, name)
        with self._phase(name, self._phase_name(VERIFY, member.platform)):
            self.work.verify(name, member.engine, member.platform)
        return image_id

    def built_on(self, member: Member, name: str) -> None:
        """Note the engine that built ``name`` (a run of several platforms notes each)."""
        with self._lock:
            self._engines[name] = member.name

    def _keep(self, name: str, rendered: Rendered) -> None:
        """With ``--keep-failed``: the rendered Dockerfiles beside the kept context tars."""
        if self.keep_failed is None:
            return
        folder = self.keep_failed / name
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "Dockerfile").write_text(rendered.dockerfile, "utf-8")
        if rendered.build_dockerfile is not None:
            (folder / "Dockerfile.build").write_text(rendered.build_dockerfile, "utf-8")

    def _holder(self, name: str) -> Member:
        """The engine to verify and push ``name`` from: the one that built it, else any that
        holds it."""
        label = self.workspace.label(name)
        holders = self.pool.holders(label)
        if not holders:
            raise PublishError(f"{label} is on no engine left to push it from")
        built_on = self._engines.get(name)
        return next((m for m in holders if m.name == built_on), holders[0])

    def _publish_task(self, name: str, verified: bool) -> Callable[[], str | None]:
        def run() -> str | None:
            output = self.image_logger(name)
            member = None
            try:
                member = self._holder(name)
                if not verified:
                    with self._phase(name, VERIFY):
                        self.work.verify(name, member.engine, member.platform)
                with self._phase(name, PUBLISH):
                    digest = self.work.push(name, member.engine)
                with self._lock:
                    self._published.add(self.workspace.label(name))
                return digest
            except EngineLost as exc:
                if member is not None:
                    self.pool.mark_lost(member)
                output.error("%s", exc)
                if not self.pool.alive:
                    raise
                raise PublishError(str(exc)) from None
            except OperationError as exc:
                output.error("%s", exc)
                raise

        return run

    def skip_reason(self, task: Task, failed: Task) -> str:
        """Why ``task`` is not run, ``failed`` having failed."""
        failed_label = self.unit_labels()[failed.key.split(":", 1)[1]]
        if task.kind == BUILD:
            return f"not attempted: its ancestor {failed_label} failed"
        if failed.kind == BUILD and failed.key.split(":", 1)[1] == task.key.split(":", 1)[1]:
            return "not pushed: its build failed"
        return f"not pushed: {failed_label} was not published"

    def unit_labels(self) -> dict[str, str]:
        """The label of each thing the run works on (here: each image)."""
        return self.workspace.labels

    def limits(self) -> dict[str, int]:
        """How many tasks of each kind run at once: a build per engine slot."""
        return {BUILD: max(1, self.pool.total_jobs), PUBLISH: max(1, self.options.jobs)}

    def _learn_holdings(self, tasks: Mapping[str, Task]) -> None:
        """Which engine holds the parents the builds need. A pool of several lists every
        engine's images (placement weighs them all); one engine is asked only about the
        parents the scan did not look for, since its list grows with everything it holds."""
        if not tasks:
            return
        if len(self.pool.members) > 1:
            self.pool.local_tags()
            return
        building = {key.split(":", 1)[1] for key in tasks if key.startswith(f"{BUILD}:")}
        parents = {p for name in building for p in self.workspace.graph.parents[name]}
        known = self.pool.members[0].holds
        for parent in sorted(parents - building):
            if parent not in self.workspace.definitions:
                continue
            label = self.workspace.label(parent)
            if label not in known:
                self.pool.image_exists(label)

    def execute(
        self,
        tasks: dict[str, Task],
        on_event: Callable[[Task], None],
        clock: Callable[[], datetime],
    ) -> bool:
        """Run the tasks; False when interrupted."""
        self._learn_holdings(tasks)
        scheduler = Scheduler(
            tasks,
            limits=self.limits(),
            clock=clock,
            on_event=on_event,
            skip_reason=self.skip_reason,
            fail_fast=self.options.fail_fast,
        )
        return scheduler.run(on_interrupt=self.cancel)

    # -- results --------------------------------------------------------------------------

    def results(
        self,
        tasks: Mapping[str, Task],
        states: Mapping[str, State],
        why: Mapping[str, str] | None = None,
    ) -> list[ImageResult]:
        """One result per scanned image, in build order."""
        built = {key.split(":", 1)[1] for key in tasks if key.startswith(f"{BUILD}:")}
        results = plan_results(self.workspace, states, why, built)
        for result in results:
            name = result.name
            for task in (tasks.get(f"{BUILD}:{name}"), tasks.get(f"{PUBLISH}:{name}")):
                if task is not None and not _apply(result, task):
                    break
            if name in self._logs:
                result.log_file = self._logs[name].path
            with self._lock:
                result.phases.update(self._phases.get(name, {}))
            result.engine = self._engines.get(name)
            result.retries = list(self._retries.get(name, []))
        return results


def _apply(result: ImageResult, task: Task) -> bool:
    """Fold one finished task into the image's result; False when later phases do not count."""
    if task.status is Status.RUNNING and result.started is None:
        result.started = task.started  # a live view shows it running
    if task.status in (Status.PENDING, Status.RUNNING):
        return True
    if task.started and result.started is None:
        result.started = task.started
    result.ended = task.ended or result.ended
    if task.status is Status.FAILED:
        result.outcome, result.reason = Outcome.FAILED, task.reason
        return False
    if task.status is Status.SKIPPED:
        result.outcome, result.reason = Outcome.SKIPPED, task.reason
        return False
    if task.kind == BUILD:
        result.outcome, result.image_id = Outcome.VERIFIED, task.value
    else:
        result.outcome, result.digest, result.pushed = Outcome.PUBLISHED, task.value, True
    return True
