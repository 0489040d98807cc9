"""Images of several platforms (pure): which platforms each image is built for, and the
image index that lists them."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from docker_pkg.errors import DependencyError, ManyErrors
from docker_pkg.registry.media_types import DOCKER_LIST, OCI_INDEX, OCI_MANIFEST
from docker_pkg.tree.definitions import CONTROL, ImageDefinition
from docker_pkg.tree.graph import DependencyGraph


def wanted_platforms(
    definitions: Mapping[str, ImageDefinition], graph: DependencyGraph, run: Sequence[str]
) -> dict[str, tuple[str, ...]]:
    """The platforms of the run each image is built for (its control's ``Platforms`` narrow
    them). An image may not want a platform one of its parents lacks."""
    wanted = {
        name: tuple(p for p in run if not d.platforms or p in d.platforms)
        for name, d in definitions.items()
    }
    errors = [
        DependencyError(
            f"{name} is built for {platform}, which its parent {parent} is not (see the "
            "Platforms of both)",
            path=definitions[name].path / CONTROL,
        )
        for name in graph.order()
        for parent in graph.parents[name]
        for platform in wanted[name]
        if platform not in wanted[parent]
    ]
    if len(errors) == 1:
        raise errors[0]
    if errors:
        raise ManyErrors(errors)
    return wanted


def platform_of(config: Mapping[str, Any]) -> str:
    """``os/arch[/variant]`` of an image config."""
    parts = [str(config.get("os", "linux")), str(config.get("architecture", ""))]
    if config.get("variant"):
        parts.append(str(config["variant"]))
    return "/".join(parts)


def index_platforms(document: Mapping[str, Any]) -> set[str]:
    """The platforms an index (or manifest list) lists."""
    found = set()
    for entry in document.get("manifests") or []:
        platform = entry.get("platform") or {}
        if platform.get("architecture"):
            found.add(platform_of(platform))
    return found


@dataclass(frozen=True)
class Entry:
    """One platform's manifest in an index."""

    media_type: str
    digest: str
    size: int
    platform: str


def index_body(entries: Sequence[Entry]) -> tuple[str, bytes]:
    """The index listing ``entries``: an OCI image index when any entry is an OCI manifest,
    else a Docker manifest list. Returns (media type, body)."""
    kind = OCI_INDEX if any(e.media_type == OCI_MANIFEST for e in entries) else DOCKER_LIST
    manifests = []
    for entry in entries:
        os_, arch, *variant = entry.platform.split("/")
        platform = {"architecture": arch, "os": os_}
        if variant:
            platform["variant"] = variant[0]
        manifests.append(
            {
                "mediaType": entry.media_type,
                "digest": entry.digest,
                "size": entry.size,
                "platform": platform,
            }
        )
    document = {"schemaVersion": 2, "mediaType": kind, "manifests": manifests}
    return kind, json.dumps(document, indent=3).encode()
