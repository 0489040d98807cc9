"""Beyond one machine, on paper: the real scheduler and placement spreading trees of 1,000
and 5,000 images over 1 to 32 simulated engines.

    .venv/bin/python scripts/benchmark_pool.py [--sizes 1000 5000] [--engines 1 4 16 32]

Each simulated engine has two build slots; a build sleeps its duration (drawn, seeded, from
a log-normal around one minute, like the production images' builds: seconds to a quarter
of an hour) scaled so that each run takes a few seconds; a parent missing on the chosen
engine is moved first, at 200 MB/s, its size drawn around 300 MB. The scheduler
(critical path first), the pool's slots and the placement decisions are the product's own
code. Printed per run: the makespan against the lower bound max(critical path, total work
/ slots), and the bytes moved between engines.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime

from docker_pkg.engines.pool import EnginePool, Member
from docker_pkg.running.scheduler import Scheduler, Task, heights

SLOTS = 2
MOVE_SPEED = 200e6  # bytes per simulated second


@dataclass
class Tree:
    parents: dict[str, str | None]
    duration: dict[str, float]  # simulated seconds
    size: dict[str, int]  # bytes


def make_tree(size: int, seed: int = 5) -> Tree:
    rng = random.Random(seed)
    names = [f"img{i:05d}" for i in range(size)]
    parents: dict[str, str | None] = {}
    for index, name in enumerate(names):
        # a few roots, then each image built on one of the images before it, mostly recent
        if index < 5:
            parents[name] = None
        else:
            parents[name] = names[max(0, index - 1 - int(rng.expovariate(1 / 40)) % index)]
    duration = {n: min(900.0, max(5.0, rng.lognormvariate(4.0, 0.9))) for n in names}
    sizes = {n: int(min(3e9, max(20e6, rng.lognormvariate(19.5, 0.8)))) for n in names}
    return Tree(parents, duration, sizes)


def lower_bound(tree: Tree, slots: int) -> float:
    chain: dict[str, float] = {}
    for name, parent in tree.parents.items():  # parents come first
        chain[name] = tree.duration[name] + (chain[parent] if parent else 0.0)
    critical = max(chain.values())
    return max(critical, sum(tree.duration.values()) / slots)


class SimEngine:
    """Stands in for a Docker engine: only what the pool asks of one."""

    def __init__(self, address: str, tree: Tree):
        self.address = address
        self.tree = tree

    def local_tags(self) -> set[str]:
        return set()

    def image_size(self, reference: str) -> int | None:
        return self.tree.size[reference]

    def cancel(self) -> None:
        return

    def save(self, reference: str) -> Iterator[bytes]:
        yield b""

    def load(self, chunks: Iterable[bytes]) -> None:
        return


def simulate(tree: Tree, engines: int, scale: float) -> tuple[float, int]:
    members = [
        Member(f"e{i}", SimEngine(f"sim://e{i}", tree), "", SLOTS)  # type: ignore[arg-type]
        for i in range(engines)
    ]
    pool = EnginePool(members, durations=tree.duration)
    pool.move_speed = MOVE_SPEED
    moved = 0

    def build(name: str) -> None:
        nonlocal moved
        parent = tree.parents[name]
        member = pool.acquire(name, "", [parent] if parent else [])
        try:
            if parent and parent not in member.holds:
                time.sleep(tree.size[parent] / MOVE_SPEED * scale)
                pool.record(member, parent)
                moved += tree.size[parent]
            time.sleep(tree.duration[name] * scale)
            pool.record(member, name)
        finally:
            pool.release(member, name)

    children: dict[str, list[str]] = {}
    for name, parent in tree.parents.items():
        if parent:
            children.setdefault(parent, []).append(name)
    priority = heights(children, tree.parents)
    tasks = {
        name: Task(
            name,
            "build",
            (parent,) if parent else (),
            lambda name=name: build(name),  # type: ignore[misc]
            priority=priority[name],
        )
        for name, parent in tree.parents.items()
    }
    scheduler = Scheduler(tasks, {"build": engines * SLOTS}, clock=datetime.now)
    start = time.monotonic()
    scheduler.run()
    return (time.monotonic() - start) / scale, moved


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 5000])
    parser.add_argument("--engines", type=int, nargs="+", default=[1, 4, 16, 32])
    parser.add_argument("--seconds", type=float, default=4.0, help="real time a run aims at")
    args = parser.parse_args(argv)
    print(f"{'images':>6} {'engines':>7} {'makespan':>10} {'bound':>10} {'ratio':>6} {'moved':>9}")
    for size in args.sizes:
        tree = make_tree(size)
        for engines in args.engines:
            bound = lower_bound(tree, engines * SLOTS)
            scale = args.seconds / bound
            makespan, moved = simulate(tree, engines, scale)
            print(
                f"{size:>6} {engines:>7} {makespan:>9.0f}s {bound:>9.0f}s "
                f"{makespan / bound:>6.2f} {moved / 1e9:>7.1f}GB",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
