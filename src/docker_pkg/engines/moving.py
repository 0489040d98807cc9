"""Moving images between the engines of a pool, so that a build finds its parents where it
runs: pulled from the registry when they are published, else streamed from an engine that
holds them (``GET /images/{name}/get`` into ``POST /images/load``, never on disk)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator, Mapping

from docker_pkg.engines.pool import EnginePool, Member
from docker_pkg.errors import BuildError

Auth = Callable[[str], Mapping[str, str] | None]


class _Counted:
    """The chunks of a stream, counted as they pass."""

    def __init__(self, chunks: Iterable[bytes]):
        self._chunks = chunks
        self.size = 0

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self._chunks:
            self.size += len(chunk)
            yield chunk


def bring(
    pool: EnginePool,
    member: Member,
    labels: Iterable[str],
    *,
    published: Callable[[str], bool],
    auth: Auth,
    output: logging.Logger | logging.LoggerAdapter[logging.Logger],
    restore: Callable[[str, Member], None] | None = None,
) -> list[str]:
    """Make every image of ``labels`` present on ``member``; returns those it moved. A
    published one is pulled even when present, as the reference refreshes published
    dependencies before each build. One that no engine of the pool holds any more (its
    engine was lost) and that is not published is made again on ``member`` by
    ``restore``, when given."""
    moved = []
    for label in labels:
        held = label in member.holds
        if held and not published(label):
            continue
        started = time.monotonic()
        if published(label):
            output.info("Pulling %s to engine %s", label, member.name)
            member.engine.pull(label, auth(label), member.emulated)
        else:
            sources = [m for m in pool.holders(label) if m is not member]
            if not sources and restore is not None:
                restore(label, member)
                sources = [m for m in pool.holders(label) if m is not member]
                if label in member.holds:
                    moved.append(label)
                    continue
            if not sources:
                raise BuildError(
                    f"{label} is needed on engine {member.name}, but no engine of the pool "
                    "holds it any more and it is not published"
                )
            source = sources[0]
            output.info("Moving %s from engine %s to engine %s", label, source.name, member.name)
            stream = _Counted(source.engine.save(label))
            member.engine.load(stream)
            pool.note_move(stream.size, time.monotonic() - started)
        pool.record(member, label)
        if not held:
            moved.append(label)
    return moved
