"""Where a ready build goes (pure): an engine of its platform, preferably one that already
holds its parents, else the least loaded one; never queued behind a busy engine while
another has a free slot, unless moving the parents there would cost more than the wait."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

# Until a move has been measured, assume what a local disk-to-disk stream does.
DEFAULT_MOVE_SPEED = 100e6  # bytes per second


@dataclass(frozen=True)
class Candidate:
    """What placement knows of one engine of the build's platform."""

    name: str
    free: int  # free build slots
    jobs: int
    missing_bytes: int  # size of the build's parents it lacks
    missing: int  # how many parents it lacks
    busy_for: float | None = None  # seconds until a slot frees, when known


def choose(candidates: Sequence[Candidate], move_speed: float | None = None) -> Candidate | None:
    """The engine to build on now, or None to wait for a slot.

    Among engines with a free slot: fewest bytes to move, then least loaded. When that
    still means moving parents while a busy engine holds them all, the build waits for the
    busy engine if the move would take longer than the wait.
    """
    free = [c for c in candidates if c.free > 0]
    if not free:
        return None
    best = min(free, key=lambda c: (c.missing_bytes, c.missing, 1 - c.free / c.jobs, c.name))
    if best.missing == 0:
        return best
    holders = [c for c in candidates if c.free == 0 and c.missing == 0]
    waits = [c.busy_for for c in holders if c.busy_for is not None]
    if waits:
        move = best.missing_bytes / (move_speed or DEFAULT_MOVE_SPEED)
        if move > min(waits):
            return None
    return best
