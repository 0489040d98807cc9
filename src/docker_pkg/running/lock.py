"""One build at a time per tree and engine: two CI jobs on the same checkout and engine must
never build the same image at once, nor plan from states the other is changing.

The lock is an ``flock`` on a file of the state folder: the kernel releases it however the
holder ends (even ``kill -9``), so a crashed run never leaves a stale lock behind.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path

from docker_pkg.errors import OperationError

log = logging.getLogger(__name__)


class Busy(OperationError):
    """Another run holds the lock and ``--no-wait`` was given: try again later."""

    exit_status = 75  # EX_TEMPFAIL


class RunLock:
    def __init__(self, folder: Path, tree: Path, engine: str, *, wait: bool = True):
        key = f"{tree.resolve()}\0{engine}"
        self.path = folder / f"build-{hashlib.sha256(key.encode()).hexdigest()[:20]}.lock"
        self.tree = tree
        self.engine = engine
        self.wait = wait

    def _holder(self, fd: int) -> str:
        with contextlib.suppress(OSError):
            text = os.pread(fd, 200, 0).decode("utf-8", "replace").strip()
            if text:
                return f" ({text})"
        return ""

    @contextlib.contextmanager
    def held(self, say: Callable[[str], None]) -> Iterator[None]:
        """Hold the lock for the block: wait for another run (saying so) unless told not to.

        A lock file that cannot be created (read-only state folder) is a warning: the run
        goes on unlocked rather than not at all.
        """
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            say(f" WARNING: running without the build lock: cannot create {self.path} ({exc})")
            yield
            return
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = self._holder(fd)
                where = f"{self.tree} with the engine at {self.engine}"
                if not self.wait:
                    raise Busy(
                        f"another docker-pkg build{holder} is running on {where}; not waiting "
                        "(--no-wait)"
                    ) from None
                say(f"Waiting for another docker-pkg build{holder} on {where} to finish...")
                fcntl.flock(fd, fcntl.LOCK_EX)
                say("The other build finished; going on")
            stamp = f"pid {os.getpid()}, since {datetime.now().astimezone():%Y-%m-%d %H:%M:%S}"
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)
                os.pwrite(fd, stamp.encode(), 0)
            yield
        finally:
            os.close(fd)  # releases the lock
