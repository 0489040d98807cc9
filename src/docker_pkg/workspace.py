"""A scanned definitions tree: definitions, graph and labels of one run (pure, no engine)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from docker_pkg.config import Config
from docker_pkg.definitions import ImageDefinition, scan
from docker_pkg.graph import DependencyGraph
from docker_pkg.templates import Renderer


@dataclass(frozen=True)
class Workspace:
    root: Path
    config: Config
    definitions: dict[str, ImageDefinition]
    graph: DependencyGraph

    @classmethod
    def load(cls, root: Path, config: Config, tag_suffix: str = "") -> Workspace:
        found = scan(root, tag_suffix)
        return cls(
            root=root,
            config=config,
            definitions={d.short_name: d for d in found},
            graph=DependencyGraph.from_definitions(found),
        )

    def name(self, short_name: str) -> str:
        return self.definitions[short_name].name(self.config.registry, self.config.namespace)

    def label(self, short_name: str) -> str:
        return self.definitions[short_name].label(self.config.registry, self.config.namespace)

    @property
    def labels(self) -> dict[str, str]:
        return {name: self.label(name) for name in self.definitions}

    def known_images(self) -> list[str]:
        """What ``image_tag`` knows: every scanned image, then the configured base images."""
        return [*self.labels.values(), *self.config.base_images]

    def renderer(self) -> Renderer:
        return Renderer(self.config, self.known_images())
