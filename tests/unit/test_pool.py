"""Placement (pure) and the pool's slots, with stand-in engines (no Docker)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Iterator

import pytest

from docker_pkg.config.settings import config_from_mapping
from docker_pkg.engines.placement import Candidate, choose
from docker_pkg.engines.pool import EnginePool, Member, NoEngine
from docker_pkg.errors import ConfigError

MB = 1_000_000


def test_a_free_engine_holding_the_parents_wins() -> None:
    picked = choose(
        [
            Candidate("a", free=1, jobs=2, missing_bytes=50 * MB, missing=1),
            Candidate("b", free=1, jobs=2, missing_bytes=0, missing=0),
        ]
    )
    assert picked is not None
    assert picked.name == "b"


def test_least_loaded_among_equals() -> None:
    picked = choose(
        [
            Candidate("a", free=1, jobs=4, missing_bytes=0, missing=0),
            Candidate("b", free=3, jobs=4, missing_bytes=0, missing=0),
        ]
    )
    assert picked is not None
    assert picked.name == "b"


def test_no_free_slot_means_waiting() -> None:
    assert choose([Candidate("a", free=0, jobs=2, missing_bytes=0, missing=0)]) is None


def test_moving_parents_beats_waiting_unless_the_move_costs_more() -> None:
    busy = Candidate("holder", free=0, jobs=1, missing_bytes=0, missing=0, busy_for=2.0)
    small = Candidate("idle", free=1, jobs=1, missing_bytes=10 * MB, missing=1)
    huge = Candidate("idle", free=1, jobs=1, missing_bytes=5000 * MB, missing=1)
    picked = choose([busy, small], move_speed=100 * MB)
    assert picked is not None
    assert picked.name == "idle"  # 0.1 s of moving against 2 s of waiting
    assert choose([busy, huge], move_speed=100 * MB) is None  # 50 s of moving: wait
    # the wait is unknown: go and move
    unknown = Candidate("holder", free=0, jobs=1, missing_bytes=0, missing=0)
    assert choose([unknown, huge], move_speed=100 * MB) is not None


class StubEngine:
    def __init__(self, address: str, tags: set[str] | None = None):
        self.address = address
        self.tags = tags or set()
        self.cancelled = False

    def local_tags(self) -> set[str]:
        return set(self.tags)

    def image_exists(self, reference: str) -> bool:
        return reference in self.tags

    def image_size(self, reference: str) -> int | None:
        return 10 * MB if reference in self.tags else None

    def cancel(self) -> None:
        self.cancelled = True

    def save(self, reference: str) -> Iterator[bytes]:
        yield b"x"

    def load(self, chunks: Iterable[bytes]) -> None:
        list(chunks)


def pool(*members: tuple[str, int, str], tags: dict[str, set[str]] | None = None) -> EnginePool:
    tags = tags or {}
    return EnginePool(
        [
            Member(name, StubEngine(f"unix:///{name}.sock", tags.get(name)), platform, jobs)  # type: ignore[arg-type]
            for name, jobs, platform in members
        ]
    )


def test_the_pool_places_by_parents_then_load_and_frees_slots() -> None:
    engines = pool(("a", 1, "linux/amd64"), ("b", 2, "linux/amd64"), tags={"a": {"p:1"}})
    engines.local_tags()
    first = engines.acquire("child1", "linux/amd64", ["p:1"])
    assert first.name == "a"  # holds the parent
    second = engines.acquire("child2", "linux/amd64", ["p:1"])
    assert second.name == "b"  # a is full: b takes it, the parent will move
    engines.release(first, "child1")
    # no parents: the least loaded engine (a is idle again, b runs one of two)
    assert engines.acquire("child3", "linux/amd64", []).name == "a"
    assert engines.total_jobs == 3


def test_waiting_for_a_slot_and_losing_every_engine() -> None:
    engines = pool(("a", 1, "linux/amd64"))
    held = engines.acquire("one", "linux/amd64", [])
    got: list[str] = []

    def second() -> None:
        got.append(engines.acquire("two", "linux/amd64", []).name)

    waiter = threading.Thread(target=second)
    waiter.start()
    time.sleep(0.2)
    assert got == []  # no slot yet
    engines.release(held, "one")
    waiter.join(timeout=5)
    assert got == ["a"]
    engines.mark_lost(engines.members[0])
    with pytest.raises(NoEngine, match="no engine left for linux/amd64"):
        engines.acquire("three", "linux/amd64", [])


def test_engines_of_another_platform_take_no_work() -> None:
    engines = pool(("x86", 1, "linux/amd64"), ("arm", 1, "linux/arm64"))
    assert engines.acquire("img", "linux/arm64", []).name == "arm"
    assert not engines.serves("linux/s390x")


def test_engines_in_the_configuration() -> None:
    config = config_from_mapping(
        {
            "engines": [
                {"name": "local", "url": "unix:///var/run/docker.sock", "jobs": 2},
                {
                    "name": "remote",
                    "url": "tcp://127.0.0.1:2376",
                    "platform": "linux/arm64/v8",
                    "tls": {"ca": "ca.pem", "cert": "cert.pem", "key": "key.pem"},
                },
            ]
        }
    )
    local, remote = config.engines
    assert (local.name, local.jobs, local.platform) == ("local", 2, None)
    assert (remote.platform, remote.tls_ca, remote.tls_key) == (
        "linux/arm64/v8",
        "ca.pem",
        "key.pem",
    )
    for bad, problem in [
        ([{"url": "http://x"}], "url must be"),
        ([{"url": "unix:///a", "jobs": 0}], "jobs must be"),
        ([{"url": "unix:///a", "platform": "amd64"}], "is not os/arch"),
        ([{"url": "unix:///a", "tls": {"ca": "x"}}], "tls needs"),
        ([{"url": "unix:///a", "name": "n"}, {"url": "unix:///b", "name": "n"}], "must differ"),
        ("unix:///a", "expected a list"),
    ]:
        with pytest.raises(ConfigError, match=problem):
            config_from_mapping({"engines": bad})


def test_asking_the_pool_for_one_image_teaches_the_engine_that_holds_it() -> None:
    engines = pool(
        ("a", 1, "linux/amd64"), ("b", 1, "linux/amd64"), tags={"b": {"p:1"}, "a": {"q:1"}}
    )
    assert engines.image_exists("p:1")
    assert not engines.image_exists("r:1")
    assert [m.name for m in engines.holders("p:1")] == ["b"]
    assert engines.holders("q:1") == []  # not asked yet
    engines.local_tags()
    assert [m.name for m in engines.holders("q:1")] == ["a"]
