"""The two builders of an engine, classic and BuildKit, and which one a run uses."""

from __future__ import annotations

from typing import TYPE_CHECKING

from docker_pkg.errors import UsageError

if TYPE_CHECKING:
    from docker_pkg.engines.interface import Engine

CLASSIC, BUILDKIT = "classic", "buildkit"
BUILDKIT_MIN_API = (1, 39)


def choose_builder(requested: str | None, engine: Engine) -> tuple[str, str]:
    """The builder to use and why: as asked, else BuildKit where the engine supports it."""
    if requested == CLASSIC:
        return CLASSIC, "as configured"
    supported = engine.supports_buildkit()
    if requested == BUILDKIT:
        if not supported:
            raise UsageError(
                f"builder 'buildkit' was asked for, but the engine at {engine.address} does "
                "not support it (needs a Linux engine with API 1.39 or newer)"
            )
        return BUILDKIT, "as configured"
    if supported:
        return BUILDKIT, "the engine supports it"
    return CLASSIC, "the engine does not support BuildKit"
