"""Building one image on an engine: the images of other trees it names pulled first, its
build stage built and its ``/build`` taken out, then the image itself from its folder."""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from docker_pkg.engines.builders import CLASSIC
from docker_pkg.engines.values import BuildRequest
from docker_pkg.errors import EngineLost, OperationError
from docker_pkg.logs import ImageLog
from docker_pkg.running.artifacts import ARTIFACTS, extract_artifacts
from docker_pkg.tree.context import stream_context
from docker_pkg.tree.definitions import Rendered
from docker_pkg.tree.workspace import Workspace

if TYPE_CHECKING:
    from docker_pkg.engines.interface import Engine

log = logging.getLogger(__name__)


@dataclass
class ImageBuilder:
    """What building an image needs, whatever the engine."""

    workspace: Workspace
    logger: Callable[[str], ImageLog]
    auth: Callable[[], dict[str, str] | None]
    nocache: bool = True
    pulling: bool = False
    builder: str | None = CLASSIC
    labels: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    # image -> references of its Dockerfiles to external dependencies (pulled before a build)
    external: Mapping[str, list[str]] = field(default_factory=dict)
    keep_failed: Path | None = None
    on_output: Callable[[str, str], None] = lambda name, line: None

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


def _tee(chunks: Iterable[bytes], path: Path) -> Iterator[bytes]:
    """Pass the context through, keeping an exact copy in ``path``."""
    with path.open("wb") as copy:
        for chunk in chunks:
            copy.write(chunk)
            yield chunk
