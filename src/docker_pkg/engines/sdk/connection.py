"""The SDK client of one engine, and what its failures mean: the engine refused (an
:class:`EngineError`), or the engine is gone (:class:`EngineLost`)."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Callable
from typing import Any

import docker
import docker.errors
import docker.tls
import requests
import urllib3

from docker_pkg.engines.endpoint import TLSFiles
from docker_pkg.errors import EngineError, EngineLost

# What a dead or vanished daemon looks like from here: a refused or reset connection, a
# socket file gone, a response stream cut in the middle.
CONNECTION_ERRORS = (
    requests.ConnectionError,
    requests.exceptions.ChunkedEncodingError,
    urllib3.exceptions.ProtocolError,
    ConnectionError,
    FileNotFoundError,
)


class ApiClient(docker.APIClient):
    """The SDK's client, deaf to the environment's HTTP settings: requests lets
    ``REQUESTS_CA_BUNDLE`` and the like override the CA given for a TLS engine (psf/requests
    issue 3829), and an HTTP proxy has no business between us and an engine."""

    @property
    def trust_env(self) -> bool:
        return False

    @trust_env.setter
    def trust_env(self, value: bool) -> None:
        return


class Connection:
    """The client of one engine and the translation of its failures."""

    def __init__(
        self, base_url: str, address: str, tls: TLSFiles | None, api_version: str, timeout: int
    ):
        kwargs: dict[str, Any] = {"base_url": base_url}
        if tls is not None:
            kwargs["tls"] = docker.tls.TLSConfig(
                client_cert=(tls.cert, tls.key), ca_cert=tls.ca, verify=tls.verify
            )
        self.address = address
        try:
            self.api = ApiClient(version=api_version, timeout=timeout, **kwargs)
        except docker.errors.DockerException as exc:
            raise EngineError(f"cannot reach the Docker engine at {address}: {exc}") from None

    def close(self) -> None:
        self.api.close()

    def lost(self, what: str, exc: BaseException) -> EngineLost:
        reason = str(exc).strip() or type(exc).__name__
        return EngineLost(f"{what}: lost the engine at {self.address} ({reason})", self.address)

    def call(self, what: str, fn: Callable[[], Any]) -> Any:
        """``fn()``, its failures turned into an :class:`EngineError` or, when the engine
        went away, an :class:`EngineLost`."""
        try:
            return fn()
        except docker.errors.APIError as exc:
            raise EngineError(f"{what}: {exc.explanation or exc}") from None
        except CONNECTION_ERRORS as exc:
            raise self.lost(what, exc) from None
        except (requests.RequestException, docker.errors.DockerException) as exc:
            raise EngineError(f"{what}: engine at {self.address} failed: {exc}") from None

    def inspect(self, reference: str) -> dict[str, Any] | None:
        """The engine's description of a local image, or None when there is none."""
        try:
            info: dict[str, Any] = self.api.inspect_image(reference)  # type: ignore[no-untyped-call]
        except docker.errors.ImageNotFound:
            return None
        except docker.errors.APIError as exc:
            raise EngineError(f"inspecting {reference}: {exc.explanation or exc}") from None
        except CONNECTION_ERRORS as exc:
            raise self.lost(f"inspecting {reference}", exc) from None
        except requests.RequestException as exc:
            raise EngineError(f"engine at {self.address} failed: {exc}") from None
        return info


def shut(response: requests.Response) -> None:
    """Shut the socket under a streamed response, then close it: the engine sees the client
    go away and stops the work behind the stream."""
    connection = getattr(response.raw, "_connection", None)
    sock = getattr(connection, "sock", None)
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
    response.close()
