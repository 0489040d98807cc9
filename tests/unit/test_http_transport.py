"""The registry's HTTP transport and the engine probe, against small servers on loopback."""

from __future__ import annotations

import contextlib
import json
import socket
import socketserver
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from docker_pkg.engines.probe import EngineProbe
from docker_pkg.errors import EngineError
from docker_pkg.registry.transport import Transport, TransportError


class Recorder(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    seen: list[tuple[str, str, str | None, tuple[str, int]]]
    routes: dict[str, Callable[[BaseHTTPRequestHandler], None]]

    def handle_any(self) -> None:
        self.seen.append(
            (self.command, self.path, self.headers.get("Authorization"), self.client_address)
        )
        route = self.routes.get(self.path.split("?")[0])
        if route is not None:
            route(self)
            return
        body = json.dumps({"path": self.path}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_HEAD = do_PUT = handle_any

    def log_message(self, *args: object) -> None:
        return


@pytest.fixture
def server() -> Iterator[tuple[str, type[Recorder]]]:
    handler = type("Handler", (Recorder,), {"seen": [], "routes": {}})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", handler
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_requests_share_one_kept_alive_connection(server: tuple[str, type[Recorder]]) -> None:
    base, handler = server
    transport = Transport()
    try:
        for method in ("HEAD", "GET", "HEAD", "PUT", "GET"):
            response = transport.request(method, f"{base}/v2/x", {"Accept": "*/*"}, b"")
            assert response.status_code == 200
        assert response.json() == {"path": "/v2/x"}
        assert transport.request("GET", f"{base}/t", params={"scope": "a b"}).json() == {
            "path": "/t?scope=a+b"
        }
    finally:
        transport.close()
    assert len({client for *_, client in handler.seen}) == 1


def test_redirects_are_followed_and_credentials_stay_with_their_host(
    server: tuple[str, type[Recorder]],
) -> None:
    base, handler = server
    port = base.rsplit(":", 1)[1]

    def to(location: str) -> Callable[[BaseHTTPRequestHandler], None]:
        def answer(request: BaseHTTPRequestHandler) -> None:
            request.send_response(307)
            request.send_header("Location", location)
            request.send_header("Content-Length", "0")
            request.end_headers()

        return answer

    handler.routes["/same"] = to("/landed")
    handler.routes["/other"] = to(f"http://localhost:{port}/storage")
    transport = Transport()
    try:
        same = transport.request("GET", f"{base}/same", {"Authorization": "Bearer t"})
        other = transport.request("GET", f"{base}/other", {"Authorization": "Bearer t"})
    finally:
        transport.close()
    assert same.json() == {"path": "/landed"}
    assert other.json() == {"path": "/storage"}
    auth = {path: header for _, path, header, _ in handler.seen}
    assert auth == {
        "/same": "Bearer t",
        "/landed": "Bearer t",
        "/other": "Bearer t",
        "/storage": None,
    }


def test_a_kept_connection_closed_by_the_server_is_replaced(
    server: tuple[str, type[Recorder]],
) -> None:
    base, _ = server
    transport = Transport()
    try:
        assert transport.request("GET", f"{base}/one").status_code == 200
        for kept in transport._idle.values():  # the server side goes away meanwhile
            for connection in kept:
                assert connection.sock is not None
                connection.sock.shutdown(socket.SHUT_RDWR)
        assert transport.request("GET", f"{base}/two").json() == {"path": "/two"}
    finally:
        transport.close()


def test_no_answer_is_a_transport_error() -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    transport = Transport(connect_timeout=2)
    with pytest.raises(TransportError):
        transport.request("GET", f"http://127.0.0.1:{port}/v2/")


@pytest.mark.parametrize(
    ("environ", "host", "proxied"),
    [
        ({"HTTPS_PROXY": "http://proxy.example:3128"}, "registry.example", True),
        ({"https_proxy": "http://proxy.example:3128"}, "127.0.0.1", False),
        ({"HTTPS_PROXY": "http://p:1", "NO_PROXY": ".example"}, "registry.example", False),
        (
            {"HTTPS_PROXY": "http://p:1", "NO_PROXY": "other.org,registry.example:443"},
            "registry.example",
            False,
        ),
        ({"HTTPS_PROXY": "http://p:1", "no_proxy": "*"}, "registry.example", False),
        ({"HTTPS_PROXY": "http://p:1", "NO_PROXY": "ample"}, "registry.example", True),
        ({}, "registry.example", False),
    ],
)
def test_proxies_come_from_the_environment_minus_no_proxy_and_loopback(
    environ: dict[str, str], host: str, proxied: bool
) -> None:
    transport = Transport(environ=environ)
    assert (transport._proxy_for(host) is not None) is proxied


def test_the_configured_proxy_wins_over_the_environment() -> None:
    transport = Transport(proxy="http://configured:8080", environ={"HTTPS_PROXY": "http://env:1"})
    assert transport._proxy_for("registry.example") == "http://configured:8080"
    assert transport._proxy_for("localhost") is None


class FakeEngine(socketserver.ThreadingUnixStreamServer):
    daemon_threads = True

    def __init__(self, path: Path, answer: bytes):
        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                while self.rfile.readline() not in (b"\r\n", b""):
                    pass
                self.wfile.write(answer)

        super().__init__(str(path), Handler)


@pytest.fixture
def engine(tmp_path: Path) -> Callable[[bytes], EngineProbe]:
    servers: list[FakeEngine] = []

    def serve(answer: bytes) -> EngineProbe:
        path = tmp_path / f"engine{len(servers)}.sock"
        fake = FakeEngine(path, answer)
        servers.append(fake)
        threading.Thread(target=fake.serve_forever, args=(0.05,), daemon=True).start()
        return EngineProbe(f"unix://{path}", timeout=5)

    yield serve  # type: ignore[misc]
    for fake in servers:
        fake.shutdown()
        fake.server_close()


def test_the_probe_reads_plain_and_chunked_answers(engine: Callable[[bytes], EngineProbe]) -> None:
    plain = engine(
        b'HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n[{"RepoTags": ["a:1"]}]'
    )
    assert plain.get("/images/json") == [{"RepoTags": ["a:1"]}]
    chunked = engine(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        b'5\r\n{"Api\r\n10\r\nVersion": "1.41"\r\n1\r\n}\r\n0\r\n\r\n'
    )
    assert chunked.get("/version") == {"ApiVersion": "1.41"}
    ping = engine(b"HTTP/1.0 200 OK\r\nApi-Version: 1.41\r\nOstype: linux\r\n\r\nOK")
    assert ping.ping()["api-version"] == "1.41"


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (
            b'HTTP/1.0 404 Not Found\r\n\r\n{"message": "no such image"}',
            "HTTP 404 for /x: no such image",
        ),
        (b"HTTP/1.0 500 Oops\r\n\r\nplain text failure", "HTTP 500 for /x: plain text failure"),
        (b"HTTP/1.0 200 OK\r\n\r\n{truncated", "unreadable JSON for /x"),
        (b"SSH-2.0-OpenSSH\r\n", "sent no HTTP answer"),
    ],
)
def test_the_probe_names_what_went_wrong(
    engine: Callable[[bytes], EngineProbe], answer: bytes, message: str
) -> None:
    with pytest.raises(EngineError, match=message):
        engine(answer).get("/x")


def test_an_engine_that_is_not_there_is_an_os_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        EngineProbe(f"unix://{tmp_path / 'missing.sock'}").get("/_ping")


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[tuple[int, Path, list[str]]]:
    """An HTTPS server for ``registry.test`` on loopback: (port, its CA file, paths asked)."""
    import shutil
    import ssl
    import subprocess

    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    cert, key = tmp_path / "server.crt", tmp_path / "server.key"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            "-subj", "/CN=registry.test",
            "-addext", "subjectAltName=DNS:registry.test,IP:127.0.0.1",
            "-keyout", str(key), "-out", str(cert),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    asked: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            asked.append(self.path)
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *args: object) -> None:
            return

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True).start()
    try:
        yield httpd.server_address[1], cert, asked
    finally:
        httpd.shutdown()
        httpd.server_close()


def _pipe(source: socket.socket, target: socket.socket) -> None:
    with contextlib.suppress(OSError):
        while data := source.recv(65536):
            target.sendall(data)
    with contextlib.suppress(OSError):
        target.shutdown(socket.SHUT_WR)


def test_https_goes_through_the_proxy_with_connect_and_its_credentials(
    tls_server: tuple[int, Path, list[str]],
) -> None:
    port, ca, asked = tls_server
    requests_seen: list[str] = []

    class Connect(socketserver.StreamRequestHandler):
        def handle(self) -> None:
            head = []
            while (line := self.rfile.readline()) not in (b"\r\n", b""):
                head.append(line.decode().strip())
            requests_seen.extend(head)
            upstream = socket.create_connection(("127.0.0.1", port))
            self.wfile.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
            self.wfile.flush()
            back = threading.Thread(target=_pipe, args=(upstream, self.connection), daemon=True)
            back.start()
            _pipe(self.connection, upstream)
            back.join(5)
            upstream.close()

    proxy = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Connect)
    proxy.daemon_threads = True
    threading.Thread(target=proxy.serve_forever, args=(0.05,), daemon=True).start()
    transport = Transport(
        ca_bundle=str(ca), proxy=f"http://robot:s3cret@127.0.0.1:{proxy.server_address[1]}"
    )
    try:
        response = transport.request("GET", "https://registry.test/v2/")
    finally:
        transport.close()
        proxy.shutdown()
        proxy.server_close()
    assert response.status_code == 200
    assert asked == ["/v2/"]
    assert requests_seen[0].startswith("CONNECT registry.test:443 HTTP/1.")
    assert "Proxy-Authorization: Basic cm9ib3Q6czNjcmV0" in requests_seen


def test_without_a_ca_bundle_requests_ca_bundle_is_trusted_as_the_reference_did(
    tls_server: tuple[int, Path, list[str]],
) -> None:
    from docker_pkg.registry.transport import TLSFailure

    port, ca, asked = tls_server
    url = f"https://127.0.0.1:{port}/v2/"
    trusting = Transport(environ={"REQUESTS_CA_BUNDLE": str(ca)})
    try:
        assert trusting.request("GET", url).status_code == 200
    finally:
        trusting.close()
    with pytest.raises(TLSFailure, match="certificate"):
        Transport(environ={}).request("GET", url)
    assert asked == ["/v2/"]


class CountingEngine(socketserver.ThreadingMixIn, socketserver.TCPServer):
    """A fake engine over TCP or a unix socket: pings, lists one image, inspects it."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: object, family: int = socket.AF_INET):
        self.address_family = family
        self.paths: list[str] = []
        engine = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                path = self.rfile.readline().split()[1].decode()
                while self.rfile.readline() not in (b"\r\n", b""):
                    pass
                engine.paths.append(path)
                if path == "/_ping":
                    self.wfile.write(
                        b"HTTP/1.0 200 OK\r\nApi-Version: 1.41\r\nOstype: linux\r\n\r\nOK"
                    )
                elif path.endswith("/images/json"):
                    self.wfile.write(b'HTTP/1.0 200 OK\r\n\r\n[{"RepoTags": ["reg/a:1"]}]')
                elif path.endswith("/reg/a:1/json"):
                    self.wfile.write(b'HTTP/1.0 200 OK\r\n\r\n{"Id": "sha256:1"}')
                else:
                    self.wfile.write(b'HTTP/1.0 404 Not Found\r\n\r\n{"message": "no such image"}')

        super().__init__(address, Handler)  # type: ignore[arg-type]


@pytest.mark.parametrize("remote", [False, True])
def test_a_remote_engine_lists_its_images_once_a_local_one_is_asked_per_image(
    tmp_path: Path, remote: bool
) -> None:
    from docker_pkg.engines.docker_engine import DockerEngine

    if remote:
        fake = CountingEngine(("127.0.0.1", 0))
        url = f"tcp://127.0.0.1:{fake.server_address[1]}"
    else:
        fake = CountingEngine(str(tmp_path / "engine.sock"), socket.AF_UNIX)
        url = f"unix://{tmp_path / 'engine.sock'}"
    threading.Thread(target=fake.serve_forever, args=(0.05,), daemon=True).start()
    try:
        engine = DockerEngine(url)
        asked = [engine.image_exists(ref) for ref in ("reg/a:1", "reg/b:1", "reg/a:1")]
        engine._changed()  # what a build, pull, load, tag or removal does
        asked.append(engine.image_exists("reg/b:1"))
    finally:
        fake.shutdown()
        fake.server_close()
    assert asked == [True, False, True, False]
    if remote:
        assert fake.paths == ["/_ping", "/v1.41/images/json", "/v1.41/images/json"]
    else:
        assert fake.paths == [
            "/_ping",
            "/v1.41/images/reg/a:1/json",
            "/v1.41/images/reg/b:1/json",
            "/v1.41/images/reg/a:1/json",
            "/v1.41/images/reg/b:1/json",
        ]
