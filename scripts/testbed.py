"""A private Docker engine and a Distribution registry on loopback, for tests and the example.

Used three ways:

* ``python scripts/testbed.py run -- CMD ...`` starts both, runs CMD with ``DOCKER_HOST`` and
  ``DOCKER_PKG_TEST_REGISTRY`` set, stops both and exits with CMD's status;
* ``python scripts/testbed.py run --reuse --registry-port 5000 -- CMD ...`` does the same but
  reuses an engine that already answers at ``DOCKER_HOST`` (or the default socket), and a
  registry that already answers on that port, instead of starting them;
* ``tests/conftest.py`` imports :class:`Testbed` when the suite is run without the variables.

The engine runs with ``--bridge=none --iptables=false``: containers get loopback only, and
nothing here ever addresses anything but 127.0.0.1 or a unix socket.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import docker
import requests

DEFAULT_SOCKET = "/var/run/docker.sock"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _unix_listening(docker_host: str) -> bool:
    """For a unix socket: is anything listening? (The SDK leaks the socket of a refused
    connection, which a test session reports as an unraisable warning.)"""
    if not docker_host.startswith("unix://"):
        return True
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        try:
            sock.connect(docker_host.removeprefix("unix://"))
        except OSError:
            return False
    return True


def engine_answers(docker_host: str, timeout: float = 2.0) -> bool:
    """True when a Docker engine answers ``/_ping`` at ``docker_host``."""
    if not _unix_listening(docker_host):
        return False
    try:
        client = docker.DockerClient(base_url=docker_host, timeout=int(timeout) or 1)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except (docker.errors.DockerException, requests.RequestException, OSError):
        return False


def port_open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def registry_answers(address: str) -> bool:
    try:
        return requests.get(f"http://{address}/v2/", timeout=1).status_code == 200
    except requests.RequestException:
        return False


def dockerd_argv(folder: Path) -> list[str]:
    """A private dockerd with its data under ``folder``: no bridge, no iptables (containers
    get loopback only), overlay2. The caller adds where it listens."""
    return [
        "dockerd",
        "--bridge=none",
        "--iptables=false",
        "--ip-masq=false",
        "--ip6tables=false",
        f"--data-root={folder / 'data'}",
        f"--exec-root={folder / 'exec'}",
        f"--pidfile={folder / 'docker.pid'}",
        "--storage-driver=overlay2",
    ]


def wait_until(
    check: Callable[[], bool], what: str, timeout: float, proc: subprocess.Popen[bytes]
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited early with status {proc.returncode}")
        if check():
            return
        time.sleep(0.2)
    raise RuntimeError(f"{what} did not become ready within {timeout:.0f}s")


@dataclass
class SideEngine:
    """An engine started next to the test bed's own: its address, process and, for a TLS
    one, the client's (ca, cert, key)."""

    name: str
    docker_host: str
    proc: subprocess.Popen[bytes]
    client_tls: tuple[Path, Path, Path] | None = None

    def answers(self) -> bool:
        if self.client_tls is None:
            return engine_answers(self.docker_host)
        ca, cert, key = self.client_tls
        url = self.docker_host.replace("tcp://", "https://") + "/_ping"
        try:
            answer = requests.get(url, cert=(str(cert), str(key)), verify=str(ca), timeout=2)
        except requests.RequestException:
            return False
        return answer.status_code == 200

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait()


@dataclass(frozen=True)
class SshAccess:
    url: str
    bin_dir: Path  # put first on PATH: its ssh knows the key and the port


@dataclass
class Testbed:
    """Starts (and later stops) a private dockerd and a registry under one temporary folder."""

    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="dpkg-tb-")))
    docker_host: str = ""
    registry: str = ""
    _procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    _logs: list[IO[bytes]] = field(default_factory=list)
    _owns_engine: bool = False
    _engine: subprocess.Popen[bytes] | None = None
    _registries: dict[str, tuple[subprocess.Popen[bytes], list[str]]] = field(default_factory=dict)

    def start(self, reuse: bool = False, registry_port: int | None = None) -> None:
        existing = os.environ.get("DOCKER_HOST") or f"unix://{DEFAULT_SOCKET}"
        if reuse and engine_answers(existing):
            self.docker_host = existing
        else:
            self._start_engine()
        if reuse and registry_port and registry_answers(f"127.0.0.1:{registry_port}"):
            self.registry = f"127.0.0.1:{registry_port}"
        else:
            self.registry = self.start_registry(registry_port or free_port())

    def _spawn(self, name: str, argv: list[str]) -> subprocess.Popen[bytes]:
        log = open(self.root / f"{name}.log", "wb")  # noqa: SIM115 (open while the process runs)
        self._logs.append(log)
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self._procs.append(proc)
        return proc

    def _start_engine(self) -> None:
        if shutil.which("dockerd") is None:
            raise RuntimeError("dockerd is not installed (apt-get install docker.io)")
        d = self.root / "engine"
        d.mkdir(exist_ok=True)  # a restart keeps the data root
        sock = d / "docker.sock"
        proc = self._spawn("dockerd", [*dockerd_argv(d), f"--host=unix://{sock}"])
        self.docker_host = f"unix://{sock}"
        self._owns_engine = True
        self._engine = proc
        wait_until(lambda: engine_answers(self.docker_host), "dockerd", 60, proc)

    def start_engine(self) -> str:
        """Start a private engine (again, on the same data after :meth:`kill_engine`)."""
        # The killed engine's containerd died with it but, with no init here to reap it,
        # lingers as a zombie whose pid file would make the new engine wait for it forever.
        (self.root / "engine" / "exec" / "containerd" / "containerd.pid").unlink(missing_ok=True)
        self._start_engine()
        return self.docker_host

    def kill_engine(self) -> None:
        """``kill -9`` the private engine, as a crash would; its data stays."""
        assert self._engine is not None, "this test bed did not start an engine"
        self._engine.kill()
        self._engine.wait()

    def kill_registry(self, address: str) -> None:
        """``kill -9`` a registry this test bed started; its storage stays."""
        self._registries[address][0].kill()
        self._registries[address][0].wait()

    def restart_registry(self, address: str) -> None:
        _, argv = self._registries[address]
        proc = self._spawn(f"registry-{address.rsplit(':', 1)[1]}-again", argv)
        self._registries[address] = (proc, argv)
        wait_until(lambda: registry_answers(address), "docker-registry", 30, proc)

    def _openssl(self, *args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True)

    def _ca(self) -> tuple[Path, Path]:
        d = self.root / "tls"
        d.mkdir(exist_ok=True)
        ca, ca_key = d / "ca.crt", d / "ca.key"
        if not ca.exists():
            self._openssl(
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "2",
                "-subj",
                "/CN=docker-pkg test CA",
                "-keyout",
                str(ca_key),
                "-out",
                str(ca),
            )
        return ca, ca_key

    def _signed(self, name: str, subject: str, extensions: str) -> tuple[Path, Path]:
        """A key and a certificate signed by the test CA: (cert, key)."""
        ca, ca_key = self._ca()
        d = self.root / "tls"
        cert, key, csr, ext = (d / f"{name}.{s}" for s in ("crt", "key", "csr", "cnf"))
        ext.write_text(extensions)
        self._openssl(
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            subject,
            "-keyout",
            str(key),
            "-out",
            str(csr),
        )
        self._openssl(
            "x509",
            "-req",
            "-in",
            str(csr),
            "-CA",
            str(ca),
            "-CAkey",
            str(ca_key),
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            str(ext),
            "-out",
            str(cert),
        )
        return cert, key

    def make_tls(self) -> tuple[Path, Path, Path]:
        """A self-signed CA and a server certificate for 127.0.0.1: (ca, cert, key)."""
        cert, key = self._signed(
            "server", "/CN=127.0.0.1", "subjectAltName=IP:127.0.0.1,DNS:localhost\n"
        )
        return self._ca()[0], cert, key

    def make_client_cert(self) -> tuple[Path, Path]:
        """A client certificate of the test CA, for engines that verify clients: (cert, key)."""
        return self._signed("client", "/CN=docker-pkg client", "extendedKeyUsage=clientAuth\n")

    def start_side_engine(self, name: str, *, tls: bool = False) -> SideEngine:
        """One more private engine: on a unix socket, or on ``tcp://127.0.0.1:PORT``
        requiring client certificates of the test CA."""
        d = self.root / f"engine-{name}"
        d.mkdir(exist_ok=True)
        argv = dockerd_argv(d)
        client: tuple[Path, Path, Path] | None = None
        if tls:
            ca, cert, key = self.make_tls()
            port = free_port()
            argv += [
                "--tlsverify",
                f"--tlscacert={ca}",
                f"--tlscert={cert}",
                f"--tlskey={key}",
                f"--host=tcp://127.0.0.1:{port}",
            ]
            host = f"tcp://127.0.0.1:{port}"
            client_cert, client_key = self.make_client_cert()
            client = (ca, client_cert, client_key)
        else:
            host = f"unix://{d / 'docker.sock'}"
            argv.append(f"--host={host}")
        (d / "exec" / "containerd" / "containerd.pid").unlink(missing_ok=True)
        proc = self._spawn(f"dockerd-{name}", argv)
        engine = SideEngine(name, host, proc, client)
        wait_until(engine.answers, f"dockerd {name}", 60, proc)
        return engine

    def start_sshd(self, engine_socket: str) -> SshAccess:
        """A private sshd on loopback that lets a throwaway key in, its session forced to
        ``docker system dial-stdio`` against ``engine_socket``; and an ``ssh`` on a PATH of
        its own that knows the key and the port (as a user's ssh config would)."""
        d = self.root / "ssh"
        d.mkdir(exist_ok=True)
        host_key, user_key = d / "host_key", d / "user_key"
        for key in (host_key, user_key):
            subprocess.run(
                ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True
            )
        forced = f'command="DOCKER_HOST={engine_socket} docker system dial-stdio"'
        authorized = d / "authorized_keys"
        authorized.write_text(f"{forced} {(d / 'user_key.pub').read_text()}")
        authorized.chmod(0o600)
        port = free_port()
        config = d / "sshd_config"
        config.write_text(
            f"Port {port}\nListenAddress 127.0.0.1\nHostKey {host_key}\n"
            f"AuthorizedKeysFile {authorized}\nPasswordAuthentication no\n"
            "PermitRootLogin prohibit-password\nUsePAM no\nStrictModes no\n"
            f"PidFile {d / 'sshd.pid'}\n"
        )
        Path("/run/sshd").mkdir(exist_ok=True)
        proc = self._spawn("sshd", ["/usr/sbin/sshd", "-D", "-e", "-f", str(config)])
        wait_until(lambda: port_open(port), "sshd", 30, proc)
        client = d / "ssh_config"
        client.write_text(
            f"Host 127.0.0.1\n  Port {port}\n  IdentityFile {user_key}\n"
            "  StrictHostKeyChecking no\n  UserKnownHostsFile /dev/null\n  LogLevel ERROR\n"
        )
        bin_dir = d / "bin"
        bin_dir.mkdir(exist_ok=True)
        wrapper = bin_dir / "ssh"
        wrapper.write_text(f'#!/bin/sh\nexec /usr/bin/ssh -F {client} "$@"\n')
        wrapper.chmod(0o755)
        return SshAccess(f"ssh://root@127.0.0.1:{port}", bin_dir)

    def make_htpasswd(self, user: str, password: str) -> Path:
        path = self.root / "htpasswd"
        entry = subprocess.run(
            ["htpasswd", "-Bbn", user, password], check=True, capture_output=True, text=True
        ).stdout.strip()
        path.write_text(entry + "\n")
        return path

    def start_registry(
        self,
        port: int | None = None,
        readonly: bool = False,
        tls: tuple[Path, Path] | None = None,
        htpasswd: Path | None = None,
        token: tuple[str, str, str, Path] | None = None,
    ) -> str:
        """Start one more registry (on ``port``, else a free one); return its address.

        ``tls`` is (certificate, key); ``htpasswd`` turns on Basic authentication; ``token``
        (realm, service, issuer, signing certificate) turns on Bearer token authentication.
        """
        if shutil.which("docker-registry") is None:
            raise RuntimeError("docker-registry is not installed (apt-get install docker-registry)")
        port = port or free_port()
        name = f"registry-{port}"
        storage = self.root / name
        storage.mkdir()
        config = self.root / f"{name}.yml"
        maintenance = "  maintenance:\n    readonly:\n      enabled: true\n" if readonly else ""
        auth = f"auth:\n  htpasswd:\n    realm: test\n    path: {htpasswd}\n" if htpasswd else ""
        if token:
            realm, service, issuer, cert = token
            auth = (
                f"auth:\n  token:\n    realm: {realm}\n    service: {service}\n"
                f"    issuer: {issuer}\n    rootcertbundle: {cert}\n"
            )
        tls_conf = f"  tls:\n    certificate: {tls[0]}\n    key: {tls[1]}\n" if tls else ""
        config.write_text(
            "version: 0.1\n"
            "log:\n  level: warn\n"
            "storage:\n"
            f"  filesystem:\n    rootdirectory: {storage}\n"
            "  delete:\n    enabled: true\n"
            f"{maintenance}"
            f"{auth}"
            f"http:\n  addr: 127.0.0.1:{port}\n{tls_conf}"
        )
        argv = ["docker-registry", "serve", str(config)]
        proc = self._spawn(name, argv)
        address = f"127.0.0.1:{port}"
        self._registries[address] = (proc, argv)
        if tls or htpasswd or token:
            wait_until(lambda: port_open(port), "docker-registry", 30, proc)
        else:
            wait_until(lambda: registry_answers(address), "docker-registry", 30, proc)
        return address

    def environ(self) -> dict[str, str]:
        return {"DOCKER_HOST": self.docker_host, "DOCKER_PKG_TEST_REGISTRY": self.registry}

    def stop(self) -> None:
        for proc in reversed(self._procs):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        self._procs.clear()
        for log in self._logs:
            log.close()
        self._logs.clear()
        if self._owns_engine:
            # dockerd leaves overlay mounts behind when killed hard; unmount before removing.
            with open("/proc/mounts") as mounts:
                ours = [line.split()[1] for line in mounts if str(self.root) in line]
            for mountpoint in sorted(ours, reverse=True):
                subprocess.run(["umount", "-l", mountpoint], check=False)
        shutil.rmtree(self.root, ignore_errors=True)


@contextlib.contextmanager
def running(reuse: bool = False, registry_port: int | None = None) -> Iterator[Testbed]:
    bed = Testbed()
    try:
        bed.start(reuse=reuse, registry_port=registry_port)
        yield bed
    finally:
        bed.stop()


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="verb", required=True)
    run = sub.add_parser("run", help="start the engine and registry, run a command, stop them")
    run.add_argument(
        "--reuse", action="store_true", help="reuse an engine and registry that already answer"
    )
    run.add_argument("--registry-port", type=int, default=None, help="registry port on 127.0.0.1")
    run.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("run needs a command after --")
    # A SIGTERM (CI stopping, a user's kill) stops the services like Ctrl-C does.
    signal.signal(signal.SIGTERM, _interrupt)
    with running(reuse=args.reuse, registry_port=args.registry_port) as bed:
        print(f"testbed: engine {bed.docker_host}, registry {bed.registry}", flush=True)
        env = {**os.environ, **bed.environ()}
        completed = subprocess.run(command, env=env, check=False)
        return completed.returncode


if __name__ == "__main__":
    sys.exit(main())
