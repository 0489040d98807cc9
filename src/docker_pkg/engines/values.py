"""What crosses the engine interface besides names: a build request and an image held.

Apart from :mod:`docker_pkg.engines.docker_engine` because only a run that builds or prunes
uses them: a run with nothing to do does not pay for making their classes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from docker_pkg.engines.builders import CLASSIC


@dataclass(frozen=True)
class BuildRequest:
    """Everything an engine needs to build one image from a streamed context."""

    context: Iterable[bytes]
    tag: str
    nocache: bool = True
    buildargs: Mapping[str, str] = field(default_factory=dict)
    container_limits: Mapping[str, str] = field(default_factory=dict)
    network_mode: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    builder: str = CLASSIC
    timeout: float | None = None  # seconds; past it the build is stopped
    platform: str | None = None  # another platform than the engine's own (emulated)


@dataclass(frozen=True)
class LocalImage:
    id: str
    tags: tuple[str, ...]
