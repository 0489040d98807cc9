"""An image's inventory published beside it: a CycloneDX document attached to the pushed
image manifest as an OCI artifact (:mod:`docker_pkg.registry.referrers`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from docker_pkg.errors import PublishError, RegistryError
from docker_pkg.inventory.documents import cyclonedx
from docker_pkg.inventory.store import Kept
from docker_pkg.inventory.taking import Inventories
from docker_pkg.registry.client import RegistryClient
from docker_pkg.registry.referrers import Descriptor, attach

if TYPE_CHECKING:
    from docker_pkg.engines.interface import Engine

CYCLONEDX_JSON = "application/vnd.cyclonedx+json"


def publish_kept(
    inventories: Inventories, client: RegistryClient, engine: Engine, name: str, digest: str
) -> str:
    """Publish the inventory taken of image ``name`` beside its manifest ``digest``."""
    kept = inventories.kept(engine, name)
    label = inventories.workspace.label(name)
    if kept is None:
        raise PublishError(f"{label} has no inventory to publish")
    repository = client.repository_path(inventories.workspace.name(name))
    return publish_inventory(client, repository, digest, kept)


def publish_inventory(client: RegistryClient, repository: str, digest: str, kept: Kept) -> str:
    """Attach ``kept``'s CycloneDX document to the manifest ``digest`` of ``repository``;
    the artifact's digest. Any failure is a :class:`PublishError` of the image."""
    try:
        manifest = client.manifest_document(repository, digest)
        if manifest is None:
            raise PublishError(f"{repository}@{digest} is not in the registry")
        subject = Descriptor(manifest.media_type, digest, manifest.size)
        document = cyclonedx(kept.inventory, kept.introduced, digest).encode()
        return attach(client, repository, subject, CYCLONEDX_JSON, document)
    except RegistryError as exc:
        raise PublishError(f"publishing the inventory of {repository}@{digest}: {exc}") from None
