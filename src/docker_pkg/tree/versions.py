"""New image versions for ``update``: the update counter and the date scheme (pure logic)."""

from __future__ import annotations

import re
from datetime import date
from enum import StrEnum

from debian.debian_support import Version

from docker_pkg.errors import UsageError
from docker_pkg.naming import is_valid_tag

_DATE_SUFFIX = re.compile(r"^(?P<base>.+)-(?P<date>\d{8})$")


class Scheme(StrEnum):
    COUNTER = "counter"
    DATE = "date"


def next_counter_version(version: str, update_id: str) -> str:
    """``1.0`` -> ``1.0-s1`` -> ``1.0-s2`` (``s`` being ``update_id``)."""
    match = re.match(rf"^(?P<base>.+?)-{re.escape(update_id)}(?P<n>\d+)$", version)
    if match is None:
        return f"{version}-{update_id}1"
    return f"{match['base']}-{update_id}{int(match['n']) + 1}"


def next_date_version(version: str, today: date) -> str:
    """A trailing ``-YYYYMMDD`` replaced by today's (appended when there is none)."""
    stamp = today.strftime("%Y%m%d")
    match = _DATE_SUFFIX.match(version)
    base = match["base"] if match else version
    return f"{base}-{stamp}"


def next_version(version: str, scheme: Scheme, update_id: str, today: date) -> str:
    if scheme is Scheme.DATE:
        return next_date_version(version, today)
    return next_counter_version(version, update_id)


def check_new_version(current: str, new: str) -> str | None:
    """Why ``new`` cannot follow ``current`` (None when it can)."""
    if not is_valid_tag(new):
        return f"{new!r} is not a valid Docker tag"
    try:
        newer = Version(new) > Version(current)
    except ValueError as exc:
        return f"{new!r} is not a Debian version: {exc}"
    if not newer:
        return f"{new!r} is not greater than the current version {current!r}"
    return None


def require_new_version(current: str, new: str, where: str) -> str:
    problem = check_new_version(current, new)
    if problem:
        raise UsageError(f"{where}: {problem}")
    return new
