"""``docker-pkg prune``: remove old local versions of images, children before parents."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from docker_pkg.commands import printer
from docker_pkg.config.settings import Config
from docker_pkg.errors import EngineError
from docker_pkg.planning.plan import selection
from docker_pkg.planning.prune import PruneTarget, stale_references
from docker_pkg.tree.workspace import Workspace

if TYPE_CHECKING:
    from docker_pkg.engines.interface import Engine

log = logging.getLogger(__name__)


def prune(
    *,
    config: Config,
    directory: Path,
    engine: Engine,
    select: str | None,
    nightly: str | None,
    dry_run: bool,
    stdout: TextIO | None = None,
) -> int:
    say = printer(stdout)

    say(f"== Step 0: scanning {directory} ==")
    suffix = f"-{nightly}" if nightly else ""
    workspace = Workspace.load(directory, config, suffix)
    chosen = selection(workspace.labels, select)
    order = list(reversed(workspace.graph.order(chosen)))
    targets = [
        PruneTarget(
            name,
            workspace.label(name),
            tuple(
                stale_references(
                    engine.list_images(workspace.name(name)),
                    workspace.name(name),
                    workspace.label(name),
                )
            ),
        )
        for name in order
    ]
    say("Will prune old versions of the following images:")
    for target in targets:
        say(f"* {target.keep}")
    say("== Step 1: pruning images ==")
    failures = 0
    for target in targets:
        say(f"* Pruning old versions of {target.keep}")
        for reference in target.stale:
            if dry_run:
                say(f"  would remove {reference}")
                continue
            try:
                engine.remove_image(reference)
            except EngineError as exc:
                failures += 1
                log.error("Could not remove %s: %s", reference, exc)
                say(f"  ERROR: could not remove {reference}: {exc}")
                continue
            say(f"  removed {reference}")
    say(f"== Prune done: {failures} removal(s) failed ==" if failures else "== Prune done! ==")
    return 1 if failures else 0
