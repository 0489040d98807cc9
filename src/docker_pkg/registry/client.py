"""A Distribution API v2 client: is ``name:tag`` in the registry, with which digest, which
labels does its image carry, and the manifests and indexes a run reads and writes. Requests
go through the registry's session (:mod:`.session`: connections, TLS, authentication,
retries)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from docker_pkg.errors import RegistryAnswerError, RegistryError
from docker_pkg.registry.media_types import INDEX_TYPES
from docker_pkg.registry.session import RegistrySession
from docker_pkg.registry.transport import Response


@dataclass(frozen=True)
class ManifestStatus:
    exists: bool
    digest: str | None = None


@dataclass(frozen=True)
class ManifestDocument:
    media_type: str
    digest: str
    size: int
    document: dict[str, Any]

    @property
    def is_index(self) -> bool:
        return self.media_type in INDEX_TYPES or "manifests" in self.document


def _digest(body: bytes) -> str:
    return "sha256:" + hashlib.sha256(body).hexdigest()


@dataclass
class RegistryClient(RegistrySession):
    """What docker-pkg asks of one registry, over its session (connections, TLS,
    authentication, retries: :class:`RegistrySession`)."""

    # Whether the registry has the referrers API (None: not asked yet).
    referrers_api: bool | None = None

    def check_alive(self) -> None:
        """Raise a :class:`RegistryError` unless the registry answers ``GET /v2/`` as a
        working one does (200, or 401 asking for credentials)."""
        status = self.ping()
        if status not in (200, 401):
            raise RegistryError(f"registry {self.registry} answered HTTP {status} to GET /v2/")

    def manifest(self, repository: str, tag: str) -> ManifestStatus:
        """Whether ``repository:tag`` (a path inside this registry) has a manifest."""
        scope = f"repository:{repository}:pull"
        path = f"{repository}/manifests/{tag}"
        response = self.request("HEAD", path, scope)
        if response.status_code == 405:  # some registries allow only GET
            response = self.request("GET", path, scope)
        if response.status_code == 404:
            return ManifestStatus(False)
        self._check(response, repository, tag)
        return ManifestStatus(True, response.headers.get("Docker-Content-Digest"))

    def image_labels(self, repository: str, tag: str) -> dict[str, str] | None:
        """The labels in the image config of ``repository:tag``; None when it is absent."""
        scope = f"repository:{repository}:pull"
        response = self.request("GET", f"{repository}/manifests/{tag}", scope)
        if response.status_code == 404:
            return None
        self._check(response, repository, tag)
        try:
            digest = (response.json().get("config") or {}).get("digest")
            if not digest:
                return None  # a manifest list or an old schema: no single config to read
            blob = self.request("GET", f"{repository}/blobs/{digest}", scope, accept="*/*")
            self._check(blob, repository, tag)
            labels = (blob.json().get("config") or {}).get("Labels") or {}
        except ValueError as exc:
            raise RegistryError(
                f"registry {self.registry} sent an unreadable answer for {repository}:{tag}: {exc}"
            ) from None
        return {str(k): str(v) for k, v in labels.items()}

    def manifest_document(self, repository: str, reference: str) -> ManifestDocument | None:
        """The manifest (or index) of ``repository:reference`` as the registry holds it."""
        scope = f"repository:{repository}:pull"
        response = self.request("GET", f"{repository}/manifests/{reference}", scope)
        if response.status_code == 404:
            return None
        self._check(response, repository, reference)
        body = response.content
        media_type = response.headers.get("Content-Type", "").split(";")[0].strip()
        digest = response.headers.get("Docker-Content-Digest") or _digest(body)
        try:
            document: dict[str, Any] = response.json()
        except ValueError as exc:
            raise RegistryError(
                f"registry {self.registry} sent an unreadable manifest for "
                f"{repository}:{reference}: {exc}"
            ) from None
        return ManifestDocument(
            document.get("mediaType") or media_type, digest, len(body), document
        )

    def config_of(self, repository: str, manifest: ManifestDocument) -> dict[str, Any]:
        """The image config a manifest points at (its os, architecture, variant, labels)."""
        digest = (manifest.document.get("config") or {}).get("digest")
        if not digest:
            raise RegistryError(f"{repository}@{manifest.digest} is not an image manifest")
        scope = f"repository:{repository}:pull"
        blob = self.request("GET", f"{repository}/blobs/{digest}", scope, accept="*/*")
        self._check(blob, repository, digest)
        try:
            config: dict[str, Any] = blob.json()
        except ValueError as exc:
            raise RegistryError(
                f"registry {self.registry} sent an unreadable config: {exc}"
            ) from None
        return config

    def put_manifest(self, repository: str, tag: str, media_type: str, body: bytes) -> str:
        """Store ``body`` as ``repository:tag``; the registry's digest must be the body's."""
        scope = f"repository:{repository}:pull,push"
        response = self.request(
            "PUT", f"{repository}/manifests/{tag}", scope, body=(media_type, body)
        )
        if response.status_code not in (200, 201):
            detail = response.text.strip()[:300]
            raise RegistryError(
                f"registry {self.registry} refused {repository}:{tag} (HTTP "
                f"{response.status_code}): {detail}"
            )
        expected = _digest(body)
        digest = response.headers.get("Docker-Content-Digest", expected)
        if digest != expected:
            raise RegistryError(
                f"registry {self.registry} stored {repository}:{tag} as {digest}, but its "
                f"content is {expected}"
            )
        return digest

    def _check(self, response: Response, repository: str, tag: str) -> None:
        if response.status_code in (401, 403):
            raise RegistryError(
                f"registry {self.registry} refused access to {repository} "
                f"(HTTP {response.status_code}): check username and password"
            )
        if response.status_code >= 500:
            raise RegistryAnswerError(
                f"registry {self.registry} answered HTTP {response.status_code} for "
                f"{repository}:{tag}",
                response.status_code,
            )
        if response.status_code != 200:
            raise RegistryError(
                f"registry {self.registry} answered HTTP {response.status_code} for "
                f"{repository}:{tag}"
            )

    def repository_path(self, full_name: str) -> str:
        """The repository path inside this registry of ``registry/namespace/name``."""
        prefix = self.registry + "/"
        return full_name[len(prefix) :] if full_name.startswith(prefix) else full_name
