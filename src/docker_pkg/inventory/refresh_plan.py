"""Which images of the tree to refresh for the updates found in its images (pure): each
update goes to the image that introduced the package (rebuilding it, and so everything
built on it, is what installs the candidate); an update of a package the tree got from an
external base image goes to that base, or to the tree's images built on it when the base's
current image already holds the candidate."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from docker_pkg.inventory.outdated import Update
from docker_pkg.tree.graph import DependencyGraph


@dataclass(frozen=True)
class ImageFindings:
    """One image's updates and who introduced each of its packages."""

    label: str
    updates: tuple[Update, ...]
    introduced: Mapping[tuple[str, str, str], str]
    base: str | None  # its final FROM when that is not an image of the tree


@dataclass(frozen=True)
class ImageRefresh:
    name: str
    label: str
    updates: tuple[Update, ...]
    descendants: tuple[str, ...]

    def reason(self) -> str:
        """The changelog reason: ``Security update: libfoo 1.2-3 → 1.2-3+deb12u1``."""
        kind = "Security update" if any(u.security for u in self.updates) else "Package update"
        return f"{kind}: " + ", ".join(u.describe() for u in self.updates)


@dataclass(frozen=True)
class ExternalRefresh:
    """Updates of packages from an external base image. ``base_holds``: whether the base's
    current image already holds every candidate (None: not known)."""

    base: str
    updates: tuple[Update, ...]
    images: tuple[str, ...]
    base_holds: bool | None


@dataclass(frozen=True)
class RefreshPlan:
    refresh: tuple[ImageRefresh, ...]
    external: tuple[ExternalRefresh, ...]
    warnings: tuple[str, ...] = field(default=())
    # images holding packages none of whose sources could be read: not known to be current
    unchecked: tuple[str, ...] = field(default=())

    @property
    def outdated(self) -> bool:
        return bool(self.refresh or self.external)

    def as_data(self) -> dict[str, Any]:
        """The documented JSON shape of ``outdated --format json``."""
        return {
            "refresh": [
                {
                    "name": r.name,
                    "label": r.label,
                    "packages": [_package(u) for u in r.updates],
                    "descendants": list(r.descendants),
                }
                for r in self.refresh
            ],
            "external": [
                {
                    "base": e.base,
                    "packages": [_package(u) for u in e.updates],
                    "images": list(e.images),
                    "base_holds_candidates": e.base_holds,
                }
                for e in self.external
            ],
            "warnings": list(self.warnings),
            "unchecked": list(self.unchecked),
        }


def _package(update: Update) -> dict[str, Any]:
    return {
        "name": update.name,
        "installed": update.installed,
        "candidate": update.candidate,
        "security": update.security,
    }


def _holds(holdings: Mapping[tuple[str, str], str], update: Update) -> bool:
    """Whether ``holdings`` have ``update``'s package at its candidate or newer."""
    from debian.debian_support import Version

    held = holdings.get((update.name, update.architecture))
    try:
        return held is not None and Version(held) >= Version(update.candidate)
    except ValueError:
        return False


def plan_refresh(
    graph: DependencyGraph,
    labels: Mapping[str, str],
    findings: Mapping[str, ImageFindings],
    base_holdings: Mapping[str, Mapping[tuple[str, str], str] | None],
    *,
    bases: Mapping[str, str | None] | None = None,
    warnings: tuple[str, ...] = (),
    unchecked: tuple[str, ...] = (),
) -> RefreshPlan:
    """The plan for ``findings`` (by image name). ``base_holdings``: for each external
    base, the version of each (package, architecture) its current image holds. ``bases``:
    the external base of every image of the tree built on one (default: of the images of
    ``findings``), so the image that uses a base is found when it was not looked at."""
    if bases is None:
        bases = {name: found.base for name, found in findings.items()}
    own: dict[str, set[Update]] = {}
    external: dict[str, set[Update]] = {}
    users: dict[str, set[str]] = {}
    for name, found in findings.items():
        for update in found.updates:
            key = (update.name, update.architecture, update.installed)
            who = found.introduced.get(key, name)
            if who in labels:
                own.setdefault(who, set()).add(update)
                continue
            external.setdefault(who, set()).add(update)
            chain = graph.ancestors(name) | {name}
            users.setdefault(who, set()).update(n for n in chain if bases.get(n) == who)
    outside = []
    for base, updates in sorted(external.items()):
        holdings = base_holdings.get(base)
        holds = None
        if holdings is not None:
            holds = all(_holds(holdings, u) for u in updates)
        images = tuple(graph.order(users.get(base, set())))
        outside.append(ExternalRefresh(base, tuple(sorted(updates)), images, holds))
        if holds:
            for image in images:
                own.setdefault(image, set()).update(updates)
    refresh = tuple(
        ImageRefresh(
            name,
            labels[name],
            tuple(sorted(own[name])),
            tuple(graph.order(graph.descendants(name))),
        )
        for name in graph.order(own)
    )
    return RefreshPlan(refresh, tuple(outside), warnings, unchecked)
