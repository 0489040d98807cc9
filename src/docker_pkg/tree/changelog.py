"""New changelog entries for ``update``: planned in full first, then written all or nothing."""

from __future__ import annotations

import fnmatch
import os
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from email.utils import format_datetime
from pathlib import Path

from docker_pkg.errors import DefinitionError, ManyErrors, UsageError
from docker_pkg.tree.definitions import CHANGELOG, ImageDefinition
from docker_pkg.tree.versions import Scheme, check_new_version, next_version
from docker_pkg.tree.workspace import Workspace

GitConfig = Callable[[str], str | None]


@dataclass(frozen=True)
class Author:
    name: str
    email: str

    def __str__(self) -> str:
        return f"{self.name} <{self.email}>"


def find_author(environ: Mapping[str, str], git_config: GitConfig, fallback: Author) -> Author:
    """``DEBFULLNAME``/``DEBEMAIL``, else git's ``user.name``/``user.email``, else the fallback."""
    name = environ.get("DEBFULLNAME") or git_config("user.name") or fallback.name
    email = environ.get("DEBEMAIL") or git_config("user.email") or fallback.email
    return Author(name, email)


def changelog_entry(
    name: str, version: str, *, distribution: str, reason: str, author: Author, when: datetime
) -> str:
    """One entry as the reference writes it, reason lines indented by three spaces."""
    changes = "\n".join(f"   {line}" for line in reason.split("\n"))
    return (
        f"{name} ({version}) {distribution}; urgency=high\n\n"
        f"{changes}\n\n"
        f" -- {author}  {format_datetime(when)}\n\n"
    )


@dataclass(frozen=True)
class PlannedUpdate:
    definition: ImageDefinition
    new_version: str
    entry: str

    @property
    def path(self) -> Path:
        return self.definition.path / CHANGELOG


@dataclass(frozen=True)
class UpdateRequest:
    pattern: str
    reason: str = "Security update"
    version: str | None = None
    scheme: Scheme = Scheme.COUNTER


def plan_updates(
    workspace: Workspace, request: UpdateRequest, author: Author, now: datetime
) -> list[PlannedUpdate]:
    """An entry for every image whose name matches, and every image depending on one of them
    (declared dependencies, directly or not). Every version is checked before returning."""
    matched = {n for n in workspace.definitions if fnmatch.fnmatchcase(n, request.pattern)}
    if not matched:
        raise UsageError(f"no image named {request.pattern!r} in {workspace.root}")
    return plan_entries(
        workspace,
        dict.fromkeys(matched, request.reason),
        scheme=request.scheme,
        author=author,
        now=now,
        version=request.version,
    )


def plan_entries(
    workspace: Workspace,
    reasons: Mapping[str, str],
    *,
    scheme: Scheme,
    author: Author,
    now: datetime,
    version: str | None = None,
) -> list[PlannedUpdate]:
    """One entry for each image of ``reasons`` (with its reason) and for each of their
    descendants in ``workspace``'s graph (naming the parents and their reasons), however
    many of them reach it. ``version``: the new version of the images of ``reasons``."""
    graph = workspace.graph
    affected = set(reasons)
    for name in reasons:
        affected |= graph.descendants(name)
    config = workspace.config
    today: date = now.date()
    updates: list[PlannedUpdate] = []
    errors: list[UsageError] = []
    for name in graph.order(affected):
        definition = workspace.definitions[name]
        automatic = next_version(definition.version, scheme, config.update_id, today)
        if name in reasons:
            reason = reasons[name]
            new_version = version or automatic
        else:
            parents = sorted(graph.ancestors(name) & set(reasons))
            why = "\n".join(dict.fromkeys(reasons[p] for p in parents))
            reason = f"Refresh for update in parent image {', '.join(parents)}:\n{why}"
            new_version = automatic
        problem = check_new_version(definition.version, new_version)
        if problem:
            errors.append(
                DefinitionError(
                    f"cannot update {name}: {problem}", path=definition.path / CHANGELOG
                )
            )
            continue
        entry = changelog_entry(
            name,
            new_version,
            distribution=config.distribution,
            reason=reason,
            author=author,
            when=now,
        )
        updates.append(PlannedUpdate(definition, new_version, entry))
    if len(errors) == 1:
        raise errors[0]
    if errors:
        raise ManyErrors(errors)
    return updates


def write_updates(updates: list[PlannedUpdate]) -> None:
    """Prepend each entry to its changelog, atomically and all together.

    Every new file is written next to its changelog first; only when all are written are
    they renamed over the originals (keeping mode and owner). Any failure before that
    removes the new files and leaves every changelog untouched.
    """
    staged: list[tuple[Path, Path]] = []
    try:
        for update in updates:
            staged.append((_stage(update), update.path))
    except OSError as exc:
        for temp, _ in staged:
            temp.unlink(missing_ok=True)
        raise DefinitionError(f"cannot write the new changelog: {exc}", path=exc.filename) from None
    for temp, target in staged:
        os.replace(temp, target)


def _stage(update: PlannedUpdate) -> Path:
    target = update.path
    original = target.read_bytes()
    status = target.stat()
    fd, name = tempfile.mkstemp(dir=target.parent, prefix=".changelog.", suffix=".new")
    temp = Path(name)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(update.entry.encode("utf-8") + original)
        os.chmod(temp, status.st_mode & 0o7777)
        if os.geteuid() == 0:
            os.chown(temp, status.st_uid, status.st_gid)
    except OSError:
        temp.unlink(missing_ok=True)
        raise
    return temp
