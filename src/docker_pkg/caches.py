"""What docker-pkg keeps in its cache folder: results it can always compute again (a parsed
configuration, a scanned tree), each under a key made of everything it depends on, the
code that computed it included. Written whole or not at all; a cache file that cannot be
read or written is ignored, never an error.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import json
import logging
import os
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


def code_signature(libraries: tuple[str, ...]) -> tuple[object, ...]:
    """Size and modification time of this package's modules and of ``libraries``' entry
    points: a new version of any of them makes other keys."""
    return _package_signature() + tuple(_library_signature(name) for name in libraries)


@functools.cache
def _package_signature() -> tuple[object, ...]:
    signature: list[tuple[str, int, int]] = []
    root = os.path.dirname(__file__)
    pending = [""]  # folders of the package, relative to it, each ending with "/"
    while pending:
        folder = pending.pop()
        with os.scandir(root + "/" + folder) as entries:
            for entry in entries:
                name = entry.name
                if name.endswith(".py"):
                    info = entry.stat()
                    signature.append((folder + name, info.st_size, info.st_mtime_ns))
                elif name != "__pycache__" and entry.is_dir():
                    pending.append(folder + name + "/")
    signature.sort()
    return tuple(signature)


@functools.cache
def _library_signature(library: str) -> object:
    spec = importlib.util.find_spec(library)
    origin = spec.origin if spec is not None else None
    if not origin:
        return (library, None)
    info = os.stat(origin)
    return (library, origin, info.st_size, info.st_mtime_ns)


def read_json(path: Path) -> Any:
    """The document kept at ``path``; None when there is none (or it is unreadable)."""
    try:
        return json.loads(path.read_bytes())
    except (OSError, ValueError):
        return None


def write_json(path: Path, document: Any) -> None:
    """Keep ``document`` at ``path``, readable by its owner only, replacing it at once."""
    try:
        data = json.dumps(document).encode()
    except (TypeError, ValueError) as exc:
        log.info("Not kept in the cache: %s (%s)", path, exc)
        return
    write_bytes(path, data)


def write_bytes(path: Path, data: bytes) -> None:
    """Keep ``data`` at ``path``, readable by its owner only, replacing it at once."""
    partial = path.with_name(f".{path.name}.{os.getpid()}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with open(fd, "wb") as out:
            out.write(data)
        os.replace(partial, path)
    except OSError as exc:
        log.info("Not kept in the cache: %s (%s)", path, exc)
        with contextlib.suppress(OSError):
            partial.unlink()
