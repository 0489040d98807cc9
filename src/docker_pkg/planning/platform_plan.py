"""Images of several platforms: where each image stands platform by platform (from the
registry and the engines), and what to build, push and index (pure, given those states).
An image is published when ``TAG`` is an index holding all its platforms."""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from docker_pkg.naming import platform_tag
from docker_pkg.planning.platforms import index_platforms
from docker_pkg.tree.workspace import Workspace

if TYPE_CHECKING:
    from docker_pkg.engines.pool import EnginePool
    from docker_pkg.registry.client import RegistryClient


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
