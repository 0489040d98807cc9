"""Fingerprints of image inputs: the rendered Dockerfiles, the build context's files (after
``.dockerignore``) and the parents' fingerprints, so a changed parent changes every
descendant. Built images carry theirs as a label; ``lint`` compares."""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Iterable, Mapping
from pathlib import Path

from docker_pkg.tree.context import context_files
from docker_pkg.tree.definitions import Rendered
from docker_pkg.tree.graph import DependencyGraph

FINGERPRINT_LABEL = "io.docker-pkg.fingerprint"


def context_digest(folder: Path) -> str:
    """Names, kinds, executable bits and contents of the files a build would send."""
    digest = hashlib.sha256()
    for rel in context_files(folder):
        path = folder / rel
        info = path.lstat()
        digest.update(rel.encode() + b"\0")
        if stat.S_ISLNK(info.st_mode):
            digest.update(b"L" + os.readlink(path).encode() + b"\0")
        elif stat.S_ISDIR(info.st_mode):
            digest.update(b"D\0")
        elif stat.S_ISREG(info.st_mode):
            digest.update(b"X" if info.st_mode & stat.S_IXUSR else b"F")
            with path.open("rb") as fh:
                for block in iter(lambda: fh.read(1 << 16), b""):
                    digest.update(block)
            digest.update(b"\0")
    return digest.hexdigest()


def fingerprints(
    graph: DependencyGraph, rendered: Mapping[str, Rendered], wanted: Iterable[str] | None = None
) -> dict[str, str]:
    """The fingerprint of every rendered image whose ancestors all rendered too; with
    ``wanted``, only of those images and their ancestors (each reads a whole context)."""
    result: dict[str, str] = {}
    scope = None
    if wanted is not None:
        scope = set(wanted)
        for name in list(scope):
            scope |= graph.ancestors(name)
    for name in graph.order(scope):
        item = rendered.get(name)
        parents = graph.parents[name]
        if item is None or any(p not in result for p in parents):
            continue
        digest = hashlib.sha256()
        digest.update(b"dockerfile\0" + item.dockerfile.encode() + b"\0")
        if item.build_dockerfile is not None:
            digest.update(b"build\0" + item.build_dockerfile.encode() + b"\0")
        digest.update(b"context\0" + context_digest(item.definition.path).encode())
        for parent in sorted(parents):
            digest.update(b"parent\0" + parent.encode() + b"=" + result[parent].encode())
        result[name] = "sha256:" + digest.hexdigest()
    return result
