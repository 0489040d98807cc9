"""``docker-pkg status``: every image with its label, state and why."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import TextIO

from docker_pkg.commands.build import registry_client
from docker_pkg.config import Config
from docker_pkg.credentials import find_credentials
from docker_pkg.plan import state_reason
from docker_pkg.states import StateScan, TagSource
from docker_pkg.workspace import Workspace


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
        states = scan.states()
    finally:
        if registry is not None:
            registry.close()
    rows = [
        {
            "name": name,
            "label": workspace.label(name),
            "state": states[name].value,
            "why": state_reason(states[name], scan.pulling, config.registry),
        }
        for name in workspace.graph.order()
    ]
    if output_format == "json":
        json.dump(rows, out, indent=2)
        out.write("\n")
        return 0
    width = max((len(r["label"]) for r in rows), default=10)
    for row in rows:
        print(f"{row['label']:<{width}}  {row['state']:<9}  {row['why']}", file=out)
    return 0
