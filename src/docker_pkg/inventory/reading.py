"""Reading an image's inventory without running it: the files that say what it holds,
through the engine's archive API on a created, never started container."""

from __future__ import annotations

from typing import TYPE_CHECKING

from docker_pkg.inventory.dpkg import STATUS, database_files, installed_packages, operating_system
from docker_pkg.inventory.model import Inventory

if TYPE_CHECKING:
    from docker_pkg.engines.interface import Engine

# Each group: the first of its paths that holds any file is read. The package database
# (distroless images keep one file per package in status.d), then os-release (a link to
# /usr/lib/os-release on Debian).
PATHS = (
    ("/var/lib/dpkg/status", "/var/lib/dpkg/status.d"),
    ("/etc/os-release", "/usr/lib/os-release"),
)


def read_inventory(engine: Engine, label: str, image_id: str) -> Inventory:
    """The inventory of the image ``label`` (``image_id``) held by ``engine``."""
    files = engine.read_files(label, PATHS)
    return inventory_of(label, image_id, files)


def inventory_of(label: str, image_id: str, files: dict[str, bytes]) -> Inventory:
    """The inventory of an image whose files (paths relative to its root) are ``files``."""
    packages, warnings = installed_packages(files)
    has_database = STATUS in files or bool(database_files(files))
    return Inventory(
        label, image_id, operating_system(files), packages, has_database, tuple(warnings)
    )
