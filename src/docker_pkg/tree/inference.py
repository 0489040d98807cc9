"""Dependencies an image uses without declaring them: read from its rendered Dockerfile.

``FROM <image>`` and ``COPY --from=<image>`` (also ``RUN --mount=from=<image>``) that name
an image of the tree make an inferred edge. References to another tag of a known image are
kept too: they point at a version that is not the current one.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from docker_pkg.naming import split_label

_FROM = re.compile(r"^\s*FROM\s+(?:--\S+\s+)*(?P<ref>\S+)", re.IGNORECASE)
_COPY_FROM = re.compile(r"--from=(?P<ref>[^\s,]+)", re.IGNORECASE)
_MOUNT_FROM = re.compile(r"--mount=\S*?\bfrom=(?P<ref>[^\s,]+)", re.IGNORECASE)


@dataclass(frozen=True)
class Reference:
    """A use of another image in a Dockerfile, at a line (1-based)."""

    image: str  # short name of the referenced image
    reference: str  # as written: name:tag
    line: int
    current: bool  # does it name the image's current tag?


def image_references(dockerfile: str) -> list[tuple[str, int]]:
    """Every image reference (as written) and its line, stage names left out."""
    stages: set[str] = set()
    found: list[tuple[str, int]] = []
    for number, line in enumerate(dockerfile.split("\n"), start=1):
        match = _FROM.match(line)
        if match:
            words = line.split()
            if len(words) >= 4 and words[-2].upper() == "AS":
                stages.add(words[-1].lower())
            found.append((match["ref"], number))
            continue
        for pattern in (_COPY_FROM, _MOUNT_FROM):
            found.extend((m["ref"], number) for m in pattern.finditer(line))
    return [(ref, line) for ref, line in found if ref.lower() not in stages]


def final_base(dockerfile: str) -> str | None:
    """The image the final stage of ``dockerfile`` starts from, as written, following
    stage names back to an image; None for ``scratch`` or no ``FROM`` at all."""
    bases: dict[str, str] = {}
    last = None
    for line in dockerfile.split("\n"):
        match = _FROM.match(line)
        if not match:
            continue
        reference = bases.get(match["ref"].lower(), match["ref"])
        words = line.split()
        if len(words) >= 4 and words[-2].upper() == "AS":
            bases[words[-1].lower()] = reference
        last = reference
    return None if last is None or last.lower() == "scratch" else last


def known_references(
    dockerfile: str, names: Mapping[str, str], tags: Mapping[str, str]
) -> list[Reference]:
    """References to images of the tree; ``names`` maps full names to short names and
    ``tags`` short names to current tags."""
    refs = []
    for reference, line in image_references(dockerfile):
        name, tag = split_label(reference)
        short = names.get(name)
        if short is not None:
            refs.append(Reference(short, reference, line, tag in ("", tags[short])))
    return refs
