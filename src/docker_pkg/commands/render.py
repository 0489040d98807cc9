"""``docker-pkg render``: write the Dockerfiles the build would use; no engine needed."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TextIO

from docker_pkg.config.settings import Config
from docker_pkg.errors import UsageError
from docker_pkg.files import digest, digest_of
from docker_pkg.planning.plan import selection
from docker_pkg.tree.workspace import Workspace


def render(
    *,
    config: Config,
    directory: Path,
    select: str | None,
    output: Path | None,
    stdout: TextIO | None = None,
) -> int:
    stdout = stdout or sys.stdout
    # A whole tree is scanned as a build scans it (and kept for the next run); one image
    # of a tree that changed is rendered alone.
    kept = (
        Workspace.load_inferred(directory, config)
        if select is None
        else Workspace.load_kept(directory, config)
    )
    workspace, every = kept if kept is not None else (Workspace.load(directory, config), {})
    names = sorted(selection(workspace.labels, select))
    if not names:
        raise UsageError(f"no image in {directory} matches {select!r}")
    if output is None and len(names) > 1:
        raise UsageError(
            f"{len(names)} images selected: give --output DIR, or --select exactly one image"
        )
    # Every template renders before anything is written: an error leaves no output behind.
    missing = [workspace.definitions[n] for n in names if n not in every]
    if missing:
        every = {**every, **workspace.renderer().render_all(missing)}
    for name in names:
        rendered = every[name]
        if output is None:
            stdout.write(rendered.dockerfile)
            if not rendered.dockerfile.endswith("\n"):
                stdout.write("\n")
            continue
        folder = output / name
        folder.mkdir(parents=True, exist_ok=True)
        _write_if_changed(folder / "Dockerfile", rendered.dockerfile)
        if rendered.build_dockerfile is not None:
            _write_if_changed(folder / "Dockerfile.build", rendered.build_dockerfile)
        print(f"* {workspace.label(name)} -> {folder / 'Dockerfile'}", file=stdout)
    return 0


def _write_if_changed(path: Path, text: str) -> None:
    """Write ``text`` unless the file already holds it: an unchanged Dockerfile keeps its
    modification time (and writing a thousand files costs more than reading them)."""
    content = text.encode()
    if digest_of(str(path)) != digest(content):
        path.write_bytes(content)
