"""Which local images ``prune`` removes: every tag of an image's name but the current one."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from docker_pkg.engines.values import LocalImage
from docker_pkg.naming import split_label


@dataclass(frozen=True)
class PruneTarget:
    name: str
    keep: str
    stale: tuple[str, ...]


def stale_references(images: Iterable[LocalImage], repository: str, keep: str) -> list[str]:
    """Tags of ``repository`` on local images that do not carry ``keep`` (``name:tag``).

    An image holding the kept tag keeps all its tags (``latest`` among them); any other
    image loses its tags of this repository, and with its last tag, the image itself.
    """
    stale: list[str] = []
    for image in images:
        if keep not in image.tags:
            stale.extend(sorted(t for t in image.tags if split_label(t)[0] == repository))
    return stale
