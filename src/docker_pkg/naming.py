"""Image names, labels and tags: how the reference composes them, and what Docker accepts."""

from __future__ import annotations

import re
from datetime import datetime

# Docker's reference grammar (distribution/reference): a tag, and one path component.
_TAG = re.compile(r"^[\w][\w.-]{0,127}$")
_COMPONENT = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$")

_PLATFORM = re.compile(r"^[a-z0-9]+/[a-z0-9_]+(?:/[a-z0-9]+)?$")

NIGHTLY_FORMAT = "%Y%m%d"
SNAPSHOT_FORMAT = "%Y%m%d-%H%M%S"


def full_name(registry: str, namespace: str, short_name: str) -> str:
    """``registry/namespace/name``, joining only the non-empty parts."""
    return "/".join(part.strip("/") for part in (registry, namespace, short_name) if part)


def split_label(label: str) -> tuple[str, str]:
    """Split ``name:tag`` at the tag's colon, not a registry port's (``localhost:5000/x:1``)."""
    slash = label.rfind("/")
    colon = label.rfind(":")
    if colon <= slash:
        return label, ""
    return label[:colon], label[colon + 1 :]


def is_valid_tag(tag: str) -> bool:
    return bool(_TAG.match(tag))


def is_valid_short_name(name: str) -> bool:
    return all(_COMPONENT.match(part) for part in name.split("/"))


def is_valid_platform(platform: str) -> bool:
    """``os/arch[/variant]``, as ``linux/arm64/v8``."""
    return bool(_PLATFORM.match(platform))


def platform_tag(tag: str, platform: str) -> str:
    """The tag of one platform's image: ``1.2.3-1-arm64`` (arch and variant, no os)."""
    _, arch, *variant = platform.split("/")
    return f"{tag}-{arch}{''.join(variant)}"


def tag_suffix(mode: str | None, now: datetime) -> str:
    """The suffix that ``--nightly`` (``-YYYYMMDD``) or ``--snapshot`` appends to every tag."""
    if mode == "nightly":
        return "-" + now.strftime(NIGHTLY_FORMAT)
    if mode == "snapshot":
        return "-" + now.strftime(SNAPSHOT_FORMAT)
    return ""
