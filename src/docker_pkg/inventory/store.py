"""Inventories kept in the state folder, one file per image ID (an image's content never
changes under its ID), with who introduced each package, so documents are made without
reading any image again."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from docker_pkg.caches import read_json, write_bytes
from docker_pkg.inventory.model import Inventory, OperatingSystem, Package

FORMAT = 2


@dataclass(frozen=True)
class Kept:
    """An inventory, who introduced each of its packages, and the digest of its record."""

    inventory: Inventory
    introduced: dict[tuple[str, str, str], str]
    digest: str


def _record(inventory: Inventory, introduced: dict[tuple[str, str, str], str]) -> dict[str, Any]:
    held = {"held": [_row(p) for p in inventory.held]} if inventory.held else {}
    return held | {
        "format": FORMAT,
        "image": inventory.image,
        "image_id": inventory.image_id,
        "system": [inventory.system.id, inventory.system.version_id, inventory.system.pretty_name],
        "has_database": inventory.has_database,
        "warnings": list(inventory.warnings),
        "apt": [list(pair) for pair in inventory.apt],
        "packages": [
            [*_row(p), introduced.get((p.name, p.architecture, p.version), inventory.image)]
            for p in inventory.packages
        ],
    }


def _row(package: Package) -> list[str]:
    return [
        package.name,
        package.version,
        package.architecture,
        package.source,
        package.source_version,
    ]


def digest_of(inventory: Inventory, introduced: dict[tuple[str, str, str], str]) -> str:
    """The digest of the record of ``inventory`` (as :meth:`InventoryStore.keep` keeps it)."""
    data = json.dumps(_record(inventory, introduced), sort_keys=True).encode()
    return "sha256:" + hashlib.sha256(data).hexdigest()


class InventoryStore:
    """``DIR/<hex of the image ID>.json``."""

    def __init__(self, folder: Path):
        self.folder = folder

    def _path(self, image_id: str) -> Path:
        return self.folder / f"{image_id.removeprefix('sha256:')}.json"

    def keep(
        self,
        inventory: Inventory,
        introduced: dict[tuple[str, str, str], str],
        apt: Mapping[str, bytes] | None = None,
    ) -> str:
        """Keep ``inventory`` (and the content of its ``apt`` files, once per content);
        the digest of what was kept."""
        data = json.dumps(_record(inventory, introduced), sort_keys=True).encode()
        if inventory.image_id:
            for content in (apt or {}).values():
                kept_at = self.folder / "files" / hashlib.sha256(content).hexdigest()
                if not kept_at.exists():
                    write_bytes(kept_at, content)
            write_bytes(self._path(inventory.image_id), data)
        return "sha256:" + hashlib.sha256(data).hexdigest()

    def load(self, image_id: str) -> Kept | None:
        """The kept inventory of ``image_id``; None when there is none (or it is damaged)."""
        if not image_id:
            return None
        path = self._path(image_id)
        record = read_json(path)
        if not isinstance(record, dict) or record.get("format") != FORMAT:
            return None
        try:
            packages = tuple(Package(*row[:5]) for row in record["packages"])
            introduced = {(r[0], r[2], r[1]): str(r[5]) for r in record["packages"]}
            system = OperatingSystem(*record["system"])
            inventory = Inventory(
                str(record["image"]),
                str(record["image_id"]),
                system,
                packages,
                bool(record["has_database"]),
                tuple(record["warnings"]),
                tuple((str(path), str(digest)) for path, digest in record.get("apt") or ()),
                tuple(Package(*row[:5]) for row in record.get("held") or ()),
            )
        except (KeyError, TypeError, IndexError):
            return None
        data = json.dumps(record, sort_keys=True).encode()
        return Kept(inventory, introduced, "sha256:" + hashlib.sha256(data).hexdigest())

    def apt_files(self, inventory: Inventory) -> dict[str, bytes]:
        """The content of ``inventory``'s apt files kept beside it (those missing left out)."""
        found = {}
        for path, digest in inventory.apt:
            try:
                found[path] = (self.folder / "files" / digest.removeprefix("sha256:")).read_bytes()
            except OSError:
                continue
        return found
