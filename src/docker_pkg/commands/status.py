"""``docker-pkg status``: every image with its label, state and why."""

from __future__ import annotations

import contextlib
import json
import os
import sys
from pathlib import Path
from typing import Any, TextIO

from docker_pkg.config.settings import Config
from docker_pkg.errors import EngineError
from docker_pkg.naming import platform_tag, split_label
from docker_pkg.planning.plan import state_reason
from docker_pkg.planning.states import StateScan, TagSource
from docker_pkg.registry.client import RegistryClient
from docker_pkg.registry.connect import registry_client
from docker_pkg.registry.credentials import find_credentials
from docker_pkg.tree.workspace import Workspace


def status(
    *,
    config: Config,
    directory: Path,
    engine: TagSource | None,
    pull: bool,
    output_format: str,
    stdout: TextIO | None = None,
) -> int:
    out = stdout or sys.stdout
    workspace, _ = Workspace.load_inferred(directory, config)
    credentials = find_credentials(config.registry, config.username, config.password, os.environ)
    registry = registry_client(config, credentials)
    scan = StateScan(workspace, engine, registry, pull)
    try:
        if config.platforms:
            rows = _platform_rows(workspace, registry, engine)
        else:
            states = scan.states()
            rows = [
                {
                    "name": name,
                    "label": workspace.label(name),
                    "state": "unknown" if name in scan.unanswered else states[name].value,
                    "why": state_reason(
                        states[name], scan.pulling, config.registry, scan.unanswered.get(name)
                    ),
                }
                for name in workspace.graph.order()
            ]
    finally:
        if registry is not None:
            registry.close()
    _add_outdated(rows, engine, config.platforms)
    if output_format == "json":
        json.dump(rows, out, indent=2)
        out.write("\n")
        return 0
    width = max((len(r["label"]) for r in rows), default=10)
    for row in rows:
        known = row.get("outdated")
        note = f"  [{known['packages']} outdated, {known['security']} security]" if known else ""
        print(f"{row['label']:<{width}}  {row['state']:<9}  {row['why']}{note}", file=out)
    return 0


def _add_outdated(
    rows: list[dict[str, Any]], engine: TagSource | None, platforms: tuple[str, ...]
) -> None:
    """Each image's outdated packages (security apart) where an engine holds its current
    version (with ``platforms``: the image of the first platform an engine holds), its
    inventory is kept and an earlier ``outdated`` fetched its indexes."""
    from docker_pkg.engines.docker_engine import DockerEngine
    from docker_pkg.engines.pool import EnginePool

    tagged: dict[str, str] = {}
    if isinstance(engine, DockerEngine):
        tagged = engine.tagged_ids()
    elif isinstance(engine, EnginePool):
        for member in engine.alive:
            with contextlib.suppress(EngineError):  # an engine gone: its images are not known
                tagged = member.engine.tagged_ids() | tagged
    if not tagged:
        for row in rows:
            row["outdated"] = None
        return
    from docker_pkg.commands.outdated import known_counts
    from docker_pkg.config.settings import state_dir
    from docker_pkg.inventory.store import InventoryStore

    held = {}
    for row in rows:
        name, tag = split_label(row["label"])
        labels = [row["label"], *(f"{name}:{platform_tag(tag, p)}" for p in platforms)]
        held[row["name"]] = next((tagged[x] for x in labels if tagged.get(x)), "")
    store = InventoryStore(state_dir(os.environ) / "inventories")
    counts = known_counts(store, {n: i for n, i in held.items() if i}, os.environ)
    for row in rows:
        found = counts.get(row["name"])
        row["outdated"] = {"packages": found[0], "security": found[1]} if found else None


def _platform_rows(
    workspace: Workspace, registry: RegistryClient | None, engine: TagSource | None
) -> list[dict[str, Any]]:
    """With ``platforms``: each image and where each of its platforms stands."""
    from docker_pkg.engines.pool import EnginePool
    from docker_pkg.planning.platform_plan import scan_platforms
    from docker_pkg.planning.platforms import wanted_platforms

    wanted = wanted_platforms(workspace.definitions, workspace.graph, workspace.config.platforms)
    pool = engine if isinstance(engine, EnginePool) else None
    states = scan_platforms(workspace, registry, pool, wanted)
    rows = []
    for name in workspace.graph.order():
        state = states[name]
        each = {
            p: "published"
            if p in state.in_registry
            else "built"
            if p in state.local
            else "to_build"
            for p in state.wanted
        }
        missing = [p for p, s in each.items() if s != "published"]
        rows.append(
            {
                "name": name,
                "label": workspace.label(name),
                "state": "published"
                if state.published
                else "partial"
                if len(missing) < len(each)
                else "to_build",
                "why": "an index of " + ", ".join(state.wanted)
                if state.published
                else "not yet in the registry: " + ", ".join(missing),
                "platforms": each,
            }
        )
    return rows
