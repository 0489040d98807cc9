"""A Distribution API v2 client: is ``name:tag`` in the registry?

Every registry is spoken to over HTTPS, verified with ``ca_bundle`` when set. A registry on
loopback that does not speak TLS is spoken to over plain HTTP, as the Docker engine itself
does; nothing else ever is.
"""

from __future__ import annotations

import ipaddress
import logging
import threading
from dataclasses import dataclass

import requests

from docker_pkg.errors import RegistryError

log = logging.getLogger(__name__)

MANIFEST_TYPES = ", ".join(
    (
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.oci.image.index.v1+json",
    )
)
TIMEOUT = (5.0, 30.0)


def is_loopback(registry: str) -> bool:
    """True for ``localhost``, 127.0.0.0/8 and ``::1``, with or without a port."""
    host = registry
    if host.startswith("["):
        host = host[1 : host.find("]")]
    elif host.count(":") == 1:
        host = host.split(":", 1)[0]
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class ManifestStatus:
    exists: bool
    digest: str | None = None


class RegistryClient:
    """One pooled HTTP session for one registry, shared by every check of a run."""

    def __init__(
        self,
        registry: str,
        *,
        username: str | None = None,
        password: str | None = None,
        ca_bundle: str | None = None,
        http_proxy: str | None = None,
    ):
        self.registry = registry
        self._base_url: str | None = None
        self._scheme_lock = threading.Lock()
        self._session = requests.Session()
        if username and password:
            self._session.auth = (username, password)
        # Passed on every request: a session-level value loses to REQUESTS_CA_BUNDLE.
        self._verify: str | bool = ca_bundle or True
        if http_proxy and not is_loopback(registry):
            self._session.proxies = {"https": http_proxy}
        self._session.headers["Accept"] = MANIFEST_TYPES

    def close(self) -> None:
        self._session.close()

    @property
    def base_url(self) -> str:
        """``https://HOST/v2``; for a loopback registry without TLS, ``http://HOST/v2``."""
        with self._scheme_lock:
            if self._base_url is None:
                plain = is_loopback(self.registry) and not self._speaks_tls()
                self._base_url = f"{'http' if plain else 'https'}://{self.registry}/v2"
            return self._base_url

    def _speaks_tls(self) -> bool:
        try:
            self._session.get(f"https://{self.registry}/v2/", timeout=TIMEOUT, verify=self._verify)
        except requests.exceptions.SSLError as exc:
            # A TLS server with a certificate we do not trust still speaks TLS.
            return "CERTIFICATE_VERIFY_FAILED" in str(exc) or "certificate" in str(exc).lower()
        except requests.exceptions.ConnectionError:
            return False
        return True

    def manifest(self, repository: str, tag: str) -> ManifestStatus:
        """Whether ``repository:tag`` (a path inside this registry) has a manifest."""
        url = f"{self.base_url}/{repository}/manifests/{tag}"
        try:
            response = self._session.head(url, timeout=TIMEOUT, verify=self._verify)
            if response.status_code == 405:  # some registries allow only GET
                response = self._session.get(url, timeout=TIMEOUT, verify=self._verify)
        except requests.exceptions.SSLError as exc:
            raise RegistryError(
                f"TLS failed talking to registry {self.registry} (set ca_bundle?): {exc}"
            ) from None
        except requests.RequestException as exc:
            raise RegistryError(f"cannot reach registry {self.registry}: {exc}") from None
        if response.status_code == 404:
            return ManifestStatus(False)
        self._check(response, repository, tag)
        return ManifestStatus(True, response.headers.get("Docker-Content-Digest"))

    def image_labels(self, repository: str, tag: str) -> dict[str, str] | None:
        """The labels in the image config of ``repository:tag``; None when it is absent."""
        base = self.base_url
        try:
            response = self._session.get(
                f"{base}/{repository}/manifests/{tag}", timeout=TIMEOUT, verify=self._verify
            )
            if response.status_code == 404:
                return None
            self._check(response, repository, tag)
            config = response.json().get("config") or {}
            digest = config.get("digest")
            if not digest:
                return None  # a manifest list or an old schema: no single config to read
            blob = self._session.get(
                f"{base}/{repository}/blobs/{digest}", timeout=TIMEOUT, verify=self._verify
            )
            self._check(blob, repository, tag)
            labels = (blob.json().get("config") or {}).get("Labels") or {}
        except requests.RequestException as exc:
            raise RegistryError(f"cannot reach registry {self.registry}: {exc}") from None
        except ValueError as exc:
            raise RegistryError(
                f"registry {self.registry} sent an unreadable answer for {repository}:{tag}: {exc}"
            ) from None
        return {str(k): str(v) for k, v in labels.items()}

    def _check(self, response: requests.Response, repository: str, tag: str) -> None:
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
