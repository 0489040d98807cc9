"""``docker-pkg refresh``: ``outdated``, then a changelog entry for each image to refresh
(naming its packages) and for everything built on it, written all or nothing. What each
image was refreshed for is kept, so the next build can tell when a package did not move."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from docker_pkg.commands import printer
from docker_pkg.commands.outdated import describe, find_outdated
from docker_pkg.config.settings import Config, state_dir
from docker_pkg.inventory.refreshed import RefreshRecord
from docker_pkg.tree.changelog import (
    Author,
    find_author,
    plan_entries,
)
from docker_pkg.tree.versions import Scheme

if TYPE_CHECKING:
    from docker_pkg.engines.interface import Engine


def refresh(
    *,
    config: Config,
    directory: Path,
    select: str | None,
    security: bool,
    scheme: Scheme,
    dry_run: bool,
    engine: Engine | None,
    environ: Mapping[str, str],
    now: datetime,
    stdout: TextIO | None = None,
) -> int:
    say = printer(stdout)
    workspace, plan = find_outdated(
        config=config,
        directory=directory,
        select=select,
        security=security,
        engine=engine,
        environ=environ,
    )
    for warning in plan.warnings:
        say(f"WARNING: {warning}")
    say(describe(plan).rstrip("\n"))
    if not plan.refresh:
        say("Nothing to refresh.")
        return 0
    from docker_pkg.commands.update import apply_updates, git_config

    author = find_author(environ, git_config, Author(config.fallback_author, config.fallback_email))
    reasons = {image.name: image.reason() for image in plan.refresh}
    updates = plan_entries(workspace, reasons, scheme=scheme, author=author, now=now)
    apply_updates(say, updates, dry_run=dry_run)
    if dry_run:
        return 0
    new_versions = {p.definition.short_name: p.new_version for p in updates}
    RefreshRecord(state_dir(environ)).remember(
        {
            f"{workspace.name(image.name)}:{new_versions[image.name]}": image.updates
            for image in plan.refresh
        }
    )
    return 0
