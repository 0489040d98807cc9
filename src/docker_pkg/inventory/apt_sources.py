"""apt's sources as an image holds them (pure): one-line ``.list`` files and deb822
``.sources`` files, each ``deb`` entry with its suites, components, architectures and the
keys it trusts (``signed-by=`` files or an inline key, ``trusted=yes``)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

LIST_FILES = ("etc/apt/sources.list", "etc/apt/sources.list.d/")
_OPTIONS = re.compile(r"^\[([^\]]*)\]\s*")


@dataclass(frozen=True)
class Source:
    """One ``deb`` source: an archive URI and one suite of it."""

    uri: str
    suite: str
    components: tuple[str, ...]
    architectures: tuple[str, ...] = ()  # empty: the image's own
    signed_by: tuple[str, ...] = ()  # keyring paths, or one inline key block
    trusted: bool = False
    where: str = ""  # the file (and line) it was read from

    @property
    def flat(self) -> bool:
        """A flat repository (``deb URI ./``): no components, indexes beside the suite."""
        return self.suite.endswith("/")


def sources_of(files: Mapping[str, bytes]) -> list[Source]:
    """Every enabled ``deb`` source of the apt files of an image (paths relative to its
    root), in apt's order: sources.list, then sources.list.d by name."""
    found: list[Source] = []
    for path in sorted(files, key=lambda p: (p != "etc/apt/sources.list", p)):
        if not path.startswith(LIST_FILES):
            continue
        text = files[path].decode("utf-8", "replace")
        if path.endswith(".sources"):
            found.extend(deb822_sources(text, path))
        elif path.endswith(".list") or path == "etc/apt/sources.list":
            found.extend(one_line_sources(text, path))
    return found


def one_line_sources(text: str, path: str) -> list[Source]:
    """``deb [opt=value ...] URI SUITE [COMPONENT ...]`` lines; deb-src and comments left out."""
    found = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line.startswith("deb ") and not line.startswith("deb\t"):
            continue
        rest = line[3:].strip()
        options: dict[str, str] = {}
        match = _OPTIONS.match(rest)
        if match:
            for item in match[1].split():
                key, _, value = item.partition("=")
                options[key] = value
            rest = rest[match.end() :]
        words = rest.split()
        if len(words) < 2:
            continue
        found.append(
            Source(
                words[0].rstrip("/"),
                words[1],
                tuple(words[2:]),
                tuple(a for a in options.get("arch", "").split(",") if a),
                tuple(k for k in options.get("signed-by", "").split(",") if k),
                options.get("trusted") == "yes",
                f"/{path}:{number}",
            )
        )
    return found


def deb822_sources(text: str, path: str) -> list[Source]:
    """``Types: deb`` stanzas (``Enabled: no`` left out), one source per URI and suite."""
    from debian.deb822 import Deb822

    found = []
    for stanza in Deb822.iter_paragraphs(text.splitlines(keepends=True)):
        if "deb" not in stanza.get("Types", "").split():
            continue
        if stanza.get("Enabled", "yes").strip().lower() == "no":
            continue
        signed = stanza.get("Signed-By", "").strip()
        keys = (signed,) if "BEGIN PGP" in signed else tuple(signed.split())
        for uri in stanza.get("URIs", "").split():
            for suite in stanza.get("Suites", "").split():
                found.append(
                    Source(
                        uri.rstrip("/"),
                        suite,
                        tuple(stanza.get("Components", "").split()),
                        tuple(stanza.get("Architectures", "").split()),
                        keys,
                        stanza.get("Trusted", "").strip().lower() == "yes",
                        f"/{path}",
                    )
                )
    return found
