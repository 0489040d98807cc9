"""Which packages of one image have a newer candidate (pure, given its indexes): the
image's sources, pins and trusted keys as its inventory captured them, each installed
package's candidate as apt would choose it, and the sources that could not be used."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from docker_pkg.errors import ArchiveError
from docker_pkg.inventory.apt_packages import Versions
from docker_pkg.inventory.apt_policy import Pin, Release, candidate, parse_preferences
from docker_pkg.inventory.apt_release import ReleaseFile
from docker_pkg.inventory.apt_sources import Source, sources_of
from docker_pkg.inventory.model import Inventory

DEFAULT_KEYRINGS = ("etc/apt/trusted.gpg", "etc/apt/trusted.gpg.d/")

# (package, installed, available versions and their releases, pins) -> the newer candidate
# and whether it is a security update, or None: images of one tree share most packages,
# and python-debian's version comparisons are what an image's check costs.
CandidateMemo = dict[
    tuple[str, str, tuple[tuple[str, Release], ...], tuple[Pin, ...]], tuple[str, bool] | None
]


class Indexes(Protocol):
    """Where releases and package versions come from (:class:`AptIndexes` in a run)."""

    def release(self, source: Source, keyrings: Sequence[bytes]) -> ReleaseFile: ...

    def versions(
        self, source: Source, release: ReleaseFile, component: str, architecture: str
    ) -> Versions: ...


@dataclass(frozen=True, order=True)
class Update:
    """A package whose candidate is newer than the installed version."""

    name: str
    architecture: str
    installed: str
    candidate: str
    security: bool

    def describe(self) -> str:
        return f"{self.name} {self.installed} → {self.candidate}"


@dataclass(frozen=True)
class Findings:
    updates: tuple[Update, ...]
    warnings: tuple[str, ...] = field(default=())
    read_any: bool = False  # whether any source's indexes could be read


def pins_of(apt: Mapping[str, bytes]) -> list[Pin]:
    """apt's preferences: ``/etc/apt/preferences``, then ``preferences.d`` by name (files
    with no extension or ``.pref``, as apt reads them)."""
    paths = [p for p in apt if p == "etc/apt/preferences"]
    paths += sorted(
        p
        for p in apt
        if p.startswith("etc/apt/preferences.d/")
        and ("." not in p.rsplit("/", 1)[1] or p.endswith(".pref"))
    )
    pins: list[Pin] = []
    for path in paths:
        pins += parse_preferences(apt[path].decode("utf-8", "replace"))
    return pins


def trusted_keys(source: Source, apt: Mapping[str, bytes]) -> tuple[list[bytes], str]:
    """The keyrings ``source`` trusts (its ``signed-by``, else apt's default keyrings) and
    a warning when one it names was not captured with the inventory."""
    named = [k for k in source.signed_by if k.startswith(("/", "-----BEGIN"))]
    if not named:
        return [
            data
            for path, data in sorted(apt.items())
            if path == DEFAULT_KEYRINGS[0]
            or (path.startswith(DEFAULT_KEYRINGS[1]) and path.endswith((".gpg", ".asc")))
        ], ""
    keys, missing = [], []
    for entry in named:
        if entry.startswith("-----BEGIN"):
            keys.append(entry.encode())
        elif entry.lstrip("/") in apt:
            keys.append(apt[entry.lstrip("/")])
        else:
            missing.append(entry)
    warning = f"{source.where}: keyring {', '.join(missing)} was not captured" if missing else ""
    return keys, warning


def native_architecture(inventory: Inventory) -> str:
    """The image's dpkg architecture: that of most of its packages not ``all``."""
    counted = Counter(p.architecture for p in inventory.packages if p.architecture != "all")
    return counted.most_common(1)[0][0] if counted else ""


def find_updates(
    inventory: Inventory,
    apt: Mapping[str, bytes],
    indexes: Indexes,
    memo: CandidateMemo | None = None,
) -> Findings:
    """The updates of ``inventory``'s packages from the sources it holds (``memo``: the
    candidates already chosen in this run)."""
    native = native_architecture(inventory)
    if not native:  # no package: nothing to look up
        return Findings(())
    sources = sources_of(apt)
    if not sources:
        return Findings((), ("no apt source was captured with its inventory",))
    wanted = {native} | {p.architecture for p in inventory.packages} - {"all"}
    available: dict[tuple[str, str], list[tuple[str, Release]]] = {}
    warnings: list[str] = []
    read_any = False
    for source in sources:
        keys, warning = trusted_keys(source, apt)
        if warning:
            warnings.append(warning)
        try:
            release = indexes.release(source, keys)
        except ArchiveError as exc:
            warnings.append(f"left out {exc}")
            continue
        architectures = wanted & set(source.architectures) if source.architectures else wanted
        for component in source.components or ("",):
            for architecture in sorted(architectures):
                try:
                    versions = indexes.versions(source, release, component, architecture)
                except ArchiveError as exc:
                    warnings.append(f"left out {exc}")
                    continue
                read_any = True
                for package in inventory.packages:
                    own = native if package.architecture == "all" else package.architecture
                    if own == architecture and package.name in versions:
                        found = available.setdefault((package.name, package.architecture), [])
                        found += [(v, release.release) for v in versions[package.name]]
    updates = _updates(inventory, available, tuple(pins_of(apt)), {} if memo is None else memo)
    return Findings(updates, tuple(warnings), read_any)


def _updates(
    inventory: Inventory,
    available: Mapping[tuple[str, str], list[tuple[str, Release]]],
    pins: tuple[Pin, ...],
    memo: CandidateMemo,
) -> tuple[Update, ...]:
    updates = []
    for package in inventory.packages:
        choices = available.get((package.name, package.architecture))
        if not choices:
            continue
        key = (package.name, package.version, tuple(choices), pins)
        if key not in memo:
            memo[key] = _newer(package.name, package.version, choices, pins)
        newer = memo[key]
        if newer is not None:
            version, security = newer
            updates.append(
                Update(package.name, package.architecture, package.version, version, security)
            )
    return tuple(sorted(updates))


def _newer(
    name: str, installed: str, choices: Sequence[tuple[str, Release]], pins: Sequence[Pin]
) -> tuple[str, bool] | None:
    """The candidate of ``name`` when it is newer than ``installed``, and whether it is a
    security update."""
    from debian.debian_support import Version

    try:
        chosen = candidate(name, installed, choices, pins)
        if chosen is None:
            return None
        version, release = chosen
        if release is None or Version(version) <= Version(installed):
            return None
    except ValueError:  # a version no Debian tool would accept: no candidate to speak of
        return None
    return version, release.security
