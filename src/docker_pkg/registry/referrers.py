"""Artifacts attached to an image in a registry (OCI distribution 1.1): a manifest whose
``subject`` is the image's manifest, with an empty config and one layer holding the
document. Found through the referrers API where the registry has it (it answers the push
with ``OCI-Subject``), else through the referrers tag schema: an OCI index at the tag
``sha256-<hex>`` of the image manifest's digest, which lists them."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from docker_pkg.errors import RegistryError
from docker_pkg.registry.client import RegistryClient
from docker_pkg.registry.media_types import OCI_INDEX, OCI_MANIFEST

EMPTY_CONFIG = "application/vnd.oci.empty.v1+json"


@dataclass(frozen=True)
class Descriptor:
    media_type: str
    digest: str
    size: int

    def as_json(self) -> dict[str, Any]:
        return {"mediaType": self.media_type, "digest": self.digest, "size": self.size}


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def upload_blob(
    client: RegistryClient, repository: str, data: bytes, media_type: str
) -> Descriptor:
    """Put ``data`` in ``repository`` as a blob (once: one already there is kept)."""
    digest = _digest(data)
    scope = f"repository:{repository}:pull,push"
    if (
        client.request("HEAD", f"{repository}/blobs/{digest}", scope, accept="*/*").status_code
        == 200
    ):
        return Descriptor(media_type, digest, len(data))
    started = client.request("POST", f"{repository}/blobs/uploads/", scope, accept="*/*")
    location = started.headers.get("Location")
    if started.status_code != 202 or not location:
        raise RegistryError(
            f"registry {client.registry} refused an upload to {repository} "
            f"(HTTP {started.status_code})"
        )
    target = location + ("&" if "?" in location else "?") + f"digest={digest}"
    done = client.request(
        "PUT", target, scope, accept="*/*", body=("application/octet-stream", data)
    )
    if done.status_code != 201:
        raise RegistryError(
            f"registry {client.registry} refused a blob of {repository} (HTTP {done.status_code})"
        )
    return Descriptor(media_type, digest, len(data))


def attach(
    client: RegistryClient,
    repository: str,
    subject: Descriptor,
    artifact_type: str,
    document: bytes,
) -> str:
    """Attach ``document`` to the image manifest ``subject``; the artifact's digest."""
    config = upload_blob(client, repository, b"{}", EMPTY_CONFIG)
    layer = upload_blob(client, repository, document, artifact_type)
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": artifact_type,
        "config": config.as_json(),
        "layers": [layer.as_json()],
        "subject": subject.as_json(),
    }
    body = json.dumps(manifest, separators=(",", ":")).encode()
    digest = _digest(body)
    scope = f"repository:{repository}:pull,push"
    answer = client.request(
        "PUT", f"{repository}/manifests/{digest}", scope, body=(OCI_MANIFEST, body)
    )
    if answer.status_code not in (200, 201):
        raise RegistryError(
            f"registry {client.registry} refused the {artifact_type} of {repository}@"
            f"{subject.digest} (HTTP {answer.status_code}): {answer.text.strip()[:300]}"
        )
    if answer.headers.get("OCI-Subject") is None:
        _list_in_tag(
            client, repository, subject, Descriptor(OCI_MANIFEST, digest, len(body)), artifact_type
        )
    return digest


def _schema_tag(subject_digest: str) -> str:
    return subject_digest.replace(":", "-")


def _tag_index(client: RegistryClient, repository: str, subject_digest: str) -> dict[str, Any]:
    found = client.manifest_document(repository, _schema_tag(subject_digest))
    if found is None:
        return {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": []}
    return dict(found.document)


def _list_in_tag(
    client: RegistryClient,
    repository: str,
    subject: Descriptor,
    artifact: Descriptor,
    artifact_type: str,
) -> None:
    """The referrers tag schema: list ``artifact`` in the index at ``sha256-<hex>``, with
    what that index already lists."""
    index = _tag_index(client, repository, subject.digest)
    kept = [m for m in index.get("manifests") or [] if m.get("digest") != artifact.digest]
    index["manifests"] = [*kept, {**artifact.as_json(), "artifactType": artifact_type}]
    index.setdefault("mediaType", OCI_INDEX)
    body = json.dumps(index, separators=(",", ":")).encode()
    client.put_manifest(repository, _schema_tag(subject.digest), OCI_INDEX, body)


def referrers(
    client: RegistryClient, repository: str, subject_digest: str, artifact_type: str
) -> list[dict[str, Any]]:
    """The artifacts of ``artifact_type`` attached to ``subject_digest``: from the referrers
    API, else from the referrers tag schema."""
    if client.referrers_api is False:  # learnt from an earlier answer of this registry
        listed = _tag_index(client, repository, subject_digest).get("manifests") or []
        return [m for m in listed if m.get("artifactType") == artifact_type]
    scope = f"repository:{repository}:pull"
    answer = client.request(
        "GET",
        f"{repository}/referrers/{subject_digest}?artifactType={artifact_type}",
        scope,
        accept=OCI_INDEX,
    )
    if answer.status_code == 200:
        client.referrers_api = True
        listed = answer.json().get("manifests") or []
    elif answer.status_code == 404:
        client.referrers_api = False
        listed = _tag_index(client, repository, subject_digest).get("manifests") or []
    else:
        raise RegistryError(
            f"registry {client.registry} answered HTTP {answer.status_code} for the "
            f"referrers of {repository}@{subject_digest}"
        )
    return [m for m in listed if m.get("artifactType") == artifact_type]


def attached_document(
    client: RegistryClient, repository: str, subject_digest: str, artifact_type: str
) -> bytes | None:
    """The document of the last artifact of ``artifact_type`` attached to ``subject_digest``
    (the one layer of its manifest); None when there is none."""
    listed = referrers(client, repository, subject_digest, artifact_type)
    if not listed:
        return None
    artifact = client.manifest_document(repository, str(listed[-1]["digest"]))
    layers = (artifact.document.get("layers") or []) if artifact is not None else []
    if not layers:
        return None
    scope = f"repository:{repository}:pull"
    blob = client.request("GET", f"{repository}/blobs/{layers[0]['digest']}", scope, accept="*/*")
    if blob.status_code != 200:
        raise RegistryError(
            f"registry {client.registry} answered HTTP {blob.status_code} for the "
            f"{artifact_type} of {repository}@{subject_digest}"
        )
    return bytes(blob.content)
