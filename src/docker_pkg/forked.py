"""Work shared with a forked copy of this process: half of it there, half here, at once.

For pure work worth the fork (a few milliseconds for a process that has loaded Jinja), such
as compiling the templates of a tree seen for the first time. Best effort by design: the
child's output and logging go nowhere, its failure is its own (its half is then missing
from the results, for the caller to do again), a child silent for ``PATIENCE`` seconds is
stopped the same way, and it hands its result back pickled through a pipe. Without fork,
on one core, or with other threads running (a forked copy of a threaded process may
deadlock on a lock held by a thread that is not copied), all the work is done here.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pickle
import select
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from typing import BinaryIO, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")

WORTH_A_FORK = 16  # items; below this the fork costs more than the half it saves
PATIENCE = 120.0  # seconds without a word from the child before it is given up
SIZE = 8  # bytes of the length that comes before the child's result


def can_fork() -> bool:
    return hasattr(os, "fork") and (os.cpu_count() or 1) > 1 and threading.active_count() == 1


def share_with_a_fork(
    items: Sequence[Item], work: Callable[[Sequence[Item]], Result]
) -> list[Result]:
    """``work`` on every item: every other one in a forked child, the rest here, at once.
    The results of both halves, this one's first; this one's alone when everything ran
    here, or when the child failed (its items are then left undone)."""
    if len(items) < WORTH_A_FORK or not can_fork():
        return [work(items)]
    theirs, ours = items[0::2], items[1::2]
    reading, writing = os.pipe()
    child = os.fork()
    if child == 0:
        os.close(reading)
        _run_as_child(work, theirs, writing)
    os.close(writing)
    with open(reading, "rb") as answer:
        handed = None
        try:
            results = [work(ours)]
            handed = _read_until_closed(answer, PATIENCE)
        finally:
            # Where SIGCHLD is ignored, the child is gone by itself once it exits.
            with contextlib.suppress(ProcessLookupError, ChildProcessError):
                if handed is None:  # a failure here, or a child that hangs: stop it
                    os.kill(child, signal.SIGKILL)
                os.waitpid(child, 0)
    if handed is not None and _complete(handed):  # only a child that finished sent it all
        results.append(pickle.loads(handed[SIZE:]))
    return results


def _complete(handed: bytes) -> bool:
    return len(handed) >= SIZE and int.from_bytes(handed[:SIZE], "big") == len(handed) - SIZE


def _read_until_closed(answer: BinaryIO, patience: float) -> bytes | None:
    """All the child writes, until it closes the pipe; None after ``patience`` seconds
    of silence (a child that hangs must not hang the run)."""
    chunks: list[bytes] = []
    while select.select([answer], [], [], patience)[0]:
        chunk = os.read(answer.fileno(), 1 << 20)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
    return None


def _run_as_child(
    work: Callable[[Sequence[Item]], Result], items: Sequence[Item], answer: int
) -> None:
    """Never returns: the child leaves with ``os._exit``, so that nothing of the parent's
    (buffered output, exit handlers, temporary files) is flushed or removed twice."""
    status = 1
    try:
        silent = os.open(os.devnull, os.O_WRONLY)
        os.dup2(silent, 1)
        os.dup2(silent, 2)
        sys.stdout = sys.stderr = open(silent, "w", closefd=False)  # noqa: SIM115 - dropped by _exit
        logging.disable(logging.CRITICAL)
        result = pickle.dumps(work(items))
        with open(answer, "wb") as out:
            out.write(len(result).to_bytes(SIZE, "big") + result)
        status = 0
    finally:
        os._exit(status)
