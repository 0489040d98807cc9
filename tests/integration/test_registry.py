"""Registries over TLS with Basic authentication, and pulls of published images."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from docker_pkg.engines.docker_engine import DockerEngine
from docker_pkg.errors import RegistryError
from docker_pkg.registry.client import RegistryClient
from docker_pkg.registry.credentials import Credentials
from tests.helpers import write_image
from tests.integration.conftest import Bed, Project, add_base

pytestmark = pytest.mark.integration

USER, PASSWORD = "pusher", "Sup3r-s3cret-Pw"
CERTS_D = Path("/etc/docker/certs.d")


@dataclass(frozen=True)
class SecureRegistry:
    address: str
    ca: Path


@pytest.fixture(scope="module")
def secure_registry(bed: Bed) -> Iterator[SecureRegistry]:
    """TLS with a self-signed CA (trusted by the engine through certs.d) and htpasswd."""
    side = bed.module.Testbed()
    try:
        ca, cert, key = side.make_tls()
        address = side.start_registry(tls=(cert, key), htpasswd=side.make_htpasswd(USER, PASSWORD))
        trust = CERTS_D / address
        trust.mkdir(parents=True, exist_ok=True)
        shutil.copy(ca, trust / "ca.crt")
        try:
            yield SecureRegistry(address, ca)
        finally:
            shutil.rmtree(trust, ignore_errors=True)
    finally:
        side.stop()


def test_client_checks_with_credentials_over_tls(secure_registry: SecureRegistry) -> None:
    client = RegistryClient(
        secure_registry.address,
        credentials=Credentials(USER, PASSWORD),
        ca_bundle=str(secure_registry.ca),
    )
    assert client.base_url == f"https://{secure_registry.address}/v2"
    assert not client.manifest("nothing/here", "1.0").exists
    client.close()


def test_wrong_password_is_a_clear_error_without_the_secret(
    secure_registry: SecureRegistry,
) -> None:
    client = RegistryClient(
        secure_registry.address,
        credentials=Credentials(USER, "wrong-Secret-9"),
        ca_bundle=str(secure_registry.ca),
    )
    with pytest.raises(RegistryError, match="refused the credentials") as info:
        client.manifest("x", "1")
    assert "wrong-Secret-9" not in str(info.value)
    assert secure_registry.address in str(info.value)


def test_untrusted_certificate_is_a_tls_error(secure_registry: SecureRegistry) -> None:
    client = RegistryClient(secure_registry.address, credentials=Credentials(USER, PASSWORD))
    with pytest.raises(RegistryError, match="TLS"):
        client.manifest("x", "1")


def test_plain_http_loopback_registry_is_detected(bed: Bed) -> None:
    client = RegistryClient(bed.registry)
    assert client.base_url == f"http://{bed.registry}/v2"


def test_build_publishes_to_an_authenticated_tls_registry_once(
    project: Project, busybox: Path, secure_registry: SecureRegistry
) -> None:
    project.registry = secure_registry.address
    project.write_config(username=USER, password=PASSWORD, ca_bundle=str(secure_registry.ca))
    add_base(project, busybox)
    write_image(project.images, "app", template='FROM {{ "base" | image_tag }}', depends=["base"])

    first = project.build()
    assert first.stdout.count("Successfully published image") == 2
    client = RegistryClient(
        secure_registry.address,
        credentials=Credentials(USER, PASSWORD),
        ca_bundle=str(secure_registry.ca),
    )
    status = client.manifest(f"{project.namespace}/app", "1.0.0")
    assert status.exists
    assert status.digest is not None
    assert status.digest.startswith("sha256:")

    # Authenticated checks see what is published: nothing is built or pushed again.
    again = project.build()
    assert "Built image" not in again.stdout
    assert "Successfully published" not in again.stdout
    assert PASSWORD not in first.stdout + first.stderr + again.stdout + project.log()


def test_wrong_password_fails_the_build_cleanly(
    project: Project, busybox: Path, secure_registry: SecureRegistry
) -> None:
    project.registry = secure_registry.address
    project.write_config(
        username=USER, password="not-the-Passw0rd", ca_bundle=str(secure_registry.ca)
    )
    add_base(project, busybox)

    result = project.build(check_code=1)

    assert "refused the credentials" in result.stderr
    assert "Traceback" not in result.stderr
    assert "not-the-Passw0rd" not in result.stdout + result.stderr + project.log()


def test_published_parents_and_base_images_are_pulled_before_building(
    project: Project, busybox: Path, engine: DockerEngine
) -> None:
    # Publish a "foundation" image from another tree, to serve as a configured base image.
    foundation = project.root / "foundation"
    add_base(project, busybox)
    shutil.move(project.images / "base", foundation / "foundation" / "base")
    (foundation / "foundation" / "base" / "changelog").write_text(
        (foundation / "foundation" / "base" / "changelog")
        .read_text()
        .replace("base (", "foundation (")
    )
    project.run("build", str(foundation), check_code=0)
    foundation_label = f"{project.name('foundation')}:1.0.0"

    write_image(project.images, "parent", template=f"FROM {foundation_label}\nRUN echo p > /p\n")
    write_image(
        project.images, "kid", template='FROM {{ "parent" | image_tag }}\n', depends=["parent"]
    )
    project.write_config(base_images=[foundation_label])
    project.run("build", "--select", "*parent*", str(project.images), check_code=0)

    # Only the registry has them now.
    for label in (
        f"{project.name('parent')}:1.0.0",
        f"{project.name('parent')}:latest",
        foundation_label,
        f"{project.name('foundation')}:latest",
    ):
        engine.remove_image(label)
    assert not engine.image_exists(foundation_label)

    result = project.build()

    assert f"* Built image {project.name('kid')}:1.0.0" in result.stdout
    assert "Built image " + project.name("parent") not in result.stdout
    assert engine.image_exists(foundation_label), "base image was not pulled"
    assert engine.image_exists(f"{project.name('parent')}:1.0.0"), "dependency was not pulled"
    assert f"Pulling {project.name('parent')}:1.0.0" in project.log()
