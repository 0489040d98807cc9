"""A run that makes images of several platforms: each platform's image is built on an engine
of that platform, verified and pushed as ``TAG-ARCH``; then ``TAG`` and ``latest`` are
pushed as an index of every wanted platform, never before each of them is pushed and
verified. An image is published when ``TAG`` is an index holding all its platforms; one
that lacks some has only those built, and its index is made again from what the registry
holds plus the new ones."""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from docker_pkg.engines.pool import EnginePool, Member
from docker_pkg.errors import EngineLost, OperationError, PublishError
from docker_pkg.naming import platform_tag
from docker_pkg.planning.platforms import Entry, index_body, index_platforms, platform_of
from docker_pkg.registry.client import RegistryClient
from docker_pkg.running.build_run import BUILD, PUBLISH, VERIFY, BuildRun
from docker_pkg.running.model import ImageResult, Outcome
from docker_pkg.running.scheduler import Status, Task, heights
from docker_pkg.tree.definitions import Rendered
from docker_pkg.tree.workspace import Workspace

INDEX = "index"


@dataclass
class PlatformState:
    """Where an image stands, platform by platform."""

    wanted: tuple[str, ...]
    in_registry: set[str] = field(default_factory=set)  # TAG-ARCH pushed
    local: set[str] = field(default_factory=set)  # built on an engine of that platform
    published: bool = False  # TAG is an index of every wanted platform


def scan_platforms(
    workspace: Workspace,
    registry: RegistryClient | None,
    pool: EnginePool | None,
    wanted: Mapping[str, tuple[str, ...]],
) -> dict[str, PlatformState]:
    """Each image's state per platform, from the registry and the engines."""
    if pool is not None:
        pool.local_tags()

    def state_of(name: str) -> PlatformState:
        state = PlatformState(wanted[name])
        label = workspace.label(name)
        if pool is not None:
            state.local = {m.platform for m in pool.members if label in m.holds}
        if registry is None:
            return state
        repository = registry.repository_path(workspace.name(name))
        tag = workspace.definitions[name].tag
        top = registry.manifest_document(repository, tag)
        listed = index_platforms(top.document) if top is not None and top.is_index else set()
        state.published = top is not None and set(state.wanted) <= listed
        state.in_registry = {
            p
            for p in state.wanted
            if p in listed or registry.manifest(repository, platform_tag(tag, p)).exists
        }
        return state

    names = sorted(workspace.definitions)
    with ThreadPoolExecutor(max_workers=workspace.config.scan_workers) as threads:
        return dict(zip(names, threads.map(state_of, names), strict=True))


@dataclass(frozen=True)
class PlatformPlan:
    builds: list[tuple[str, str]]  # (image, platform), parents first
    pushes: list[tuple[str, str]]
    indexes: list[str]  # images whose TAG is to be (re)made


def plan_platforms(
    workspace: Workspace,
    states: Mapping[str, PlatformState],
    select: str | None,
    publishing: bool,
) -> PlatformPlan:
    """What to build, push and index (pure, given the states)."""
    graph = workspace.graph
    labels = workspace.labels
    chosen = {n for n in labels if select is None or fnmatch.fnmatchcase(labels[n], select)}
    needed: set[tuple[str, str]] = set()
    for name in chosen:
        state = states[name]
        for platform in state.wanted:
            if platform not in state.in_registry | state.local:
                needed.add((name, platform))
    for name, platform in list(needed):
        for ancestor in graph.ancestors(name):
            done = states[ancestor].in_registry | states[ancestor].local
            if platform not in done:
                needed.add((ancestor, platform))
    order = {n: i for i, n in enumerate(graph.order())}
    builds = sorted(needed, key=lambda pair: (order[pair[0]], pair[1]))
    if not publishing:
        return PlatformPlan(builds, [], [])
    indexes = [
        n
        for n in graph.order()
        if not states[n].published and (n in chosen or any(b[0] == n for b in builds))
    ]
    pushes = [(n, p) for n in indexes for p in states[n].wanted if p not in states[n].in_registry]
    return PlatformPlan(builds, pushes, indexes)


def unit(name: str, platform: str) -> str:
    return f"{name}@{platform}"


@dataclass
class PlatformRun(BuildRun):
    """A :class:`BuildRun` whose images are indexes of several platforms."""

    _built: dict[str, list[str]] = field(default_factory=dict)  # image -> engines
    _index_digest: dict[str, str] = field(default_factory=dict)
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
        with self._lock:
            self._built.setdefault(name, []).append(member.name)

    def platform_tasks(
        self, plan: PlatformPlan, rendered: Mapping[str, Rendered], published: Sequence[str]
    ) -> dict[str, Task]:
        graph = self.workspace.graph
        with self._lock:
            self._published |= {self.workspace.label(n) for n in published}
        building = set(plan.builds)
        children: dict[str, list[str]] = {}
        for name, platform in plan.builds:
            for parent in graph.parents[name]:
                if (parent, platform) in building:
                    children.setdefault(unit(parent, platform), []).append(unit(name, platform))
        units = [unit(n, p) for n, p in plan.builds]
        priority = heights(children, units)
        tasks: dict[str, Task] = {}
        for name, platform in plan.builds:
            deps = tuple(
                f"{BUILD}:{unit(a, platform)}"
                for a in sorted(graph.ancestors(name))
                if (a, platform) in building
            )
            key = f"{BUILD}:{unit(name, platform)}"
            tasks[key] = Task(
                key,
                BUILD,
                deps,
                self._build_task(name, rendered[name], platform),
                priority=priority[unit(name, platform)],
            )
        for name, platform in plan.pushes:
            key = f"{PUBLISH}:{unit(name, platform)}"
            built = (name, platform) in building
            deps = (f"{BUILD}:{unit(name, platform)}",) if built else ()
            tasks[key] = Task(key, PUBLISH, deps, self._push_task(name, platform, built))
        indexing = set(plan.indexes)
        for name in plan.indexes:
            deps = tuple(
                [f"{PUBLISH}:{unit(name, p)}" for n, p in plan.pushes if n == name]
                + [f"{INDEX}:{a}" for a in sorted(graph.ancestors(name) & indexing)]
            )
            tasks[f"{INDEX}:{name}"] = Task(f"{INDEX}:{name}", INDEX, deps, self._index_task(name))
        return tasks

    def _push_task(self, name: str, platform: str, verified: bool) -> Callable[[], str | None]:
        """Push ``TAG-ARCH`` from an engine of the platform that holds the image."""

        def run() -> str | None:
            output = self.image_logger(name)
            label = self.workspace.label(name)
            holders = [m for m in self.pool.holders(label) if m.platform == platform]
            if not holders:
                raise PublishError(f"{label} for {platform} is on no engine left to push it from")
            member = holders[0]
            tag = platform_tag(self.workspace.definitions[name].tag, platform)
            try:
                if not verified:
                    with self._phase(name, self._phase_name(VERIFY, platform)):
                        self.work.verify(name, member.engine, platform)
                with self._phase(name, self._phase_name(PUBLISH, platform)):
                    return self.work.push_tag(name, member.engine, tag)
            except EngineLost as exc:
                self.pool.mark_lost(member)
                output.error("%s", exc)
                raise PublishError(str(exc)) from None
            except OperationError as exc:
                output.error("%s", exc)
                raise

        return run

    def _index_task(self, name: str) -> Callable[[], str]:
        """``TAG`` and ``latest`` as an index of every wanted platform's manifest (those
        pushed now and those the registry held already)."""

        def run() -> str:
            registry = self.registry
            assert registry is not None
            repository = registry.repository_path(self.workspace.name(name))
            tag = self.workspace.definitions[name].tag
            entries = []
            with self._phase(name, PUBLISH):
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
                    entries.append(
                        Entry(document.media_type, document.digest, document.size, platform)
                    )
                kind, body = index_body(entries)
                digest = registry.put_manifest(repository, tag, kind, body)
                registry.put_manifest(repository, "latest", kind, body)
            self.image_logger(name).info(
                "Published %s:%s as an index of %s",
                repository,
                tag,
                ", ".join(e.platform for e in entries),
            )
            with self._lock:
                self._published.add(self.workspace.label(name))
                self._index_digest[name] = digest
            return digest

        return run

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
            state = states[name]
            result = ImageResult(
                name,
                self.workspace.label(name),
                Outcome.PUBLISHED if state.published else Outcome.BUILT,
                parents=graph.parents[name],
                why=(why or {}).get(name, ""),
            )
            if state.published:
                result.reason = "already in the registry, every platform"
            finished = [t for t in own if t.status not in (Status.PENDING, Status.RUNNING)]
            started = [t.started for t in own if t.started]
            ended = [t.ended for t in finished if t.ended]
            result.started = min(started) if started else None
            result.ended = max(ended) if ended else None
            failed = next((t for t in own if t.status is Status.FAILED), None)
            skipped = next((t for t in own if t.status is Status.SKIPPED), None)
            index = tasks.get(f"{INDEX}:{name}")
            if failed is not None:
                result.outcome, result.reason = Outcome.FAILED, failed.reason
            elif skipped is not None:
                result.outcome, result.reason = Outcome.SKIPPED, skipped.reason
            elif index is not None and index.status is Status.DONE:
                result.outcome, result.pushed = Outcome.PUBLISHED, True
                result.digest = self._index_digest.get(name)
            elif any(t.kind == BUILD and t.status is Status.DONE for t in own):
                result.outcome = Outcome.VERIFIED
            result.image_id = next(
                (str(t.value) for t in own if t.kind == BUILD and t.status is Status.DONE), None
            )
            if name in self._logs:
                result.log_file = self._logs[name].path
            with self._lock:
                result.phases.update(self._phases.get(name, {}))
                engines = self._built.get(name, [])
            result.engine = ",".join(sorted(set(engines))) or None
            result.retries = [
                r for p in self.platforms for r in self._retries.get(unit(name, p), [])
            ]
            results.append(result)
        return results
