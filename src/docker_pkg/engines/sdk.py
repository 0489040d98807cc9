"""An engine through the Docker SDK: everything but the few questions
:class:`docker_pkg.engines.docker_engine.DockerEngine` answers itself. Imported on first
need only: the SDK and requests take a tenth of a second to import.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import socket
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, BinaryIO

import docker
import docker.errors
import docker.tls
import requests
import urllib3
from docker.utils.json_stream import json_stream

from docker_pkg.engines.buildkit import TRACE_ID, TraceDecoder
from docker_pkg.engines.docker_engine import BUILDKIT, TLSFiles
from docker_pkg.engines.output import LineSplitter, OutputSink, error_text
from docker_pkg.engines.values import BuildRequest, LocalImage
from docker_pkg.errors import (
    BuildError,
    Cancelled,
    EngineError,
    EngineLost,
    OperationError,
    PublishError,
)

log = logging.getLogger(__name__)


# What a dead or vanished daemon looks like from here: a refused or reset connection, a
# socket file gone, a response stream cut in the middle.
_CONNECTION_ERRORS = (
    requests.ConnectionError,
    requests.exceptions.ChunkedEncodingError,
    urllib3.exceptions.ProtocolError,
    ConnectionError,
    FileNotFoundError,
)


class _APIClient(docker.APIClient):
    """The SDK's client, deaf to the environment's HTTP settings: requests lets
    ``REQUESTS_CA_BUNDLE`` and the like override the CA given for a TLS engine (psf/requests
    issue 3829), and an HTTP proxy has no business between us and an engine."""

    @property
    def trust_env(self) -> bool:
        return False

    @trust_env.setter
    def trust_env(self, value: bool) -> None:
        return


class SdkEngine:
    """What an engine is asked through the Docker SDK's low-level API client: builds,
    pushes and pulls, streams of images, containers."""

    def __init__(
        self, base_url: str, address: str, tls: TLSFiles | None, api_version: str, timeout: int
    ):
        kwargs: dict[str, Any] = {"base_url": base_url}
        if tls is not None:
            kwargs["tls"] = docker.tls.TLSConfig(
                client_cert=(tls.cert, tls.key), ca_cert=tls.ca, verify=tls.verify
            )
        self._base_url = address
        self._cancelled = threading.Event()
        self._lock = threading.Lock()
        self._active: set[requests.Response] = set()
        self._expired: set[requests.Response] = set()
        self._bridge: bool | None = None
        try:
            self._api = _APIClient(version=api_version, timeout=timeout, **kwargs)
        except docker.errors.DockerException as exc:
            raise EngineError(f"cannot reach the Docker engine at {address}: {exc}") from None

    @property
    def address(self) -> str:
        return self._base_url

    def close(self) -> None:
        self._api.close()

    def _lost(self, what: str, exc: BaseException) -> EngineLost:
        reason = str(exc).strip() or type(exc).__name__
        return EngineLost(f"{what}: lost the engine at {self._base_url} ({reason})")

    def _call(self, what: str, fn: Callable[[], Any]) -> Any:
        try:
            return fn()
        except docker.errors.APIError as exc:
            raise EngineError(f"{what}: {exc.explanation or exc}") from None
        except _CONNECTION_ERRORS as exc:
            raise self._lost(what, exc) from None
        except (requests.RequestException, docker.errors.DockerException) as exc:
            raise EngineError(f"{what}: engine at {self._base_url} failed: {exc}") from None

    def _inspect(self, reference: str) -> dict[str, Any] | None:
        """The engine's description of a local image, or None when there is none."""
        try:
            info: dict[str, Any] = self._api.inspect_image(reference)  # type: ignore[no-untyped-call]
        except docker.errors.ImageNotFound:
            return None
        except docker.errors.APIError as exc:
            raise EngineError(f"inspecting {reference}: {exc.explanation or exc}") from None
        except _CONNECTION_ERRORS as exc:
            raise self._lost(f"inspecting {reference}", exc) from None
        except requests.RequestException as exc:
            raise EngineError(f"engine at {self._base_url} failed: {exc}") from None
        return info

    def build(self, request: BuildRequest, output: OutputSink) -> str:
        """Build and tag the image; return its id. Any error in the stream raises.

        The request is made here rather than through the SDK's ``build`` so that the
        response is at hand: :meth:`cancel` (or the build's own time limit) shuts its
        socket, which makes the engine stop the build and remove its containers.
        """
        what = f"building {request.tag}"
        response = self._start_stream(
            "/build", self._build_params(request), request.context, what, BuildError
        )
        lines = LineSplitter(output)
        trace = TraceDecoder(output)
        failure = trace.failure if request.builder == BUILDKIT else lines.failure
        image_id = ""
        deadline = self._deadline(response, request.timeout)
        try:
            for chunk in self._chunks(response, what):
                if chunk.get("id") == TRACE_ID and isinstance(chunk.get("aux"), str):
                    trace.feed(chunk["aux"])
                    continue
                if "error" in chunk or "errorDetail" in chunk:
                    lines.flush()
                    raise BuildError(failure(error_text(chunk)))
                if "stream" in chunk:
                    lines.feed(str(chunk["stream"]))
                elif "status" in chunk:
                    lines.feed(str(chunk["status"]) + "\n")
                aux = chunk.get("aux")
                if isinstance(aux, dict) and aux.get("ID"):
                    image_id = str(aux["ID"])
            if response in self._expired:
                raise EngineLost("the build stream ended early")
        except EngineLost:
            if response not in self._expired:
                raise
            lines.flush()
            raise BuildError(
                failure(f"stopped: the build took longer than build_timeout ({request.timeout}s)")
            ) from None
        finally:
            if deadline is not None:
                deadline.cancel()
            self._finish_stream(response)
        lines.flush()
        if not image_id:
            image_id = str(
                self._call(
                    "inspecting the built image",
                    lambda: self._api.inspect_image(request.tag),  # type: ignore[no-untyped-call]
                )["Id"]
            )
        return image_id

    def _deadline(
        self, response: requests.Response, timeout: float | None
    ) -> threading.Timer | None:
        """A timer that cuts ``response`` after ``timeout`` seconds (the engine then stops
        the build); None without a limit."""
        if not timeout:
            return None

        def expire() -> None:
            with self._lock:
                self._expired.add(response)
            _shut(response)

        timer = threading.Timer(timeout, expire)
        timer.daemon = True
        timer.start()
        return timer

    def _build_params(self, request: BuildRequest) -> dict[str, Any]:
        buildkit = request.builder == BUILDKIT
        params: dict[str, Any] = {
            "t": request.tag,
            "nocache": request.nocache,
            "rm": True,
            "forcerm": True,
            "pull": False,
            "dockerfile": "Dockerfile",
        }
        if request.platform:
            params["platform"] = request.platform
        if buildkit:
            params["version"] = "2"
        else:
            params.update(request.container_limits)
        if request.buildargs:
            params["buildargs"] = json.dumps(dict(request.buildargs))
        if request.labels:
            params["labels"] = json.dumps(dict(request.labels))
        network = request.network_mode
        if network is None and buildkit and not self._has_bridge():
            network = "none"  # BuildKit's default network is the bridge, which is missing
        if network:
            params["networkmode"] = network
        return params

    def _start_stream(
        self,
        endpoint: str,
        params: Mapping[str, Any],
        body: Iterable[bytes],
        what: str,
        error: type[OperationError],
    ) -> requests.Response:
        if self._cancelled.is_set():
            raise Cancelled(f"{what}: cancelled")
        url = f"{self._api.base_url}/v{self._api.api_version}{endpoint}"
        try:
            response = self._api.post(
                url,
                params=params,
                data=body,
                headers={"Content-Type": "application/x-tar"},
                stream=True,
                timeout=None,
            )
        except _CONNECTION_ERRORS as exc:
            raise self._lost(what, exc) from None
        except requests.RequestException as exc:
            raise error(f"{what}: engine at {self._base_url} failed: {exc}") from None
        if response.status_code >= 400:
            try:
                message = response.json().get("message", response.text)
            except ValueError:
                message = response.text
            response.close()
            raise error(f"{what}: {message.strip()}")
        with self._lock:
            self._active.add(response)
        return response

    def _chunks(self, response: requests.Response, what: str) -> Iterator[dict[str, Any]]:
        """The JSON messages of a response stream; a cut stream means a lost engine, unless
        the run was cancelled."""
        try:
            for chunk in json_stream(response.iter_content(chunk_size=None)):
                if isinstance(chunk, dict):
                    yield chunk
        except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as exc:
            if self._cancelled.is_set():
                raise Cancelled("cancelled") from None
            raise self._lost(what, exc) from None
        if self._cancelled.is_set():
            raise Cancelled(f"{what}: cancelled")

    def _finish_stream(self, response: requests.Response) -> None:
        with self._lock:
            self._active.discard(response)
            self._expired.discard(response)
        response.close()

    def image_size(self, reference: str) -> int | None:
        info = self._inspect(reference)
        return int(info.get("Size") or 0) if info is not None else None

    def save(self, reference: str) -> Iterator[bytes]:
        """The image as the tar ``docker save`` makes, streamed."""
        what = f"exporting {reference}"
        chunks = self._call(what, lambda: self._api.get_image(reference, chunk_size=1 << 20))
        try:
            yield from chunks
        except _CONNECTION_ERRORS as exc:
            raise self._lost(what, exc) from None

    def load(self, chunks: Iterable[bytes]) -> None:
        """Load images from a streamed ``docker save`` tar; an error in the answer raises."""
        what = "loading an image"
        answer = self._call(
            what,
            lambda: self._api.load_image(chunks, quiet=True),  # type: ignore[no-untyped-call]
        )
        for chunk in answer or ():
            if isinstance(chunk, dict) and ("error" in chunk or "errorDetail" in chunk):
                raise EngineError(f"{what}: {error_text(chunk)}")

    def _has_bridge(self) -> bool:
        with self._lock:
            if self._bridge is None:
                found = self._call("listing networks", lambda: self._api.networks(names=["bridge"]))
                self._bridge = any(n.get("Name") == "bridge" for n in found)
            return self._bridge

    def cancel(self) -> None:
        """Stop every build in progress on this engine, and refuse new ones."""
        self._cancelled.set()
        with self._lock:
            active = list(self._active)
        for response in active:
            _shut(response)

    def tag(self, image: str, repository: str, tag: str) -> None:
        self._call(
            f"tagging {image} as {repository}:{tag}", lambda: self._api.tag(image, repository, tag)
        )

    def push(
        self, repository: str, tag: str, auth: Mapping[str, str] | None, output: OutputSink
    ) -> str | None:
        """Push ``repository:tag``; an error anywhere in the stream fails the push."""
        digest: str | None = None
        label = f"{repository}:{tag}"
        try:
            for chunk in self._api.push(
                repository, tag, auth_config=dict(auth) if auth else None, stream=True, decode=True
            ):
                if "error" in chunk or "errorDetail" in chunk:
                    raise PublishError(f"pushing {label}: {error_text(chunk)}")
                aux = chunk.get("aux")
                if isinstance(aux, dict) and aux.get("Digest"):
                    digest = str(aux["Digest"])
                status = chunk.get("status")
                if status and "progress" not in chunk:
                    output(f"{chunk.get('id', '')}: {status}" if chunk.get("id") else str(status))
        except docker.errors.APIError as exc:
            raise PublishError(f"pushing {label}: {exc.explanation or exc}") from None
        except _CONNECTION_ERRORS as exc:
            raise self._lost(f"pushing {label}", exc) from None
        except (requests.RequestException, docker.errors.DockerException) as exc:
            raise PublishError(f"pushing {label}: engine connection failed: {exc}") from None
        return digest

    def pull(
        self, reference: str, auth: Mapping[str, str] | None, platform: str | None = None
    ) -> None:
        """Pull ``reference`` (for ``platform``, from an index, when not the engine's own)."""
        repository, _, tag = reference.rpartition(":")
        if "/" in tag or not repository:
            repository, tag = reference, "latest"
        try:
            for chunk in self._api.pull(
                repository,
                tag,
                auth_config=dict(auth) if auth else None,
                stream=True,
                decode=True,
                platform=platform,
            ):
                if "error" in chunk or "errorDetail" in chunk:
                    raise EngineError(f"pulling {reference}: {error_text(chunk)}")
        except docker.errors.APIError as exc:
            raise EngineError(f"pulling {reference}: {exc.explanation or exc}") from None
        except _CONNECTION_ERRORS as exc:
            raise self._lost(f"pulling {reference}", exc) from None
        except (requests.RequestException, docker.errors.DockerException) as exc:
            raise EngineError(f"pulling {reference}: engine connection failed: {exc}") from None

    def list_images(self, repository: str) -> list[LocalImage]:
        found = self._call(f"listing {repository}", lambda: self._api.images(name=repository))
        return [LocalImage(str(i["Id"]), tuple(i.get("RepoTags") or ())) for i in found]

    def remove_image(self, reference: str) -> None:
        self._call(f"removing {reference}", lambda: self._api.remove_image(reference))

    def image_labels(self, reference: str) -> dict[str, str] | None:
        """The labels of a local image, or None when there is no such image."""
        info = self._inspect(reference)
        if info is None:
            return None
        return dict((info.get("Config") or {}).get("Labels") or {})

    def export_path(self, image: str, path: str, destination: BinaryIO) -> None:
        """Write a tar of ``path`` in ``image`` to ``destination``, through a container that
        is created, never started, and always removed."""
        container = self._call(
            f"creating a container of {image}",
            lambda: self._api.create_container(
                image,
                command=["docker-pkg-export"],
                network_disabled=True,
                host_config=self._api.create_host_config(network_mode="none"),
            ),
        )["Id"]
        try:
            what = f"copying {path} out of {image}"
            chunks, _ = self._call(what, lambda: self._api.get_archive(container, path))
            try:
                for chunk in chunks:
                    destination.write(chunk)
            except _CONNECTION_ERRORS as exc:
                raise self._lost(what, exc) from None
        finally:
            self._call(
                f"removing the container of {image}",
                lambda: self._api.remove_container(container, force=True),
            )

    def remove_containers_of(self, image: str, since: float) -> list[str]:
        """Force-remove the containers of ``image`` created at or after ``since`` (epoch
        seconds): what a verification that was stopped left running."""
        found = self._call(
            f"listing the containers of {image}",
            lambda: self._api.containers(all=True, filters={"ancestor": image}),
        )
        removed = []
        for container in found:
            if float(container.get("Created", 0)) + 1 < since:
                continue
            ident = str(container["Id"])
            self._call(
                f"removing container {ident[:12]}",
                functools.partial(self._api.remove_container, ident, force=True),
            )
            removed.append(ident)
        return removed


def _shut(response: requests.Response) -> None:
    """Shut the socket under a streamed response, then close it: the engine sees the client
    go away and stops the work behind the stream."""
    connection = getattr(response.raw, "_connection", None)
    sock = getattr(connection, "sock", None)
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
    response.close()
