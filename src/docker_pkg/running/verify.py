"""Verification: run ``verify_command`` (by default the image's ``test.sh``) on a built image."""

from __future__ import annotations

import contextlib
import logging
import os
import shlex
import shutil
import signal
import subprocess
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from docker_pkg.errors import Cancelled, VerifyError

log = logging.getLogger(__name__)

TAIL_LINES = 20


def verify_argv(
    command: str, args: Sequence[str], image_path: Path, label: str
) -> list[str] | None:
    """The command to run, or None when an argument names a ``{path}`` file that is missing."""
    for arg in args:
        for part in shlex.split(arg):
            if "{path}" in part and not os.path.exists(part.replace("{path}", str(image_path))):
                return None
    return [command, *(a.format(path=image_path, image=label) for a in args)]


def verify_environment(
    environ: Mapping[str, str], proxy_vars: Mapping[str, str], docker_host: str | None
) -> dict[str, str]:
    """Only PATH and the proxy variables, as the reference; plus DOCKER_HOST naming the engine
    that built the image, so that ``docker run`` in ``test.sh`` reaches that image."""
    env = dict(proxy_vars)
    if environ.get("PATH"):
        env["PATH"] = environ["PATH"]
    if docker_host:
        env["DOCKER_HOST"] = docker_host
    return env


class ProcessGroup:
    """The verification processes of a run, so that an interrupt can stop them all."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._procs: set[subprocess.Popen[bytes]] = set()
        self._cancelled = False

    def start(self, argv: list[str], env: Mapping[str, str]) -> subprocess.Popen[bytes]:
        with self._lock:
            if self._cancelled:
                raise Cancelled("verification not started: the run was interrupted")
            proc = subprocess.Popen(
                argv,
                env=dict(env),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            self._procs.add(proc)
            return proc

    def done(self, proc: subprocess.Popen[bytes]) -> None:
        with self._lock:
            self._procs.discard(proc)

    @property
    def cancelled(self) -> bool:
        return self._cancelled

    def cancel(self) -> None:
        """Terminate every running verification (its whole process group)."""
        with self._lock:
            self._cancelled = True
            procs = list(self._procs)
        for proc in procs:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)


def run_verification(
    argv: list[str],
    env: Mapping[str, str],
    output: logging.Logger | logging.LoggerAdapter[logging.Logger],
    *,
    timeout: float | None = None,
    group: ProcessGroup | None = None,
    on_timeout: Callable[[], str] = lambda: "",
) -> None:
    """Run ``argv``; its output goes to ``output``; a failure raises with the last lines.

    Past ``timeout`` seconds its whole process group is killed, then ``on_timeout`` cleans up
    what it started elsewhere (containers) and says what it did.
    """
    executable = shutil.which(argv[0], path=env.get("PATH"))
    if executable is None:
        raise VerifyError(f"verification command {argv[0]!r} not found")
    group = group or ProcessGroup()
    try:
        proc = group.start(argv, env)
    except OSError as exc:
        raise VerifyError(f"cannot run {argv[0]}: {exc.strerror}") from None
    try:
        stdout, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        stdout, _ = proc.communicate()
        _log_lines(stdout, output)
        done = on_timeout()
        raise VerifyError(
            f"stopped: verification took longer than verify_timeout ({timeout:g}s){done}"
        ) from None
    finally:
        group.done(proc)
    if group.cancelled:
        raise Cancelled("verification stopped: the run was interrupted")
    lines = _log_lines(stdout, output)
    if proc.returncode != 0:
        tail = "\n".join(lines[-TAIL_LINES:])
        raise VerifyError(
            f"verification failed with exit status {proc.returncode}"
            + (f"; last output:\n{tail}" if tail else "")
        )


def _log_lines(
    stdout: bytes, output: logging.Logger | logging.LoggerAdapter[logging.Logger]
) -> list[str]:
    lines = stdout.decode("utf-8", errors="replace").splitlines()
    for line in lines:
        output.info("verify: %s", line)
    return lines
