"""Reading the text files of a definitions tree and its configuration, whatever lies there.

A definitions tree comes from anyone: a FIFO or a device where a file should be must never be
opened for reading (it would block forever), a huge or binary file must not be swallowed
whole, and a bad byte is reported with its line. Every problem is a :class:`UsageError` of
the caller's kind, naming the file.
"""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
import os
import stat
from collections.abc import Iterator
from pathlib import Path

from docker_pkg.errors import UsageError

# Far above any real changelog, control file, template or configuration.
MAX_TEXT_FILE = 16 * 1024 * 1024

# While set: every file read (path -> digest of its bytes) and every path found absent
# (path -> None), so that a result computed from them can be checked against the disk later.
_reads: contextvars.ContextVar[dict[str, str | None] | None] = contextvars.ContextVar(
    "reads", default=None
)


@contextlib.contextmanager
def recording_reads() -> Iterator[dict[str, str | None]]:
    """Record, within the block, what was read (see :func:`read_bytes`, :func:`lexists`)."""
    record: dict[str, str | None] = {}
    token = _reads.set(record)
    try:
        yield record
    finally:
        _reads.reset(token)


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def lexists(path: Path) -> bool:
    """Whether anything (even a dangling link) is at ``path``; an absence is recorded."""
    found = os.path.lexists(path)
    record = _reads.get()
    if not found and record is not None:
        record[str(path)] = None
    return found


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "not a regular file"


def read_bytes(path: Path, what: str, error: type[UsageError], limit: int = MAX_TEXT_FILE) -> bytes:
    """The content of the regular file ``path`` (symbolic links followed).

    The file is opened without blocking and checked through its descriptor, so nothing
    but a regular file is ever read.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        why = "a dangling symbolic link" if path.is_symlink() else "missing"
        raise error(f"{what} is {why}", path=path) from None
    except OSError as exc:
        raise error(f"cannot read {what}: {exc.strerror}", path=path) from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise error(f"{what} is {_kind(info.st_mode)}, not a regular file", path=path)
        if info.st_size > limit:
            raise error(
                f"{what} is too large ({info.st_size} bytes; at most {limit} are read)",
                path=path,
            )
        data = _read_up_to(fd, info.st_size, limit + 1)
    except OSError as exc:
        raise error(f"cannot read {what}: {exc.strerror}", path=path) from None
    finally:
        os.close(fd)
    if len(data) > limit:
        raise error(f"{what} is too large (more than {limit} bytes)", path=path)
    record = _reads.get()
    if record is not None:
        record[str(path)] = digest(data)
    return data


def decode_text(raw: bytes, path: Path, what: str, error: type[UsageError]) -> str:
    """``raw`` as UTF-8 text without NUL bytes; a problem names its line."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise error(
            f"{what} is not valid UTF-8 (byte {raw[exc.start]:#04x})", path=path, line=line
        ) from None
    nul = text.find("\0")
    if nul >= 0:
        line = text.count("\n", 0, nul) + 1
        raise error(f"{what} holds a NUL byte (a binary file?)", path=path, line=line)
    return text


def digest_of(path: str) -> str | None:
    """The digest of what :func:`read_bytes` would read at ``path``; None where it would
    refuse (missing, not a regular file, too large, unreadable)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_TEXT_FILE:
            return None
        data = _read_up_to(fd, info.st_size, MAX_TEXT_FILE)
    except OSError:
        return None
    finally:
        os.close(fd)
    return digest(data)


def _read_up_to(fd: int, expected: int, limit: int) -> bytes:
    """At most ``limit`` bytes of ``fd``, in one read when the file is ``expected`` long."""
    chunks = []
    size = 0
    while size < limit and (data := os.read(fd, min(limit - size, max(expected, 4096) + 1))):
        chunks.append(data)
        size += len(data)
    return b"".join(chunks)


def read_text(path: Path, what: str, error: type[UsageError], limit: int = MAX_TEXT_FILE) -> str:
    """A regular UTF-8 text file, checked as :func:`read_bytes` and :func:`decode_text` do."""
    return decode_text(read_bytes(path, what, error, limit), path, what, error)
