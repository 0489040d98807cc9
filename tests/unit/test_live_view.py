"""The live view on a terminal: any number of images in any terminal size."""

from __future__ import annotations

import io
from datetime import datetime

import pytest
from rich.console import Console

from docker_pkg.outputs.progress import RichProgress
from docker_pkg.planning.estimate import format_duration, remaining_seconds
from docker_pkg.running.scheduler import Status, Task


def task(name: str, status: Status, kind: str = "build", reason: str = "") -> Task:
    return Task(
        f"{kind}:{name}",
        kind,
        (),
        lambda: None,
        status=status,
        reason=reason,
        started=datetime.now(),
    )


@pytest.mark.parametrize(("width", "height"), [(40, 6), (80, 24), (200, 50)])
def test_the_view_fits_the_terminal_whatever_runs(width: int, height: int) -> None:
    out = io.StringIO()
    console = Console(file=out, width=width, height=height, force_terminal=True)
    names = [f"image-with-a-rather-long-name-{i:03d}" for i in range(150)]
    view = RichProgress(
        {n: f"registry.example.org/team/{n}:1.0.0" for n in names},
        dict.fromkeys(names, 1),
        console,
        jobs=4,
        engine="local",
    )
    for name in names[:60]:
        view.event(task(name, Status.RUNNING))
        view.output(name, "#3 [2/3] RUN apt-get install --yes " + "pkg " * 40)
    view.event(task(names[0], Status.FAILED, reason="step RUN make failed: exit 2"))
    with console.capture() as captured:
        console.print(view._render())
    lines = captured.get().rstrip("\n").split("\n")
    assert len(lines) <= height - 1
    assert all(len(line) <= width for line in lines)
    assert "1/150 images" in lines[0]
    if width >= 80:
        assert "1/150 images · 1 failed · 0 skipped" in lines[0]
    assert "more running" in lines[-1] or len(lines) == 60 + 1


def test_finished_images_count_once_built_and_pushed() -> None:
    console = Console(file=io.StringIO(), width=100, height=20, force_terminal=True)
    view = RichProgress({"a": "r/a:1", "b": "r/b:1"}, {"a": 2, "b": 2}, console)
    view.event(task("a", Status.RUNNING))
    view.event(task("a", Status.DONE))
    assert "0/2 images" in view._lines(100, 20)[0]  # built, not yet published
    view.event(task("a", Status.DONE, kind="publish"))
    view.event(task("b", Status.FAILED))
    view.event(task("b", Status.SKIPPED, kind="publish"))
    head = view._lines(100, 20)[0]
    assert "2/2 images · 1 failed · 0 skipped" in head


def test_remaining_time_is_the_longer_of_the_chain_and_the_work_per_job() -> None:
    parents = {"b": ["a"], "c": ["b"], "d": ["a"]}
    durations = {"a": 10.0, "b": 20.0, "c": 5.0, "d": 30.0}
    assert remaining_seconds(parents, durations, ["a", "b", "c", "d"], jobs=4) == 40.0
    assert remaining_seconds(parents, durations, ["a", "b", "c", "d"], jobs=1) == 65.0
    # a running image counts what is left of its usual time
    assert remaining_seconds(parents, durations, ["d"], 1, elapsed={"d": 25.0}) == 5.0
    # unknown images count as a typical one; no history at all: no estimate
    assert remaining_seconds(parents, {"a": 10.0}, ["a", "z"], jobs=1) == 20.0
    assert remaining_seconds(parents, {}, ["a"], jobs=1) is None
    assert format_duration(3725) == "1:02:05"
    assert format_duration(65.4) == "1:05"
