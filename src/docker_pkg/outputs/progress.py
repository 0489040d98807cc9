"""What the user sees while a build runs: a live table on a terminal, one line per event
elsewhere (CI, pipes, ``--progress plain``), or nothing but the outcome (``quiet``).

Events come from the scheduler on one thread; build output lines come from worker threads
and only update state that the live view reads under a lock.
"""

from __future__ import annotations

import re
import sys
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, TextIO

from docker_pkg.planning.estimate import format_duration, remaining_seconds
from docker_pkg.running.scheduler import Status, Task

if TYPE_CHECKING:  # rich is imported only when the live view is shown
    from rich.console import Console, RenderableType

_STEP = re.compile(r"^(?:Step \d+/\d+ : |#\d+ (?=\[))(?P<step>.*)$")
PLAIN, RICH, QUIET, AUTO = "plain", "rich", "quiet", "auto"


class Progress(Protocol):
    def event(self, task: Task) -> None: ...

    def output(self, name: str, line: str) -> None: ...

    def message(self, line: str) -> None: ...

    def placed(self, name: str, engine: str) -> None: ...

    def __enter__(self) -> Progress: ...

    def __exit__(self, *exc: object) -> None: ...


def describe(task: Task, label: str) -> str | None:
    """The line for an event, in the reference's words where it has them."""
    build = task.kind == "build"
    if task.status is Status.RUNNING:
        return f"... {'building' if build else 'publishing'} {label}"
    if task.status is Status.DONE:
        return f"* Built image {label}" if build else f"Successfully published image {label}"
    if task.status is Status.FAILED:
        first = task.reason.strip().splitlines()[0] if task.reason.strip() else ""
        what = "image" if build else "publishing"
        return f" ERROR: {what} {label} failed: {first}"
    if task.status is Status.SKIPPED:
        return f" SKIPPED: image {label}: {task.reason}"
    return None


@dataclass
class PlainProgress:
    labels: dict[str, str]
    stream: TextIO
    quiet: bool = False

    def __post_init__(self) -> None:
        self._lock = threading.Lock()

    def _say(self, line: str) -> None:
        with self._lock:
            print(line, file=self.stream, flush=True)

    def event(self, task: Task) -> None:
        line = describe(task, self.labels[task.key.split(":", 1)[1]])
        if line is None or (self.quiet and task.status is not Status.FAILED):
            return
        self._say(line)

    def output(self, name: str, line: str) -> None:
        return

    def message(self, line: str) -> None:
        if not self.quiet:
            self._say(line)

    def placed(self, name: str, engine: str) -> None:
        return

    def __enter__(self) -> PlainProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        return


class RichProgress:
    """On a terminal: one bar for the whole run (images done of all, failures, elapsed time,
    ETA), a row per image being worked on (what, where, current step, time), and each
    finished image printed above as a line. It never takes more than the terminal's height
    or width, however many images the run has."""

    def __init__(
        self,
        labels: dict[str, str],
        tasks_per_image: Mapping[str, int],
        console: Console,
        *,
        parents: Mapping[str, Iterable[str]] | None = None,
        durations: Mapping[str, float] | None = None,
        jobs: int = 1,
        engine: str = "",
    ):
        from rich.live import Live

        self.labels = labels
        self.console = console
        self._left = dict(tasks_per_image)
        self._parents = parents or {}
        self._durations = durations or {}
        self._jobs = jobs
        self._engine = engine
        self._lock = threading.Lock()
        self._running: dict[str, tuple[str, float]] = {}
        self._step: dict[str, str] = {}
        self._where: dict[str, str] = {}
        self._finished: set[str] = set()
        self._failed = self._skipped = 0
        self._began = time.monotonic()
        self._live = Live(
            console=console,
            refresh_per_second=4,
            transient=True,
            get_renderable=self._render,
            vertical_overflow="crop",
        )

    # -- what is shown -------------------------------------------------------------------

    def _eta(self, now: float) -> str:
        remaining = [n for n in self._left if n not in self._finished]
        elapsed = {n: now - since for n, (_, since) in self._running.items()}
        seconds = remaining_seconds(
            self._parents, self._durations, remaining, self._jobs, elapsed=elapsed
        )
        return "ETA -" if seconds is None else f"ETA {format_duration(seconds)}"

    def _lines(self, width: int, height: int) -> list[str]:
        now = time.monotonic()
        with self._lock:
            total, done = len(self._left), len(self._finished)
            size = max(10, min(30, width // 4))
            filled = int(size * done / total) if total else size
            head = (
                f"{'█' * filled}{'░' * (size - filled)} {done}/{total} images"
                f" · {self._failed} failed · {self._skipped} skipped"
                f" · {format_duration(now - self._began)} · {self._eta(now)}"
            )
            running = sorted(self._running.items(), key=lambda item: item[1][1])
            rows = [
                f"  {what:<10} {now - since:5.1f}s  {self.labels[name]}  "
                f"{self._where.get(name, self._engine)}  "
                f"{self._step.get(name, '')}"
                for name, (what, since) in running
            ]
        room = max(0, height - 2)
        if len(rows) > room:
            hidden = len(rows) - room + 1
            rows = [*rows[: room - 1], f"  … and {hidden} more running"] if room else []
        return [head, *rows]

    def _render(self) -> RenderableType:
        from rich.console import Group
        from rich.text import Text

        width, height = self.console.size
        lines = self._lines(width, height)
        return Group(*(Text(line, no_wrap=True, overflow="ellipsis") for line in lines))

    def _print(self, line: str, style: str = "") -> None:
        from rich.text import Text

        self._live.console.print(
            Text(line, style=style, no_wrap=True, overflow="ellipsis"), crop=True
        )

    # -- what happens --------------------------------------------------------------------

    def event(self, task: Task) -> None:
        name = task.key.split(":", 1)[1]
        label = self.labels[name]
        line = describe(task, label)
        with self._lock:
            if task.status is Status.RUNNING:
                what = "building" if task.kind == "build" else "publishing"
                self._running[name] = (what, time.monotonic())
                return
            self._running.pop(name, None)
            self._step.pop(name, None)
            if name in self._finished:
                return
            self._left[name] = self._left.get(name, 1) - 1
            if task.status is Status.FAILED:
                self._failed += 1
                self._finished.add(name)
            elif task.status is Status.SKIPPED:
                self._skipped += 1
                self._finished.add(name)
            elif self._left[name] <= 0:
                self._finished.add(name)
            else:
                return  # built; its push is still to come
        if line is not None:
            style = {Status.FAILED: "red", Status.SKIPPED: "yellow"}.get(task.status, "green")
            self._print(line, style)

    def output(self, name: str, line: str) -> None:
        match = _STEP.match(line)
        if match:
            with self._lock:
                self._step[name] = match["step"]

    def message(self, line: str) -> None:
        self._print(line)

    def placed(self, name: str, engine: str) -> None:
        with self._lock:
            self._where[name] = engine

    def __enter__(self) -> RichProgress:
        self._live.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._live.stop()


def make_progress(
    mode: str,
    labels: dict[str, str],
    tasks_per_image: Mapping[str, int],
    stream: TextIO | None = None,
    *,
    parents: Mapping[str, Iterable[str]] | None = None,
    durations: Mapping[str, float] | None = None,
    jobs: int = 1,
    engine: str = "",
) -> Progress:
    """``auto`` picks the live view on a terminal, plain lines otherwise."""
    out = stream or sys.stdout
    if mode == AUTO:
        mode = RICH if out.isatty() else PLAIN
    if mode == RICH:
        from rich.console import Console

        return RichProgress(
            labels,
            tasks_per_image,
            Console(file=out),
            parents=parents,
            durations=durations,
            jobs=jobs,
            engine=engine,
        )
    return PlainProgress(labels, out, quiet=mode == QUIET)
