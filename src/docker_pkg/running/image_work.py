"""The phases of one image on one engine: build (:mod:`.image_build`), verify, push
(:mod:`.image_push`).

Which engine, and when, is for the run to say (:mod:`docker_pkg.running.build_run`);
everything here takes the engine it works on.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from docker_pkg.engines.builders import CLASSIC
from docker_pkg.logs import ImageLog
from docker_pkg.registry.client import RegistryClient
from docker_pkg.registry.credentials import Credentials
from docker_pkg.running.image_build import ImageBuilder
from docker_pkg.running.image_push import ImagePusher
from docker_pkg.running.verify import (
    ProcessGroup,
    run_verification,
    verify_argv,
    verify_environment,
)
from docker_pkg.tree.definitions import Rendered
from docker_pkg.tree.workspace import Workspace

if TYPE_CHECKING:
    from docker_pkg.engines.interface import Engine


@dataclass
class ImageWork:
    """What building, verifying and pushing an image needs, whatever the engine."""

    workspace: Workspace
    registry: RegistryClient | None
    logger: Callable[[str], ImageLog]
    nocache: bool = True
    pulling: bool = False
    builder: str | None = CLASSIC
    credentials: Credentials | None = None
    labels: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    # image -> references of its Dockerfiles to external dependencies (pulled before a build)
    external: Mapping[str, list[str]] = field(default_factory=dict)
    keep_failed: Path | None = None
    processes: ProcessGroup = field(default_factory=ProcessGroup)
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    on_output: Callable[[str, str], None] = lambda name, line: None

    def __post_init__(self) -> None:
        self.builds = ImageBuilder(
            self.workspace,
            self.logger,
            self.auth,
            nocache=self.nocache,
            pulling=self.pulling,
            builder=self.builder,
            labels=self.labels,
            external=self.external,
            keep_failed=self.keep_failed,
            # late bound: the run sets on_output after this is made
            on_output=lambda name, line: self.on_output(name, line),  # noqa: PLW0108
        )
        self.pushes = ImagePusher(self.workspace, self.registry, self.logger, self.auth)

    def auth(self) -> dict[str, str] | None:
        if self.credentials is None:
            return None
        return self.credentials.engine_auth(self.workspace.config.registry)

    def pull_base_images(self, engine: Engine) -> list[str]:
        """Refresh every ``base_images`` entry on ``engine``; warnings for those that failed."""
        return self.builds.pull_base_images(engine)

    def build(
        self, name: str, rendered: Rendered, engine: Engine, platform: str | None = None
    ) -> str:
        """Build image ``name`` on ``engine`` (its build stage first, when it has one)."""
        return self.builds.build(name, rendered, engine, platform)

    def verify(self, name: str, engine: Engine, platform: str = "") -> None:
        """Run the image's test against the engine that holds it (``DOCKER_HOST``), with
        ``DOCKER_PKG_PLATFORM`` naming the platform it was built for."""
        definition = self.workspace.definitions[name]
        config = self.workspace.config
        label = self.workspace.label(name)
        output = self.logger(name)
        argv = verify_argv(config.verify_command, config.verify_args, definition.path, label)
        if argv is None:
            output.info("No test for %s, skipping verification", label)
            return
        output.info("Verifying %s", label)
        env = verify_environment(self.environ, config.proxy_build_args, engine.address)
        if platform:
            env["DOCKER_PKG_PLATFORM"] = platform
        started = time.time()

        def clean_up() -> str:
            removed = engine.remove_containers_of(label, started)
            return f"; removed {len(removed)} container(s) it started" if removed else ""

        run_verification(
            argv,
            env,
            output,
            timeout=config.verify_timeout,
            group=self.processes,
            on_timeout=clean_up,
        )

    def push(self, name: str, engine: Engine) -> str | None:
        """Push TAG and ``latest``, checked in the registry."""
        return self.pushes.push(name, engine)

    def push_tag(self, name: str, engine: Engine, tag: str) -> str | None:
        """Push the image as ``tag`` alone (one platform's tag of an index)."""
        return self.pushes.push_tag(name, engine, tag)
