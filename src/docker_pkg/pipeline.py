"""Build, verify and publish the images of a plan on one engine, isolating failures.

Each image of the build chain is one ``build`` task (build, then verify); each image to
publish is one ``publish`` task (verify when not yet, then push ``TAG`` and ``latest``).
A publish task waits for its own build and for the publishing of its ancestors, so no image
is pushed unverified and no child before its parents. The scheduler runs them in parallel.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from pathlib import Path

from docker_pkg.artifacts import ARTIFACTS, extract_artifacts
from docker_pkg.context import stream_context
from docker_pkg.credentials import Credentials
from docker_pkg.engine import CLASSIC, BuildRequest, Engine
from docker_pkg.errors import EngineLost, OperationError, PublishError
from docker_pkg.logs import ImageLog
from docker_pkg.plan import State
from docker_pkg.registry import RegistryClient
from docker_pkg.scheduler import Scheduler, Status, Task, heights
from docker_pkg.templates import Rendered
from docker_pkg.verify import ProcessGroup, run_verification, verify_argv, verify_environment
from docker_pkg.workspace import Workspace

log = logging.getLogger(__name__)

BUILD, VERIFY, PUBLISH = "build", "verify", "publish"
NOT_SELECTED = "not selected"
PUSH_ATTEMPTS = 3
PUSH_BACKOFF = 1.0
# Refusals that no retry changes: authentication, permissions, a read-only registry.
_PERMANENT_PUSH_FAILURE = re.compile(
    r"denied|unauthori[sz]ed|forbidden|authentication required|not allowed|\b40[0-35-9]\b",
    re.IGNORECASE,
)


class Outcome(StrEnum):
    """What a run did with an image (the report's ``state``)."""

    PUBLISHED = "published"  # in the registry (pushed now, or already before the run)
    VERIFIED = "verified"  # built (or found built) and verified, not pushed
    BUILT = "built"  # in the local engine, untouched by this run
    FAILED = "failed"
    SKIPPED = "skipped"


@dataclass
class ImageResult:
    name: str
    label: str
    outcome: Outcome
    reason: str = ""
    started: datetime | None = None
    ended: datetime | None = None
    image_id: str | None = None
    digest: str | None = None
    log_file: Path | None = None
    pushed: bool = False
    phases: dict[str, tuple[datetime, datetime]] = field(default_factory=dict)
    parents: tuple[str, ...] = ()  # images of the tree it is built from
    why: str = ""  # why it was in the build chain
    engine: str | None = None  # the engine that built it

    @property
    def in_run(self) -> bool:
        """Did this run work on the image (or skip it for a failure or an interrupt)?"""
        if self.started is not None or self.outcome is Outcome.FAILED:
            return True
        return self.outcome is Outcome.SKIPPED and self.reason != NOT_SELECTED

    @property
    def duration(self) -> float | None:
        if self.started is None or self.ended is None:
            return None
        return (self.ended - self.started).total_seconds()


@dataclass(frozen=True)
class BuildOptions:
    nocache: bool = True
    pull: bool = True
    jobs: int = 1
    fail_fast: bool = False
    publish_at_end: bool = False
    builder: str | None = CLASSIC  # None: choose (BuildKit where the engine supports it)


@dataclass
class BuildRun:
    """One run over one workspace, on one engine, with an optional registry client."""

    workspace: Workspace
    engine: Engine
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
    on_output: Callable[[str, str], None] = lambda name, line: None
    # Problems that do not fail an image (e.g. logs that cannot be written), said at the end.
    warnings: list[str] = field(default_factory=list)
    _logs: dict[str, ImageLog] = field(default_factory=dict)
    _phases: dict[str, dict[str, tuple[datetime, datetime]]] = field(default_factory=dict)
    _logs_lost: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock)

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
            ended = datetime.now().astimezone()
            with self._lock:
                self._phases.setdefault(name, {})[phase] = (started, ended)

    def close_logs(self) -> None:
        for image_log in self._logs.values():
            image_log.close()

    def cancel(self) -> None:
        """Stop everything in progress: engine builds and verification processes."""
        self.engine.cancel()
        self.processes.cancel()

    def _auth(self) -> dict[str, str] | None:
        if self.credentials is None:
            return None
        return self.credentials.engine_auth(self.workspace.config.registry)

    # -- the run --------------------------------------------------------------------------

    def pull_base_images(self) -> list[str]:
        """Refresh every ``base_images`` entry; returns warnings for those that failed."""
        warnings = []
        for reference in self.workspace.config.base_images:
            log.info("Refreshing base image %s", reference)
            try:
                self.engine.pull(reference, self._auth())
            except OperationError as exc:
                log.warning("Could not pull base image %s: %s", reference, exc)
                warnings.append(f"could not pull base image {reference}: {exc}")
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
                self._build_task(name, rendered[name], states),
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

    def _build_task(
        self, name: str, rendered: Rendered, states: Mapping[str, State]
    ) -> Callable[[], str]:
        def run() -> str:
            output = self.image_logger(name)
            try:
                with self._phase(name, BUILD):
                    image_id = self.build_one(name, rendered, states)
                with self._phase(name, VERIFY):
                    self.verify_one(name)
            except OperationError as exc:
                output.error("%s", exc)
                self._keep(name, rendered)
                raise
            if self.keep_failed is not None:
                shutil.rmtree(self.keep_failed / name, ignore_errors=True)
            return image_id

        return run

    def _keep(self, name: str, rendered: Rendered) -> None:
        """With ``--keep-failed``: the rendered Dockerfiles beside the kept context tars."""
        if self.keep_failed is None:
            return
        folder = self.keep_failed / name
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "Dockerfile").write_text(rendered.dockerfile, "utf-8")
        if rendered.build_dockerfile is not None:
            (folder / "Dockerfile.build").write_text(rendered.build_dockerfile, "utf-8")

    def _publish_task(self, name: str, verified: bool) -> Callable[[], str | None]:
        def run() -> str | None:
            output = self.image_logger(name)
            try:
                if not verified:
                    with self._phase(name, VERIFY):
                        self.verify_one(name)
                with self._phase(name, PUBLISH):
                    return self.push_one(name)
            except OperationError as exc:
                output.error("%s", exc)
                raise

        return run

    def execute(
        self,
        tasks: dict[str, Task],
        on_event: Callable[[Task], None],
        clock: Callable[[], datetime],
    ) -> bool:
        """Run the tasks; False when interrupted."""
        labels = self.workspace.labels

        def skip_reason(task: Task, failed: Task) -> str:
            failed_label = labels[failed.key.split(":", 1)[1]]
            if task.kind == BUILD:
                return f"not attempted: its ancestor {failed_label} failed"
            if failed.kind == BUILD and failed.key.split(":", 1)[1] == task.key.split(":", 1)[1]:
                return "not pushed: its build failed"
            return f"not pushed: {failed_label} was not published"

        jobs = max(1, self.options.jobs)
        scheduler = Scheduler(
            tasks,
            limits={BUILD: jobs, PUBLISH: jobs},
            clock=clock,
            on_event=on_event,
            skip_reason=skip_reason,
            fail_fast=self.options.fail_fast,
        )
        return scheduler.run(on_interrupt=self.cancel)

    # -- one image ------------------------------------------------------------------------

    def build_one(self, name: str, rendered: Rendered, states: Mapping[str, State]) -> str:
        output = self.image_logger(name)
        if self.pulling:
            self._pull_external(name)
            for dep in self.workspace.graph.parents[name]:  # declared and inferred
                if states.get(dep) is State.PUBLISHED:
                    dep_label = self.workspace.label(dep)
                    output.info("Pulling %s, dependency of %s", dep_label, name)
                    self.engine.pull(dep_label, self._auth())
        label = self.workspace.label(name)
        labels = self.labels.get(name, {})
        if rendered.build_dockerfile is None:
            return self._build(name, label, rendered.dockerfile, labels=labels)
        with tempfile.TemporaryDirectory(prefix="docker-pkg-artifacts-") as scratch:
            artifacts = self.build_stage(name, rendered.build_dockerfile, Path(scratch))
            return self._build(
                name,
                label,
                rendered.dockerfile,
                extra_trees=[(ARTIFACTS, artifacts)],
                labels=labels,
            )

    def _pull_external(self, name: str) -> None:
        """Refresh the images of other trees this one's Dockerfiles name. One that cannot be
        pulled is a warning: the build then uses the local copy, or fails with the engine's
        reason. Credentials go only to the configured registry."""
        registry = self.workspace.config.registry
        for reference in self.external.get(name, ()):
            auth = self._auth() if registry and reference.startswith(registry + "/") else None
            self.image_logger(name).info("Pulling %s (external dependency)", reference)
            try:
                self.engine.pull(reference, auth)
            except EngineLost:
                raise
            except OperationError as exc:
                self.image_logger(name).warning("Could not pull %s: %s", reference, exc)

    def build_stage(self, name: str, dockerfile: str, scratch: Path) -> Path:
        """Build ``NAME-build:TAG``, take its ``/build`` out, remove it; return the tree."""
        definition = self.workspace.definitions[name]
        output = self.image_logger(name)
        stage_label = f"{self.workspace.name(name)}-build:{definition.tag}"
        self._build(name, stage_label, dockerfile, kept_as="build-stage-context.tar")
        archive = scratch / "artifacts.tar"
        try:
            with archive.open("wb") as fh:
                self.engine.export_path(stage_label, "/" + ARTIFACTS, fh)
        finally:
            try:
                self.engine.remove_image(stage_label)
            except OperationError as exc:
                output.warning("Could not remove the build-stage image: %s", exc)
        tree = extract_artifacts(archive, scratch / "extracted")
        archive.unlink()
        return tree

    def _build(
        self,
        name: str,
        label: str,
        dockerfile: str,
        *,
        extra_trees: list[tuple[str, Path]] | None = None,
        kept_as: str = "context.tar",
        labels: Mapping[str, str] | None = None,
    ) -> str:
        """Build ``label`` from the folder of image ``name`` with ``dockerfile``."""
        config = self.workspace.config
        folder = self.workspace.definitions[name].path
        output = self.image_logger(name)
        output.info("Building %s from %s", label, folder)
        output.debug("Rendered Dockerfile:\n%s", dockerfile)
        context = stream_context(folder, dockerfile, extra_trees=extra_trees or ())
        if self.keep_failed is not None:
            kept = self.keep_failed / name
            kept.mkdir(parents=True, exist_ok=True)
            context = _tee(context, kept / kept_as)
        request = BuildRequest(
            context=context,
            tag=label,
            nocache=self.options.nocache,
            buildargs=config.proxy_build_args,
            container_limits=config.container_limits,
            network_mode=config.network_mode,
            labels=labels or {},
            builder=self.options.builder or CLASSIC,
            timeout=config.build_timeout,
        )

        def line(text: str) -> None:
            output.info("%s", text)
            self.on_output(name, text)

        return self.engine.build(request, line)

    def verify_one(self, name: str) -> None:
        definition = self.workspace.definitions[name]
        config = self.workspace.config
        label = self.workspace.label(name)
        output = self.image_logger(name)
        argv = verify_argv(config.verify_command, config.verify_args, definition.path, label)
        if argv is None:
            output.info("No test for %s, skipping verification", label)
            return
        output.info("Verifying %s", label)
        env = verify_environment(self.environ, config.proxy_build_args, self.engine.address)
        started = time.time()

        def clean_up() -> str:
            removed = self.engine.remove_containers_of(label, started)
            return f"; removed {len(removed)} container(s) it started" if removed else ""

        run_verification(
            argv,
            env,
            output,
            timeout=config.verify_timeout,
            group=self.processes,
            on_timeout=clean_up,
        )

    def push_one(self, name: str) -> str | None:
        """Push TAG and ``latest``; then make sure the registry has TAG with the pushed digest."""
        repository = self.workspace.name(name)
        tag = self.workspace.definitions[name].tag
        self.engine.tag(f"{repository}:{tag}", repository, "latest")
        digest = self._push(name, repository, tag)
        self._push(name, repository, "latest")
        self._confirm(repository, tag, digest)
        return digest

    def _push(self, name: str, repository: str, tag: str) -> str | None:
        """One push, tried again (bounded, with backoff) when its failure may be transient."""
        output = self.image_logger(name)
        for attempt in range(1, PUSH_ATTEMPTS + 1):
            output.info("Pushing %s:%s", repository, tag)
            try:
                return self.engine.push(
                    repository, tag, self._auth(), lambda text: output.info("%s", text)
                )
            except PublishError as exc:
                if attempt == PUSH_ATTEMPTS or _PERMANENT_PUSH_FAILURE.search(str(exc)):
                    raise
                delay = PUSH_BACKOFF * 2 ** (attempt - 1)
                output.warning("%s; trying again in %.0fs", exc, delay)
                time.sleep(delay)
        raise AssertionError("unreachable")

    def _confirm(self, repository: str, tag: str, digest: str | None) -> None:
        if self.registry is None:
            return
        status = self.registry.manifest(self.registry.repository_path(repository), tag)
        if not status.exists:
            raise PublishError(f"{repository}:{tag} was pushed, but the registry does not have it")
        if digest and status.digest and digest != status.digest:
            raise PublishError(
                f"{repository}:{tag} was pushed as {digest}, but the registry has {status.digest}"
            )

    # -- results --------------------------------------------------------------------------

    def results(
        self,
        tasks: Mapping[str, Task],
        states: Mapping[str, State],
        why: Mapping[str, str] | None = None,
    ) -> list[ImageResult]:
        """One result per scanned image, in build order."""
        results = []
        graph = self.workspace.graph
        for name in graph.order():
            build = tasks.get(f"{BUILD}:{name}")
            result = ImageResult(
                name,
                self.workspace.label(name),
                _initial_outcome(states[name]),
                parents=graph.parents[name],
                why=(why or {}).get(name, ""),
            )
            if states[name] is State.PUBLISHED:
                result.reason = "already in the registry"
            elif states[name] is State.TO_BUILD and build is None:
                result.reason = NOT_SELECTED
            for task in (build, tasks.get(f"{PUBLISH}:{name}")):
                if task is not None and not _apply(result, task):
                    break
            if name in self._logs:
                result.log_file = self._logs[name].path
            with self._lock:
                result.phases.update(self._phases.get(name, {}))
            if BUILD in result.phases:
                result.engine = self.engine.address
            results.append(result)
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


def _tee(chunks: Iterable[bytes], path: Path) -> Iterator[bytes]:
    """Pass the context through, keeping an exact copy in ``path``."""
    with path.open("wb") as copy:
        for chunk in chunks:
            copy.write(chunk)
            yield chunk


def _initial_outcome(state: State) -> Outcome:
    return {
        State.PUBLISHED: Outcome.PUBLISHED,
        State.BUILT: Outcome.BUILT,
        State.TO_BUILD: Outcome.SKIPPED,
    }[state]
