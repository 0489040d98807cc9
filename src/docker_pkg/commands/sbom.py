"""``docker-pkg sbom``: what an image of the tree holds, as a CycloneDX or SPDX document,
each package attributed to the image of its ``FROM`` chain that introduced it. The
inventory kept when the image was built is used; else the one published beside it in the
registry; else it is read from the image (pulled when the engine does not hold it)."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from docker_pkg.config.settings import Config, state_dir
from docker_pkg.errors import EngineError, UsageError
from docker_pkg.inventory.documents import cyclonedx, spdx
from docker_pkg.inventory.store import InventoryStore
from docker_pkg.inventory.taking import Inventories, image_id
from docker_pkg.naming import split_label
from docker_pkg.tree.workspace import Workspace

if TYPE_CHECKING:
    from docker_pkg.engines.interface import Engine


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
    """Print the inventory of ``name``'s current version."""
    environ = os.environ if environ is None else environ
    workspace, rendered = Workspace.load_inferred(directory, config)
    if name not in workspace.definitions:
        raise UsageError(f"no image named {name!r} in {directory}")
    if engine is None:
        raise EngineError("reading an image's inventory needs a Docker engine; none answers")
    label = workspace.label(name)
    out = stdout or sys.stdout
    inventories = Inventories(
        workspace, rendered, InventoryStore(state_dir(environ) / "inventories")
    )
    held = engine.image_exists(label)
    kept = inventories.kept(engine, name) if held else None
    if kept is None and output_format == "cyclonedx":
        published = _published_document(config, workspace.name(name), label, environ)
        if published is not None:
            out.write(published.decode() + "\n")
            return 0
    if kept is None:
        if not held:
            _pull(engine, config, label, environ)
        kept = inventories.kept(engine, name) or inventories.take(
            engine, name, image_id(engine, label)
        )
    write = cyclonedx if output_format == "cyclonedx" else spdx
    out.write(write(kept.inventory, kept.introduced) + "\n")
    for warning in kept.inventory.warnings:
        print(f"docker-pkg: warning: {label}: {warning}", file=sys.stderr)
    return 0


def _published_document(
    config: Config, full_name: str, label: str, environ: Mapping[str, str]
) -> bytes | None:
    """The CycloneDX document published beside ``label`` in the registry, if any."""
    if not config.registry or not label.startswith(config.registry + "/"):
        return None
    from docker_pkg.inventory.publishing import CYCLONEDX_JSON
    from docker_pkg.registry.connect import registry_client, run_credentials
    from docker_pkg.registry.referrers import attached_document

    client = registry_client(config, run_credentials(config, environ, None))
    assert client is not None
    try:
        repository = client.repository_path(full_name)
        status = client.manifest(repository, split_label(label)[1])
        if not status.exists or not status.digest:
            return None
        return attached_document(client, repository, status.digest, CYCLONEDX_JSON)
    finally:
        client.close()


def _pull(engine: Engine, config: Config, label: str, environ: Mapping[str, str]) -> None:
    """Fetch ``label`` from the configured registry; an image built nowhere is an error."""
    if not config.registry or not label.startswith(config.registry + "/"):
        raise EngineError(f"{label} is not in the engine: build it first")
    from docker_pkg.registry.connect import run_credentials

    credentials = run_credentials(config, environ, None)
    engine.pull(label, credentials.engine_auth(config.registry) if credentials else None)
