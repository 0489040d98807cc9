"""Where an engine is: its address and TLS files, as given or as the Docker client reads them
from the environment, and the short name a run shows for it."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class TLSFiles:
    """Client certificate, key and CA of a ``tcp://`` engine that verifies its clients."""

    ca: str
    cert: str
    key: str
    verify: bool = True  # False: TLS without checking the engine's certificate


DEFAULT_ADDRESS = "unix:///var/run/docker.sock"


def endpoint_from_env(environ: Mapping[str, str]) -> tuple[str, TLSFiles | None]:
    """The engine of ``DOCKER_HOST``, ``DOCKER_TLS_VERIFY`` and ``DOCKER_CERT_PATH``, read as
    the Docker client and SDK read them."""
    address = environ.get("DOCKER_HOST") or DEFAULT_ADDRESS
    cert_path = environ.get("DOCKER_CERT_PATH") or None
    verify_setting = environ.get("DOCKER_TLS_VERIFY")
    verify = verify_setting is not None and verify_setting != ""
    if not (cert_path or verify):
        return address, None
    folder = cert_path or os.path.join(os.path.expanduser("~"), ".docker")
    return address, TLSFiles(
        ca=os.path.join(folder, "ca.pem"),
        cert=os.path.join(folder, "cert.pem"),
        key=os.path.join(folder, "key.pem"),
        verify=verify,
    )


def engine_name(address: str) -> str:
    """A short name for an engine address: ``local`` for a unix socket, else its host."""
    scheme, _, rest = address.partition("://")
    if scheme in ("unix", "npipe") or not rest:
        return "local"
    return rest.rsplit("@", 1)[-1].rstrip("/")
