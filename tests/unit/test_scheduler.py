from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import datetime

import pytest

from docker_pkg.errors import BuildError, EngineLost
from docker_pkg.running.scheduler import Scheduler, Status, Task, heights


class Recorder:
    """Tasks that sleep a little and record when they ran, on a real clock."""

    def __init__(self) -> None:
        self.spans: dict[str, tuple[float, float]] = {}
        self.order: list[str] = []
        self._lock = threading.Lock()

    def work(self, key: str, seconds: float = 0.05, fail: bool = False) -> Callable[[], str]:
        def run() -> str:
            start = time.monotonic()
            with self._lock:
                self.order.append(key)
            time.sleep(seconds)
            with self._lock:
                self.spans[key] = (start, time.monotonic())
            if fail:
                raise BuildError(f"{key} broke")
            return key

        return run


def tasks(rec: Recorder, spec: dict[str, tuple[str, ...]], **kw: object) -> dict[str, Task]:
    failing = kw.get("failing", set())
    prio = kw.get("priority", {})
    return {
        key: Task(key, "build", deps, rec.work(key, fail=key in failing), priority=prio.get(key, 0))  # type: ignore[operator,attr-defined]
        for key, deps in spec.items()
    }


TREE = {"base": (), "a": ("base",), "b": ("base",), "a1": ("a",), "b1": ("b",)}


def run(spec: dict[str, Task], jobs: int, **kw: object) -> Scheduler:
    scheduler = Scheduler(spec, {"build": jobs}, clock=datetime.now, **kw)  # type: ignore[arg-type]
    assert scheduler.run()
    return scheduler


def test_no_task_starts_before_its_dependencies_end() -> None:
    rec = Recorder()
    run(tasks(rec, TREE), jobs=2)
    for key, deps in TREE.items():
        for dep in deps:
            assert rec.spans[dep][1] <= rec.spans[key][0]


def test_independent_tasks_overlap_with_two_jobs_and_not_with_one() -> None:
    rec = Recorder()
    run(tasks(rec, {"x": (), "y": ()}), jobs=2)
    (x0, x1), (y0, y1) = rec.spans["x"], rec.spans["y"]
    assert x0 < y1
    assert y0 < x1
    rec = Recorder()
    run(tasks(rec, {"x": (), "y": ()}), jobs=1)
    (x0, x1), (y0, y1) = rec.spans["x"], rec.spans["y"]
    assert x1 <= y0 or y1 <= x0


def test_critical_path_goes_first() -> None:
    rec = Recorder()
    spec = {"short": (), "long": (), "long2": ("long",), "long3": ("long2",)}
    children = {"long": ["long2"], "long2": ["long3"]}
    priority = heights(children, spec)
    assert priority == {"short": 1, "long": 3, "long2": 2, "long3": 1}
    run(tasks(rec, spec, priority=priority), jobs=1)
    assert rec.order[0] == "long"


def test_failure_skips_descendants_only() -> None:
    rec = Recorder()
    spec = tasks(rec, TREE, failing={"a"})
    events: list[tuple[str, Status]] = []
    scheduler = run(
        spec,
        jobs=2,
        on_event=lambda t: events.append((t.key, t.status)),
        skip_reason=lambda t, f: f"because {f.key}",
    )
    status = {k: t.status for k, t in scheduler.tasks.items()}
    assert status == {
        "base": Status.DONE,
        "a": Status.FAILED,
        "b": Status.DONE,
        "a1": Status.SKIPPED,
        "b1": Status.DONE,
    }
    assert spec["a"].reason == "a broke"
    assert spec["a1"].reason == "because a"
    assert spec["a1"].cause == "a"
    assert "a1" not in rec.spans
    assert ("a1", Status.SKIPPED) in events


def test_fail_fast_starts_nothing_new() -> None:
    rec = Recorder()
    spec = tasks(rec, {"bad": (), "later": ("bad2",), "bad2": ()}, failing={"bad"})
    spec["bad"].priority = 10
    run(spec, jobs=1, fail_fast=True)
    assert spec["bad"].status is Status.FAILED
    assert spec["bad2"].status is Status.SKIPPED
    assert "fail-fast" in spec["bad2"].reason
    assert spec["later"].status is Status.SKIPPED


def test_interrupt_stops_starting_and_reports() -> None:
    rec = Recorder()
    spec = tasks(rec, {"first": (), "second": ("first",)})
    interrupted: list[bool] = []

    def on_event(task: Task) -> None:
        if task.key == "first" and task.status is Status.RUNNING:
            raise KeyboardInterrupt

    scheduler = Scheduler(spec, {"build": 1}, clock=datetime.now, on_event=on_event)
    assert scheduler.run(on_interrupt=lambda: interrupted.append(True)) is False
    assert interrupted == [True]
    assert spec["second"].status is Status.SKIPPED
    assert "interrupted" in spec["second"].reason


def test_unexpected_errors_fail_the_task_with_the_traceback_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken() -> None:
        raise RuntimeError("bug")

    spec = {
        "x": Task("x", "build", (), broken),
        "child": Task("child", "build", ("x",), lambda: None),
        "other": Task("other", "build", (), lambda: "fine"),
    }
    assert Scheduler(spec, {"build": 1}, clock=datetime.now).run()
    assert spec["x"].status is Status.FAILED
    assert spec["x"].reason == "internal error: RuntimeError: bug"
    assert spec["child"].status is Status.SKIPPED
    assert spec["other"].status is Status.DONE
    assert "Traceback" in caplog.text
    assert 'raise RuntimeError("bug")' in caplog.text


def test_a_lost_engine_stops_new_work() -> None:
    def lost() -> None:
        raise EngineLost("building a: lost the engine at unix:///x.sock (refused)")

    spec = {
        "a": Task("a", "build", (), lost, priority=2),
        "b": Task("b", "build", (), lambda: "never"),
    }
    assert Scheduler(spec, {"build": 1}, clock=datetime.now).run()
    assert spec["a"].status is Status.FAILED
    assert spec["b"].status is Status.SKIPPED
    assert spec["b"].reason.startswith("not started: building a: lost the engine")


def test_unknown_dependency_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown task"):
        Scheduler({"x": Task("x", "build", ("ghost",), lambda: None)}, {"build": 1}, datetime.now)
