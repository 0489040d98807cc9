"""A run that makes images of several platforms: each platform's image is built on an engine
of that platform, verified and pushed as ``TAG-ARCH``; then ``TAG`` and ``latest`` are
pushed as an index of every wanted platform, never before each of them is pushed and
verified. An image that lacks some platforms has only those built, and its index is made
again from what the registry holds plus the new ones."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from docker_pkg.engines.pool import Member
from docker_pkg.errors import OperationError, PublishError
from docker_pkg.inventory.publishing import publish_kept
from docker_pkg.naming import platform_tag
from docker_pkg.planning.platform_plan import PlatformPlan, PlatformState
from docker_pkg.planning.platforms import Entry, index_body, platform_of
from docker_pkg.running.build_run import BuildRun
from docker_pkg.running.model import ImageResult, Outcome
from docker_pkg.running.pool_work import PoolWork
from docker_pkg.running.run_tasks import BUILD, INVENTORY, PUBLISH
from docker_pkg.running.scheduler import Status, Task, heights
from docker_pkg.tree.definitions import Rendered
from docker_pkg.tree.graph import DependencyGraph

INDEX = "index"


def unit(name: str, platform: str) -> str:
    return f"{name}@{platform}"


@dataclass
class PlatformRun(BuildRun):
    """A :class:`BuildRun` whose images are indexes of several platforms."""

    _index_digest: dict[str, str] = field(default_factory=dict)  # one writer per key
    _unit_labels: dict[str, str] = field(default_factory=dict)

    def unit_labels(self) -> dict[str, str]:
        """Labels of what the run works on: each platform's image and each index."""
        if self._unit_labels:
            return self._unit_labels
        labels = self._unit_labels = dict(self.workspace.labels)
        for name, definition in self.workspace.definitions.items():
            for platform in self.platforms:
                full = self.workspace.name(name)
                labels[unit(name, platform)] = f"{full}:{platform_tag(definition.tag, platform)}"
        return labels

    def built_on(self, member: Member, name: str) -> None:
        """Tag the image for its platform too, where it was built."""
        definition = self.workspace.definitions[name]
        repository = self.workspace.name(name)
        member.engine.tag(
            f"{repository}:{definition.tag}",
            repository,
            platform_tag(definition.tag, member.platform),
        )
        self.records.built_on(name, member.name)

    def platform_tasks(
        self, plan: PlatformPlan, rendered: Mapping[str, Rendered], published: Sequence[str]
    ) -> dict[str, Task]:
        """The build, push and index tasks of ``plan``, with their dependencies."""
        self.engines.note_published(published)
        tasks = self._build_tasks(plan, rendered)
        tasks.update(inventory_tasks(self.engines, self.workspace.graph, plan))
        building = set(plan.builds)
        for name, platform in plan.pushes:
            key = f"{PUBLISH}:{unit(name, platform)}"
            built = (name, platform) in building
            after = [f"{BUILD}:{unit(name, platform)}"] if built else []
            if f"{INVENTORY}:{unit(name, platform)}" in tasks:
                after.append(f"{INVENTORY}:{unit(name, platform)}")
            tasks[key] = Task(key, PUBLISH, tuple(after), self._push_task(name, platform, built))
        indexing = set(plan.indexes)
        graph = self.workspace.graph
        for name in plan.indexes:
            deps = tuple(
                [f"{PUBLISH}:{unit(name, p)}" for n, p in plan.pushes if n == name]
                + [f"{INDEX}:{a}" for a in sorted(graph.ancestors(name) & indexing)]
            )
            tasks[f"{INDEX}:{name}"] = Task(f"{INDEX}:{name}", INDEX, deps, self._index_task(name))
        return tasks

    def _build_tasks(self, plan: PlatformPlan, rendered: Mapping[str, Rendered]) -> dict[str, Task]:
        """One build task per image and platform, after its ancestors of that platform."""
        graph = self.workspace.graph
        building = set(plan.builds)
        children: dict[str, list[str]] = {}
        for name, platform in plan.builds:
            for parent in graph.parents[name]:
                if (parent, platform) in building:
                    children.setdefault(unit(parent, platform), []).append(unit(name, platform))
        priority = heights(children, [unit(n, p) for n, p in plan.builds])
        tasks: dict[str, Task] = {}
        for name, platform in plan.builds:
            deps = tuple(
                f"{BUILD}:{unit(a, platform)}"
                for a in sorted(graph.ancestors(name))
                if (a, platform) in building
            )
            key = f"{BUILD}:{unit(name, platform)}"
            work = self._build_task(name, rendered[name], platform)
            tasks[key] = Task(key, BUILD, deps, work, priority=priority[unit(name, platform)])
        return tasks

    def _push_task(self, name: str, platform: str, verified: bool) -> Callable[[], str | None]:
        """Push ``TAG-ARCH`` from an engine of the platform that holds the image."""
        tag = platform_tag(self.workspace.definitions[name].tag, platform)

        def push(member: Member) -> str | None:
            if not verified:
                self.engines.verify(member, name)
            with self.records.phase(name, self.engines.phase_name(PUBLISH, platform)):
                digest = self.work.push_tag(name, member.engine, tag)
                inventories = self.engines.inventories
                if inventories is not None and self.registry is not None and digest:
                    publish_kept(
                        inventories, self.registry, member.engine, name, digest, platform=platform
                    )
                return digest

        def run() -> str | None:
            try:
                return self.engines.on_holder(name, platform, push)
            except OperationError as exc:
                self.records.image_logger(name).error("%s", exc)
                raise

        return run

    def _index_task(self, name: str) -> Callable[[], str]:
        """``TAG`` and ``latest`` as an index of every wanted platform's manifest (those
        pushed now and those the registry held already)."""

        def run() -> str:
            with self.records.phase(name, PUBLISH):
                digest = self._push_index(name)
            self.engines.note_published([name])
            self._index_digest[name] = digest
            return digest

        return run

    def _push_index(self, name: str) -> str:
        """Put the index of ``name`` as TAG and ``latest``; its digest."""
        registry = self.registry
        assert registry is not None
        repository = registry.repository_path(self.workspace.name(name))
        tag = self.workspace.definitions[name].tag
        entries = []
        for platform in self._wanted(name):
            document = registry.manifest_document(repository, platform_tag(tag, platform))
            if document is None:
                raise PublishError(
                    f"{repository}:{platform_tag(tag, platform)} is not in the registry"
                )
            found = platform_of(registry.config_of(repository, document))
            if found != platform:
                raise PublishError(
                    f"{repository}:{platform_tag(tag, platform)} is an image for "
                    f"{found}, not {platform}"
                )
            entries.append(Entry(document.media_type, document.digest, document.size, platform))
        kind, body = index_body(entries)
        digest = registry.put_manifest(repository, tag, kind, body)
        registry.put_manifest(repository, "latest", kind, body)
        self.records.image_logger(name).info(
            "Published %s:%s as an index of %s",
            repository,
            tag,
            ", ".join(e.platform for e in entries),
        )
        return digest

    def _wanted(self, name: str) -> tuple[str, ...]:
        definition = self.workspace.definitions[name]
        return tuple(
            p for p in self.platforms if not definition.platforms or p in definition.platforms
        )

    def skip_reason(self, task: Task, failed: Task) -> str:
        failed_label = self.unit_labels()[failed.key.split(":", 1)[1]]
        if task.kind == BUILD:
            return f"not attempted: {failed_label} failed"
        return f"not published: {failed_label} failed"

    def limits(self) -> dict[str, int]:
        return {**super().limits(), INDEX: max(1, self.options.jobs)}

    def platform_results(
        self,
        tasks: Mapping[str, Task],
        states: Mapping[str, PlatformState],
        why: Mapping[str, str] | None = None,
    ) -> list[ImageResult]:
        """One result per image: failed if any of its platforms failed, published when its
        index was pushed (or was complete before the run)."""
        results = []
        graph = self.workspace.graph
        for name in graph.order():
            own = [t for k, t in tasks.items() if k.split(":", 1)[1].split("@")[0] == name]
            result = ImageResult(
                name,
                self.workspace.label(name),
                Outcome.PUBLISHED if states[name].published else Outcome.BUILT,
                parents=graph.parents[name],
                why=(why or {}).get(name, ""),
            )
            if states[name].published:
                result.reason = "already in the registry, every platform"
            index = tasks.get(f"{INDEX}:{name}")
            fold_platforms(result, own, index, self._index_digest.get(name))
            units = [unit(name, p) for p in self.platforms]
            self.records.fill(result, units, every_engine=True)
            results.append(result)
        return results


def fold_platforms(
    result: ImageResult, own: list[Task], index: Task | None, index_digest: str | None
) -> None:
    """The outcome of an image from the tasks of its platforms and its index."""
    finished = [t for t in own if t.status not in (Status.PENDING, Status.RUNNING)]
    started = [t.started for t in own if t.started]
    ended = [t.ended for t in finished if t.ended]
    result.started = min(started) if started else None
    result.ended = max(ended) if ended else None
    failed = next((t for t in own if t.status is Status.FAILED), None)
    skipped = next((t for t in own if t.status is Status.SKIPPED), None)
    if failed is not None:
        result.outcome, result.reason = Outcome.FAILED, failed.reason
    elif skipped is not None:
        result.outcome, result.reason = Outcome.SKIPPED, skipped.reason
    elif index is not None and index.status is Status.DONE:
        result.outcome, result.pushed = Outcome.PUBLISHED, True
        result.digest = index_digest
    elif any(t.kind == BUILD and t.status is Status.DONE for t in own):
        result.outcome = Outcome.VERIFIED
    result.image_id = next(
        (str(t.value) for t in own if t.kind == BUILD and t.status is Status.DONE), None
    )


def inventory_tasks(
    engines: PoolWork, graph: DependencyGraph, plan: PlatformPlan
) -> dict[str, Task]:
    """One per image and platform built or pushed: after its build and the inventories
    of its ancestors of that platform, before its push."""
    if engines.inventories is None:
        return {}
    units = set(plan.builds) | set(plan.pushes)
    built = set(plan.builds)
    tasks = {}
    for name, platform in units:
        after = [
            f"{INVENTORY}:{unit(a, platform)}"
            for a in sorted(graph.ancestors(name))
            if (a, platform) in units
        ]
        if (name, platform) in built:
            after.append(f"{BUILD}:{unit(name, platform)}")

        def take(name: str = name, platform: str = platform) -> str:
            return engines.take_inventory(name, platform)

        key = f"{INVENTORY}:{unit(name, platform)}"
        tasks[key] = Task(key, INVENTORY, tuple(after), take)
    return tasks
