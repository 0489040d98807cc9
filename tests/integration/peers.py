"""Small real peers for registry tests, on loopback: a Bearer token service for the
Distribution registry's ``auth: token``, and a proxy that injects faults."""

from __future__ import annotations

import base64
import contextlib
import json
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass
class TokenService:
    """Issues RS256 JWTs the way a registry's token server does; records each request."""

    users: dict[str, str]
    service: str = "docker-pkg-test"
    issuer: str = "docker-pkg-test-issuer"
    requests: list[dict[str, Any]] = field(default_factory=list)
    issued: list[str] = field(default_factory=list)  # every token handed out

    def __post_init__(self) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "token signer")])
        now = int(time.time())
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(_utc(now - 3600))
            .not_valid_after(_utc(now + 86400))
            .sign(self.key, hashes.SHA256())
        )

    def write_cert(self, path: Path) -> Path:
        path.write_bytes(self.cert.public_bytes(serialization.Encoding.PEM))
        return path

    def token(self, user: str | None, scope: str) -> str:
        der = self.cert.public_bytes(serialization.Encoding.DER)
        header = {"typ": "JWT", "alg": "RS256", "x5c": [base64.b64encode(der).decode()]}
        access = []
        if scope:
            kind, name, actions = scope.split(":", 2)
            granted = actions.split(",") if user else [a for a in actions.split(",") if a == "pull"]
            access.append({"type": kind, "name": name, "actions": granted})
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "sub": user or "",
            "aud": self.service,
            "exp": now + 300,
            "nbf": now - 10,
            "iat": now,
            "jti": uuid.uuid4().hex,
            "access": access,
        }
        signing = f"{_b64url(json.dumps(header).encode())}.{_b64url(json.dumps(claims).encode())}"
        signature = self.key.sign(signing.encode(), padding.PKCS1v15(), hashes.SHA256())
        token = f"{signing}.{_b64url(signature)}"
        self.issued.append(token)
        return token

    @contextmanager
    def serving(self) -> Iterator[str]:
        """Serve on 127.0.0.1; yields the realm URL."""
        service = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                return

            def do_GET(self) -> None:
                query = parse_qs(urlparse(self.path).query)
                scope = query.get("scope", [""])[0]
                user = None
                header = self.headers.get("Authorization", "")
                if header.startswith("Basic "):
                    name, _, secret = base64.b64decode(header[6:]).decode().partition(":")
                    if service.users.get(name) != secret:
                        service.requests.append({"user": name, "scope": scope, "ok": False})
                        self.send_response(401)
                        self.end_headers()
                        return
                    user = name
                service.requests.append({"user": user, "scope": scope, "ok": True})
                body = json.dumps({"token": service.token(user, scope), "expires_in": 300})
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(body.encode())

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield f"http://127.0.0.1:{server.server_address[1]}/token"
        finally:
            server.shutdown()
            server.server_close()


def _utc(epoch: int) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


@dataclass
class FaultyProxy:
    """Forwards TCP to ``target``; the first ``drop`` connections are closed at once and the
    next ``unavailable`` ones answered 503, or every one with ``forever``; with ``every``,
    each ``every``-th connection after those is dropped too; and the first
    ``engine_unavailable`` connections of the Docker engine (its pushes) are answered 503."""

    target: tuple[str, int]
    drop: int = 0
    unavailable: int = 0
    forever: bool = False
    every: int = 0
    engine_unavailable: int = 0
    engine_seen: int = 0
    seen: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _fate(self) -> str:
        with self._lock:
            self.seen += 1
            n = self.seen
        if self.forever:
            return "503"
        if n <= self.drop:
            return "drop"
        if n <= self.drop + self.unavailable:
            return "503"
        if self.every and n % self.every == 0:
            return "drop"
        return "forward"

    def _handle(self, client: socket.socket) -> None:
        fate = self._fate()
        with client:
            if fate == "drop":
                return
            first = client.recv(65536)
            if fate == "503" or self._engine_fault(first):
                client.sendall(
                    b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n"
                    b"Connection: close\r\n\r\n"
                )
                return
            with socket.create_connection(self.target) as upstream:
                upstream.sendall(first)
                pumps = [
                    threading.Thread(target=_pump, args=(client, upstream), daemon=True),
                    threading.Thread(target=_pump, args=(upstream, client), daemon=True),
                ]
                for pump in pumps:
                    pump.start()
                for pump in pumps:
                    pump.join()

    def _engine_fault(self, first: bytes) -> bool:
        if b"User-Agent: docker/" not in first:
            return False
        with self._lock:
            self.engine_seen += 1
            return self.engine_seen <= self.engine_unavailable

    @contextmanager
    def serving(self) -> Iterator[str]:
        """Listen on 127.0.0.1; yields ``127.0.0.1:PORT``."""
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        listener.settimeout(0.2)
        stop = threading.Event()

        def accept() -> None:
            while not stop.is_set():
                try:
                    client, _ = listener.accept()
                except TimeoutError:
                    continue
                except OSError:
                    return
                threading.Thread(target=self._handle, args=(client,), daemon=True).start()

        thread = threading.Thread(target=accept, daemon=True)
        thread.start()
        try:
            yield f"127.0.0.1:{listener.getsockname()[1]}"
        finally:
            stop.set()
            thread.join()
            listener.close()


def _pump(source: socket.socket, sink: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            sink.sendall(data)
    except OSError:
        pass
    finally:
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)
