"""The engines of a run: each serves one platform with a number of build slots, knows the
images it holds, and is dropped when it is lost. A run holds one pool; builds take a slot
on the engine :mod:`placement` chooses and give it back when done."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from docker_pkg.config.settings import EngineSpec
from docker_pkg.engines.docker_engine import DockerEngine
from docker_pkg.engines.endpoint import TLSFiles
from docker_pkg.errors import Cancelled, EngineError, EngineLost, OperationError

if TYPE_CHECKING:
    from docker_pkg.engines.interface import Engine
    from docker_pkg.engines.placement import Candidate

log = logging.getLogger(__name__)


class NoEngine(OperationError):
    """No engine of the pool is left for an image's platform."""


@dataclass(eq=False)
class Member:
    """One engine of the pool."""

    name: str
    engine: Engine
    platform: str
    jobs: int
    running: dict[str, float] = field(default_factory=dict)  # image -> monotonic start
    holds: set[str] = field(default_factory=set)  # image labels in its store
    lost: bool = False
    native: str = ""  # the engine's own platform, when it builds for another

    @property
    def emulated(self) -> str | None:
        """The platform to ask builds for, when it is not the engine's own."""
        return self.platform if self.native and self.platform != self.native else None

    @property
    def address(self) -> str:
        return self.engine.address

    @property
    def free(self) -> int:
        return self.jobs - len(self.running)


class EnginePool:
    def __init__(self, members: list[Member], durations: Mapping[str, float] | None = None):
        if not members:
            raise EngineError("no engine to build with")
        self.members = members
        self.durations = durations or {}
        self.move_speed: float | None = None  # bytes per second, measured
        self._moved = (0, 0.0)
        self._sizes: dict[str, int] = {}
        self._cond = threading.Condition()
        self._cancelled = False

    @classmethod
    def single(cls, engine: Engine, jobs: int) -> EnginePool:
        """Today's run: the one engine of ``DOCKER_HOST``, ``jobs`` builds at a time."""
        return cls([Member("local", engine, "", jobs)])

    @property
    def durations(self) -> dict[str, float]:
        """How long each image took before (for how long a busy engine stays busy)."""
        return self._durations

    @durations.setter
    def durations(self, value: Mapping[str, float]) -> None:
        self._durations = dict(value)
        known = sorted(self._durations.values())
        self._typical = known[len(known) // 2] if known else None

    # -- what the pool is ------------------------------------------------------------------

    @property
    def alive(self) -> list[Member]:
        return [m for m in self.members if not m.lost]

    @property
    def total_jobs(self) -> int:
        return sum(m.jobs for m in self.alive)

    def serves(self, platform: str) -> bool:
        return any(_fits(m, platform) for m in self.alive)

    def describe(self) -> tuple[str, ...]:
        return tuple(f"{m.name} ({m.address})" for m in self.members)

    def image_exists(self, label: str) -> bool:
        """Whether an engine of the pool holds ``label`` (the first that does learns it)."""
        for member in self.alive:
            if member.engine.image_exists(label):
                self.record(member, label)
                return True
        return False

    def local_tags(self) -> set[str]:
        """Every tag any engine holds; each member learns what it holds. An engine lost
        meanwhile is marked so and takes no work; losing them all is an error."""
        everything: set[str] = set()
        for member in self.alive:
            try:
                member.holds |= member.engine.local_tags()
            except EngineLost as exc:
                log.warning("Engine %s was lost: %s", member.name, exc)
                self.mark_lost(member)
                if not self.alive:
                    raise
                continue
            everything |= member.holds
        return everything

    def holders(self, label: str) -> list[Member]:
        with self._cond:
            return [m for m in self.alive if label in m.holds]

    def record(self, member: Member, label: str) -> None:
        with self._cond:
            member.holds.add(label)

    def size(self, label: str) -> int:
        """The size of an image (0 when unknown), asked once of an engine that holds it."""
        if label not in self._sizes:
            for member in self.holders(label):
                try:
                    self._sizes[label] = member.engine.image_size(label) or 0
                    break
                except OperationError:
                    continue
        return self._sizes.get(label, 0)

    def note_move(self, size: int, seconds: float) -> None:
        with self._cond:
            total, spent = self._moved
            self._moved = (total + size, spent + seconds)
            if self._moved[1] > 0:
                self.move_speed = self._moved[0] / self._moved[1]

    # -- slots -----------------------------------------------------------------------------

    def acquire(
        self,
        image: str,
        platform: str,
        parents: Iterable[str],
        exclude: Iterable[Member] = (),
    ) -> Member:
        """A slot on the engine placement chooses; waits while the choice is to wait."""
        from docker_pkg.engines.placement import choose  # a run with nothing to build needs none

        wanted = list(parents)
        sizes = {label: self.size(label) for label in wanted}
        excluded = list(exclude)
        with self._cond:
            while True:
                if self._cancelled:
                    raise Cancelled("not started: the run was interrupted")
                fitting = [m for m in self.alive if _fits(m, platform) and m not in excluded]
                if not fitting:
                    where = f"for {platform}" if platform else "at all"
                    raise NoEngine(f"no engine left {where}: every one of them was lost")
                now = time.monotonic()
                candidates = {m.name: (m, self._candidate(m, wanted, sizes, now)) for m in fitting}
                picked = choose([c for _, c in candidates.values()], self.move_speed)
                if picked is not None:
                    member = candidates[picked.name][0]
                    member.running[image] = now
                    return member
                self._cond.wait(timeout=1.0)

    def _candidate(
        self, member: Member, parents: list[str], sizes: Mapping[str, int], now: float
    ) -> Candidate:
        from docker_pkg.engines.placement import Candidate

        missing = [p for p in parents if p not in member.holds]
        busy_for = None
        typical = self._typical
        if member.running and typical is not None:
            busy_for = min(
                max(0.0, self._durations.get(image, typical) - (now - since))
                for image, since in member.running.items()
            )
        return Candidate(
            member.name,
            member.free,
            member.jobs,
            sum(sizes.get(p, 0) for p in missing),
            len(missing),
            busy_for,
        )

    def release(self, member: Member, image: str) -> None:
        with self._cond:
            member.running.pop(image, None)
            self._cond.notify_all()

    def forget(self, labels: Iterable[str]) -> None:
        """No engine is to be taken as holding ``labels`` (tags not to be trusted): they
        are neither moved nor built on until built again."""
        drop = set(labels)
        with self._cond:
            for member in self.members:
                member.holds -= drop

    def mark_lost(self, member: Member) -> None:
        """The engine is gone: it takes no more work."""
        with self._cond:
            if not member.lost:
                member.lost = True
                log.warning(
                    "Engine %s (%s) is lost; it takes no more work", member.name, member.address
                )
            self._cond.notify_all()

    def cancel(self) -> None:
        with self._cond:
            self._cancelled = True
            self._cond.notify_all()
        for member in self.members:
            member.engine.cancel()


def open_pool(
    specs: Iterable[EngineSpec], default_jobs: int, say: Callable[[str], None]
) -> EnginePool:
    """Connect to every engine; one that does not answer is a one-line error and is left
    out (whether its platform is still served is for the run to judge)."""
    members = []
    for spec in specs:
        tls = (
            TLSFiles(spec.tls_ca, spec.tls_cert, spec.tls_key)
            if spec.tls_ca and spec.tls_cert and spec.tls_key
            else None
        )
        try:
            engine = DockerEngine(spec.url, tls=tls)
            native = engine.platform()
        except OperationError as exc:
            say(f"engine {spec.name} ({spec.url}) is unreachable: {exc}")
            continue
        platform = spec.platform or native
        members.append(
            Member(spec.name, engine, platform, spec.jobs or default_jobs, native=native)
        )
    if not members:
        raise EngineError("no engine of the pool answers")
    return EnginePool(members)


def _fits(member: Member, platform: str) -> bool:
    return not platform or not member.platform or member.platform == platform
