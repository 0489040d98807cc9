from __future__ import annotations

from pathlib import Path

import pytest

from docker_pkg.planning.plan import (
    State,
    build_chain,
    publish_candidates,
    resolve_state,
    state_reason,
)
from docker_pkg.tree.definitions import ImageDefinition
from docker_pkg.tree.graph import DependencyGraph

EDGES = {"base": (), "mid": ("base",), "leaf": ("mid",), "other": ("base",), "solo": ()}
GRAPH = DependencyGraph.from_definitions(
    ImageDefinition(n, "1", Path(n), d) for n, d in EDGES.items()
)
LABELS = {n: f"reg/{n}:1" for n in EDGES}


class Recorder:
    def __init__(self, published: bool, local: bool):
        self.calls: list[str] = []
        self._published, self._local = published, local

    def published(self) -> bool:
        self.calls.append("registry")
        return self._published

    def local(self) -> bool:
        self.calls.append("engine")
        return self._local


@pytest.mark.parametrize(
    ("pull", "published", "local", "state", "first"),
    [
        (True, True, True, State.PUBLISHED, "registry"),
        (True, True, False, State.PUBLISHED, "registry"),
        (True, False, True, State.BUILT, "registry"),
        (True, False, False, State.TO_BUILD, "registry"),
        (False, True, True, State.PUBLISHED, "engine"),
        (False, True, False, State.TO_BUILD, "engine"),
        (False, False, True, State.BUILT, "engine"),
        (False, False, False, State.TO_BUILD, "engine"),
    ],
)
def test_state_and_which_side_is_asked_first(
    pull: bool, published: bool, local: bool, state: State, first: str
) -> None:
    rec = Recorder(published, local)
    assert resolve_state(pull, rec.published, rec.local) is state
    assert rec.calls[0] == first


def states(**overrides: State) -> dict[str, State]:
    return {n: overrides.get(n, State.PUBLISHED) for n in EDGES}


def test_chain_holds_selected_images_and_their_to_build_ancestors() -> None:
    s = states(base=State.TO_BUILD, leaf=State.TO_BUILD, other=State.TO_BUILD)
    assert build_chain(GRAPH, s, LABELS, "*leaf*") == ["base", "leaf"]
    assert build_chain(GRAPH, s, LABELS, None) == ["base", "leaf", "other"]
    assert build_chain(GRAPH, s, LABELS, "*solo*") == []


def test_chain_does_not_rebuild_published_or_built_images() -> None:
    s = states(mid=State.BUILT, leaf=State.TO_BUILD)
    assert build_chain(GRAPH, s, LABELS, None) == ["leaf"]


def test_publish_candidates_stay_within_the_selection() -> None:
    s = states(base=State.BUILT, other=State.BUILT, solo=State.BUILT, leaf=State.TO_BUILD)
    assert publish_candidates(GRAPH, s, LABELS, "*leaf*", ["leaf"]) == ["base", "leaf"]
    assert publish_candidates(GRAPH, s, LABELS, None, ["leaf"]) == ["base", "solo", "leaf", "other"]


class _Engine:
    def __init__(self, tags: set[str]):
        self.tags = tags
        self.asked: list[str] = []

    def image_exists(self, reference: str) -> bool:
        self.asked.append(reference)
        return reference in self.tags


class _Registry:
    def __init__(self, published: set[str]):
        self.published = published

    def repository_path(self, full_name: str) -> str:
        return full_name.split("/", 1)[1]

    def manifest(self, repository: str, tag: str) -> object:
        from docker_pkg.registry.client import ManifestStatus

        return ManifestStatus(f"{repository}:{tag}" in self.published)


@pytest.mark.parametrize(
    ("published", "asked"),
    [({"base", "app"}, []), ({"base"}, ["app"]), (set(), ["app", "base"])],
)
def test_the_engine_is_asked_only_for_images_the_registry_does_not_hold(
    tmp_path: Path, published: set[str], asked: list[str]
) -> None:
    from dataclasses import replace

    from docker_pkg.config.settings import config_from_mapping
    from docker_pkg.planning.states import StateScan
    from docker_pkg.tree.workspace import Workspace
    from tests.helpers import write_image

    write_image(tmp_path, "base")
    write_image(tmp_path, "app", depends=["base"])
    config = replace(config_from_mapping({"registry": "reg.example"}), tree_cache=None)
    workspace = Workspace.load(tmp_path, config)
    engine = _Engine({"reg.example/app:1.0.0"})
    registry = _Registry({f"{name}:1.0.0" for name in published})
    scan = StateScan(workspace, engine, registry)  # type: ignore[arg-type]
    states = scan.states()
    assert sorted(engine.asked) == [f"reg.example/{name}:1.0.0" for name in asked]
    expected_app = State.PUBLISHED if "app" in published else State.BUILT
    expected_base = State.PUBLISHED if "base" in published else State.TO_BUILD
    assert states == {"app": expected_app, "base": expected_base}


class _BrokenTagRegistry(_Registry):
    """A registry answering HTTP 500 about ``broken`` images; ``alive`` or failing all."""

    def __init__(self, published: set[str], broken: set[str], alive: bool = True):
        super().__init__(published)
        self.broken = broken
        self.alive = alive

    def manifest(self, repository: str, tag: str) -> object:
        from docker_pkg.errors import RegistryAnswerError

        if repository in self.broken:
            raise RegistryAnswerError(f"answered HTTP 500 for {repository}:{tag}", 500)
        return super().manifest(repository, tag)

    def check_alive(self) -> None:
        from docker_pkg.errors import RegistryError

        if not self.alive:
            raise RegistryError("registry reg.example answered HTTP 500 to GET /v2/")


@pytest.mark.parametrize("alive", [True, False])
def test_a_server_error_about_one_image_costs_that_image_unless_the_registry_is_down(
    tmp_path: Path, alive: bool
) -> None:
    from dataclasses import replace

    from docker_pkg.config.settings import config_from_mapping
    from docker_pkg.errors import RegistryError
    from docker_pkg.planning.states import StateScan
    from docker_pkg.tree.workspace import Workspace
    from tests.helpers import write_image

    write_image(tmp_path, "base")
    write_image(tmp_path, "app", depends=["base"])
    config = replace(config_from_mapping({"registry": "reg.example"}), tree_cache=None)
    workspace = Workspace.load(tmp_path, config)
    registry = _BrokenTagRegistry({"base:1.0.0"}, {"app"}, alive=alive)
    scan = StateScan(workspace, _Engine({"reg.example/app:1.0.0"}), registry)  # type: ignore[arg-type]
    if not alive:
        with pytest.raises(RegistryError, match="GET /v2/"):
            scan.states()
        return
    assert scan.states() == {"app": State.BUILT, "base": State.PUBLISHED}
    assert scan.unanswered == {"app": "answered HTTP 500 for app:1.0.0"}
    why = state_reason(State.BUILT, True, "reg.example", scan.unanswered["app"])
    assert why.startswith("unknown in the registry (answered HTTP 500 for app:1.0.0)")


def test_a_tag_from_a_build_that_did_not_finish_is_built_again(tmp_path: Path) -> None:
    from dataclasses import replace

    from docker_pkg.config.settings import config_from_mapping
    from docker_pkg.planning.states import StateScan
    from docker_pkg.tree.workspace import Workspace
    from tests.helpers import write_image

    write_image(tmp_path, "base")
    write_image(tmp_path, "app", depends=["base"])
    config = replace(config_from_mapping({"registry": "reg.example"}), tree_cache=None)
    workspace = Workspace.load(tmp_path, config)
    engine = _Engine({"reg.example/app:1.0.0", "reg.example/base:1.0.0"})
    untrusted = frozenset({"reg.example/app:1.0.0", "reg.example/gone:1.0.0"})
    scan = StateScan(workspace, engine, _Registry(set()), untrusted=untrusted)  # type: ignore[arg-type]
    assert scan.states() == {"app": State.TO_BUILD, "base": State.BUILT}
    assert scan.distrusted == {"app"}
