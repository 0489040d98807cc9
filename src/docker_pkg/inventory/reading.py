"""Reading an image's inventory without running it: the files that say what it holds,
through the engine's archive API on a created, never started container."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING

from docker_pkg.inventory.dpkg import STATUS, database_files, operating_system, read_database
from docker_pkg.inventory.model import Inventory

if TYPE_CHECKING:
    from docker_pkg.engines.interface import Engine

# Each group: the first of its paths that holds any file is read. The package database
# (distroless images keep one file per package in status.d), os-release (a link to
# /usr/lib/os-release on Debian), apt's sources and pins (and keyrings under
# /etc/apt/keyrings and trusted.gpg.d), and the keyrings sources name with signed-by.
PATHS = (
    ("/var/lib/dpkg/status", "/var/lib/dpkg/status.d"),
    ("/etc/os-release", "/usr/lib/os-release"),
    ("/etc/apt",),
    ("/usr/share/keyrings",),
)
APT_FOLDERS = ("etc/apt/", "usr/share/keyrings/")


def read_inventory(engine: Engine, label: str, image_id: str) -> Inventory:
    """The inventory of the image ``label`` (``image_id``) held by ``engine``."""
    return read_image(engine, label, image_id)[0]


def read_image(engine: Engine, label: str, image_id: str) -> tuple[Inventory, dict[str, bytes]]:
    """The inventory of the image ``label`` and the content of its apt files by path."""
    files = engine.read_files(label, PATHS)
    return inventory_of(label, image_id, files), apt_files(files)


# What of /etc/apt is kept: sources, pins and keyrings. Never apt.conf(.d) nor auth.conf(.d),
# which hold proxy and repository passwords.
APT_KEPT = (
    "etc/apt/sources.list",
    "etc/apt/preferences",
    "etc/apt/trusted.gpg",
    "etc/apt/keyrings/",
    "usr/share/keyrings/",
)
_USERINFO = re.compile(rb"(\b[a-z][a-z0-9+.-]*://)[^/@\s]+@", re.IGNORECASE)


def apt_files(files: Mapping[str, bytes]) -> dict[str, bytes]:
    """The sources, pins and keyrings among ``files``; a source's ``user:password@`` is
    left out (an image's secrets are not docker-pkg's to keep)."""
    kept = {}
    for path, data in files.items():
        if not path.startswith(APT_KEPT):
            continue
        source = path.startswith("etc/apt/sources.list")
        kept[path] = _USERINFO.sub(rb"\1", data) if source else data
    return kept


def inventory_of(label: str, image_id: str, files: Mapping[str, bytes]) -> Inventory:
    """The inventory of an image whose files (paths relative to its root) are ``files``."""
    packages, held, warnings = read_database(files)
    has_database = STATUS in files or bool(database_files(files))
    apt = tuple(
        sorted(
            (path, "sha256:" + hashlib.sha256(data).hexdigest())
            for path, data in apt_files(files).items()
        )
    )
    system = operating_system(files)
    return Inventory(label, image_id, system, packages, has_database, tuple(warnings), apt, held)
