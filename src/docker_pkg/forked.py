"""Work shared with a forked copy of this process: half of it there, half here, at once.

For work whose results land where both processes see them (compiled templates in the
template cache), and that is worth the fork: a few milliseconds for a process that has
loaded Jinja. Best effort by design: the child's output and logging go nowhere, its
failures are its own (it exits), and whoever needs a result the child did not leave makes
it again. Without fork, on one core, or with other threads running (a forked copy of a
threaded process may deadlock on a lock held by a thread that is not copied), all the work
is done here.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from typing import TypeVar

Item = TypeVar("Item")

WORTH_A_FORK = 16  # items; below this the fork costs more than the half it saves


def can_fork() -> bool:
    return hasattr(os, "fork") and (os.cpu_count() or 1) > 1 and threading.active_count() == 1


def share_with_a_fork(items: Sequence[Item], work: Callable[[Sequence[Item]], None]) -> bool:
    """``work`` on every item: every other one in a forked child, the rest here, and back
    when both are done. False when it all ran here."""
    if len(items) < WORTH_A_FORK or not can_fork():
        work(items)
        return False
    theirs, ours = items[0::2], items[1::2]
    child = os.fork()
    if child == 0:
        _run_as_child(work, theirs)
    try:
        work(ours)
    except BaseException:
        os.kill(child, signal.SIGKILL)
        raise
    finally:
        os.waitpid(child, 0)
    return True


def _run_as_child(work: Callable[[Sequence[Item]], None], items: Sequence[Item]) -> None:
    """Never returns: the child leaves with ``os._exit``, so that nothing of the parent's
    (buffered output, exit handlers, temporary files) is flushed or removed twice."""
    status = 1
    try:
        silent = os.open(os.devnull, os.O_WRONLY)
        os.dup2(silent, 1)
        os.dup2(silent, 2)
        sys.stdout = sys.stderr = open(silent, "w", closefd=False)  # noqa: SIM115 - dropped by _exit
        logging.disable(logging.CRITICAL)
        work(items)
        status = 0
    finally:
        os._exit(status)
