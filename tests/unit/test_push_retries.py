"""Push retries and the check after a push, with a fake engine and registry (pure logic)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pytest

from docker_pkg.config.settings import config_from_mapping
from docker_pkg.errors import PublishError
from docker_pkg.logs import ImageLog
from docker_pkg.registry.client import ManifestStatus
from docker_pkg.running import image_push
from docker_pkg.running.image_work import ImageWork
from docker_pkg.tree.workspace import Workspace
from tests.helpers import write_image

DIGEST = "sha256:" + "1" * 64


class FakeEngine:
    address = "unix:///fake"

    def __init__(self, failures: list[str]):
        self.failures = failures
        self.pushes: list[str] = []

    def tag(self, image: str, repository: str, tag: str) -> None:
        return

    def push(
        self, repository: str, tag: str, auth: Mapping[str, str] | None, output: object
    ) -> str:
        self.pushes.append(tag)
        if self.failures:
            raise PublishError(self.failures.pop(0))
        return DIGEST


class FakeRegistry:
    def __init__(self, status: ManifestStatus):
        self.status = status

    def manifest(self, repository: str, tag: str) -> ManifestStatus:
        return self.status

    def repository_path(self, full_name: str) -> str:
        return full_name.split("/", 1)[1]


class Pusher:
    """The push of image ``img`` through ImageWork, on the fake engine and registry."""

    def __init__(self, tmp_path: Path, engine: FakeEngine, registry: FakeRegistry):
        write_image(tmp_path, "img")
        workspace = Workspace.load(tmp_path, config_from_mapping({"registry": "reg.example"}))
        self.engine = engine
        self.work = ImageWork(workspace, registry, ImageLog)  # type: ignore[arg-type]

    def push_one(self, name: str) -> str | None:
        return self.work.push(name, self.engine)  # type: ignore[arg-type]


def run(tmp_path: Path, engine: FakeEngine, registry: FakeRegistry) -> Pusher:
    return Pusher(tmp_path, engine, registry)


@pytest.fixture(autouse=True)
def no_waiting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(image_push, "PUSH_BACKOFF", 0.0)


def test_transient_failures_are_retried(tmp_path: Path) -> None:
    engine = FakeEngine(["connection reset by peer", "received unexpected HTTP status: 503"])
    build_run = run(tmp_path, engine, FakeRegistry(ManifestStatus(True, DIGEST)))
    assert build_run.push_one("img") == DIGEST
    assert engine.pushes == ["1.0.0", "1.0.0", "1.0.0", "latest"]


def test_retries_are_bounded(tmp_path: Path) -> None:
    engine = FakeEngine(["EOF"] * 5)
    with pytest.raises(PublishError, match="EOF"):
        run(tmp_path, engine, FakeRegistry(ManifestStatus(True, DIGEST))).push_one("img")
    assert len(engine.pushes) == image_push.PUSH_ATTEMPTS


def test_refusals_are_not_retried(tmp_path: Path) -> None:
    engine = FakeEngine(["denied: requested access to the resource is denied"])
    with pytest.raises(PublishError, match="denied"):
        run(tmp_path, engine, FakeRegistry(ManifestStatus(True, DIGEST))).push_one("img")
    assert engine.pushes == ["1.0.0"]


def test_the_registry_must_hold_what_was_pushed(tmp_path: Path) -> None:
    with pytest.raises(PublishError, match="does not have it"):
        run(tmp_path, FakeEngine([]), FakeRegistry(ManifestStatus(False))).push_one("img")
    other = "sha256:" + "2" * 64
    with pytest.raises(PublishError, match="but the registry has"):
        run(tmp_path, FakeEngine([]), FakeRegistry(ManifestStatus(True, other))).push_one("img")
