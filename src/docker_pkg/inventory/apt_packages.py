"""A ``Packages`` index reduced to what a candidate needs (pure): the versions of each
package name, in a compact form that loads in milliseconds (a Debian ``main`` index holds
some 60,000 stanzas and 50 MB of text; reading it as deb822 each run would take seconds)."""

from __future__ import annotations

import marshal

Versions = dict[str, list[str]]
_MAGIC = b"docker-pkg packages 1\n"


def package_versions(text: str) -> Versions:
    """Each package's versions in a ``Packages`` text, in index order."""
    versions: Versions = {}
    for stanza in text.split("\n\n"):
        name = _field(stanza, "Package")
        version = _field(stanza, "Version")
        if name and version:
            versions.setdefault(name, []).append(version)
    return versions


def _field(stanza: str, key: str) -> str:
    """The value of a one-line field ``key`` of ``stanza`` (empty when it has none)."""
    marker = key + ":"
    at = 0 if stanza.startswith(marker) else stanza.find("\n" + marker)
    if at < 0:
        return ""
    start = at + len(marker) + (at > 0 or stanza[0] == "\n")
    end = stanza.find("\n", start)
    return stanza[start : end if end >= 0 else len(stanza)].strip()


def dump_versions(versions: Versions) -> bytes:
    return _MAGIC + marshal.dumps(versions)


def load_versions(data: bytes) -> Versions | None:
    """What :func:`dump_versions` wrote; None for anything else."""
    if not data.startswith(_MAGIC):
        return None
    try:
        loaded = marshal.loads(data[len(_MAGIC) :])
    except (EOFError, ValueError, TypeError):
        return None
    return loaded if isinstance(loaded, dict) else None
