"""What losing an engine in the middle of a run means for the work that depended on it.

Every kind of work is done again elsewhere, at most once per image and lost engine: a build
or verification that ran there, a push under way, an image built there and not yet pushed
(its only copy is gone), a parent moved from it or to it, a parent that other engines would
have fetched from it. Only when no engine of the image's platform is left does it fail.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from docker_pkg.engines.pool import EnginePool, Member
from docker_pkg.errors import BuildError, EngineLost, OperationError


def lost_member(pool: EnginePool, exc: EngineLost, near: Member | None) -> Member | None:
    """The engine ``exc`` is about: the one at its address (a move can lose its source or
    its destination), else the one the work ran on."""
    if exc.address is not None:
        for member in pool.members:
            if member.address == exc.address:
                return member
    return near


def check_alive(member: Member, failure: OperationError) -> None:
    """After ``failure`` on ``member`` (a verification that failed, say): raise
    :class:`EngineLost` when the engine is gone, since that, not the image, was the cause."""
    try:
        member.engine.local_tags()
    except EngineLost as exc:
        raise EngineLost(f"{failure}; {exc}", exc.address or member.address) from None


class LossLedger:
    """Which images were done again after which lost engines: each at most once per engine.
    Also one lock per image, so that two builds needing the same lost parent make it once."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._done: set[tuple[str, str]] = set()
        self._image_locks: dict[str, threading.Lock] = {}

    def again(self, unit: str, engines: list[str], why: str) -> None:
        """Note that ``unit`` is done again after losing ``engines``; a second time after
        the same engines is a :class:`BuildError` naming ``why``."""
        with self._lock:
            keys = {(unit, engine) for engine in engines}
            if keys and keys <= self._done:
                raise BuildError(f"{why} (already done again once after losing that engine)")
            self._done |= keys

    @contextmanager
    def image(self, name: str) -> Iterator[None]:
        with self._lock:
            lock = self._image_locks.setdefault(name, threading.Lock())
        with lock:
            yield
