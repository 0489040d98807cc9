"""Build contexts: the image folder (minus ``.dockerignore``) plus the rendered Dockerfile,
streamed as a tar archive without copying the folder anywhere.

``.dockerignore`` follows Docker's rules (``**``, ``!`` exceptions, ``#`` comments) through
the Docker SDK's own pattern matcher, so a context holds what ``docker build`` would send.
"""

from __future__ import annotations

import io
import logging
import os
import tarfile
from collections.abc import Iterator, Sequence
from pathlib import Path

from docker_pkg.errors import BuildError

log = logging.getLogger(__name__)

DOCKERIGNORE = ".dockerignore"
DOCKERFILE = "Dockerfile"


def read_dockerignore(folder: Path) -> list[str]:
    """Patterns of ``folder/.dockerignore`` as Docker reads them (trimmed, comments dropped)."""
    path = folder / DOCKERIGNORE
    if not path.is_file():
        return []
    patterns = []
    for raw in path.read_text(encoding="utf-8", errors="replace").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        body = line[1:].strip() if negate else line
        body = os.path.normpath(body.lstrip("/")) if body.lstrip("/") else "."
        patterns.append(("!" if negate else "") + body)
    return patterns


def context_files(folder: Path) -> list[str]:
    """Relative paths (files and folders) of ``folder`` that belong in the build context."""
    from docker.utils.build import exclude_paths  # the SDK: only for images being built

    included = exclude_paths(str(folder), read_dockerignore(folder), dockerfile=DOCKERFILE)
    # The folder's own Dockerfile, if any, is replaced by the rendered one.
    included.discard(DOCKERFILE)
    return sorted(included)


class _Spool(io.RawIOBase):
    """A write-only sink the tar writer fills and the stream drains between members."""

    def __init__(self) -> None:
        super().__init__()
        self._chunks: list[bytes] = []

    def writable(self) -> bool:
        return True

    def write(self, data: bytes) -> int:  # type: ignore[override]
        self._chunks.append(bytes(data))
        return len(data)

    def drain(self) -> bytes:
        data = b"".join(self._chunks)
        self._chunks.clear()
        return data


def _normalise(info: tarfile.TarInfo) -> tarfile.TarInfo:
    # Ownership and names from this machine carry no meaning inside the image build.
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def stream_context(
    folder: Path,
    dockerfile: str,
    *,
    extra_files: Sequence[tuple[str, bytes]] = (),
    extra_trees: Sequence[tuple[str, Path]] = (),
) -> Iterator[bytes]:
    """Yield the build context of ``folder`` as tar bytes, the rendered Dockerfile included.

    ``extra_files`` adds (name, content) members, ``extra_trees`` whole folders under a name
    (e.g. the artifacts of a build stage), replacing what ``folder`` has under that name.
    GNU tar format: BuildKit misreads PAX headers.
    """
    replaced = {name for name, _ in extra_trees}
    spool = _Spool()
    with tarfile.open(fileobj=spool, mode="w|", format=tarfile.GNU_FORMAT) as tar:
        for rel in context_files(folder):
            if rel.split("/", 1)[0] in replaced:
                continue
            _add_path(tar, folder / rel, rel)
            yield spool.drain()
        for name, tree in extra_trees:
            for current, dirs, files in os.walk(tree):
                dirs.sort()
                base = Path(current)
                rel_base = Path(name) / base.relative_to(tree)
                _add_path(tar, base, str(rel_base))
                for entry in sorted(files):
                    _add_path(tar, base / entry, str(rel_base / entry))
                    yield spool.drain()
        for name, content in [*extra_files, (DOCKERFILE, dockerfile.encode("utf-8"))]:
            info = _normalise(tarfile.TarInfo(name))
            info.size = len(content)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(content))
    yield spool.drain()


def _add_path(tar: tarfile.TarFile, path: Path, arcname: str) -> None:
    try:
        info = tar.gettarinfo(str(path), arcname=arcname)
    except OSError as exc:
        raise BuildError(f"cannot read {path} for the build context: {exc.strerror}") from None
    if not (info.isreg() or info.isdir() or info.issym()):
        log.warning("Leaving %s out of the build context: not a file, folder or link", path)
        return
    info = _normalise(info)
    if info.isreg():
        try:
            with path.open("rb") as fh:
                tar.addfile(info, fh)
        except OSError as exc:
            raise BuildError(f"cannot read {path} for the build context: {exc}") from None
    else:
        tar.addfile(info)
