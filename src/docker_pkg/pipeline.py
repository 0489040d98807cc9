"""Build, verify and publish the images of a plan on one engine, isolating failures.

An image whose build or verification fails is ``failed``; its descendants are ``skipped``
with the failed ancestor named, and everything else goes on (spec 4.5).
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from docker_pkg.artifacts import ARTIFACTS, extract_artifacts
from docker_pkg.context import stream_context
from docker_pkg.engine import BuildRequest, Engine
from docker_pkg.errors import OperationError
from docker_pkg.logs import ImageLog
from docker_pkg.plan import State, resolve_state
from docker_pkg.registry import RegistryClient
from docker_pkg.templates import Rendered
from docker_pkg.verify import run_verification, verify_argv, verify_environment
from docker_pkg.workspace import Workspace

log = logging.getLogger(__name__)


class Outcome(StrEnum):
    VERIFIED = "verified"
    PUBLISHED = "published"
    FAILED = "failed"
    SKIPPED = "skipped"


@dataclass
class ImageResult:
    name: str
    label: str
    outcome: Outcome
    reason: str = ""
    image_id: str | None = None
    digest: str | None = None


@dataclass(frozen=True)
class BuildOptions:
    nocache: bool = True
    pull: bool = True


@dataclass
class BuildRun:
    """One run over one workspace, on one engine, with an optional registry client."""

    workspace: Workspace
    engine: Engine
    registry: RegistryClient | None
    options: BuildOptions
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))

    @property
    def pulling(self) -> bool:
        return self.options.pull and self.registry is not None

    def image_logger(self, name: str) -> ImageLog:
        return ImageLog(self.workspace.label(name))

    def _auth(self) -> dict[str, str] | None:
        config = self.workspace.config
        if not (config.username and config.password):
            return None
        return {
            "username": config.username,
            "password": config.password,
            "serveraddress": config.registry,
        }

    # -- states ---------------------------------------------------------------------------

    def is_published(self, name: str) -> bool:
        if self.registry is None:
            return False
        definition = self.workspace.definitions[name]
        repository = self.registry.repository_path(self.workspace.name(name))
        return self.registry.manifest(repository, definition.tag).exists

    def scan_states(self) -> dict[str, State]:
        """The state of every image, checked concurrently (``scan_workers``)."""

        def state_of(name: str) -> State:
            label = self.workspace.label(name)
            return resolve_state(
                self.pulling,
                published=lambda: self.is_published(name),
                local=lambda: self.engine.image_exists(label),
            )

        names = sorted(self.workspace.definitions)
        with ThreadPoolExecutor(max_workers=self.workspace.config.scan_workers) as pool:
            return dict(zip(names, pool.map(state_of, names), strict=True))

    # -- building -------------------------------------------------------------------------

    def pull_base_images(self) -> list[str]:
        """Refresh every ``base_images`` entry; returns warnings for those that failed."""
        warnings = []
        for reference in self.workspace.config.base_images:
            log.info("Refreshing base image %s", reference)
            try:
                self.engine.pull(reference, self._auth())
            except OperationError as exc:
                log.warning("Could not pull base image %s: %s", reference, exc)
                warnings.append(f"could not pull base image {reference}: {exc}")
        return warnings

    def build_chain(
        self, chain: list[str], rendered: Mapping[str, Rendered], states: Mapping[str, State]
    ) -> Iterator[ImageResult]:
        """Build and verify each image of ``chain`` in order; yield each result."""
        failed: dict[str, str] = {}
        for name in chain:
            label = self.workspace.label(name)
            broken = sorted(a for a in self.workspace.graph.ancestors(name) if a in failed)
            if broken:
                cause = broken[0]
                failed[name] = cause
                yield ImageResult(
                    name,
                    label,
                    Outcome.SKIPPED,
                    f"not attempted: its ancestor {self.workspace.label(cause)} failed",
                )
                continue
            try:
                image_id = self.build_one(name, rendered[name], states)
                self.verify_one(name)
            except OperationError as exc:
                failed[name] = name
                self.image_logger(name).error("%s", exc)
                yield ImageResult(name, label, Outcome.FAILED, str(exc))
                continue
            yield ImageResult(name, label, Outcome.VERIFIED, image_id=image_id)

    def build_one(self, name: str, rendered: Rendered, states: Mapping[str, State]) -> str:
        definition = self.workspace.definitions[name]
        output = self.image_logger(name)
        if self.pulling:
            for dep in definition.depends:
                if states.get(dep) is State.PUBLISHED:
                    dep_label = self.workspace.label(dep)
                    output.info("Pulling %s, dependency of %s", dep_label, name)
                    self.engine.pull(dep_label, self._auth())
        label = self.workspace.label(name)
        if rendered.build_dockerfile is None:
            return self._build(label, definition.path, rendered.dockerfile, output)
        with tempfile.TemporaryDirectory(prefix="docker-pkg-artifacts-") as scratch:
            artifacts = self.build_stage(name, rendered.build_dockerfile, Path(scratch))
            return self._build(
                label, definition.path, rendered.dockerfile, output, [(ARTIFACTS, artifacts)]
            )

    def build_stage(self, name: str, dockerfile: str, scratch: Path) -> Path:
        """Build ``NAME-build:TAG``, take its ``/build`` out, remove it; return the tree."""
        definition = self.workspace.definitions[name]
        output = self.image_logger(name)
        stage_label = f"{self.workspace.name(name)}-build:{definition.tag}"
        self._build(stage_label, definition.path, dockerfile, output)
        archive = scratch / "artifacts.tar"
        try:
            with archive.open("wb") as fh:
                self.engine.export_path(stage_label, "/" + ARTIFACTS, fh)
        finally:
            try:
                self.engine.remove_image(stage_label)
            except OperationError as exc:
                output.warning("Could not remove the build-stage image: %s", exc)
        tree = extract_artifacts(archive, scratch / "extracted")
        archive.unlink()
        return tree

    def _build(
        self,
        label: str,
        folder: Path,
        dockerfile: str,
        output: ImageLog,
        extra_trees: list[tuple[str, Path]] | None = None,
    ) -> str:
        config = self.workspace.config
        output.info("Building %s from %s", label, folder)
        output.debug("Rendered Dockerfile:\n%s", dockerfile)
        request = BuildRequest(
            context=stream_context(folder, dockerfile, extra_trees=extra_trees or ()),
            tag=label,
            nocache=self.options.nocache,
            buildargs=config.proxy_build_args,
            container_limits=config.container_limits,
            network_mode=config.network_mode,
        )
        return self.engine.build(request, output.info)

    def verify_one(self, name: str) -> None:
        definition = self.workspace.definitions[name]
        config = self.workspace.config
        label = self.workspace.label(name)
        output = self.image_logger(name)
        argv = verify_argv(config.verify_command, config.verify_args, definition.path, label)
        if argv is None:
            output.info("No test for %s, skipping verification", label)
            return
        output.info("Verifying %s", label)
        env = verify_environment(self.environ, config.proxy_build_args, self.engine.address)
        run_verification(argv, env, output)

    # -- publishing -----------------------------------------------------------------------

    def publish(self, candidates: list[str], verified: set[str]) -> Iterator[ImageResult]:
        """Verify (when not yet) and push each candidate as TAG and ``latest``, parents first."""
        failed: set[str] = set()
        for name in candidates:
            label = self.workspace.label(name)
            broken = sorted(a for a in self.workspace.graph.ancestors(name) if a in failed)
            if broken:
                failed.add(name)
                yield ImageResult(
                    name,
                    label,
                    Outcome.SKIPPED,
                    f"not pushed: its ancestor {self.workspace.label(broken[0])} was not published",
                )
                continue
            try:
                if name not in verified:
                    self.verify_one(name)
                digest = self.push_one(name)
            except OperationError as exc:
                failed.add(name)
                self.image_logger(name).error("%s", exc)
                yield ImageResult(name, label, Outcome.FAILED, str(exc))
                continue
            yield ImageResult(name, label, Outcome.PUBLISHED, digest=digest)

    def push_one(self, name: str) -> str | None:
        repository = self.workspace.name(name)
        tag = self.workspace.definitions[name].tag
        output = self.image_logger(name)
        self.engine.tag(f"{repository}:{tag}", repository, "latest")
        digest = None
        for pushed_tag in (tag, "latest"):
            output.info("Pushing %s:%s", repository, pushed_tag)
            result = self.engine.push(repository, pushed_tag, self._auth(), output.info)
            digest = digest or result
        return digest
