"""A scanned definitions tree: definitions, graph and labels of one run (pure, no engine)."""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from docker_pkg.config.settings import Config
from docker_pkg.files import recording_reads
from docker_pkg.naming import split_label
from docker_pkg.tree import cache as tree_cache
from docker_pkg.tree.definitions import ImageDefinition, Rendered, scan
from docker_pkg.tree.graph import DependencyGraph
from docker_pkg.tree.inference import Reference, image_references, known_references

if TYPE_CHECKING:
    from docker_pkg.tree.templates import Renderer


@dataclass(frozen=True)
class Workspace:
    root: Path
    config: Config
    definitions: dict[str, ImageDefinition]
    graph: DependencyGraph

    @classmethod
    def load(cls, root: Path, config: Config, tag_suffix: str = "") -> Workspace:
        return cls.of(root, config, scan(root, tag_suffix))

    @classmethod
    def of(cls, root: Path, config: Config, found: list[ImageDefinition]) -> Workspace:
        return cls(
            root=root,
            config=config,
            definitions={d.short_name: d for d in found},
            graph=DependencyGraph.from_definitions(found),
        )

    @classmethod
    def load_inferred(
        cls, root: Path, config: Config, tag_suffix: str = ""
    ) -> tuple[Workspace, dict[str, Rendered]]:
        """The tree with its inferred dependencies, and every Dockerfile that rendered
        (from the scan cache when nothing it read has changed)."""
        kept = cls.load_kept(root, config, tag_suffix)
        if kept is not None:
            return kept
        with (
            recording_reads() as inputs,
            tree_cache.counting_warnings("docker_pkg.tree.templates") as warnings,
        ):
            workspace = cls.load(root, config, tag_suffix)
            renderer = workspace.renderer()
            rendered = workspace.render_what_renders(renderer)
        inferred = workspace.inferred(rendered)
        complete = len(rendered) == len(workspace.definitions) and not warnings.count
        complete = complete and renderer.repeatable
        if config.tree_cache and complete:
            found = list(workspace.definitions.values())
            snapshot = tree_cache.Snapshot(found, rendered, inferred)
            cache = tree_cache.TreeCache(config.tree_cache, root, config, tag_suffix)
            cache.store(snapshot, inputs)
        return workspace.with_inferred(inferred), rendered

    @classmethod
    def load_kept(
        cls, root: Path, config: Config, tag_suffix: str = ""
    ) -> tuple[Workspace, dict[str, Rendered]] | None:
        """What :meth:`load_inferred` gives, from the scan cache; None when it has not kept
        this tree as it is now."""
        if not config.tree_cache:
            return None
        kept = tree_cache.TreeCache(config.tree_cache, root, config, tag_suffix).load()
        if kept is None:
            return None
        workspace = cls.of(root, config, kept.definitions)
        return workspace.with_inferred(kept.inferred), kept.rendered

    def name(self, short_name: str) -> str:
        return self.definitions[short_name].name(self.config.registry, self.config.namespace)

    def label(self, short_name: str) -> str:
        return self.definitions[short_name].label(self.config.registry, self.config.namespace)

    @functools.cached_property
    def labels(self) -> dict[str, str]:
        """Every image's label (asked for on every scheduler event: made once)."""
        return {name: self.label(name) for name in self.definitions}

    def known_images(self) -> list[str]:
        """What ``image_tag`` knows: every scanned image, then the configured base images."""
        return [*self.labels.values(), *self.config.base_images]

    def renderer(self) -> Renderer:
        from docker_pkg.tree.templates import Renderer

        return Renderer(self.config, self.known_images(), self.root)

    def render_what_renders(self, renderer: Renderer | None = None) -> dict[str, Rendered]:
        """Every image whose templates render; the others are left out (and reported by
        whoever needs them)."""
        return (renderer or self.renderer()).render_each(self.definitions.values())[0]

    def raise_render_errors(self, names: Iterable[str], rendered: Mapping[str, Rendered]) -> None:
        """Render again those of ``names`` that did not render, to report every error among
        them at once; nothing (no Jinja loaded) when they all did."""
        failed = [self.definitions[n] for n in names if n not in rendered]
        if failed:
            self.renderer().render_all(failed)

    def references(self, rendered: Mapping[str, Rendered]) -> dict[str, list[Reference]]:
        """For each rendered image, the images of the tree its Dockerfiles use."""
        names = {self.name(n): n for n in self.definitions}
        tags = {n: d.tag for n, d in self.definitions.items()}
        found: dict[str, list[Reference]] = {}
        for name, item in rendered.items():
            refs = known_references(item.dockerfile, names, tags)
            if item.build_dockerfile is not None:
                refs += known_references(item.build_dockerfile, names, tags)
            found[name] = [r for r in refs if r.image != name]
        return found

    def external_references(self, rendered: Mapping[str, Rendered]) -> dict[str, list[str]]:
        """For each image with external dependencies, the references of its Dockerfiles
        that name one of them (``FROM other-registry/golang1.25:1.25-1`` for ``golang1.25``)."""
        found: dict[str, list[str]] = {}
        for name, outside in self.graph.external.items():
            item = rendered.get(name)
            if item is None:
                continue
            texts = [item.dockerfile, item.build_dockerfile or ""]
            refs = [ref for text in texts for ref, _ in image_references(text)]
            found[name] = list(
                dict.fromkeys(r for r in refs if split_label(r)[0].rsplit("/", 1)[-1] in outside)
            )
        return found

    def inferred(self, rendered: Mapping[str, Rendered]) -> dict[str, list[str]]:
        """For each rendered image, the images of the tree its Dockerfiles name."""
        return {n: [r.image for r in refs] for n, refs in self.references(rendered).items()}

    def with_inferred(self, inferred: Mapping[str, list[str]]) -> Workspace:
        """This workspace with the dependencies inferred from its Dockerfiles added (build
        order only; ``update`` keeps to the declared ones)."""
        return replace(self, graph=self.graph.with_inferred(inferred))
