"""What a build run is asked and what it reports of each image: options, outcomes, results.

No engine, no I/O: a run with nothing to do reports from here without loading the machinery
that builds (:mod:`docker_pkg.running.build_run`).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from pathlib import Path

from docker_pkg.engines.builders import CLASSIC
from docker_pkg.planning.plan import State
from docker_pkg.tree.workspace import Workspace

NOT_SELECTED = "not selected"


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
    retries: list[str] = field(default_factory=list)  # engines lost under its build
    packages: int | None = None  # in its inventory, taken at build
    inventory: str | None = None  # the digest of that inventory
    introduced: list[str] = field(default_factory=list)  # "name version" it installed itself
    # packages with a newer candidate, and how many of those are security updates, by the
    # indexes at hand (None: not known)
    outdated: tuple[int, int] | None = None

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
class RunInfo:
    """A run as a whole, for its records (report, page, history)."""

    directory: Path
    started: datetime
    ended: datetime
    exit_status: int
    jobs: int
    interrupted: bool
    log_dir: Path | None
    builder: str | None = None
    engines: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class BuildOptions:
    nocache: bool = True
    pull: bool = True
    jobs: int = 1
    fail_fast: bool = False
    publish_at_end: bool = False
    builder: str | None = CLASSIC  # None: choose (BuildKit where the engine supports it)


def plan_results(
    workspace: Workspace,
    states: Mapping[str, State],
    why: Mapping[str, str] | None = None,
    built: Collection[str] = (),
) -> list[ImageResult]:
    """Each scanned image's result before anything runs, in build order (``built``: the
    images the run builds)."""
    graph = workspace.graph
    results = []
    for name in graph.order():
        result = ImageResult(
            name,
            workspace.label(name),
            _initial_outcome(states[name]),
            parents=graph.parents[name],
            why=(why or {}).get(name, ""),
        )
        if states[name] is State.PUBLISHED:
            result.reason = "already in the registry"
        elif states[name] is State.TO_BUILD and name not in built:
            result.reason = NOT_SELECTED
        results.append(result)
    return results


def _initial_outcome(state: State) -> Outcome:
    return {
        State.PUBLISHED: Outcome.PUBLISHED,
        State.BUILT: Outcome.BUILT,
        State.TO_BUILD: Outcome.SKIPPED,
    }[state]
