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
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, TextIO

from docker_pkg.scheduler import Status, Task

if TYPE_CHECKING:  # rich is imported only when the live view is shown
    from rich.console import Console
    from rich.table import Table

_STEP = re.compile(r"^(?:Step \d+/\d+ : |#\d+ (?=\[))(?P<step>.*)$")
PLAIN, RICH, QUIET, AUTO = "plain", "rich", "quiet", "auto"


class Progress(Protocol):
    def event(self, task: Task) -> None: ...

    def output(self, name: str, line: str) -> None: ...

    def message(self, line: str) -> None: ...

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

    def __enter__(self) -> PlainProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        return


class RichProgress:
    """A live table of every image of the run: state, elapsed time, current build step."""

    def __init__(self, labels: dict[str, str], names: list[str], console: Console):
        self.labels = labels
        self.console = console
        self._lock = threading.Lock()
        self._state = dict.fromkeys(names, "waiting")
        self._step: dict[str, str] = {}
        self._started: dict[str, float] = {}
        self._elapsed: dict[str, float] = {}
        from rich.live import Live

        self._live = Live(
            console=console, refresh_per_second=4, transient=False, get_renderable=self._table
        )

    def _table(self) -> Table:
        from rich.table import Table

        table = Table(box=None, expand=False, show_edge=False)
        for column in ("image", "state", "time", "step"):
            table.add_column(column)
        now = time.monotonic()
        with self._lock:
            for name, state in self._state.items():
                started = self._started.get(name)
                elapsed = self._elapsed.get(name, now - started if started else 0.0)
                table.add_row(
                    self.labels[name],
                    _styled(state),
                    f"{elapsed:5.1f}s" if started else "",
                    self._step.get(name, "")[:60],
                )
        return table

    def event(self, task: Task) -> None:
        name = task.key.split(":", 1)[1]
        kind = "build" if task.kind == "build" else "push"
        with self._lock:
            if task.status is Status.RUNNING:
                self._state[name] = "building" if kind == "build" else "publishing"
                self._started.setdefault(name, time.monotonic())
                self._elapsed.pop(name, None)
            else:
                if name in self._started:
                    self._elapsed[name] = time.monotonic() - self._started[name]
                self._state[name] = {
                    (Status.DONE, "build"): "verified",
                    (Status.DONE, "push"): "published",
                    (Status.FAILED, "build"): "failed",
                    (Status.FAILED, "push"): "push failed",
                    (Status.SKIPPED, "build"): "skipped",
                    (Status.SKIPPED, "push"): "not pushed",
                }.get((task.status, kind), self._state[name])
                if task.status in (Status.FAILED, Status.SKIPPED):
                    self._step[name] = task.reason.strip().splitlines()[0] if task.reason else ""

    def output(self, name: str, line: str) -> None:
        match = _STEP.match(line)
        if match:
            with self._lock:
                self._step[name] = match["step"]

    def message(self, line: str) -> None:
        self._live.console.print(line, markup=False, highlight=False)

    def __enter__(self) -> RichProgress:
        self._live.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._live.stop()


def _styled(state: str) -> str:
    color = {
        "verified": "green",
        "published": "green",
        "failed": "red",
        "push failed": "red",
        "skipped": "yellow",
        "not pushed": "yellow",
        "building": "cyan",
        "publishing": "cyan",
    }.get(state)
    return f"[{color}]{state}[/{color}]" if color else state


def make_progress(
    mode: str, labels: dict[str, str], names: list[str], stream: TextIO | None = None
) -> Progress:
    """``auto`` picks the live view on a terminal, plain lines otherwise."""
    out = stream or sys.stdout
    if mode == AUTO:
        mode = RICH if out.isatty() else PLAIN
    if mode == RICH:
        from rich.console import Console

        return RichProgress(labels, names, Console(file=out))
    return PlainProgress(labels, out, quiet=mode == QUIET)
