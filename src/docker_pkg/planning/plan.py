"""What a build run must do, given the images' states: pure logic, no engine, no network."""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Iterable, Mapping
from enum import StrEnum

from docker_pkg.tree.graph import DependencyGraph


class State(StrEnum):
    """Where an image is found before the run (spec 4.1)."""

    PUBLISHED = "published"
    BUILT = "built"
    TO_BUILD = "to_build"
    UNKNOWN = "unknown"  # not published, and no engine to ask (planning without an engine)

    @property
    def needs_build(self) -> bool:
        return self in (State.TO_BUILD, State.UNKNOWN)


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
    """Selected ``to_build`` images and their ``to_build`` ancestors, parents first (an image
    whose local state is unknown is taken to need a build)."""
    wanted = {n for n in selection(labels, select) if states[n].needs_build}
    for name in list(wanted):
        wanted |= {a for a in graph.ancestors(name) if states[a].needs_build}
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


def state_reason(state: State, pull: bool, registry: str, unanswered: str | None = None) -> str:
    """Why an image is in its state, in words; ``unanswered``: what the registry answered
    when asked about it (a server error), so it counts as not published."""
    if unanswered is not None:
        local = {State.BUILT: "in the local engine", State.TO_BUILD: "not in the local engine"}
        where = local.get(state, "no engine to ask whether it is built locally")
        return f"unknown in the registry ({unanswered}): taken as not published; {where}"
    if state is State.PUBLISHED:
        return f"its manifest is in {registry}"
    if state is State.BUILT:
        where = f", not in {registry}" if registry else ""
        return f"in the local engine{where}"
    if state is State.UNKNOWN:
        where = f"not in {registry}; " if registry else ""
        return f"{where}no engine to ask whether it is built locally"
    if pull and registry:
        return f"neither in {registry} nor in the local engine"
    return "not in the local engine"


def chain_reasons(graph: DependencyGraph, chain: list[str], selected: set[str]) -> dict[str, str]:
    """Why each image of a build chain is in it: selected itself, or needed by one that is."""
    in_chain = set(chain)
    reasons = {}
    for name in chain:
        if name in selected:
            reasons[name] = "selected"
        else:
            needing = sorted(d for d in graph.descendants(name) & in_chain if d in selected)
            reasons[name] = "needed by " + ", ".join(needing)
    return reasons
