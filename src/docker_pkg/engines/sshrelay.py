"""Engines reached over ``ssh://``, the way the Docker CLI reaches them: each connection is
carried by ``ssh [-l USER] [-p PORT] HOST docker system dial-stdio``, so the user's own ssh
(its config, keys and agent) does the work.

The Docker SDK would need paramiko for this (even to shell out to ssh), and importing that
on every start costs a tenth of a second; instead a relay listens on a local unix socket of
its own and the SDK talks to it as to a local engine.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import threading
from pathlib import Path
from urllib.parse import urlsplit

from docker_pkg.errors import EngineError


def ssh_command(url: str) -> list[str]:
    """The ssh invocation that reaches the engine of ``ssh://[USER@]HOST[:PORT]``."""
    parts = urlsplit(url)
    if parts.scheme != "ssh" or not parts.hostname:
        raise EngineError(f"{url!r} is not an ssh://[user@]host[:port] address")
    command = ["ssh"]
    if parts.username:
        command += ["-l", parts.username]
    if parts.port:
        command += ["-p", str(parts.port)]
    return [*command, "--", parts.hostname, "docker system dial-stdio"]


class SshRelay:
    """A unix socket that forwards every connection to the remote engine through ssh."""

    def __init__(self, url: str):
        if shutil.which("ssh") is None:
            raise EngineError(f"cannot reach {url}: no ssh client is installed")
        self.command = ssh_command(url)
        self._folder = Path(tempfile.mkdtemp(prefix="docker-pkg-ssh-"))
        self.path = self._folder / "engine.sock"
        self._server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._server.bind(str(self.path))
        self._server.listen(16)
        self._lock = threading.Lock()
        self._procs: set[subprocess.Popen[bytes]] = set()
        self._closed = False
        threading.Thread(target=self._accept, name="docker-pkg-ssh", daemon=True).start()

    @property
    def url(self) -> str:
        return f"unix://{self.path}"

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._server.accept()
            except OSError:
                return  # closed
            threading.Thread(target=self._carry, args=(client,), daemon=True).start()

    def _carry(self, client: socket.socket) -> None:
        with self._lock:
            if self._closed:
                client.close()
                return
            proc = subprocess.Popen(
                self.command,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
            self._procs.add(proc)
        assert proc.stdin is not None
        assert proc.stdout is not None
        stdin, stdout = proc.stdin, proc.stdout

        def upstream() -> None:
            with contextlib.suppress(OSError, ValueError):
                while data := client.recv(65536):
                    stdin.write(data)
                    stdin.flush()
            with contextlib.suppress(OSError, ValueError):
                stdin.close()

        sender = threading.Thread(target=upstream, daemon=True)
        sender.start()
        with contextlib.suppress(OSError, ValueError):
            while data := os.read(stdout.fileno(), 65536):
                client.sendall(data)
        with contextlib.suppress(OSError):
            client.shutdown(socket.SHUT_RDWR)
        client.close()
        proc.wait()
        with self._lock:
            self._procs.discard(proc)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            procs = list(self._procs)
        self._server.close()
        for proc in procs:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
        shutil.rmtree(self._folder, ignore_errors=True)
