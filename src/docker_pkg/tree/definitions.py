"""Image definitions on disk: the scan, the changelog's first entry, the control file."""

from __future__ import annotations

import logging
import os
import re
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from docker_pkg.errors import DefinitionError, ManyErrors, UsageError
from docker_pkg.files import lexists, read_text
from docker_pkg.naming import full_name, is_valid_platform, is_valid_short_name, is_valid_tag

log = logging.getLogger(__name__)

TEMPLATE = "Dockerfile.template"
BUILD_TEMPLATE = "Dockerfile.build.template"
CHANGELOG = "changelog"
CONTROL = "control"
DEPENDENCY_FIELDS = ("Build-Depends", "Depends")
_DEPENDENCY_FIELDS = {f.lower() for f in DEPENDENCY_FIELDS}


@dataclass(frozen=True)
class Constraint:
    """A version constraint on a dependency: ``Depends: base (>= 1.2)``."""

    image: str
    operator: str
    version: str
    line: int


@dataclass(frozen=True)
class ImageDefinition:
    """One image folder: its short name, version, dependencies and where it lives."""

    short_name: str
    version: str
    path: Path
    depends: tuple[str, ...] = ()
    tag_suffix: str = ""
    constraints: tuple[Constraint, ...] = ()
    platforms: tuple[str, ...] = ()  # from control; empty: every platform of the run

    @property
    def tag(self) -> str:
        return self.version + self.tag_suffix

    @property
    def has_build_stage(self) -> bool:
        # Anything by that name counts: reading it reports a folder or FIFO in its place.
        return lexists(self.path / BUILD_TEMPLATE)

    def name(self, registry: str, namespace: str) -> str:
        return full_name(registry, namespace, self.short_name)

    def label(self, registry: str, namespace: str) -> str:
        return f"{self.name(registry, namespace)}:{self.tag}"


@dataclass(frozen=True)
class Rendered:
    """The Dockerfiles of one image: the main one and, when defined, its build stage."""

    definition: ImageDefinition
    dockerfile: str
    build_dockerfile: str | None = None


def _first_heading(text: str) -> tuple[int, str]:
    """The first non-blank line of a changelog and its number (1 for an empty file)."""
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            return number, line
    return 1, ""


@dataclass(frozen=True)
class ChangelogHead:
    """What the first entry of a changelog says, and the line of its header."""

    name: str
    version: str
    line: int


def read_changelog(path: Path) -> ChangelogHead:
    """The package name and version of the changelog's first entry.

    The first non-blank line must be an entry header: python-debian skips a malformed one
    with a mere warning and would hand back the *next* entry's version.
    """
    from debian.changelog import Changelog, ChangelogParseError, topline

    text = read_text(path, "the changelog", DefinitionError)
    line, heading = _first_heading(text)
    match = topline.match(heading)
    if match is None:
        found = heading.strip()[:80] or "an empty file"
        raise DefinitionError(
            "the first line is not a changelog entry header of the form "
            f"'NAME (VERSION) DISTRIBUTION; urgency=LEVEL' (found {found!r})",
            path=path,
            line=line,
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the library warns about trailers it tolerates
            changelog = Changelog(text, max_blocks=1)
            name, version = changelog.get_package(), changelog.version
    except ChangelogParseError as exc:
        raise DefinitionError(f"invalid changelog: {exc}", path=path, line=line) from None
    except ValueError as exc:  # python-debian's Version refuses the version string
        raise DefinitionError(
            f"invalid version in the first entry: {exc}", path=path, line=line
        ) from None
    if name != match.group(1) or version is None or str(version) != match.group(2):
        raise DefinitionError("the first changelog entry could not be read", path=path, line=line)
    return ChangelogHead(str(name), str(version), line)


@dataclass(frozen=True)
class _Field:
    name: str
    value: str
    line: int


_FIELD = re.compile(r"^(?P<name>[!-9;-~][!-9;-~]*)\s*:(?P<value>.*)$")
_RELATION = re.compile(
    r"^(?P<name>[^\s(|\[]+)\s*(?:\(\s*(?P<op><<|<=|=|>=|>>)\s*(?P<version>[^\s)]+)\s*\))?$"
)


def _control_paragraphs(text: str, path: Path) -> list[list[_Field]]:
    """The deb822 paragraphs of a control file, strictly: a malformed line or a field given
    twice in one paragraph is an error (python-debian would drop or overwrite it)."""
    paragraphs: list[list[_Field]] = []
    current: list[_Field] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            if current:
                paragraphs.append(current)
            current = []
            continue
        if line.startswith("#"):
            continue
        if line[0] in " \t":
            if not current:
                raise DefinitionError(
                    "continuation line without a field before it", path=path, line=number
                )
            last = current[-1]
            current[-1] = _Field(last.name, f"{last.value}\n{line.strip()}", last.line)
            continue
        match = _FIELD.match(line)
        if match is None or match["name"].startswith("-"):
            raise DefinitionError(
                f"not a 'Field: value' line: {line.strip()[:80]!r}", path=path, line=number
            )
        name = match["name"]
        twice = next((f for f in current if f.name.lower() == name.lower()), None)
        if twice is not None:
            raise DefinitionError(
                f"field {name!r} appears twice in one paragraph (first on line {twice.line})",
                path=path,
                line=number,
            )
        current.append(_Field(name, match["value"].strip(), number))
    if current:
        paragraphs.append(current)
    return paragraphs


@dataclass(frozen=True)
class Control:
    """What a ``control`` file says: the images depended on, version constraints on them,
    and the platforms the image is built for (none: every platform of the run)."""

    depends: tuple[str, ...] = ()
    constraints: tuple[Constraint, ...] = ()
    platforms: tuple[str, ...] = ()


def read_control(path: Path) -> Control:
    """Short names listed in ``Depends`` and ``Build-Depends`` of every paragraph, the
    version constraints written on them, and ``Platforms``."""
    if not lexists(path):
        return Control()
    text = read_text(path, "the control file", DefinitionError)
    deps: list[str] = []
    constraints: list[Constraint] = []
    platforms: list[str] = []
    for paragraph in _control_paragraphs(text, path):
        for field_ in paragraph:
            if field_.name.lower() == "platforms":
                platforms.extend(_platforms(field_, path))
                continue
            if field_.name.lower() not in _DEPENDENCY_FIELDS:
                continue
            for offset, item in _relations(field_):
                line = field_.line + offset
                if "|" in item:
                    raise DefinitionError(
                        f"alternatives ({item!r}) are not supported: an image is built from "
                        "the images it names, each of them",
                        path=path,
                        line=line,
                    )
                match = _RELATION.match(item)
                if match is None or not is_valid_short_name(match["name"]):
                    raise DefinitionError(
                        f"{item!r} is not an image name (Depends/Build-Depends list image "
                        "short names, optionally with a version constraint such as "
                        "'base (>= 1.0)')",
                        path=path,
                        line=line,
                    )
                deps.append(match["name"])
                if match["op"]:
                    constraints.append(
                        Constraint(match["name"], match["op"], match["version"], line)
                    )
    return Control(tuple(dict.fromkeys(deps)), tuple(constraints), tuple(dict.fromkeys(platforms)))


def _platforms(field_: _Field, path: Path) -> list[str]:
    found = field_.value.replace(",", " ").split()
    for platform in found:
        if not is_valid_platform(platform):
            raise DefinitionError(
                f"{platform!r} is not a platform (os/arch[/variant], e.g. linux/arm64)",
                path=path,
                line=field_.line,
            )
    return found


def _relations(field_: _Field) -> Iterator[tuple[int, str]]:
    """Each comma-separated item of a field, with its line offset within the field."""
    for offset, chunk in enumerate(field_.value.split("\n")):
        for item in chunk.split(","):
            if item.strip():
                yield offset, item.strip()


def load_definition(folder: Path, tag_suffix: str = "") -> ImageDefinition:
    changelog = folder / CHANGELOG
    head = read_changelog(changelog)
    name, version = head.name, head.version
    if not is_valid_short_name(name):
        raise DefinitionError(
            f"image name {name!r} is not a valid Docker repository name (lowercase letters, "
            "digits and separators)",
            path=changelog,
            line=head.line,
        )
    tag = version + tag_suffix
    if not is_valid_tag(tag):
        raise DefinitionError(
            f"version {version!r} does not make a valid Docker tag ({tag!r}): tags may hold "
            "only letters, digits, '_', '.' and '-', start with a letter, digit or '_', and be "
            "at most 128 characters (no '~' or epoch ':')",
            path=changelog,
            line=head.line,
        )
    control = read_control(folder / CONTROL)
    return ImageDefinition(
        short_name=name,
        version=version,
        path=folder,
        depends=control.depends,
        tag_suffix=tag_suffix,
        constraints=control.constraints,
        platforms=control.platforms,
    )


def definition_folders(root: Path) -> Iterator[Path]:
    """Every folder below ``root`` with both a template and a changelog, in sorted order.

    Symbolic links to folders are not followed (no loops); a ``changelog`` or template that
    is a folder still marks an image folder, so that loading it reports the mistake.
    """

    def unreadable(exc: OSError) -> None:
        log.warning("Cannot read %s: %s; images below it are left out", exc.filename, exc.strerror)

    for current, dirs, files in os.walk(root, onerror=unreadable):
        dirs.sort()
        has_template = TEMPLATE in files or TEMPLATE in dirs
        has_changelog = CHANGELOG in files or CHANGELOG in dirs
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
