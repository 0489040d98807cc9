"""The phases of one image on one engine: build (its build stage first), verify, push.

Which engine, and when, is for the run to say (:mod:`docker_pkg.running.build_run`); everything here
takes the engine it works on.
"""

from __future__ import annotations

import logging
import os
import re
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from docker_pkg.engines.builders import CLASSIC
from docker_pkg.engines.interface import Engine
from docker_pkg.engines.values import BuildRequest
from docker_pkg.errors import EngineLost, OperationError, PublishError
from docker_pkg.logs import ImageLog
from docker_pkg.registry.client import RegistryClient
from docker_pkg.registry.credentials import Credentials
from docker_pkg.running.artifacts import ARTIFACTS, extract_artifacts
from docker_pkg.running.verify import (
    ProcessGroup,
    run_verification,
    verify_argv,
    verify_environment,
)
from docker_pkg.tree.context import stream_context
from docker_pkg.tree.definitions import Rendered
from docker_pkg.tree.workspace import Workspace

log = logging.getLogger(__name__)

PUSH_ATTEMPTS = 3
PUSH_BACKOFF = 1.0
# Refusals that no retry changes: authentication, permissions, a read-only registry.
_PERMANENT_PUSH_FAILURE = re.compile(
    r"denied|unauthori[sz]ed|forbidden|authentication required|not allowed|\b40[0-35-9]\b",
    re.IGNORECASE,
)


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

    def auth(self) -> dict[str, str] | None:
        if self.credentials is None:
            return None
        return self.credentials.engine_auth(self.workspace.config.registry)

    def pull_base_images(self, engine: Engine) -> list[str]:
        """Refresh every ``base_images`` entry on ``engine``; returns warnings for those that
        failed."""
        warnings = []
        for reference in self.workspace.config.base_images:
            log.info("Refreshing base image %s", reference)
            try:
                engine.pull(reference, self.auth())
            except OperationError as exc:
                log.warning("Could not pull base image %s: %s", reference, exc)
                warnings.append(f"could not pull base image {reference}: {exc}")
        return warnings

    def build(
        self, name: str, rendered: Rendered, engine: Engine, platform: str | None = None
    ) -> str:
        """Build image ``name`` on ``engine`` (its build stage first, when it has one); for
        ``platform`` when that is not the engine's own (emulation)."""
        if self.pulling:
            self._pull_external(name, engine)
        label = self.workspace.label(name)
        labels = self.labels.get(name, {})
        if rendered.build_dockerfile is None:
            return self._build(
                name, label, rendered.dockerfile, engine, labels=labels, platform=platform
            )
        with tempfile.TemporaryDirectory(prefix="docker-pkg-artifacts-") as scratch:
            artifacts = self.build_stage(
                name, rendered.build_dockerfile, Path(scratch), engine, platform
            )
            return self._build(
                name,
                label,
                rendered.dockerfile,
                engine,
                extra_trees=[(ARTIFACTS, artifacts)],
                labels=labels,
                platform=platform,
            )

    def _pull_external(self, name: str, engine: Engine) -> None:
        """Refresh the images of other trees this one's Dockerfiles name. One that cannot be
        pulled is a warning: the build then uses the local copy, or fails with the engine's
        reason. Credentials go only to the configured registry."""
        registry = self.workspace.config.registry
        for reference in self.external.get(name, ()):
            auth = self.auth() if registry and reference.startswith(registry + "/") else None
            self.logger(name).info("Pulling %s (external dependency)", reference)
            try:
                engine.pull(reference, auth)
            except EngineLost:
                raise
            except OperationError as exc:
                self.logger(name).warning("Could not pull %s: %s", reference, exc)

    def build_stage(
        self,
        name: str,
        dockerfile: str,
        scratch: Path,
        engine: Engine,
        platform: str | None = None,
    ) -> Path:
        """Build ``NAME-build:TAG``, take its ``/build`` out, remove it; return the tree."""
        definition = self.workspace.definitions[name]
        output = self.logger(name)
        stage_label = f"{self.workspace.name(name)}-build:{definition.tag}"
        self._build(
            name,
            stage_label,
            dockerfile,
            engine,
            kept_as="build-stage-context.tar",
            platform=platform,
        )
        archive = scratch / "artifacts.tar"
        try:
            with archive.open("wb") as fh:
                engine.export_path(stage_label, "/" + ARTIFACTS, fh)
        finally:
            try:
                engine.remove_image(stage_label)
            except OperationError as exc:
                output.warning("Could not remove the build-stage image: %s", exc)
        tree = extract_artifacts(archive, scratch / "extracted")
        archive.unlink()
        return tree

    def _build(
        self,
        name: str,
        label: str,
        dockerfile: str,
        engine: Engine,
        *,
        extra_trees: list[tuple[str, Path]] | None = None,
        kept_as: str = "context.tar",
        labels: Mapping[str, str] | None = None,
        platform: str | None = None,
    ) -> str:
        """Build ``label`` from the folder of image ``name`` with ``dockerfile``."""
        config = self.workspace.config
        folder = self.workspace.definitions[name].path
        output = self.logger(name)
        output.info("Building %s from %s", label, folder)
        output.debug("Rendered Dockerfile:\n%s", dockerfile)
        context = stream_context(folder, dockerfile, extra_trees=extra_trees or ())
        if self.keep_failed is not None:
            kept = self.keep_failed / name
            kept.mkdir(parents=True, exist_ok=True)
            context = _tee(context, kept / kept_as)
        request = BuildRequest(
            context=context,
            tag=label,
            nocache=self.nocache,
            buildargs=config.proxy_build_args,
            container_limits=config.container_limits,
            network_mode=config.network_mode,
            labels=labels or {},
            builder=self.builder or CLASSIC,
            timeout=config.build_timeout,
            platform=platform,
        )

        def line(text: str) -> None:
            output.info("%s", text)
            self.on_output(name, text)

        return engine.build(request, line)

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
                if attempt == PUSH_ATTEMPTS or _PERMANENT_PUSH_FAILURE.search(str(exc)):
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


def _tee(chunks: Iterable[bytes], path: Path) -> Iterator[bytes]:
    """Pass the context through, keeping an exact copy in ``path``."""
    with path.open("wb") as copy:
        for chunk in chunks:
            copy.write(chunk)
            yield chunk
