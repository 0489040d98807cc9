"""The scanned tree and its rendered Dockerfiles, kept between runs.

Scanning parses every changelog and control file and renders every template; on a tree that
has not changed since the last run that work, and importing python-debian and Jinja for it,
is most of a short command. A scan records the digest of every file it read and every path
it found absent (:func:`docker_pkg.files.recording_reads`); a later run that walks the same
image folders and finds the same bytes at those paths takes the result from here instead.

Anything else is a miss and the tree is scanned as before: a changed byte, another
configuration, another version of this package or of Jinja and python-debian, an unreadable
or damaged cache. A scan that failed, warned or drew random values is not kept, so that its
errors and warnings are given on every run. A cache is a convenience: one that cannot be
read or written is ignored.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from docker_pkg.caches import code_signature, read_json, write_json
from docker_pkg.config.settings import Config
from docker_pkg.files import digest_of
from docker_pkg.tree.definitions import Constraint, ImageDefinition, Rendered, definition_folders

log = logging.getLogger(__name__)

FORMAT = 3
# Whose code decides what a scan finds: any change to it is a miss.
_LIBRARIES = ("jinja2", "debian", "markupsafe")


@dataclass(frozen=True)
class Snapshot:
    """What a scan of the tree found: its definitions, the Dockerfiles that rendered, and the
    images of the tree each names (its inferred dependencies)."""

    definitions: list[ImageDefinition]
    rendered: dict[str, Rendered]
    inferred: dict[str, list[str]]


def cache_file(folder: str, root: Path, tag_suffix: str) -> Path:
    where = f"{root.resolve()}\0{tag_suffix}"
    return Path(folder, hashlib.sha256(where.encode()).hexdigest()[:32] + ".json")


def scan_key(config: Config, tag_suffix: str) -> str:
    """A digest of everything besides the tree's files that a scan's result depends on.

    The password is left out (a cache file holds no digest of a secret); a scan whose
    Dockerfiles contain it is never kept.
    """
    variables = {k: v for k, v in config.template_vars.items() if k != "password"}
    inputs = json.dumps(
        [
            FORMAT,
            code_signature(_LIBRARIES),
            tag_suffix,
            config.registry,
            config.namespace,
            list(config.base_images),
            sorted(config.known_uid_mappings.items()),
            config.force_numeric_user,
            variables,
        ],
        sort_keys=True,
        default=repr,
    )
    return hashlib.sha256(inputs.encode()).hexdigest()


@dataclass(frozen=True)
class TreeCache:
    """The kept scan of one tree under one configuration, in ``folder``."""

    folder: str
    root: Path
    config: Config
    tag_suffix: str

    @property
    def file(self) -> Path:
        return cache_file(self.folder, self.root, self.tag_suffix)

    def load(self) -> Snapshot | None:
        """The kept scan, when every input is as it was; None otherwise."""
        kept = read_json(self.file)
        if kept is None:
            return None
        try:
            unchanged = (
                kept["key"] == scan_key(self.config, self.tag_suffix)
                and [d["path"] for d in kept["definitions"]]
                == [str(f) for f in definition_folders(self.root)]
                and _unchanged(kept["inputs"])
            )
            return _snapshot(kept) if unchanged else None
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            log.info("Ignoring a damaged scan cache of %s: %s", self.root, exc)
            return None

    def store(self, snapshot: Snapshot, inputs: Mapping[str, str | None]) -> None:
        """Keep a scan that read ``inputs`` (written whole or not at all)."""
        password = self.config.password
        if password and any(
            password in text
            for r in snapshot.rendered.values()
            for text in (r.dockerfile, r.build_dockerfile or "")
        ):
            return
        document = {
            "key": scan_key(self.config, self.tag_suffix),
            "inputs": dict(inputs),
            "definitions": [_definition_document(d) for d in snapshot.definitions],
            "rendered": {
                name: [r.dockerfile, r.build_dockerfile] for name, r in snapshot.rendered.items()
            },
            "inferred": snapshot.inferred,
        }
        write_json(self.file, document)


def _unchanged(inputs: Mapping[str, str | None]) -> bool:
    """Whether every file read holds the same bytes, and every path absent still is."""
    for path, expected in inputs.items():
        if expected is None:
            if os.path.lexists(path):
                return False
        elif digest_of(path) != expected:
            return False
    return True


def _definition_document(d: ImageDefinition) -> dict[str, Any]:
    return {
        "short_name": d.short_name,
        "version": d.version,
        "path": str(d.path),
        "depends": list(d.depends),
        "tag_suffix": d.tag_suffix,
        "constraints": [[c.image, c.operator, c.version, c.line] for c in d.constraints],
        "platforms": list(d.platforms),
    }


def _snapshot(kept: Mapping[str, Any]) -> Snapshot:
    definitions = [
        ImageDefinition(
            short_name=str(d["short_name"]),
            version=str(d["version"]),
            path=Path(d["path"]),
            depends=tuple(str(x) for x in d["depends"]),
            tag_suffix=str(d["tag_suffix"]),
            constraints=tuple(
                Constraint(str(image), str(op), str(version), int(line))
                for image, op, version, line in d["constraints"]
            ),
            platforms=tuple(str(x) for x in d["platforms"]),
        )
        for d in kept["definitions"]
    ]
    by_name = {d.short_name: d for d in definitions}
    rendered = {
        name: Rendered(by_name[name], str(main), None if build is None else str(build))
        for name, (main, build) in kept["rendered"].items()
    }
    inferred = {
        str(name): [str(image) for image in images] for name, images in kept["inferred"].items()
    }
    return Snapshot(definitions, rendered, inferred)


class WarningCounter(logging.Handler):
    """Counts the warnings a scan logs (a scan that warned is not kept)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1


@contextlib.contextmanager
def counting_warnings(logger: str) -> Iterator[WarningCounter]:
    counter = WarningCounter()
    target = logging.getLogger(logger)
    target.addHandler(counter)
    try:
        yield counter
    finally:
        target.removeHandler(counter)
