"""An image's inventory as docker-pkg keeps it: its operating system and its installed
Debian packages (pure values)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, order=True)
class Package:
    """One installed package: ``name`` and ``version`` as dpkg has them, the source package
    and its version (the binary's own when dpkg names none)."""

    name: str
    version: str
    architecture: str
    source: str
    source_version: str


@dataclass(frozen=True)
class OperatingSystem:
    """From os-release: ``ID`` and ``VERSION_ID`` (both empty when there is none)."""

    id: str = ""
    version_id: str = ""
    pretty_name: str = ""


@dataclass(frozen=True)
class Inventory:
    """What one image holds. ``has_database``: whether it has a dpkg database at all (an
    image ``FROM scratch`` has none, and an empty inventory that says so)."""

    image: str  # its label, registry/namespace/name:tag
    image_id: str
    system: OperatingSystem
    packages: tuple[Package, ...]
    has_database: bool
    warnings: tuple[str, ...] = field(default=())
    # apt's sources, pins and the keyrings they may trust: (path, sha256 of its content)
    apt: tuple[tuple[str, str], ...] = field(default=())
    # installed but held (apt-mark hold): not in ``packages``, never upgraded by apt
    held: tuple[Package, ...] = field(default=())

    def holds(self) -> set[tuple[str, str, str]]:
        """(name, architecture, version) of every package."""
        return {(p.name, p.architecture, p.version) for p in self.packages}
