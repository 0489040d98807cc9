"""Which version apt would install (pure): pin priorities from the image's preferences and
the releases' own flags, then the highest priority, then the highest version by Debian
ordering; never a downgrade below priority 1000 (``apt_preferences(5)``)."""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

DEFAULT = 500
NOT_AUTOMATIC = 1
BUT_AUTOMATIC_UPGRADES = 100
INSTALLED = 100


@dataclass(frozen=True)
class Release:
    """What a ``Release`` file says of its suite, and the host it was fetched from."""

    origin: str = ""
    label: str = ""
    suite: str = ""  # a=
    codename: str = ""  # n=
    version: str = ""  # v=
    components: tuple[str, ...] = ()  # c=
    host: str = ""
    not_automatic: bool = False
    but_automatic_upgrades: bool = False

    @property
    def security(self) -> bool:
        """A security update's release: ``Label: Debian-Security`` or a ``-security`` suite
        (by its name or its codename: sources name bookworm-security, whose suite is
        stable-security)."""
        names = (self.suite, self.codename)
        return self.label == "Debian-Security" or any(n.endswith("-security") for n in names)


@dataclass(frozen=True)
class Pin:
    """One stanza of apt's preferences."""

    packages: tuple[str, ...]  # names or globs; "*" for all
    kind: str  # release, origin or version
    expression: str
    priority: int

    def applies_to(self, package: str) -> bool:
        return any(p == "*" or fnmatch.fnmatchcase(package, p) for p in self.packages)

    def matches(self, version: str, release: Release | None) -> bool:
        if self.kind == "version":
            return any(fnmatch.fnmatchcase(version, e) for e in self.expression.split())
        if release is None:
            return False
        if self.kind == "origin":
            return self.expression.strip('"') == release.host
        return _release_matches(self.expression, release)


def _release_matches(expression: str, release: Release) -> bool:
    fields = {
        "o": release.origin,
        "l": release.label,
        "a": release.suite,
        "n": release.codename,
        "v": release.version,
    }
    for term in (t.strip() for t in expression.split(",") if t.strip()):
        key, sep, wanted = term.partition("=")
        if not sep:  # a bare word is an archive or codename
            if term not in (release.suite, release.codename):
                return False
            continue
        if key == "c":
            if wanted not in release.components:
                return False
        elif key in fields and not fnmatch.fnmatchcase(fields[key], wanted):
            return False
    return True


def parse_preferences(text: str) -> list[Pin]:
    """The pins of a preferences file, in order (malformed stanzas left out)."""
    pins = []
    for stanza in re.split(r"\n\s*\n", text):
        fields: dict[str, str] = {}
        for line in stanza.splitlines():
            if line.startswith("#") or ":" not in line:
                continue
            key, _, value = line.partition(":")
            fields[key.strip().lower()] = value.strip()
        pin, packages, priority = (
            fields.get("pin"),
            fields.get("package"),
            fields.get("pin-priority"),
        )
        if not pin or not packages or not priority:
            continue
        kind, _, expression = pin.partition(" ")
        try:
            pins.append(Pin(tuple(packages.split()), kind, expression.strip(), int(priority)))
        except ValueError:
            continue
    return pins


def priority(pins: Sequence[Pin], package: str, version: str, release: Release | None) -> int:
    """The priority of ``version`` of ``package`` from ``release`` (None: only installed):
    the first pin that applies and matches, else the release's default."""
    for pin in pins:
        if pin.applies_to(package) and pin.matches(version, release):
            return pin.priority
    if release is None:
        return INSTALLED
    if release.not_automatic:
        return BUT_AUTOMATIC_UPGRADES if release.but_automatic_upgrades else NOT_AUTOMATIC
    return DEFAULT


def candidate(
    package: str,
    installed: str | None,
    available: Iterable[tuple[str, Release]],
    pins: Sequence[Pin],
) -> tuple[str, Release | None] | None:
    """The version apt would install for ``package`` and the release it comes from (None
    for the installed one); None when nothing is available or installed."""
    from debian.debian_support import Version

    choices: list[tuple[int, Version, str, Release | None]] = []
    for version, release in available:
        mark = priority(pins, package, version, release)
        choices.append((mark, Version(version), version, release))
    if installed is not None and all(v != installed for _, _, v, _ in choices):
        choices.append(
            (priority(pins, package, installed, None), Version(installed), installed, None)
        )
    if not choices:
        return None
    if installed is not None:
        current = Version(installed)
        # below priority 1000 apt never takes a version older than the installed one
        choices = [c for c in choices if c[1] >= current or c[0] >= 1000] or choices
    best = max(choices, key=lambda c: (c[0], c[1]))
    return best[2], best[3]
