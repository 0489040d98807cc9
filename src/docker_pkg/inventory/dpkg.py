"""Reading dpkg's database and os-release (pure): ``/var/lib/dpkg/status`` and the files of
``/var/lib/dpkg/status.d/`` (distroless images: one stanza file per package, ``*.md5sums``
beside them) as python-debian reads deb822: the packages whose ``Status`` is ``install ok
installed``, and apart from them the held ones."""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping

from docker_pkg.inventory.model import OperatingSystem, Package

INSTALLED = "install ok installed"
HELD = "hold ok installed"  # installed, and marked so that apt never upgrades it
STATUS = "var/lib/dpkg/status"
STATUS_D = "var/lib/dpkg/status.d/"
# A real Debian status file is a few MiB; past this one is not read (a warning names it).
MAX_DATABASE_BYTES = 64 << 20
_SOURCE = re.compile(r"^(?P<name>\S+)(?:\s+\((?P<version>[^)]+)\))?$")


def database_files(files: Mapping[str, bytes]) -> dict[str, bytes]:
    """The files of the database among ``files`` (paths relative to the image's root)."""
    return {
        path: data
        for path, data in files.items()
        if path == STATUS
        or (
            path.startswith(STATUS_D)
            and "/" not in path[len(STATUS_D) :]
            and not path.endswith(".md5sums")
        )
    }


def read_database(
    files: Mapping[str, bytes],
) -> tuple[tuple[Package, ...], tuple[Package, ...], list[str]]:
    """The installed packages (``install ok installed``), the held ones (``hold ok
    installed``: not in the inventory, but what says why a refresh did not move them),
    both sorted, and warnings about what could not be read."""
    found: dict[str, dict[tuple[str, str], Package]] = {INSTALLED: {}, HELD: {}}
    warnings: list[str] = []
    database = database_files(files)
    if not database:
        return (), (), warnings
    from debian.deb822 import Deb822  # images without a database never load it

    for path, data in sorted(database.items()):
        if len(data) > MAX_DATABASE_BYTES:
            warnings.append(f"/{path} is {len(data) >> 20} MiB: not read")
            continue
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            text = data.decode("latin-1")
            warnings.append(f"/{path} is not UTF-8: read as Latin-1")
        for stanza in Deb822.iter_paragraphs(text.splitlines(keepends=True)):
            if not stanza:
                continue
            # status.d stanzas (distroless) carry no Status: each file is an installed package.
            status = " ".join(stanza.get("Status", INSTALLED).split())
            if status not in found:
                continue
            package = _package(stanza, path, warnings)
            if package is not None:
                found[status][(package.name, package.architecture)] = package
    return tuple(sorted(found[INSTALLED].values())), tuple(sorted(found[HELD].values())), warnings


def _package(stanza: Mapping[str, str], path: str, warnings: list[str]) -> Package | None:
    name, version = stanza.get("Package", "").strip(), stanza.get("Version", "").strip()
    if not name or not version:
        warnings.append(f"/{path}: a stanza without Package or Version was left out")
        return None
    source, source_version = name, version
    match = _SOURCE.match(stanza.get("Source", "").strip())
    if match is not None:
        source = match["name"]
        source_version = match["version"] or version
    architecture = stanza.get("Architecture", "").strip() or "all"
    return Package(name, version, architecture, source, source_version)


def operating_system(files: Mapping[str, bytes]) -> OperatingSystem:
    """``/etc/os-release``, else ``/usr/lib/os-release``; an empty one when neither."""
    data = files.get("etc/os-release") or files.get("usr/lib/os-release")
    if not data:
        return OperatingSystem()
    values = {}
    for line in data.decode("utf-8", "replace").splitlines():
        key, sep, raw = line.strip().partition("=")
        if not sep or key.startswith("#"):
            continue
        try:
            parts = shlex.split(raw)
        except ValueError:
            parts = [raw.strip("\"'")]
        values[key] = parts[0] if parts else ""
    return OperatingSystem(
        values.get("ID", ""), values.get("VERSION_ID", ""), values.get("PRETTY_NAME", "")
    )
