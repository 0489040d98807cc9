"""Registries as they really are: token auth, credential sources, faults and retries."""

from __future__ import annotations

import base64
import json
import os
import stat
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from docker_pkg.errors import RegistryError
from docker_pkg.registry.client import RegistryClient
from docker_pkg.registry.credentials import Credentials
from docker_pkg.registry.session import RetryPolicy
from tests.helpers import write_image
from tests.integration.conftest import Bed, Project, add_base
from tests.integration.peers import FaultyProxy, TokenService

pytestmark = pytest.mark.integration

USER, PASSWORD = "robot", "T0ken-Pa55word"


@dataclass(frozen=True)
class TokenRegistry:
    address: str
    service: TokenService


@pytest.fixture(scope="module")
def token_registry(bed: Bed, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TokenRegistry]:
    service = TokenService({USER: PASSWORD})
    cert = service.write_cert(tmp_path_factory.mktemp("token") / "signer.pem")
    side = bed.module.Testbed()
    with service.serving() as realm:
        try:
            address = side.start_registry(token=(realm, service.service, service.issuer, cert))
            yield TokenRegistry(address, service)
        finally:
            side.stop()


def test_bearer_tokens_are_fetched_per_scope_and_cached(token_registry: TokenRegistry) -> None:
    client = RegistryClient(token_registry.address, credentials=Credentials(USER, PASSWORD))
    before = len(token_registry.service.requests)
    for _ in range(3):
        assert not client.manifest("team/app", "1.0").exists
    assert not client.manifest("team/other", "1.0").exists
    asked = token_registry.service.requests[before:]
    assert [r["scope"] for r in asked] == [
        "repository:team/app:pull",
        "repository:team/other:pull",
    ]
    assert all(r["user"] == USER for r in asked)


def test_anonymous_tokens(token_registry: TokenRegistry) -> None:
    client = RegistryClient(token_registry.address)
    before = len(token_registry.service.requests)
    assert not client.manifest("public/thing", "1").exists
    assert token_registry.service.requests[before]["user"] is None


def test_wrong_password_for_the_token_service(token_registry: TokenRegistry) -> None:
    client = RegistryClient(token_registry.address, credentials=Credentials(USER, "Wr0ng-secret-x"))
    with pytest.raises(RegistryError, match="refused the credentials") as info:
        client.manifest("team/app", "1.0")
    assert "Wr0ng-secret-x" not in str(info.value)


def test_build_publishes_through_token_auth_with_env_credentials(
    project: Project, busybox: Path, token_registry: TokenRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    project.registry = token_registry.address
    project.write_config(username=None, password=None)
    monkeypatch.setenv("DOCKER_PKG_REGISTRY_USERNAME", USER)
    monkeypatch.setenv("DOCKER_PKG_REGISTRY_PASSWORD", PASSWORD)
    add_base(project, busybox)
    write_image(project.images, "app", template='FROM {{ "base" | image_tag }}', depends=["base"])

    first = project.build()
    assert first.stdout.count("Successfully published image") == 2
    again = project.run("--debug", "build", str(project.images), check_code=0)
    assert "Built image" not in again.stdout
    assert "2 already published" in again.stdout
    encoded = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    everything = first.stdout + first.stderr + again.stdout + again.stderr + project.log()
    assert PASSWORD not in everything
    assert encoded not in everything
    assert "Bearer ey" not in everything  # no token either


def _docker_config(tmp: Path, registry: str, entry: dict[str, object]) -> Path:
    folder = tmp / "docker-config"
    folder.mkdir(exist_ok=True)
    (folder / "config.json").write_text(json.dumps({**entry}))
    return folder


def test_credentials_from_the_docker_client_config_and_a_helper(
    project: Project, busybox: Path, token_registry: TokenRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    project.registry = token_registry.address
    project.write_config(username=None, password=None)
    add_base(project, busybox)
    auth = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    config_dir = _docker_config(
        project.root, token_registry.address, {"auths": {token_registry.address: {"auth": auth}}}
    )
    monkeypatch.setenv("DOCKER_CONFIG", str(config_dir))
    assert project.build().stdout.count("Successfully published image") == 1

    # A credential helper (credHelpers) answers instead: a tiny executable on PATH.
    bin_dir = project.root / "bin"
    bin_dir.mkdir()
    helper = bin_dir / "docker-credential-testhelper"
    helper.write_text(
        "#!/bin/sh\nread server\n"
        f'printf \'{{"ServerURL":"%s","Username":"{USER}","Secret":"{PASSWORD}"}}\' "$server"\n'
    )
    helper.chmod(helper.stat().st_mode | stat.S_IXUSR)
    _docker_config(
        project.root,
        token_registry.address,
        {"credHelpers": {token_registry.address: "testhelper"}},
    )
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    (project.images / "base" / "changelog").write_text(
        (project.images / "base" / "changelog").read_text().replace("1.0.0", "1.0.1", 1)
    )
    result = project.build()
    assert "Successfully published image" in result.stdout
    assert PASSWORD not in result.stdout + result.stderr + project.log()


def test_no_credentials_anywhere_means_no_publishing(
    project: Project, busybox: Path, token_registry: TokenRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    project.registry = token_registry.address
    project.write_config(username=None, password=None)
    monkeypatch.setenv("DOCKER_CONFIG", str(project.root / "no-such-config"))
    add_base(project, busybox)
    result = project.build()
    assert "NOT publishing images as we have no auth setup" in result.stdout


def test_checks_and_pushes_survive_dropped_connections_and_503s(
    project: Project, busybox: Path, bed: Bed
) -> None:
    host, port = bed.registry.split(":")
    proxy = FaultyProxy((host, int(port)), drop=2, unavailable=2)
    with proxy.serving() as address:
        client = RegistryClient(address, policy=RetryPolicy(attempts=6, base=0.05))
        assert not client.manifest("x/y", "1").exists
        assert proxy.seen >= 5  # four faults, then the answer

        project.registry = address
        project.write_config()
        add_base(project, busybox)
        write_image(
            project.images, "app", template='FROM {{ "base" | image_tag }}', depends=["base"]
        )
        # Faults for our checks first, then the engine's first connections meet a 503.
        proxy.drop, proxy.unavailable, proxy.seen = 1, 2, 0
        proxy.engine_unavailable = 2
        result = project.build()
        assert result.stdout.count("Successfully published image") == 2
        assert client.manifest(f"{project.namespace}/base", "1.0.0").exists
        assert client.manifest(f"{project.namespace}/app", "latest").exists
        assert proxy.engine_seen > 2


def test_a_registry_that_never_recovers_fails_cleanly(project: Project, busybox: Path) -> None:
    proxy = FaultyProxy(("127.0.0.1", 9), forever=True)
    with proxy.serving() as address:
        project.registry = address
        project.write_config()
        add_base(project, busybox)
        result = project.build(check_code=1)
    assert f"registry {address} answered HTTP 503 (gave up after" in result.stderr
    assert "Traceback" not in result.stderr
    assert "Successfully published" not in result.stdout


@pytest.fixture
def side_registry(bed: Bed) -> Iterator[tuple[str, Path]]:
    """A registry of this test's own, and the folder where it keeps its files."""
    side = bed.module.Testbed()
    try:
        address = side.start_registry()
        yield address, side.root / f"registry-{address.rsplit(':', 1)[1]}"
    finally:
        side.stop()


def _break_tag(storage: Path, namespace: str, name: str, tag: str) -> None:
    """What a registry killed while writing a tag can leave: an empty link, which makes the
    registry answer HTTP 500 for that manifest for good."""
    link = storage / f"docker/registry/v2/repositories/{namespace}/{name}/_manifests/tags"
    (link / tag / "current" / "link").write_text("")


def test_one_broken_tag_costs_that_image_a_push_and_nothing_else(
    tmp_path: Path, bed: Bed, namespace: str, busybox: Path, side_registry: tuple[str, Path]
) -> None:
    address, storage = side_registry
    project = Project(tmp_path, bed, address, namespace, builder="buildkit")
    project.images.mkdir()
    project.write_config()
    add_base(project, busybox)
    write_image(project.images, "app", template='FROM {{ "base" | image_tag }}', depends=["base"])
    write_image(project.images, "leaf", template='FROM {{ "app" | image_tag }}', depends=["app"])
    project.build(check_code=0)
    client = RegistryClient(address, policy=RetryPolicy(attempts=2, base=0.01))
    published = client.manifest(f"{namespace}/leaf", "1.0.0").digest

    _break_tag(storage, namespace, "app", "1.0.0")
    with pytest.raises(RegistryError, match="HTTP 500"):
        client.manifest(f"{namespace}/app", "1.0.0")
    status = project.run("status", "--format", "json", str(project.images), check_code=0)
    rows = {row["name"]: row for row in json.loads(status.stdout)}
    assert rows["app"]["state"] == "unknown"
    assert "HTTP 500" in rows["app"]["why"]
    assert rows["leaf"]["state"] == "published"

    # The local copy is pushed again: the tag answers, nothing else is built or pushed.
    again = project.build(check_code=0)
    assert f"{project.name('app')}:1.0.0: registry {address} answered HTTP 500" in again.stdout
    assert again.stdout.count("Successfully published image") == 1
    assert "Built image" not in again.stdout
    assert client.manifest(f"{namespace}/app", "1.0.0").exists
    assert client.manifest(f"{namespace}/leaf", "1.0.0").digest == published

    # No local copy left: the image is built again and pushed; its descendant stays.
    _break_tag(storage, namespace, "app", "1.0.0")
    subprocess.run(
        [
            "docker",
            "-H",
            bed.docker_host,
            "rmi",
            "-f",
            f"{project.name('app')}:1.0.0",
            f"{project.name('app')}:latest",
        ],
        check=True,
        capture_output=True,
    )
    rebuilt = project.build(check_code=0)
    assert rebuilt.stdout.count("Successfully published image") == 1
    assert client.manifest(f"{namespace}/app", "1.0.0").exists
    assert client.manifest(f"{namespace}/leaf", "1.0.0").digest == published
