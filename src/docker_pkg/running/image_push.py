"""Pushing one image from an engine: each tag tried again (bounded, with backoff) when its
failure may be transient, then checked in the registry."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from docker_pkg.errors import PublishError
from docker_pkg.logs import ImageLog
from docker_pkg.registry.client import RegistryClient
from docker_pkg.tree.workspace import Workspace

PUSH_ATTEMPTS = 3
PUSH_BACKOFF = 1.0
# Refusals that no retry changes: authentication, permissions, a read-only registry.
PERMANENT_PUSH_FAILURE = re.compile(
    r"denied|unauthori[sz]ed|forbidden|authentication required|not allowed|\b40[0-35-9]\b",
    re.IGNORECASE,
)

if TYPE_CHECKING:
    from docker_pkg.engines.interface import Engine


@dataclass
class ImagePusher:
    """What pushing an image needs, whatever the engine."""

    workspace: Workspace
    registry: RegistryClient | None
    logger: Callable[[str], ImageLog]
    auth: Callable[[], dict[str, str] | None]

    def push(self, name: str, engine: Engine) -> str | None:
        """Push TAG and ``latest``; then make sure the registry has TAG with the pushed digest."""
        repository = self.workspace.name(name)
        tag = self.workspace.definitions[name].tag
        engine.tag(f"{repository}:{tag}", repository, "latest")
        digest = self._push(name, repository, tag, engine)
        self._push(name, repository, "latest", engine)
        self._confirm(repository, tag, digest)
        return digest

    def push_tag(self, name: str, engine: Engine, tag: str) -> str | None:
        """Push the image as ``tag`` alone (one platform's tag of an index); the registry
        must then hold it with the pushed digest."""
        repository = self.workspace.name(name)
        own = self.workspace.definitions[name].tag
        engine.tag(f"{repository}:{own}", repository, tag)
        digest = self._push(name, repository, tag, engine)
        self._confirm(repository, tag, digest)
        return digest

    def _push(self, name: str, repository: str, tag: str, engine: Engine) -> str | None:
        """One push, tried again (bounded, with backoff) when its failure may be transient."""
        output = self.logger(name)
        for attempt in range(1, PUSH_ATTEMPTS + 1):
            output.info("Pushing %s:%s", repository, tag)
            try:
                return engine.push(
                    repository, tag, self.auth(), lambda text: output.info("%s", text)
                )
            except PublishError as exc:
                if attempt == PUSH_ATTEMPTS or PERMANENT_PUSH_FAILURE.search(str(exc)):
                    raise
                delay = PUSH_BACKOFF * 2 ** (attempt - 1)
                output.warning("%s; trying again in %.0fs", exc, delay)
                time.sleep(delay)
        raise AssertionError("unreachable")

    def _confirm(self, repository: str, tag: str, digest: str | None) -> None:
        if self.registry is None:
            return
        status = self.registry.manifest(self.registry.repository_path(repository), tag)
        if not status.exists:
            raise PublishError(f"{repository}:{tag} was pushed, but the registry does not have it")
        if digest and status.digest and digest != status.digest:
            raise PublishError(
                f"{repository}:{tag} was pushed as {digest}, but the registry has {status.digest}"
            )
