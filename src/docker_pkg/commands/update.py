"""``docker-pkg update``: new changelog entries for images and everything built on them."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import TextIO

from docker_pkg.commands import printer
from docker_pkg.config.settings import Config
from docker_pkg.tree.changelog import (
    Author,
    PlannedUpdate,
    UpdateRequest,
    find_author,
    plan_updates,
    write_updates,
)
from docker_pkg.tree.workspace import Workspace


def git_config(key: str) -> str | None:
    """``git config --get KEY``, or None when git or the key is missing."""
    try:
        proc = subprocess.run(
            ["git", "config", "--get", key], capture_output=True, text=True, check=False
        )
    except OSError:
        return None
    value = proc.stdout.strip()
    return value if proc.returncode == 0 and value else None


def update(
    *,
    config: Config,
    directory: Path,
    request: UpdateRequest,
    dry_run: bool,
    environ: Mapping[str, str],
    now: datetime,
    stdout: TextIO | None = None,
) -> int:
    say = printer(stdout)

    say(f"== Step 0: scanning {directory} ==")
    workspace = Workspace.load(directory, config)
    fallback = Author(config.fallback_author, config.fallback_email)
    author = find_author(environ, git_config, fallback)
    updates = plan_updates(workspace, request, author, now)
    apply_updates(say, updates, dry_run=dry_run)
    return 0


def apply_updates(
    say: Callable[[str], None], updates: list[PlannedUpdate], *, dry_run: bool
) -> None:
    """Say what ``updates`` change, then print their entries (a dry run) or write them."""
    say("Will update the following images:")
    for planned in updates:
        definition = planned.definition
        say(f"* {definition.short_name}: {definition.version} -> {planned.new_version}")
    if dry_run:
        say("== Dry run: entries that would be added ==")
        for planned in updates:
            say(f"--- {planned.path}")
            say(planned.entry.rstrip("\n") + "\n")
        return
    say("== Step 1: adding updates ==")
    write_updates(updates)
    for planned in updates:
        say(f"* Updated {planned.path}")
