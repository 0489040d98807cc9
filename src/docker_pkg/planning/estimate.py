"""How long a run will take, from how long each image took before (pure)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping


def remaining_seconds(
    parents: Mapping[str, Iterable[str]],
    durations: Mapping[str, float],
    remaining: Iterable[str],
    jobs: int,
    *,
    elapsed: Mapping[str, float] | None = None,
) -> float | None:
    """The time the ``remaining`` images still need: the longer of their longest chain and
    their total work spread over ``jobs``. An image running for ``elapsed`` seconds counts
    what is left of its usual time. None when no image of them has a known duration."""
    wanted = set(remaining)
    known = [durations[n] for n in wanted if n in durations]
    if not wanted:
        return 0.0
    if not known:
        return None
    typical = sorted(known)[len(known) // 2]
    spent = elapsed or {}

    def cost(name: str) -> float:
        return max(0.0, durations.get(name, typical) - spent.get(name, 0.0))

    chain: dict[str, float] = {}

    def longest(name: str) -> float:
        if name not in chain:
            above = [longest(p) for p in parents.get(name, ()) if p in wanted]
            chain[name] = cost(name) + max(above, default=0.0)
        return chain[name]

    critical = max(longest(n) for n in wanted)
    return max(critical, sum(cost(n) for n in wanted) / max(1, jobs))


def format_duration(seconds: float) -> str:
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"
