"""HTTP/1.1 for the registry client, on the standard library's ``http.client``.

Every ``build`` asks the registry whether its images are there; importing requests for that
took longer than the rest of a build with nothing to do. What the Distribution API needs is
small and is all here: kept-alive connections shared by threads, TLS verified against the
system's CAs or a given bundle, an HTTPS proxy (``CONNECT``), redirects (a registry may send
blob downloads to its storage; credentials never follow to another host), and bodies read
whole (manifests and image configs, never layers).

Proxies: the configured one, else ``HTTPS_PROXY`` / ``HTTP_PROXY`` of the environment
(either case), minus the hosts of ``NO_PROXY``; never for loopback.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import os
import threading
import weakref
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode, urljoin, urlsplit

if TYPE_CHECKING:
    import http.client
    import ssl

MAX_BODY = 64 * 1024 * 1024
MAX_REDIRECTS = 5
REDIRECTS = frozenset({301, 302, 303, 307, 308})


class TransportError(Exception):
    """The request got no HTTP answer."""


class TLSFailure(TransportError):
    """The TLS handshake failed (an untrusted certificate, or no TLS at all)."""


@dataclass
class Response:
    """An answer, its body read whole (its connection is back in the pool already)."""

    status_code: int
    headers: http.client.HTTPMessage  # names are case-insensitive
    content: bytes
    url: str

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")

    def json(self) -> Any:
        """The body as JSON; ValueError when it is not."""
        return json.loads(self.content)


def is_loopback_host(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _proxy_from_environment(environ: Mapping[str, str]) -> str | None:
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"):
        if environ.get(name):
            return environ[name]
    return None


def _bypassed(host: str, environ: Mapping[str, str]) -> bool:
    """Whether ``NO_PROXY`` (``*``, hosts, ``.domain`` or ``domain``) covers ``host``."""
    rules = environ.get("NO_PROXY") or environ.get("no_proxy") or ""
    for item in (r.strip().lower() for r in rules.split(",")):
        if item == "*":
            return True
        domain = item.lstrip(".")
        if domain.count(":") == 1:  # host:port
            domain = domain.rsplit(":", 1)[0]
        if domain and (host == domain or host.endswith("." + domain)):
            return True
    return False


@dataclass
class Transport:
    """Requests to any host, on connections kept per (scheme, host, port) and shared by the
    threads of a run."""

    ca_bundle: str | None = None  # None: REQUESTS_CA_BUNDLE's, else the system's CAs
    proxy: str | None = None  # None: the environment's
    connect_timeout: float = 5.0
    read_timeout: float = 30.0
    environ: Mapping[str, str] = field(default_factory=lambda: os.environ)
    _idle: dict[tuple[str, str, int], list[http.client.HTTPConnection]] = field(
        default_factory=dict
    )
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _context: ssl.SSLContext | None = None

    def __post_init__(self) -> None:
        # A transport dropped without close() still closes its connections when collected.
        weakref.finalize(self, _close_all, self._idle)

    def close(self) -> None:
        with self._lock:
            _close_all(self._idle)

    def request(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str] | None = None,
        body: bytes | None = None,
        *,
        params: Mapping[str, str] | None = None,
        auth: tuple[str, str] | None = None,
    ) -> Response:
        """One request, redirects followed (GET and HEAD); TransportError without an answer."""
        sent = dict(headers or {})
        if auth is not None:
            token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
            sent["Authorization"] = f"Basic {token}"
        if params:
            url += ("&" if "?" in url else "?") + urlencode(params)
        for _ in range(MAX_REDIRECTS + 1):
            response = self._once(method, url, sent, body)
            location = response.headers.get("Location")
            followed = method in ("GET", "HEAD") and response.status_code in REDIRECTS
            if not followed or not location:
                return response
            target = urljoin(url, location)
            if urlsplit(target).netloc != urlsplit(url).netloc:
                sent.pop("Authorization", None)  # credentials stay with the registry
            url = target
        raise TransportError(f"more than {MAX_REDIRECTS} redirects from {url}")

    def _once(self, method: str, url: str, headers: dict[str, str], body: bytes | None) -> Response:
        import http.client

        parts = urlsplit(url)
        scheme, host = parts.scheme, parts.hostname or ""
        port = parts.port or (443 if scheme == "https" else 80)
        target = parts.path or "/"
        if parts.query:
            target += "?" + parts.query
        key = (scheme, host, port)
        for attempt in range(2):  # a kept connection the server closed meanwhile: once more
            connection, reused = self._connection(key)
            try:
                if connection.sock is None:
                    connection.connect()  # within connect_timeout; answers within read_timeout
                    connection.sock.settimeout(self.read_timeout)  # type: ignore[attr-defined]
                connection.request(method, target, body=body, headers=headers)
                answer = connection.getresponse()
                content = answer.read(MAX_BODY + 1)  # a HEAD's is empty
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError) as exc:
                connection.close()
                if reused and attempt == 0:
                    continue
                raise TransportError(f"{host}: {exc}") from None
            except OSError as exc:
                connection.close()
                raise _failure(host, exc) from None
            except http.client.HTTPException as exc:
                connection.close()
                raise TransportError(f"{host}: bad HTTP answer ({exc!r})") from None
            if len(content) > MAX_BODY:
                connection.close()
                raise TransportError(f"{host}: answer larger than {MAX_BODY} bytes")
            if answer.will_close or not answer.isclosed():
                connection.close()
            else:
                with self._lock:
                    self._idle.setdefault(key, []).append(connection)
            return Response(answer.status, answer.msg, content, url)
        raise AssertionError("unreachable")

    def _connection(self, key: tuple[str, str, int]) -> tuple[http.client.HTTPConnection, bool]:
        import http.client  # loaded by the first request, not by every command

        with self._lock:
            idle = self._idle.get(key)
            if idle:
                return idle.pop(), True
        scheme, host, port = key
        proxy = self._proxy_for(host)
        if scheme == "https":
            context = self._tls()
            if proxy is None:
                return http.client.HTTPSConnection(
                    host, port, timeout=self.connect_timeout, context=context
                ), False
            through = urlsplit(proxy)
            connection: http.client.HTTPConnection = http.client.HTTPSConnection(
                through.hostname or "",
                through.port or 80,
                timeout=self.connect_timeout,
                context=context,
            )
            tunnel = {}
            if through.username:
                secret = f"{through.username}:{through.password or ''}".encode()
                tunnel["Proxy-Authorization"] = "Basic " + base64.b64encode(secret).decode()
            connection.set_tunnel(host, port, headers=tunnel)
            return connection, False
        return http.client.HTTPConnection(host, port, timeout=self.connect_timeout), False

    def _proxy_for(self, host: str) -> str | None:
        if is_loopback_host(host) or _bypassed(host.lower(), self.environ):
            return None
        return self.proxy or _proxy_from_environment(self.environ)

    def _tls(self) -> ssl.SSLContext:
        with self._lock:
            if self._context is None:
                import ssl

                # Without a ca_bundle, the CAs requests would have used (the reference's
                # registry client), else the system's (OpenSSL honours SSL_CERT_FILE).
                cafile = self.ca_bundle or self.environ.get("REQUESTS_CA_BUNDLE") or None
                self._context = ssl.create_default_context(cafile=cafile)
            return self._context


def _close_all(idle: dict[tuple[str, str, int], list[http.client.HTTPConnection]]) -> None:
    connections = [c for kept in idle.values() for c in kept]
    idle.clear()
    for connection in connections:
        connection.close()


def _failure(host: str, exc: OSError) -> TransportError:
    import ssl

    if isinstance(exc, ssl.SSLError | ssl.CertificateError):
        return TLSFailure(f"{host}: {exc}")
    return TransportError(f"{host}: {exc.strerror or exc}")
