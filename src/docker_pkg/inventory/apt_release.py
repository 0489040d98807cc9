"""A suite's ``Release`` (or the signed text of its ``InRelease``) as apt reads it (pure):
what pins match on, and the index files it vouches for by SHA-256 and size."""

from __future__ import annotations

from dataclasses import dataclass, field

from docker_pkg.inventory.apt_policy import Release

# apt's order of preference among the forms of one index it knows how to read
PACKAGES_FORMS = ("Packages.xz", "Packages.gz", "Packages")


@dataclass(frozen=True)
class ReleaseFile:
    """A parsed ``Release``: its fields for pinning and ``path -> (sha256, size)``."""

    release: Release
    files: dict[str, tuple[str, int]] = field(default_factory=dict)
    valid_until: str = ""  # as the release writes it (RFC 2822); empty: no limit

    def packages_paths(self, component: str, architecture: str, *, flat: bool) -> list[str]:
        """The forms of the ``Packages`` index of ``component`` for ``architecture`` that
        this release lists, in the order to try them (a flat repository has one folder)."""
        folder = "" if flat else f"{component}/binary-{architecture}/"
        return [folder + form for form in PACKAGES_FORMS if folder + form in self.files]


def parse_release(text: str, host: str) -> ReleaseFile:
    """The fields of a ``Release`` text; ``host`` is where it was fetched from (what
    ``Pin: origin`` matches)."""
    fields: dict[str, str] = {}
    files: dict[str, tuple[str, int]] = {}
    section = ""
    for line in text.splitlines():
        if not line.strip():
            continue
        if line[0] in " \t":
            if section == "sha256":
                parts = line.split()
                if len(parts) == 3 and parts[1].isdigit():
                    files[parts[2]] = (parts[0].lower(), int(parts[1]))
            continue
        key, _, value = line.partition(":")
        section = key.strip().lower()
        fields[section] = value.strip()
    release = Release(
        origin=fields.get("origin", ""),
        label=fields.get("label", ""),
        suite=fields.get("suite", ""),
        codename=fields.get("codename", ""),
        version=fields.get("version", ""),
        components=tuple(fields.get("components", "").split()),
        host=host,
        not_automatic=fields.get("notautomatic", "").lower() == "yes",
        but_automatic_upgrades=fields.get("butautomaticupgrades", "").lower() == "yes",
    )
    return ReleaseFile(release, files, fields.get("valid-until", ""))
