"""No file docker-pkg writes holds a secret: every verb is run with a registry password and
the registry's tokens made of unique markers, then every file under HOME (the XDG folders,
the state and cache folders are there), TMPDIR and the working folder is searched for them,
plain, base64 (at every alignment, as in a Basic header) and URL-encoded."""

from __future__ import annotations

import base64
import os
import urllib.parse
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import write_image
from tests.integration.conftest import Bed, Project, add_base
from tests.integration.peers import TokenService

pytestmark = pytest.mark.integration

USER = "auditor"


def marker(kind: str) -> str:
    return f"Mk{kind}{uuid.uuid4().hex}Zq"


def encodings(secret: str) -> set[bytes]:
    """How a secret may be written down: plain, URL-encoded, base64 alone or inside a longer
    text at any of the three alignments (with the padding-dependent ends trimmed)."""
    raw = secret.encode()
    found = {raw, urllib.parse.quote(secret, safe="").encode()}
    for shift in range(3):
        encoded = base64.b64encode(b"x" * shift + raw)
        start = (shift * 4 + 2) // 3 + 1
        found.add(encoded[start:-3])
        found.add(base64.urlsafe_b64encode(b"x" * shift + raw)[start:-3])
    return found


def holders(folders: list[Path], secrets: list[str]) -> list[str]:
    """Every file under ``folders`` that holds one of ``secrets`` in any encoding."""
    wanted = [(s, e) for s in secrets for e in encodings(s)]
    found = []
    for folder in folders:
        for path in folder.rglob("*"):
            if not path.is_file() or path.is_symlink():
                continue
            data = path.read_bytes()
            found.extend(f"{path} holds {s[:8]}…" for s, e in wanted if e in data)
    return sorted(set(found))


@pytest.fixture(scope="module")
def audited_registry(
    bed: Bed, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, TokenService, str]]:
    """A registry behind a token service whose password is a marker."""
    password = marker("pw")
    service = TokenService({USER: password})
    cert = service.write_cert(tmp_path_factory.mktemp("token") / "signer.pem")
    side = bed.module.Testbed()
    with service.serving() as realm:
        try:
            address = side.start_registry(token=(realm, service.service, service.issuer, cert))
            yield address, service, password
        finally:
            side.stop()


@pytest.fixture
def audited(
    tmp_path: Path,
    bed: Bed,
    namespace: str,
    busybox: Path,
    audited_registry: tuple[str, TokenService, str],
) -> Project:
    """A tree of two images to publish to the audited registry."""
    address, _, password = audited_registry
    project = Project(tmp_path / "work", bed, address, namespace)
    project.images.mkdir(parents=True)
    project.write_config(username=USER, password=password, insecure_registries=[address])
    add_base(project, busybox)
    write_image(project.images, "app", template='FROM {{ "base" | image_tag }}', depends=["base"])
    return project


def test_no_file_holds_a_password_or_token_after_every_verb(
    audited: Project,
    audited_registry: tuple[str, TokenService, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    address, service, password = audited_registry
    project = audited
    tmpdir = project.root.parent / "tmp"
    tmpdir.mkdir()
    monkeypatch.setenv("TMPDIR", str(tmpdir))
    reports = ["--report", "r.json", "--junit", "r.xml", "--html", "r.html"]

    project.build(*reports, "--keep-failed", "kept", check_code=0)
    project.build(*reports, check_code=0)  # nothing to do: every cache is used
    project.run("status", str(project.images), check_code=0)
    project.run("status", "--format", "json", str(project.images), check_code=0)
    project.run("lint", str(project.images), check_code=0)
    project.run("graph", str(project.images), check_code=0)
    project.run("render", "--output", "rendered", str(project.images), check_code=0)
    project.run("history", check_code=0)
    project.run("report", "r.json", "--html", "again.html", check_code=0)
    project.run("build", "--dry-run", str(project.images), check_code=0)
    project.run("update", "app", "--dry-run", str(project.images), check_code=0)
    project.run("sbom", "app", str(project.images), check_code=0)
    project.run("outdated", "--format", "json", str(project.images), check_code=0)
    project.run("refresh", "--dry-run", str(project.images), check_code=0)
    project.run("prune", "--dry-run", str(project.images), check_code=0)

    wrong = marker("wrong")
    project.write_config(username=USER, password=wrong, insecure_registries=[address])
    write_image(
        project.images,
        "app",
        template='FROM {{ "base" | image_tag }}',
        version="1.0.1",
        depends=["base"],
    )
    refused = project.run("build", *reports, str(project.images))
    assert refused.returncode != 0
    assert "refused the credentials" in refused.stdout + refused.stderr
    project.run("status", str(project.images))

    env_secret = marker("env")
    project.write_config(insecure_registries=[address])
    environ = project.environ(
        DOCKER_PKG_REGISTRY_USERNAME=USER, DOCKER_PKG_REGISTRY_PASSWORD=env_secret
    )
    monkeypatch.setattr(project, "environ", lambda **extra: {**environ, **extra})
    project.run("status", str(project.images))

    assert len(service.issued) > 0
    secrets = [password, wrong, env_secret, *service.issued]
    folders = [Path(os.environ["HOME"]), tmpdir, project.root]
    assert holders(folders, secrets) == []
