"""Work shared with a forked child: done on both sides and both results back, or all here
when forking is unsafe."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from docker_pkg import forked
from docker_pkg.forked import WORTH_A_FORK, share_with_a_fork

Work = Callable[[Sequence[int]], dict[int, int]]


def _recorder(folder: Path, fail_in_child: bool = False) -> Work:
    """Work that leaves a file per item and answers which process did each item."""
    parent = os.getpid()

    def work(items: Sequence[int]) -> dict[int, int]:
        if fail_in_child and os.getpid() != parent:
            print("child output that must not show")
            raise RuntimeError("the child's own failure")
        for item in items:
            (folder / str(item)).write_text(str(os.getpid()))
        return dict.fromkeys(items, os.getpid())

    return work


def _done(folder: Path) -> dict[int, int]:
    return {int(p.name): int(p.read_text()) for p in folder.iterdir()}


@pytest.fixture
def forkable(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fork even if the test runner keeps a thread of its own alive."""
    monkeypatch.setattr(forked, "can_fork", lambda: True)


@pytest.mark.usefixtures("forkable")
def test_half_the_items_are_done_in_a_child_and_both_results_come_back(tmp_path: Path) -> None:
    items = list(range(WORTH_A_FORK + 4))
    ours, theirs = share_with_a_fork(items, _recorder(tmp_path))
    assert ours == dict.fromkeys(items[1::2], os.getpid())
    [child] = set(theirs.values())
    assert child != os.getpid()
    assert theirs == dict.fromkeys(items[0::2], child)
    assert _done(tmp_path) == {**ours, **theirs}


@pytest.mark.usefixtures("forkable")
def test_a_failing_child_is_silent_and_its_half_is_missing(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    items = list(range(WORTH_A_FORK))
    results = share_with_a_fork(items, _recorder(tmp_path, fail_in_child=True))
    assert results == [dict.fromkeys(items[1::2], os.getpid())]
    assert sorted(_done(tmp_path)) == items[1::2]
    assert capfd.readouterr() == ("", "")


@pytest.mark.usefixtures("forkable")
def test_a_failure_here_stops_the_child_and_is_raised(tmp_path: Path) -> None:
    parent = os.getpid()
    release = tmp_path / "never"

    def work(items: Sequence[int]) -> None:
        if os.getpid() != parent:
            while not release.exists():  # would outlive the test unless killed
                threading.Event().wait(0.01)
        else:
            raise ValueError("broken here")

    with pytest.raises(ValueError, match="broken here"):
        share_with_a_fork(list(range(WORTH_A_FORK)), work)
    with pytest.raises(ChildProcessError):
        os.waitpid(-1, os.WNOHANG)  # the child was reaped: no process is left behind


@pytest.mark.usefixtures("forkable")
def test_a_child_that_hangs_is_stopped_and_its_half_is_missing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(forked, "PATIENCE", 0.3)
    parent = os.getpid()

    def work(items: Sequence[int]) -> list[int]:
        while os.getpid() != parent:  # the child never answers
            threading.Event().wait(0.01)
        return list(items)

    items = list(range(WORTH_A_FORK))
    assert share_with_a_fork(items, work) == [items[1::2]]
    with pytest.raises(ChildProcessError):
        os.waitpid(-1, os.WNOHANG)


@pytest.mark.usefixtures("forkable")
def test_where_sigchld_is_ignored_the_childs_half_still_comes_back(tmp_path: Path) -> None:
    previous = signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children reaped by the kernel
    try:
        results = share_with_a_fork(list(range(WORTH_A_FORK)), _recorder(tmp_path))
    finally:
        signal.signal(signal.SIGCHLD, previous)
    assert len(results) == 2
    assert sorted(_done(tmp_path)) == list(range(WORTH_A_FORK))


def test_small_work_or_other_threads_keep_everything_here(tmp_path: Path) -> None:
    assert share_with_a_fork([1, 2, 3], _recorder(tmp_path)) == [
        dict.fromkeys([1, 2, 3], os.getpid())
    ]
    stop = threading.Event()
    other = threading.Thread(target=stop.wait)
    other.start()
    try:
        items = list(range(10, 10 + WORTH_A_FORK))
        assert len(share_with_a_fork(items, _recorder(tmp_path))) == 1
    finally:
        stop.set()
        other.join()
    assert set(_done(tmp_path).values()) == {os.getpid()}
    assert len(_done(tmp_path)) == 3 + WORTH_A_FORK
