"""Run a graph of tasks (build, publish) as fast as their dependencies allow.

A task starts as soon as every task it depends on has succeeded, at most ``limits[kind]``
at once; among ready tasks the one with the highest priority (the longest chain of work
below it) goes first. A failed task fails only itself: every task depending on it,
directly or not, is skipped with the reason. With ``fail_fast`` (or once cancelled) no new
task starts. Events are delivered on the calling thread only, so output never interleaves.
"""

from __future__ import annotations

import heapq
import logging
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from docker_pkg.errors import Cancelled, OperationError

if TYPE_CHECKING:
    from concurrent.futures import Future, ThreadPoolExecutor

log = logging.getLogger(__name__)


class Status(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    SKIPPED = "skipped"


@dataclass
class Task:
    key: str
    kind: str
    deps: tuple[str, ...]
    run: Callable[[], Any]
    priority: int = 0
    status: Status = Status.PENDING
    reason: str = ""
    value: Any = None
    started: datetime | None = None
    ended: datetime | None = None
    cause: str | None = None  # the failed task that made this one skipped


EventSink = Callable[[Task], None]
SkipReason = Callable[[Task, Task], str]


@dataclass
class Scheduler:
    tasks: Mapping[str, Task]
    limits: Mapping[str, int]
    clock: Callable[[], datetime]
    on_event: EventSink = lambda task: None
    skip_reason: SkipReason = lambda task, failed: f"not attempted: {failed.key} failed"
    fail_fast: bool = False
    _stop_reason: str = ""
    _dependents: dict[str, list[str]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    # Kept as the run goes, so that a tree of thousands of images costs no scan per event:
    _waiting: dict[str, int] = field(default_factory=dict)  # unfinished dependencies
    _ready: dict[str, list[tuple[int, str]]] = field(default_factory=dict)  # heaps, per kind
    _running: Counter[str] = field(default_factory=Counter)

    def __post_init__(self) -> None:
        for task in self.tasks.values():
            for dep in task.deps:
                if dep not in self.tasks:
                    raise ValueError(f"{task.key} depends on unknown task {dep}")
                self._dependents.setdefault(dep, []).append(task.key)
        for task in self.tasks.values():
            self._waiting[task.key] = sum(
                1 for d in task.deps if self.tasks[d].status is not Status.DONE
            )
            if task.status is Status.PENDING and self._waiting[task.key] == 0:
                self._make_ready(task)

    def _make_ready(self, task: Task) -> None:
        heapq.heappush(self._ready.setdefault(task.kind, []), (-task.priority, task.key))

    def stop(self, reason: str) -> None:
        """Start nothing new; tasks not yet started will be skipped with ``reason``."""
        with self._lock:
            if not self._stop_reason:
                self._stop_reason = reason

    def run(self, on_interrupt: Callable[[], None] = lambda: None) -> bool:
        """Run every task; return False when interrupted (KeyboardInterrupt)."""
        from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait

        interrupted = False
        workers = max(1, sum(self.limits.values()))
        futures: dict[Future[Any], Task] = {}
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="docker-pkg") as pool:
            while True:
                try:
                    self._start_ready(pool, futures)
                    if not futures:
                        break
                    done, _ = wait(list(futures), timeout=0.5, return_when=FIRST_COMPLETED)
                    for future in done:
                        self._finish(futures.pop(future), future)
                except KeyboardInterrupt:
                    interrupted = True
                    self.stop("not started: the run was interrupted")
                    on_interrupt()
        self._skip_remaining()
        return not interrupted

    def _start_ready(self, pool: ThreadPoolExecutor, futures: dict[Future[Any], Task]) -> None:
        """Start ready tasks, the highest priority first (then by key), within each kind's
        limit."""
        if self._stop_reason:
            return
        starting = []
        for kind, heap in self._ready.items():
            while heap and self._running[kind] < self.limits.get(kind, 1):
                task = self.tasks[heapq.heappop(heap)[1]]
                if task.status is not Status.PENDING:
                    continue  # skipped meanwhile
                task.status = Status.RUNNING
                self._running[kind] += 1
                starting.append(task)
        for task in sorted(starting, key=lambda t: (-t.priority, t.key)):
            task.started = self.clock()
            futures[pool.submit(task.run)] = task
            self.on_event(task)

    def _finish(self, task: Task, future: Future[Any]) -> None:
        task.ended = self.clock()
        self._running[task.kind] -= 1
        error = future.exception()
        if error is None:
            task.status = Status.DONE
            task.value = future.result()
            self.on_event(task)
            for key in self._dependents.get(task.key, ()):
                self._waiting[key] -= 1
                dependent = self.tasks[key]
                if self._waiting[key] == 0 and dependent.status is Status.PENDING:
                    self._make_ready(dependent)
            return
        task.status = Status.FAILED
        if isinstance(error, OperationError):
            task.reason = str(error)
        else:
            # A bug, not a failure of the image: its traceback goes to the log, and the run
            # still ends with an exact report instead of dying half-way.
            log.error("%s failed unexpectedly", task.key, exc_info=error)
            task.reason = f"internal error: {type(error).__name__}: {error}"
        self.on_event(task)
        if isinstance(error, OperationError) and error.stops_run:
            self.stop(f"not started: {error}")
        elif self.fail_fast and not isinstance(error, Cancelled):
            self.stop(f"not started: --fail-fast after {task.key} failed")
        self._skip_dependents(task)

    def _skip_dependents(self, failed: Task) -> None:
        todo = list(self._dependents.get(failed.key, ()))
        while todo:
            task = self.tasks[todo.pop(0)]
            if task.status is not Status.PENDING:
                continue
            task.status = Status.SKIPPED
            task.cause = failed.key
            task.reason = self.skip_reason(task, failed)
            self.on_event(task)
            todo.extend(self._dependents.get(task.key, ()))

    def _skip_remaining(self) -> None:
        for task in self.tasks.values():
            if task.status is Status.PENDING:
                task.status = Status.SKIPPED
                task.reason = self._stop_reason or "not started"
                self.on_event(task)


def heights(children: Mapping[str, Iterable[str]], nodes: Iterable[str]) -> dict[str, int]:
    """Length of the longest chain of descendants below each node (a leaf is 1)."""
    memo: dict[str, int] = {}

    def height(node: str) -> int:
        if node not in memo:
            memo[node] = 1 + max((height(c) for c in children.get(node, ())), default=0)
        return memo[node]

    return {n: height(n) for n in nodes}
