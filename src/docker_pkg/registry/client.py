"""A Distribution API v2 client: is ``name:tag`` in the registry, with which digest, and
which labels does its image carry?

* Kept-alive connections per registry (:mod:`docker_pkg.registry.transport`), shared by every
  check of a run (thread-safe); a first ``GET /v2/`` learns whether it speaks TLS and how
  it authenticates.
* HTTPS, verified with ``ca_bundle`` when set. Plain HTTP only for registries on loopback
  and those in ``insecure_registries``, and only when they do not speak TLS (as the Docker
  engine does).
* Authentication as the registry asks in its ``WWW-Authenticate`` challenge: Basic, or
  Bearer tokens from its token service (anonymous when there are no credentials), cached
  per scope until they expire.
* Every request has a timeout; connection errors, 429 (honouring ``Retry-After``) and 5xx
  are retried with exponential backoff and jitter, bounded in count and time. A 401 after
  authenticating, a 403 or a 404 is never retried.
"""

from __future__ import annotations

import hashlib
import logging
import random
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from docker_pkg.errors import RegistryError
from docker_pkg.registry.credentials import Credentials
from docker_pkg.registry.transport import (
    Response,
    TLSFailure,
    Transport,
    TransportError,
    is_loopback_host,
)

log = logging.getLogger(__name__)

MANIFEST_TYPES = ", ".join(
    (
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.oci.image.index.v1+json",
    )
)
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
INDEX_TYPES = (OCI_INDEX, DOCKER_LIST)
TIMEOUT = (5.0, 30.0)
_CHALLENGE = re.compile(r'(\w+)="([^"]*)"')


def is_loopback(registry: str) -> bool:
    """True for ``localhost``, 127.0.0.0/8 and ``::1``, with or without a port."""
    host = registry
    if host.startswith("["):
        host = host[1 : host.find("]")]
    elif host.count(":") == 1:
        host = host.split(":", 1)[0]
    return is_loopback_host(host)


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with full jitter, bounded in attempts and in total time."""

    attempts: int = 5
    base: float = 0.2
    cap: float = 5.0
    budget: float = 30.0

    def delay(self, attempt: int, retry_after: float | None, rng: random.Random) -> float:
        if retry_after is not None:
            return min(retry_after, self.cap)
        return rng.uniform(0, min(self.cap, self.base * 2**attempt))


RETRIED_STATUS = frozenset({429, 500, 502, 503, 504})


def retry_after(response: Response) -> float | None:
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def parse_challenge(header: str) -> tuple[str, dict[str, str]]:
    """``Bearer realm="…",service="…",scope="…"`` as ("bearer", {realm, service, scope})."""
    scheme, _, rest = header.strip().partition(" ")
    return scheme.lower(), dict(_CHALLENGE.findall(rest))


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
class _Token:
    value: str
    expires: float


@dataclass
class RegistryClient:
    """One registry: its session, its credentials, its token cache."""

    registry: str
    credentials: Credentials | None = None
    ca_bundle: str | None = None
    http_proxy: str | None = None
    insecure: bool = False
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic
    _transport: Transport = field(init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _base_url: str | None = None
    _tokens: dict[str, _Token] = field(default_factory=dict)
    _basic: bool = False
    _rng: random.Random = field(default_factory=random.Random)

    def __post_init__(self) -> None:
        proxy = self.http_proxy if self.http_proxy and not self.plain_http_allowed else None
        self._transport = Transport(
            ca_bundle=self.ca_bundle,
            proxy=proxy,
            connect_timeout=TIMEOUT[0],
            read_timeout=TIMEOUT[1],
        )

    @property
    def plain_http_allowed(self) -> bool:
        return self.insecure or is_loopback(self.registry)

    def close(self) -> None:
        self._transport.close()

    @property
    def base_url(self) -> str:
        """``https://HOST/v2``; for an allowed registry without TLS, ``http://HOST/v2``.

        Learnt from a first ``GET /v2/`` (as the Docker engine does); when its answer asks
        for Basic authentication, every later request carries the credentials at once
        instead of each thread meeting the challenge first.
        """
        with self._lock:
            if self._base_url is None:
                secure, answer = self._first_contact()
                plain = self.plain_http_allowed and not secure
                self._base_url = f"{'http' if plain else 'https'}://{self.registry}/v2"
                if answer is not None and answer.status_code == 401:
                    scheme, _ = parse_challenge(answer.headers.get("WWW-Authenticate", ""))
                    self._basic = scheme == "basic" and self.credentials is not None
            return self._base_url

    def _first_contact(self) -> tuple[bool, Response | None]:
        """Whether the registry speaks TLS, and its answer to ``GET /v2/`` over it."""
        try:
            return True, self._transport.request("GET", f"https://{self.registry}/v2/")
        except TLSFailure as exc:
            # A TLS server whose certificate we do not trust still speaks TLS.
            return "certificate" in str(exc).lower(), None
        except TransportError:
            return not self.plain_http_allowed, None

    # -- requests with retries and authentication ------------------------------------------

    def _send(
        self, method: str, url: str, headers: dict[str, str], data: bytes | None = None
    ) -> Response:
        """One request, retried on connection errors, 429 and 5xx within the policy."""
        started = self.clock()
        attempt = 0
        while True:
            wait: float | None = None
            try:
                response = self._transport.request(method, url, headers, data)
            except TLSFailure as exc:
                raise RegistryError(
                    f"TLS failed talking to registry {self.registry} (set ca_bundle?): {exc}"
                ) from None
            except TransportError as exc:
                failure = f"cannot reach registry {self.registry}: {exc}"
            else:
                if response.status_code not in RETRIED_STATUS:
                    return response
                failure = f"registry {self.registry} answered HTTP {response.status_code}"
                wait = retry_after(response)
            attempt += 1
            delay = self.policy.delay(attempt, wait, self._rng)
            spent = self.clock() - started
            if attempt >= self.policy.attempts or spent + delay > self.policy.budget:
                raise RegistryError(f"{failure} (gave up after {attempt} attempts)")
            log.info("%s; retrying in %.1fs (attempt %d)", failure, delay, attempt + 1)
            self.sleep(delay)

    def request(
        self,
        method: str,
        path: str,
        scope: str,
        accept: str = MANIFEST_TYPES,
        body: tuple[str, bytes] | None = None,
    ) -> Response:
        """``method`` on ``/v2/path``, authenticating as the registry's challenge asks;
        ``body`` is (content type, bytes)."""
        url = f"{self.base_url}/{path}"
        extra = {"Content-Type": body[0]} if body else {}
        data = body[1] if body else None
        headers = {"Accept": accept, **extra, **self._auth_header(scope)}
        response = self._send(method, url, headers, data)
        if response.status_code != 401:
            return response
        challenge = response.headers.get("WWW-Authenticate", "")
        authorization = self._answer(challenge, scope)
        if authorization is None:
            raise RegistryError(
                f"registry {self.registry} asks for credentials; none were found (config, "
                "DOCKER_PKG_REGISTRY_USERNAME/PASSWORD, or ~/.docker/config.json)"
            )
        response = self._send(
            method, url, {"Accept": accept, **extra, "Authorization": authorization}, data
        )
        if response.status_code == 401:
            raise RegistryError(
                f"registry {self.registry} refused the credentials (HTTP 401): check username "
                "and password"
            )
        return response

    def _auth_header(self, scope: str) -> dict[str, str]:
        with self._lock:
            token = self._tokens.get(scope)
            if token is not None and token.expires > self.clock():
                return {"Authorization": f"Bearer {token.value}"}
            basic = self._basic
        if basic and self.credentials is not None:
            return {"Authorization": self.credentials.basic_header()}
        return {}

    def _answer(self, challenge: str, scope: str) -> str | None:
        scheme, params = parse_challenge(challenge)
        if scheme == "basic":
            if self.credentials is None:
                return None
            with self._lock:
                self._basic = True
            return self.credentials.basic_header()
        if scheme == "bearer" and params.get("realm"):
            return f"Bearer {self._token(params, scope)}"
        raise RegistryError(
            f"registry {self.registry} asks for an authentication it does not explain "
            f"({scheme or 'no challenge'})"
        )

    def _token(self, params: dict[str, str], scope: str) -> str:
        """A token for ``scope`` from the realm (with credentials when there are any)."""
        query = {"service": params.get("service", ""), "scope": params.get("scope") or scope}
        auth = self.credentials.as_tuple() if self.credentials else None
        try:
            response = self._transport.request("GET", params["realm"], params=query, auth=auth)
        except TransportError as exc:
            raise RegistryError(f"token service of {self.registry} failed: {exc}") from None
        if response.status_code in (401, 403):
            raise RegistryError(
                f"the token service of registry {self.registry} refused the credentials "
                f"(HTTP {response.status_code}): check username and password"
            )
        if response.status_code != 200:
            raise RegistryError(
                f"the token service of registry {self.registry} answered HTTP "
                f"{response.status_code}"
            )
        try:
            data: dict[str, Any] = response.json()
            value = str(data.get("token") or data["access_token"])
        except (ValueError, KeyError):
            raise RegistryError(
                f"the token service of registry {self.registry} sent no token"
            ) from None
        lifetime = float(data.get("expires_in") or 60)
        with self._lock:
            # Renew a little early, so no request goes out with a token about to expire.
            self._tokens[scope] = _Token(value, self.clock() + max(lifetime - 10, lifetime / 2))
        return value

    # -- what docker-pkg asks --------------------------------------------------------------

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
        if response.status_code != 200:
            raise RegistryError(
                f"registry {self.registry} answered HTTP {response.status_code} for "
                f"{repository}:{tag}"
            )

    def repository_path(self, full_name: str) -> str:
        """The repository path inside this registry of ``registry/namespace/name``."""
        prefix = self.registry + "/"
        return full_name[len(prefix) :] if full_name.startswith(prefix) else full_name
