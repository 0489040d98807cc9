"""Image definitions on disk: the scan, the changelog's first entry, the control file."""

from __future__ import annotations

import io
import logging
import os
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from debian.changelog import Changelog, ChangelogParseError
from debian.deb822 import Deb822

from docker_pkg.errors import DefinitionError, ManyErrors, UsageError
from docker_pkg.naming import full_name, is_valid_short_name, is_valid_tag

log = logging.getLogger(__name__)

TEMPLATE = "Dockerfile.template"
BUILD_TEMPLATE = "Dockerfile.build.template"
CHANGELOG = "changelog"
CONTROL = "control"
DEPENDENCY_FIELDS = ("Build-Depends", "Depends")


@dataclass(frozen=True)
class ImageDefinition:
    """One image folder: its short name, version, dependencies and where it lives."""

    short_name: str
    version: str
    path: Path
    depends: tuple[str, ...] = ()
    tag_suffix: str = ""

    @property
    def tag(self) -> str:
        return self.version + self.tag_suffix

    @property
    def has_build_stage(self) -> bool:
        return (self.path / BUILD_TEMPLATE).is_file()

    def name(self, registry: str, namespace: str) -> str:
        return full_name(registry, namespace, self.short_name)

    def label(self, registry: str, namespace: str) -> str:
        return f"{self.name(registry, namespace)}:{self.tag}"


def _first_heading_line(text: str) -> int:
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            return number
    return 1


def read_changelog(path: Path) -> tuple[str, str]:
    """The package name and version of the changelog's first entry."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DefinitionError(f"cannot read changelog: {exc.strerror}", path=path) from None
    text = raw.decode("utf-8", errors="replace")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            changelog = Changelog(io.BytesIO(raw), max_blocks=1)
        except ChangelogParseError as exc:
            raise DefinitionError(
                f"invalid changelog: {exc}", path=path, line=_first_heading_line(text)
            ) from None
    name, version = changelog.get_package(), changelog.version
    if not name or version is None:
        why = str(caught[0].message) if caught else "no entry found"
        raise DefinitionError(
            f"the changelog has no valid first entry ({why})",
            path=path,
            line=_first_heading_line(text),
        )
    return str(name), str(version)


def read_control(path: Path) -> tuple[str, ...]:
    """Short names listed in ``Depends`` and ``Build-Depends`` of every paragraph."""
    if not path.is_file():
        return ()
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DefinitionError(f"cannot read control file: {exc}", path=path) from None
    deps: list[str] = []
    for paragraph in Deb822.iter_paragraphs(io.StringIO(text), use_apt_pkg=False):
        for fieldname in DEPENDENCY_FIELDS:
            value = paragraph.get(fieldname, "")
            deps.extend(d for d in (p.strip() for p in value.split(",")) if d)
    for dep in deps:
        if not is_valid_short_name(dep):
            raise DefinitionError(
                f"{dep!r} is not an image name (Depends/Build-Depends list image short names)",
                path=path,
                line=_line_of(text, dep),
            )
    return tuple(dict.fromkeys(deps))


def _line_of(text: str, needle: str) -> int | None:
    for number, line in enumerate(text.splitlines(), start=1):
        if needle in line:
            return number
    return None


def load_definition(folder: Path, tag_suffix: str = "") -> ImageDefinition:
    changelog = folder / CHANGELOG
    name, version = read_changelog(changelog)
    if not is_valid_short_name(name):
        raise DefinitionError(
            f"image name {name!r} is not a valid Docker repository name (lowercase letters, "
            "digits and separators)",
            path=changelog,
            line=1,
        )
    tag = version + tag_suffix
    if not is_valid_tag(tag):
        raise DefinitionError(
            f"version {version!r} does not make a valid Docker tag ({tag!r}): tags may hold "
            "only letters, digits, '_', '.' and '-', start with a letter, digit or '_', and be "
            "at most 128 characters (no '~' or epoch ':')",
            path=changelog,
            line=_first_heading_line(changelog.read_text(encoding="utf-8", errors="replace")),
        )
    return ImageDefinition(
        short_name=name,
        version=version,
        path=folder,
        depends=read_control(folder / CONTROL),
        tag_suffix=tag_suffix,
    )


def definition_folders(root: Path) -> Iterator[Path]:
    """Every folder below ``root`` with both a template and a changelog, in sorted order."""
    for current, dirs, files in os.walk(root):
        dirs.sort()
        has_template, has_changelog = TEMPLATE in files, CHANGELOG in files
        if has_template and has_changelog:
            yield Path(current)
        elif has_template:
            log.warning("Ignoring %s since it lacks a changelog", current)
        elif has_changelog:
            log.warning("Ignoring %s since it lacks a Dockerfile.template", current)


def scan(root: Path, tag_suffix: str = "") -> list[ImageDefinition]:
    """Load every definition below ``root``; all errors found are reported together."""
    if not root.is_dir():
        raise DefinitionError("not a directory", path=root)
    found: dict[str, ImageDefinition] = {}
    errors: list[UsageError] = []
    for folder in definition_folders(root):
        try:
            definition = load_definition(folder, tag_suffix)
        except DefinitionError as exc:
            errors.append(exc)
            continue
        other = found.get(definition.short_name)
        if other is not None:
            errors.append(
                DefinitionError(
                    f"image {definition.short_name!r} is defined twice: in {other.path} "
                    f"and in {folder}",
                    path=folder / CHANGELOG,
                )
            )
            continue
        found[definition.short_name] = definition
    if len(errors) == 1:
        raise errors[0]
    if errors:
        raise ManyErrors(errors)
    return list(found.values())
