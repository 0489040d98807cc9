"""Read-only questions to a Docker engine, without the Docker SDK.

A run that finds every image built asks its engine two things, its API version and whether
it holds each image, and nothing else; importing the SDK (and requests with it) for that
costs more than the whole run. These are plain HTTP/1.0 GETs, one connection each that the
engine closes after its answer, over the engine's unix socket or TCP (with TLS as
configured). Anything that streams, sends a body or needs a session goes through the SDK.
"""

from __future__ import annotations

import json
import socket
from typing import TYPE_CHECKING, Any

from docker_pkg.errors import EngineError

if TYPE_CHECKING:
    import ssl

    from docker_pkg.engines.endpoint import TLSFiles

MAX_ANSWER = 256 * 1024 * 1024  # an engine holding tens of thousands of images answers MBs


class EngineRefused(EngineError):
    """The engine answered with an HTTP error (``status``: 404 for what it does not hold)."""

    def __init__(self, message: str, status: int):
        super().__init__(message)
        self.status = status


class EngineProbe:
    """GETs to the engine at ``address`` (``unix://PATH`` or ``tcp://HOST:PORT``)."""

    def __init__(self, address: str, tls: TLSFiles | None = None, timeout: float = 60.0):
        self.address = address
        self.tls = tls
        self.timeout = timeout
        scheme, _, rest = address.partition("://")
        if scheme not in ("unix", "tcp", "http", "https"):
            raise EngineError(f"cannot reach an engine at {address}: unsupported address")
        self._unix = rest if scheme == "unix" else None
        self._host, self._port = _host_and_port(rest, 2376 if tls else 2375)

    def ping(self) -> dict[str, str]:
        """The headers of ``/_ping`` (``api-version``, ``ostype``, ...): the cheapest
        question an engine answers."""
        status, headers, _ = self._exchange("/_ping")
        if status >= 400:
            raise EngineError(f"the engine at {self.address} answered HTTP {status} to a ping")
        return headers

    def get(self, path: str) -> Any:
        """The JSON answer to ``GET path``; OSError when the engine cannot be reached,
        EngineError when it answers with an error or something unreadable."""
        status, _, body = self._exchange(path)
        try:
            answer = json.loads(body) if body else None
        except ValueError:
            if status < 400:
                raise EngineError(
                    f"the engine at {self.address} sent unreadable JSON for {path}"
                ) from None
            answer = {"message": body[:300].decode("utf-8", "replace").strip()}
        if status >= 400:
            message = answer.get("message") if isinstance(answer, dict) else None
            raise EngineRefused(
                f"the engine at {self.address} answered HTTP {status} for {path}"
                + (f": {message}" if message else ""),
                status,
            )
        return answer

    def _exchange(self, path: str) -> tuple[int, dict[str, str], bytes]:
        request = (
            f"GET {path} HTTP/1.0\r\nHost: docker\r\nUser-Agent: docker-pkg\r\n"
            "Accept: application/json\r\n\r\n"
        ).encode()
        with self._connect() as connection:
            connection.sendall(request)
            raw = _read_all(connection)
        status, headers, body = _parse(raw, self.address)
        if headers.get("transfer-encoding", "").lower() == "chunked":
            body = _dechunk(body, self.address)
        return status, headers, body

    def _connect(self) -> socket.socket:
        if self._unix is not None:
            connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            connection.settimeout(self.timeout)
            try:
                connection.connect(self._unix)
            except OSError:
                connection.close()
                raise
            return connection
        plain = socket.create_connection((self._host, self._port), timeout=self.timeout)
        if self.tls is None:
            return plain
        try:
            return self._context().wrap_socket(plain, server_hostname=self._host)
        except OSError:
            plain.close()
            raise

    def _context(self) -> ssl.SSLContext:
        import ssl  # only engines over TCP with TLS pay for it

        assert self.tls is not None
        context = ssl.create_default_context(cafile=self.tls.ca if self.tls.verify else None)
        if not self.tls.verify:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        context.load_cert_chain(self.tls.cert, self.tls.key)
        return context


def _host_and_port(rest: str, default_port: int) -> tuple[str, int]:
    location = rest.split("/", 1)[0]
    if location.startswith("["):
        host, _, port = location[1:].partition("]")
        port = port.lstrip(":")
    else:
        host, _, port = location.rpartition(":") if ":" in location else (location, "", "")
    return host, int(port) if port.isdigit() else default_port


def _read_all(connection: socket.socket) -> bytes:
    chunks = []
    size = 0
    while data := connection.recv(1 << 16):
        chunks.append(data)
        size += len(data)
        if size > MAX_ANSWER:
            raise EngineError("the engine's answer is too large")
    return b"".join(chunks)


def _parse(raw: bytes, address: str) -> tuple[int, dict[str, str], bytes]:
    head, separator, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if (
        not separator
        or len(parts) < 2
        or not parts[0].startswith("HTTP/")
        or not parts[1].isdigit()
    ):
        raise EngineError(f"the engine at {address} sent no HTTP answer")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(parts[1]), headers, body


def _dechunk(body: bytes, address: str) -> bytes:
    out: list[bytes] = []
    rest = body
    while True:
        size_line, separator, rest = rest.partition(b"\r\n")
        try:
            size = int(size_line.split(b";", 1)[0], 16)
        except ValueError:
            raise EngineError(f"the engine at {address} sent a malformed chunked answer") from None
        if not separator or size == 0:
            return b"".join(out)
        out.append(rest[:size])
        rest = rest[size + 2 :]
