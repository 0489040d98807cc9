"""What ``refresh`` bumped each image for, kept until that image's next build has taken its
inventory: a package still at an outdated version then is said, with the likely reason."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from docker_pkg.caches import read_json, write_json
from docker_pkg.inventory.apt_policy import Pin
from docker_pkg.inventory.model import Inventory
from docker_pkg.inventory.outdated import Update, pins_of

FILE_NAME = "refreshed.json"


class RefreshRecord:
    """``STATE/refreshed.json``: new label -> the updates its image was refreshed for (read
    once per record: a build asks it about every image it built)."""

    def __init__(self, state: Path):
        self.path = state / FILE_NAME
        self._kept: dict[str, list[list[str]]] | None = None

    def _read(self) -> dict[str, list[list[str]]]:
        if self._kept is None:
            kept = read_json(self.path)
            self._kept = kept if isinstance(kept, dict) else {}
        return self._kept

    def remember(self, refreshed: Mapping[str, Sequence[Update]]) -> None:
        kept = dict(self._read())
        for label, updates in refreshed.items():
            kept[label] = [[u.name, u.architecture, u.installed, u.candidate] for u in updates]
        self._write(kept)

    def expected(self, label: str) -> list[Update]:
        """What ``label`` was refreshed for (empty when it was not)."""
        rows = self._read().get(label) or []
        return [Update(row[0], row[1], row[2], row[3], False) for row in rows if len(row) >= 4]

    def forget(self, labels: Sequence[str]) -> None:
        kept = self._read()
        if any(label in kept for label in labels):
            self._write({k: v for k, v in kept.items() if k not in labels})

    def _write(self, kept: dict[str, list[list[str]]]) -> None:
        write_json(self.path, kept)
        self._kept = kept


def not_moved(
    inventory: Inventory, expected: Sequence[Update], apt: Mapping[str, bytes]
) -> list[str]:
    """A warning for each package ``inventory`` holds still older than the candidate it
    was refreshed for, with why it likely did not move."""
    from debian.debian_support import Version

    installed = {(p.name, p.architecture): p.version for p in inventory.packages}
    held = {(p.name, p.architecture): p.version for p in inventory.held}
    pins = pins_of(apt)
    warnings = []
    for update in expected:
        key = (update.name, update.architecture)
        version = installed.get(key) or held.get(key)
        try:
            if version is None or Version(version) >= Version(update.candidate):
                continue
        except ValueError:
            continue
        why = "held (apt-mark hold)" if key in held else _why(update.name, version, pins)
        warnings.append(
            f"{inventory.image}: refreshed for {update.name} {update.installed} → "
            f"{update.candidate} but holds {version}: {why}"
        )
    return warnings


def _why(package: str, version: str, pins: Sequence[Pin]) -> str:
    for pin in pins:
        if not pin.applies_to(package) or pin.priority < 1000:
            continue
        # a version or origin pin is matched; a release pin naming the package is taken as
        # what holds it (which release the installed version came from is not known here)
        named = pin.kind == "release" and "*" not in pin.packages
        if named or pin.matches(version, None):
            return f"pinned ({pin.kind} {pin.expression}, priority {pin.priority})"
    return (
        "not upgraded by its Dockerfile (it asks for that version, or keeps what its parent "
        "holds: upgrade it there, or refresh the image that installs it)"
    )
