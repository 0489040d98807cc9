"""``docker-pkg sbom``: what an image of the tree holds, as a CycloneDX or SPDX document,
each package attributed to the image of its ``FROM`` chain that introduced it."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from docker_pkg.config.settings import Config
from docker_pkg.errors import EngineError, UsageError
from docker_pkg.inventory.attribution import introduced_by
from docker_pkg.inventory.documents import cyclonedx, spdx
from docker_pkg.inventory.model import Inventory
from docker_pkg.inventory.reading import read_inventory
from docker_pkg.naming import split_label
from docker_pkg.tree.definitions import Rendered
from docker_pkg.tree.inference import final_base
from docker_pkg.tree.workspace import Workspace

if TYPE_CHECKING:
    from docker_pkg.engines.interface import Engine


def lineage(
    workspace: Workspace, rendered: Mapping[str, Rendered], name: str
) -> tuple[list[str], str | None]:
    """The images of the tree ``name`` is built ``FROM``, from its root to itself, and the
    external image the root starts from (None for ``scratch``)."""
    by_full_name = {workspace.name(n): n for n in workspace.definitions}
    chain = [name]
    while True:
        base = final_base(rendered[chain[0]].dockerfile)
        if base is None:
            return chain, None
        parent = by_full_name.get(split_label(base)[0])
        if parent is None or parent in chain:
            return chain, base
        chain.insert(0, parent)


def sbom(
    *,
    config: Config,
    directory: Path,
    name: str,
    output_format: str,
    engine: Engine | None,
    environ: Mapping[str, str] | None = None,
    stdout: TextIO | None = None,
) -> int:
    """Print the inventory of ``name``'s current version, read from the image (pulled from
    the registry when the engine does not hold it)."""
    workspace, rendered = Workspace.load_inferred(directory, config)
    if name not in workspace.definitions:
        raise UsageError(f"no image named {name!r} in {directory}")
    if engine is None:
        raise EngineError("reading an image's inventory needs a Docker engine; none answers")
    chain, base = lineage(workspace, rendered, name)
    environ = os.environ if environ is None else environ
    inventories: list[tuple[str, Inventory]] = []
    if base is not None and engine.image_exists(base):
        inventories.append((base, _read(engine, base)))
    for member in chain:
        label = workspace.label(member)
        if not engine.image_exists(label):
            _pull(engine, config, label, environ)
        inventories.append((member, _read(engine, label)))
    inventory = inventories[-1][1]
    introduced = introduced_by(inventories)
    write = cyclonedx if output_format == "cyclonedx" else spdx
    out = stdout or sys.stdout
    out.write(write(inventory, introduced) + "\n")
    for warning in inventory.warnings:
        print(f"docker-pkg: warning: {inventory.image}: {warning}", file=sys.stderr)
    return 0


def _read(engine: Engine, label: str) -> Inventory:
    name, tag = split_label(label)
    found = [i.id for i in engine.list_images(name) if label in i.tags or not tag]
    return read_inventory(engine, label, found[0] if found else "")


def _pull(engine: Engine, config: Config, label: str, environ: Mapping[str, str]) -> None:
    """Fetch ``label`` from the configured registry; an image built nowhere is an error."""
    if not config.registry or not label.startswith(config.registry + "/"):
        raise EngineError(f"{label} is not in the engine: build it first")
    from docker_pkg.registry.connect import run_credentials

    credentials = run_credentials(config, environ, None)
    engine.pull(label, credentials.engine_auth(config.registry) if credentials else None)
