"""An image's inventory published beside it: a CycloneDX document attached to the pushed
image manifest as an OCI artifact (:mod:`docker_pkg.registry.referrers`)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from docker_pkg.errors import PublishError, RegistryError
from docker_pkg.inventory.documents import cyclonedx
from docker_pkg.inventory.store import Kept
from docker_pkg.inventory.taking import Inventories, image_id
from docker_pkg.registry.client import RegistryClient
from docker_pkg.registry.referrers import Descriptor, attach, referrers

if TYPE_CHECKING:
    from docker_pkg.engines.interface import Engine

log = logging.getLogger(__name__)

CYCLONEDX_JSON = "application/vnd.cyclonedx+json"
CHECKS_PER_WORKER = 4  # as the state scan: a thread per four images


def publish_kept(
    inventories: Inventories,
    client: RegistryClient,
    engine: Engine,
    name: str,
    digest: str,
    *,
    platform: str = "",
) -> str:
    """Publish the inventory taken of image ``name`` (of its image for ``platform``) beside
    its manifest ``digest``."""
    kept = inventories.kept(engine, name, platform)
    label = inventories.label(name, platform)
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


def missing_inventories(
    client: RegistryClient,
    repositories: Mapping[str, str],
    digests: Mapping[str, str],
    workers: int,
) -> list[str]:
    """The images among ``digests`` (image -> manifest digest; ``repositories``: image ->
    repository) that carry no inventory in the registry."""

    def missing(name: str) -> bool:
        try:
            return not referrers(client, repositories[name], digests[name], CYCLONEDX_JSON)
        except RegistryError as exc:  # one bad answer costs that image's repair, no more
            log.warning("Not known whether %s carries its inventory: %s", name, exc)
            return False

    names = sorted(digests)
    # Each thread opens its own connection (a TLS handshake): a few images share one.
    threads_wanted = max(1, min(workers, len(names) // CHECKS_PER_WORKER))
    with ThreadPoolExecutor(max_workers=threads_wanted) as threads:
        flags = list(threads.map(missing, names))
    return [n for n, lacking in zip(names, flags, strict=True) if lacking]


def attach_missing(
    inventories: Inventories,
    client: RegistryClient,
    engine: Engine,
    name: str,
    digest: str,
    *,
    auth: Mapping[str, str] | None,
) -> str:
    """Publish the inventory of ``name``, published as ``digest`` without one: kept in the
    store, else read from the image (pulled when the engine does not hold it)."""
    label = inventories.workspace.label(name)
    if not engine.image_exists(label):
        engine.pull(label, auth)
    kept = inventories.kept(engine, name) or inventories.take(engine, name, image_id(engine, label))
    repository = client.repository_path(inventories.workspace.name(name))
    return publish_inventory(client, repository, digest, kept)
