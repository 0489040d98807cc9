"""One Docker engine: its questions answered over plain HTTP (:mod:`.probe`), its work done
through the Docker SDK, loaded on first need (:mod:`.sdk`). A run may hold several; nothing
here is global."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, BinaryIO

from docker_pkg.engines.builders import BUILDKIT_MIN_API
from docker_pkg.engines.endpoint import TLSFiles, endpoint_from_env
from docker_pkg.engines.probe import EngineProbe, EngineRefused
from docker_pkg.errors import EngineError, EngineLost

if TYPE_CHECKING:
    from docker_pkg.engines.output import OutputSink
    from docker_pkg.engines.sdk.engine import SdkEngine
    from docker_pkg.engines.sshrelay import SshRelay
    from docker_pkg.engines.values import BuildRequest, LocalImage

log = logging.getLogger(__name__)


class DockerEngine:
    """One engine. Its version and which images it holds (all a run with nothing to build
    asks) come over plain HTTP (:class:`EngineProbe`); everything else goes through the
    Docker SDK, loaded on first need (:class:`docker_pkg.engines.sdk.engine.SdkEngine`).

    Made from ``base_url`` (and ``tls``), else from the environment as the Docker client
    reads it; an engine that does not answer is an :class:`EngineError` here.
    """

    def __init__(
        self,
        base_url: str | None = None,
        timeout: int = 600,
        *,
        tls: TLSFiles | None = None,
        environ: Mapping[str, str] | None = None,
    ):
        if base_url is None:
            base_url, tls = endpoint_from_env(os.environ if environ is None else environ)
        self._base_url = base_url
        self._tls = tls
        self._timeout = timeout
        self._relay: SshRelay | None = None
        if base_url.startswith("ssh://"):
            from docker_pkg.engines.sshrelay import SshRelay

            self._relay = SshRelay(base_url)
        self._url = self._relay.url if self._relay is not None else base_url
        self._lock = threading.Lock()
        self._sdk: SdkEngine | None = None
        self._cancelled = False
        self._version: dict[str, Any] | None = None
        self._remote = not base_url.startswith("unix://")
        self._listed: set[str] | None = None  # a remote engine's images, until it changes
        try:
            self._probe = EngineProbe(self._url, tls)
            answer = self._probe.ping()
        except (OSError, EngineError) as exc:
            self._close_relay()
            raise EngineError(f"cannot reach the Docker engine at {base_url}: {exc}") from None
        self._api_version = answer.get("api-version", "")
        self._os = answer.get("ostype", "").lower()
        if not self._api_version:
            self._close_relay()
            raise EngineError(
                f"cannot reach the Docker engine at {base_url}: it names no API version"
            )

    @property
    def address(self) -> str:
        return self._base_url

    def close(self) -> None:
        with self._lock:
            sdk, self._sdk = self._sdk, None
        if sdk is not None:
            sdk.close()
        self._close_relay()

    def _close_relay(self) -> None:
        if self._relay is not None:
            self._relay.close()

    @property
    def sdk(self) -> SdkEngine:
        """The SDK side of this engine, made on first use."""
        with self._lock:
            if self._sdk is None:
                from docker_pkg.engines.sdk.engine import SdkEngine

                self._sdk = SdkEngine(
                    self._url, self._base_url, self._tls, self._api_version, self._timeout
                )
                if self._cancelled:
                    self._sdk.cancel()
            return self._sdk

    def platform(self) -> str:
        """The engine's own platform, as ``os/arch`` (``linux/amd64``)."""
        version = self._version_info()
        return f"{str(version.get('Os', 'linux')).lower()}/{version.get('Arch', 'amd64')}"

    def _version_info(self) -> dict[str, Any]:
        if self._version is None:
            try:
                self._version = dict(self._probe.get("/version") or {})
            except OSError as exc:
                raise self._lost("asking the engine's version", exc) from None
        return self._version

    def supports_buildkit(self) -> bool:
        """BuildKit builds through ``/build?version=2``: a Linux engine with API 1.39+."""
        api = tuple(int(p) for p in self._api_version.split(".")[:2] if p.isdigit())
        return bool(api >= BUILDKIT_MIN_API and self._os == "linux")

    def _lost(self, what: str, exc: OSError) -> EngineLost:
        reason = str(exc).strip() or type(exc).__name__
        return EngineLost(f"{what}: lost the engine at {self._base_url} ({reason})", self._base_url)

    def local_tags(self) -> set[str]:
        return set(self.tagged_ids())

    def tagged_ids(self) -> dict[str, str]:
        """The image ID of every ``name:tag`` the engine holds, in one request."""
        try:
            found = self._probe.get(f"/v{self._api_version}/images/json")
        except OSError as exc:
            raise self._lost("listing the engine's images", exc) from None
        return {t: str(i.get("Id", "")) for i in found or () for t in i.get("RepoTags") or ()}

    def image_exists(self, reference: str) -> bool:
        """Whether the engine holds ``reference``. A local engine is asked about that image
        alone (its list of every image grows with what it holds: 50 ms for 500 images); a
        remote one lists its images once, since each request there is a connection of its
        own (a TLS handshake, or an ssh session)."""
        if self._remote:
            with self._lock:
                if self._listed is None:
                    self._listed = self.local_tags()
                return reference in self._listed
        try:
            self._probe.get(f"/v{self._api_version}/images/{reference}/json")
        except OSError as exc:
            raise self._lost(f"inspecting {reference}", exc) from None
        except EngineRefused as exc:
            if exc.status == 404:
                return False
            raise
        return True

    def cancel(self) -> None:
        """Stop every build in progress on this engine, and refuse new ones."""
        with self._lock:
            self._cancelled = True
            sdk = self._sdk
        if sdk is not None:
            sdk.cancel()

    def _changed(self) -> None:
        """The engine's images changed (or may have): a kept list of them is stale."""
        with self._lock:
            self._listed = None

    def image_size(self, reference: str) -> int | None:
        return self.sdk.image_size(reference)

    def save(self, reference: str) -> Iterator[bytes]:
        return self.sdk.save(reference)

    def load(self, chunks: Iterable[bytes]) -> None:
        try:
            self.sdk.load(chunks)
        finally:
            self._changed()

    def build(self, request: BuildRequest, output: OutputSink) -> str:
        try:
            return self.sdk.build(request, output)
        finally:
            self._changed()

    def tag(self, image: str, repository: str, tag: str) -> None:
        try:
            self.sdk.tag(image, repository, tag)
        finally:
            self._changed()

    def push(
        self, repository: str, tag: str, auth: Mapping[str, str] | None, output: OutputSink
    ) -> str | None:
        return self.sdk.push(repository, tag, auth, output)

    def pull(
        self, reference: str, auth: Mapping[str, str] | None, platform: str | None = None
    ) -> None:
        try:
            self.sdk.pull(reference, auth, platform)
        finally:
            self._changed()

    def list_images(self, repository: str) -> list[LocalImage]:
        return self.sdk.list_images(repository)

    def remove_image(self, reference: str) -> None:
        try:
            self.sdk.remove_image(reference)
        finally:
            self._changed()

    def image_labels(self, reference: str) -> dict[str, str] | None:
        return self.sdk.image_labels(reference)

    def export_path(self, image: str, path: str, destination: BinaryIO) -> None:
        self.sdk.export_path(image, path, destination)

    def remove_containers_of(self, image: str, since: float) -> list[str]:
        return self.sdk.remove_containers_of(image, since)

    def read_files(self, image: str, paths: Iterable[Sequence[str]]) -> dict[str, bytes]:
        return self.sdk.read_files(image, paths)
