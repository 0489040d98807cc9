"""An engine lost at any phase of a run costs time, never an image: a pool of two fake
engines, one of them cut at a chosen moment (during a build, right after one, during a
verification, a push, a move from it or to it, or while idle), and the run must still end
with every image verified and pushed from an engine that is alive."""

from __future__ import annotations

import itertools
import random
import threading
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

import pytest

from docker_pkg.config.settings import config_from_mapping
from docker_pkg.engines.output import OutputSink
from docker_pkg.engines.pool import EnginePool, Member
from docker_pkg.engines.values import BuildRequest, LocalImage
from docker_pkg.errors import EngineLost
from docker_pkg.planning.plan import State
from docker_pkg.running.build_run import BuildRun
from docker_pkg.running.model import BuildOptions, Outcome
from docker_pkg.tree.workspace import Workspace
from tests.helpers import write_image

PLATFORM = "linux/amd64"


@dataclass(frozen=True)
class Cut:
    """Kill engine ``victim`` when engine ``at`` reaches ``phase`` for the ``nth`` time."""

    victim: str
    at: str
    phase: str
    nth: int = 1


class World:
    """The fake engines of one run, what they pushed, and the cut."""

    def __init__(self, flags: Path, cut: Cut | None):
        self.flags = flags
        self.cut = cut
        self.engines: dict[str, FakeEngine] = {}
        self.pushed: dict[str, str] = {}  # reference -> engine that pushed it
        self.counts: dict[tuple[str, str], int] = {}
        self.lock = threading.Lock()

    def reached(self, engine: str, phase: str) -> None:
        with self.lock:
            key = (engine, phase)
            self.counts[key] = self.counts.get(key, 0) + 1
            cut = self.cut
            if cut is None or (cut.at, cut.phase, cut.nth) != (engine, phase, self.counts[key]):
                return
            self.engines[cut.victim].dead = True
            (self.flags / f"dead-{cut.victim}").touch()


class FakeEngine:
    """An engine in memory that stops answering once it is dead."""

    def __init__(self, world: World, name: str):
        self.world = world
        self.name = name
        self.address = f"fake://{name}"
        self.images: dict[str, str] = {}
        self.dead = False
        world.engines[name] = self

    def _call(self, phase: str) -> None:
        self.world.reached(self.name, phase)
        if self.dead:
            raise EngineLost(f"{phase}: lost the engine at {self.address}", self.address)

    def build(self, request: BuildRequest, output: OutputSink) -> str:
        self._call("build")
        image_id = f"sha256:{abs(hash((request.tag, self.name))):064x}"[:71]
        self.images[request.tag] = image_id
        self.world.reached(self.name, "built")
        return image_id

    def save(self, reference: str) -> Iterator[bytes]:
        self._call("save")
        yield f"{reference}={self.images[reference]}".encode()
        self._call("saved")

    def load(self, chunks: Iterable[bytes]) -> None:
        self._call("load")
        reference, _, image_id = b"".join(chunks).decode().partition("=")
        self._call("loaded")
        self.images[reference] = image_id

    def tag(self, image: str, repository: str, tag: str) -> None:
        self._call("tag")
        self.images[f"{repository}:{tag}"] = self.images[image]

    def push(
        self, repository: str, tag: str, auth: Mapping[str, str] | None, output: OutputSink
    ) -> str | None:
        self._call("push")
        with self.world.lock:
            self.world.pushed[f"{repository}:{tag}"] = self.name
        return "sha256:" + "0" * 64

    def local_tags(self) -> set[str]:
        self._call("list")
        return set(self.images)

    def image_exists(self, reference: str) -> bool:
        self._call("exists")
        return reference in self.images

    def image_size(self, reference: str) -> int | None:
        return 1

    def platform(self) -> str:
        return PLATFORM

    def cancel(self) -> None:
        return

    def supports_buildkit(self) -> bool:
        return True

    def pull(
        self, reference: str, auth: Mapping[str, str] | None, platform: str | None = None
    ) -> None:
        raise AssertionError("nothing is published: nothing is pulled")

    def list_images(self, repository: str) -> list[LocalImage]:
        return []

    def remove_image(self, reference: str) -> None:
        self.images.pop(reference, None)

    def export_path(self, image: str, path: str, destination: BinaryIO) -> None:
        raise AssertionError("no build stage here")

    def image_labels(self, reference: str) -> dict[str, str] | None:
        return None

    def remove_containers_of(self, image: str, since: float) -> list[str]:
        return []

    def read_files(self, image: str, paths: Iterable[Iterable[str]]) -> dict[str, bytes]:
        self._call("read")
        name = image.rsplit("/", 1)[-1].split(":", maxsplit=1)[0]
        return {"var/lib/dpkg/status": f"Package: {name}-pkg\nVersion: 1\n".encode()}


def _tree(root: Path) -> None:
    """base; three children of base; four grandchildren; two great-grandchildren."""
    write_image(root, "base")
    for i in range(3):
        write_image(root, f"c{i}", depends=["base"])
    for i in range(4):
        write_image(root, f"g{i}", depends=[f"c{i % 3}"])
    for i in range(2):
        write_image(root, f"h{i}", depends=[f"g{i}"])


@dataclass
class Outcomes:
    states: dict[str, Outcome]
    retries: dict[str, list[str]]
    pushed: dict[str, str]
    finished: bool
    packages: dict[str, int | None]


def run_with(tmp_path: Path, cut: Cut | None, *, publish_at_end: bool = False) -> Outcomes:
    flags = tmp_path / "flags"
    flags.mkdir()
    _tree(tmp_path / "images")
    config = config_from_mapping(
        {
            "namespace": "loss",
            "verify_command": "/bin/sh",
            # fails on an engine that is gone, as a test.sh talking to a dead daemon does
            "verify_args": ["-c", f'test ! -e "{flags}/dead-${{{{DOCKER_HOST##*/}}}}"'],
        }
    )
    workspace, everything = Workspace.load_inferred(
        tmp_path / "images", replace(config, tree_cache=None)
    )
    world = World(flags, cut)
    members = [Member(n, FakeEngine(world, n), PLATFORM, 1) for n in ("a", "b")]
    pool = EnginePool(members)
    run = BuildRun(
        workspace,
        pool,
        None,
        BuildOptions(jobs=2, pull=False, publish_at_end=publish_at_end),
        platform=PLATFORM,
        rendered=dict(everything),
    )
    chain = workspace.graph.order()
    states = dict.fromkeys(chain, State.TO_BUILD)
    tasks = run.tasks(chain, everything, states, chain)
    finished = run.execute(tasks, lambda task: None, lambda: datetime.now().astimezone())
    results = run.results(tasks, states)
    return Outcomes(
        {r.name: r.outcome for r in results},
        {r.name: r.retries for r in results if r.retries},
        world.pushed,
        finished,
        {r.name: r.packages for r in results},
    )


def _all_published(outcomes: Outcomes) -> None:
    assert outcomes.finished
    assert set(outcomes.states.values()) == {Outcome.PUBLISHED}, outcomes.states
    expected = {f"loss/{n}:{t}" for n in outcomes.states for t in ("1.0.0", "latest")}
    assert set(outcomes.pushed) == expected
    assert set(outcomes.packages.values()) == {1}, "an image was published without inventory"


CUTS = [
    pytest.param(Cut("a", "a", "build"), id="during-its-first-build"),
    pytest.param(Cut("a", "a", "build", 3), id="during-a-later-build"),
    pytest.param(Cut("a", "a", "built"), id="built-not-yet-verified"),
    pytest.param(Cut("b", "b", "built", 2), id="during-a-verification"),
    pytest.param(Cut("a", "a", "push"), id="during-a-push"),
    pytest.param(Cut("a", "a", "tag", 2), id="built-verified-not-pushed"),
    pytest.param(Cut("a", "a", "save"), id="moving-a-parent-from-it"),
    pytest.param(Cut("b", "b", "load"), id="moving-a-parent-to-it"),
    pytest.param(Cut("a", "b", "load"), id="source-lost-while-the-other-loads"),
    pytest.param(Cut("a", "b", "build", 2), id="idle-holding-parents-others-need"),
    pytest.param(Cut("a", "a", "read", 2), id="reading-an-inventory"),
]


@pytest.mark.parametrize("cut", CUTS)
def test_an_engine_lost_at_any_phase_costs_no_image(tmp_path: Path, cut: Cut) -> None:
    outcomes = run_with(tmp_path, cut)
    _all_published(outcomes)
    assert outcomes.retries, "the loss cost nothing to redo: the cut missed"
    assert all("lost" in why for whys in outcomes.retries.values() for why in whys)


@pytest.mark.parametrize("cut", CUTS[:6])
def test_with_publishing_at_the_end_too(tmp_path: Path, cut: Cut) -> None:
    _all_published(run_with(tmp_path, cut, publish_at_end=True))


@pytest.mark.parametrize("seed", range(12))
def test_seeded_kill_moments(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    phases = ["build", "built", "push", "tag", "save", "load", "list", "read"]
    victim, at = rng.choice(list(itertools.product("ab", repeat=2)))
    cut = Cut(victim, at, rng.choice(phases), rng.randint(1, 4))
    outcomes = run_with(tmp_path, cut)
    _all_published(outcomes)
