"""What a build run must do, given the images' states: pure logic, no engine, no network."""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Iterable, Mapping
from enum import StrEnum

from docker_pkg.graph import DependencyGraph


class State(StrEnum):
    """Where an image is found before the run (spec 4.1)."""

    PUBLISHED = "published"
    BUILT = "built"
    TO_BUILD = "to_build"


def resolve_state(pull: bool, published: Callable[[], bool], local: Callable[[], bool]) -> State:
    """With pulling on the registry is asked first, with it off the local engine first."""
    if pull:
        if published():
            return State.PUBLISHED
        return State.BUILT if local() else State.TO_BUILD
    if not local():
        return State.TO_BUILD
    return State.PUBLISHED if published() else State.BUILT


def matches(label: str, select: str | None) -> bool:
    return select is None or fnmatch.fnmatchcase(label, select)


def selection(labels: Mapping[str, str], select: str | None) -> set[str]:
    return {name for name, label in labels.items() if matches(label, select)}


def build_chain(
    graph: DependencyGraph,
    states: Mapping[str, State],
    labels: Mapping[str, str],
    select: str | None,
) -> list[str]:
    """Selected ``to_build`` images and their ``to_build`` ancestors, parents first."""
    wanted = {n for n in selection(labels, select) if states[n] is State.TO_BUILD}
    for name in list(wanted):
        wanted |= {a for a in graph.ancestors(name) if states[a] is State.TO_BUILD}
    return graph.order(wanted)


def publish_candidates(
    graph: DependencyGraph,
    states: Mapping[str, State],
    labels: Mapping[str, str],
    select: str | None,
    built_now: Iterable[str],
) -> list[str]:
    """Images to verify (when not already) and push, parents first.

    The images built by this run, and the images already ``built`` locally but not published
    that the selection covers (selected images and their ancestors): a ``--select`` never
    pushes images it does not concern.
    """
    scope = selection(labels, select)
    for name in list(scope):
        scope |= graph.ancestors(name)
    candidates = set(built_now) | {n for n in scope if states[n] is State.BUILT}
    return graph.order(candidates)
