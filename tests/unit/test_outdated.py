"""What is outdated in an image and what to refresh for it (pure): releases and indexes
as apt reads them, each image's sources, pins and keys, attribution to the image that
introduced a package, external bases, and the changelog entries a refresh writes."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest

from docker_pkg.config.settings import config_from_mapping
from docker_pkg.errors import ArchiveError
from docker_pkg.inventory.apt_packages import dump_versions, load_versions, package_versions
from docker_pkg.inventory.apt_policy import Release
from docker_pkg.inventory.apt_release import ReleaseFile, parse_release
from docker_pkg.inventory.apt_sources import Source
from docker_pkg.inventory.model import Inventory, OperatingSystem, Package
from docker_pkg.inventory.outdated import (
    Update,
    find_updates,
    native_architecture,
    pins_of,
    trusted_keys,
)
from docker_pkg.inventory.refresh_plan import ImageFindings, plan_refresh
from docker_pkg.tree.changelog import Author, plan_entries
from docker_pkg.tree.versions import Scheme
from docker_pkg.tree.workspace import Workspace
from tests.helpers import write_image

RELEASE = """\
Origin: Debian
Label: Debian-Security
Suite: stable-security
Version: 12
Codename: bookworm-security
Components: updates/main updates/contrib
NotAutomatic: no
SHA256:
 aa11 120 main/binary-amd64/Packages
 bb22 60 main/binary-amd64/Packages.xz
 cc33 10 main/binary-arm64/Packages.gz
"""


def test_a_release_gives_its_pin_fields_and_the_index_forms_it_lists() -> None:
    parsed = parse_release(RELEASE, "deb.debian.org")
    release = parsed.release
    assert (release.origin, release.label, release.suite, release.codename) == (
        "Debian",
        "Debian-Security",
        "stable-security",
        "bookworm-security",
    )
    assert release.components == ("updates/main", "updates/contrib")
    assert release.host == "deb.debian.org"
    assert release.security
    assert not release.not_automatic
    assert parsed.packages_paths("main", "amd64", flat=False) == [
        "main/binary-amd64/Packages.xz",
        "main/binary-amd64/Packages",
    ]
    assert parsed.packages_paths("main", "arm64", flat=False) == ["main/binary-arm64/Packages.gz"]
    assert parsed.packages_paths("contrib", "amd64", flat=False) == []
    assert parsed.files["main/binary-amd64/Packages"] == ("aa11", 120)


def test_backports_are_not_automatic_and_not_security() -> None:
    text = "Suite: bookworm-backports\nNotAutomatic: yes\nButAutomaticUpgrades: yes\n"
    release = parse_release(text, "h").release
    assert release.not_automatic
    assert release.but_automatic_upgrades
    assert not release.security
    assert Release(codename="bookworm-security").security


def test_a_packages_index_keeps_every_version_of_each_name() -> None:
    text = (
        "Package: libfoo1\nSource: foo\nVersion: 1.2-3\nDepends: libc6\n"
        " (continued)\nArchitecture: amd64\n\n"
        "Package: libfoo1\nVersion: 1:1.3-1\nArchitecture: amd64\n\n"
        "Version: 9\n\n"  # no Package: not a package
        "Package: tool\nArchitecture: all\nVersion: 2.0\n"
    )
    versions = package_versions(text)
    assert versions == {"libfoo1": ["1.2-3", "1:1.3-1"], "tool": ["2.0"]}
    assert load_versions(dump_versions(versions)) == versions
    assert load_versions(b"something else") is None
    assert load_versions(dump_versions(versions)[:-3]) is None


def package(name: str, version: str, architecture: str = "amd64") -> Package:
    return Package(name, version, architecture, name, version)


def inventory(*packages: Package) -> Inventory:
    return Inventory("r/img:1", "sha256:1", OperatingSystem("debian", "12"), packages, True)


SOURCES = (
    b"deb http://deb.debian.org/debian bookworm main\n"
    b"deb [signed-by=/usr/share/keyrings/sec.gpg] http://deb.debian.org/debian-security"
    b" bookworm-security main\n"
    b"deb [arch=arm64] http://other.example/ bookworm main\n"
)


class FakeIndexes:
    """Indexes from a table: (uri, suite) -> (Release, {(component, arch): versions})."""

    def __init__(
        self,
        table: dict[tuple[str, str], tuple[Release, dict[tuple[str, str], dict[str, list[str]]]]],
    ):
        self.table = table
        self.asked: list[tuple[str, str, tuple[bytes, ...]]] = []

    def release(self, source: Source, keyrings: Sequence[bytes]) -> ReleaseFile:
        self.asked.append((source.uri, source.suite, tuple(keyrings)))
        if (source.uri, source.suite) not in self.table:
            raise ArchiveError(f"{source.uri} {source.suite}: the signature does not check")
        return ReleaseFile(self.table[(source.uri, source.suite)][0])

    def versions(
        self, source: Source, release: ReleaseFile, component: str, architecture: str
    ) -> dict[str, list[str]]:
        found = self.table[(source.uri, source.suite)][1]
        if (component, architecture) not in found:
            raise ArchiveError(f"{source.uri}: no index for {architecture}")
        return found[(component, architecture)]


def debian_indexes() -> FakeIndexes:
    stable = Release(origin="Debian", label="Debian", suite="stable", codename="bookworm")
    security = Release(
        origin="Debian",
        label="Debian-Security",
        suite="stable-security",
        codename="bookworm-security",
    )
    return FakeIndexes(
        {
            ("http://deb.debian.org/debian", "bookworm"): (
                stable,
                {
                    ("main", "amd64"): {
                        "libfoo1": ["1.2-3"],
                        "tzdata": ["2026a-0+deb12u1"],
                        "curl": ["7.88-1"],
                    }
                },
            ),
            ("http://deb.debian.org/debian-security", "bookworm-security"): (
                security,
                {("main", "amd64"): {"libfoo1": ["1.2-3+deb12u1"]}},
            ),
        }
    )


def test_updates_come_from_the_images_own_sources_and_keys() -> None:
    apt = {
        "etc/apt/sources.list": SOURCES,
        "usr/share/keyrings/sec.gpg": b"SECURITY KEY",
        "etc/apt/trusted.gpg.d/debian.gpg": b"DEBIAN KEY",
        "etc/apt/trusted.gpg.d/notes.txt": b"not a keyring",
    }
    indexes = debian_indexes()
    found = find_updates(
        inventory(
            package("libfoo1", "1.2-3"),
            package("tzdata", "2025a-0+deb12u1", "all"),
            package("curl", "7.88-1"),
            package("local-only", "1.0"),
        ),
        apt,
        indexes,
    )
    assert found.updates == (
        Update("libfoo1", "amd64", "1.2-3", "1.2-3+deb12u1", True),
        Update("tzdata", "all", "2025a-0+deb12u1", "2026a-0+deb12u1", False),
    )
    assert indexes.asked == [
        ("http://deb.debian.org/debian", "bookworm", (b"DEBIAN KEY",)),
        ("http://deb.debian.org/debian-security", "bookworm-security", (b"SECURITY KEY",)),
        ("http://other.example", "bookworm", (b"DEBIAN KEY",)),
    ]
    # the arm64-only source has nothing for an amd64 image; its release does not check
    assert found.warnings == (
        "left out http://other.example bookworm: the signature does not check",
    )


def test_a_pin_keeps_the_installed_version_and_nothing_is_outdated() -> None:
    apt = {
        "etc/apt/sources.list": SOURCES,
        "etc/apt/preferences.d/libfoo": (
            b"Package: libfoo1\nPin: version 1.2-3\nPin-Priority: 1001\n"
        ),
        "etc/apt/preferences.d/ignored.bak": b"Package: *\nPin: release *\nPin-Priority: -1\n",
    }
    found = find_updates(inventory(package("libfoo1", "1.2-3")), apt, debian_indexes())
    assert found.updates == ()
    assert [p.packages for p in pins_of(apt)] == [("libfoo1",)]


def test_keys_a_source_names_that_were_not_captured_are_said() -> None:
    source = Source(
        "http://x", "s", ("main",), signed_by=("/opt/keys/x.gpg",), where="/etc/apt/sources.list:3"
    )
    keys, warning = trusted_keys(source, {})
    assert keys == []
    assert warning == "/etc/apt/sources.list:3: keyring /opt/keys/x.gpg was not captured"
    inline = Source(
        "http://x", "s", ("main",), signed_by=("-----BEGIN PGP PUBLIC KEY BLOCK-----\nx",)
    )
    assert trusted_keys(inline, {})[0] == [inline.signed_by[0].encode()]


def test_an_image_with_packages_and_no_sources_says_so() -> None:
    found = find_updates(inventory(package("libfoo1", "1.2-3")), {}, debian_indexes())
    assert found.updates == ()
    assert found.warnings == ("no apt source was captured with its inventory",)
    assert not found.read_any


def test_an_image_without_packages_has_no_architecture_and_no_updates() -> None:
    assert native_architecture(inventory()) == ""
    assert (
        native_architecture(inventory(package("a", "1", "all"), package("b", "1", "arm64")))
        == "arm64"
    )
    assert (
        find_updates(inventory(), {"etc/apt/sources.list": SOURCES}, debian_indexes()).updates == ()
    )


@pytest.fixture
def tree(tmp_path: Path) -> Workspace:
    """root <- mid <- leaf, root <- other; lone from the same external base."""
    root = tmp_path / "defs"
    write_image(root, "root", version="1.0")
    write_image(root, "mid", version="2.0-1", depends=["root"])
    write_image(root, "leaf", version="3", depends=["mid"])
    write_image(root, "other", version="4", depends=["root"])
    write_image(root, "lone", version="5")
    return Workspace.load(root, config_from_mapping({}))


SEC = Update("libfoo1", "amd64", "1.2-3", "1.2-3+deb12u1", True)
POINT = Update("bar", "all", "3.0-1", "3.0-2", False)
BASE = Update("libc6", "amd64", "2.36-9", "2.36-9+deb12u9", True)


def findings(
    name: str, *updates: Update, introduced: dict[str, str], base: str | None = None
) -> ImageFindings:
    who = {(u.name, u.architecture, u.installed): introduced[u.name] for u in updates}
    return ImageFindings(f"r/{name}:1", updates, who, base)


def test_each_update_goes_to_the_image_that_introduced_it(tree: Workspace) -> None:
    found = {
        "root": findings("root", SEC, introduced={"libfoo1": "root"}),
        "mid": findings("mid", SEC, POINT, introduced={"libfoo1": "root", "bar": "mid"}),
        "leaf": findings("leaf", SEC, POINT, introduced={"libfoo1": "root", "bar": "mid"}),
    }
    plan = plan_refresh(tree.graph, tree.labels, found, {})
    assert [(r.name, r.updates, r.descendants) for r in plan.refresh] == [
        ("root", (SEC,), ("mid", "other", "leaf")),
        ("mid", (POINT,), ("leaf",)),
    ]
    assert plan.refresh[0].reason() == "Security update: libfoo1 1.2-3 → 1.2-3+deb12u1"
    assert plan.refresh[1].reason() == "Package update: bar 3.0-1 → 3.0-2"
    assert plan.external == ()
    assert plan.outdated


def test_an_external_base_that_holds_the_candidate_refreshes_the_roots_on_it(
    tree: Workspace,
) -> None:
    base = "registry.example/bookworm:20261201"
    found = {
        "root": findings("root", BASE, introduced={"libc6": base}, base=base),
        "leaf": findings("leaf", BASE, introduced={"libc6": base}),
        "lone": findings("lone", BASE, introduced={"libc6": base}, base=base),
    }
    holds = {base: {("libc6", "amd64"): "2.36-9+deb12u9"}}
    plan = plan_refresh(tree.graph, tree.labels, found, holds)
    assert [(e.base, e.images, e.base_holds) for e in plan.external] == [
        (base, ("lone", "root"), True)
    ]
    assert [r.name for r in plan.refresh] == ["lone", "root"]
    stale = plan_refresh(tree.graph, tree.labels, found, {base: {("libc6", "amd64"): "2.36-9"}})
    assert [(e.images, e.base_holds) for e in stale.external] == [(("lone", "root"), False)]
    assert stale.refresh == ()
    assert stale.outdated
    unknown = plan_refresh(tree.graph, tree.labels, found, {base: None})
    assert unknown.external[0].base_holds is None
    assert unknown.as_data()["external"][0]["base_holds_candidates"] is None


def test_nothing_outdated_is_an_empty_plan(tree: Workspace) -> None:
    plan = plan_refresh(tree.graph, tree.labels, {"root": findings("root", introduced={})}, {})
    assert not plan.outdated
    assert plan.as_data() == {"refresh": [], "external": [], "warnings": [], "unchecked": []}


def test_a_refresh_writes_one_entry_per_image_naming_every_parent(tree: Workspace) -> None:
    reasons = {
        "root": "Security update: libfoo1 1.2-3 → 1.2-3+deb12u1",
        "mid": "Package update: bar 3.0-1 → 3.0-2",
    }
    author = Author("Jane", "jane@example.org")
    now = datetime(2026, 12, 4, tzinfo=UTC)
    planned = plan_entries(tree, reasons, scheme=Scheme.COUNTER, author=author, now=now)
    assert [(p.definition.short_name, p.new_version) for p in planned] == [
        ("root", "1.0-s1"),
        ("mid", "2.0-1-s1"),
        ("other", "4-s1"),
        ("leaf", "3-s1"),
    ]
    leaf = planned[-1].entry
    assert "Refresh for update in parent image mid, root:" in leaf
    assert "   Package update: bar 3.0-1 → 3.0-2\n   Security update: libfoo1" in leaf
    assert "   Security update: libfoo1 1.2-3 → 1.2-3+deb12u1\n" in planned[0].entry


def test_a_version_no_debian_tool_accepts_costs_that_package_only() -> None:
    stable = Release(origin="Debian", label="Debian", suite="stable", codename="bookworm")
    broken = FakeIndexes(
        {
            ("http://deb.debian.org/debian", "bookworm"): (
                stable,
                {("main", "amd64"): {"libfoo1": ["not a version!"], "curl": ["7.88-2"]}},
            )
        }
    )
    apt = {"etc/apt/sources.list": b"deb http://deb.debian.org/debian bookworm main\n"}
    found = find_updates(
        inventory(package("libfoo1", "1.2-3"), package("curl", "7.88-1")), apt, broken
    )
    assert found.updates == (Update("curl", "amd64", "7.88-1", "7.88-2", False),)


def test_images_whose_sources_could_not_be_read_are_said_unchecked(tree: Workspace) -> None:
    from docker_pkg.commands.outdated import describe

    found = {"root": findings("root", SEC, introduced={"libfoo1": "root"})}
    plan = plan_refresh(tree.graph, tree.labels, found, {}, unchecked=("r/mid:1",))
    assert plan.as_data()["unchecked"] == ["r/mid:1"]
    text = describe(plan)
    assert text.startswith("Not checked (1): none of their apt sources could be read")
    assert "r/root:1" not in text.splitlines()[0]
    assert "    libfoo1 1.2-3 → 1.2-3+deb12u1  [security]" in text
    clean = describe(plan_refresh(tree.graph, tree.labels, {}, {}, unchecked=("r/mid:1",)))
    assert clean.endswith("Nothing else is outdated.\n")
    assert describe(plan_refresh(tree.graph, tree.labels, {}, {})) == "Nothing is outdated.\n"


def test_a_warning_about_a_source_many_images_share_is_said_once() -> None:
    from docker_pkg.commands.outdated import concerning

    assert concerning("left out x", ["r/a:1"]) == "r/a:1: left out x"
    labels = [f"r/i{n}:1" for n in range(5)]
    assert concerning("left out x", labels) == (
        "left out x (in 5 images: r/i0:1, r/i1:1, r/i2:1 and 2 more)"
    )


def test_a_refresh_follows_inferred_dependencies_where_update_keeps_to_declared_ones(
    tree: Workspace,
) -> None:
    """``lone`` builds FROM ``root`` without declaring it: a refresh of root must bump it."""
    inferred = tree.with_inferred({"lone": ["root"]})
    author = Author("Jane", "jane@example.org")
    now = datetime(2026, 12, 4, tzinfo=UTC)
    reasons = {"root": "Security update: libfoo1 1.2-3 → 1.2-3+deb12u1"}
    declared = plan_entries(tree, reasons, scheme=Scheme.COUNTER, author=author, now=now)
    assert "lone" not in [p.definition.short_name for p in declared]
    planned = plan_entries(inferred, reasons, scheme=Scheme.COUNTER, author=author, now=now)
    assert [p.definition.short_name for p in planned] == ["root", "lone", "mid", "other", "leaf"]


def test_a_package_a_refresh_did_not_move_is_said_with_why(tmp_path: Path) -> None:
    from docker_pkg.inventory.refreshed import RefreshRecord, not_moved

    expected = [
        Update("pinned", "amd64", "1.0-1", "1.0-2", True),
        Update("kept", "all", "2.0-1", "2.0-2", False),
        Update("moved", "amd64", "3.0-1", "3.0-2", False),
        Update("frozen", "amd64", "4.0-1", "4.0-2", True),
        Update("removed", "amd64", "5.0-1", "5.0-2", False),
    ]
    image = Inventory(
        "r/app:1.0-s1",
        "sha256:9",
        OperatingSystem("debian", "12"),
        (package("pinned", "1.0-1"), package("kept", "2.0-1", "all"), package("moved", "3.0-2")),
        True,
        held=(package("frozen", "4.0-1"),),
    )
    apt = {"etc/apt/preferences": b"Package: pinned\nPin: version 1.0-1\nPin-Priority: 1001\n"}
    warnings = not_moved(image, expected, apt)
    assert warnings == [
        "r/app:1.0-s1: refreshed for pinned 1.0-1 → 1.0-2 but holds 1.0-1: "
        "pinned (version 1.0-1, priority 1001)",
        "r/app:1.0-s1: refreshed for kept 2.0-1 → 2.0-2 but holds 2.0-1: not upgraded by its "
        "Dockerfile (it asks for that version, or keeps what its parent holds: upgrade it "
        "there, or refresh the image that installs it)",
        "r/app:1.0-s1: refreshed for frozen 4.0-1 → 4.0-2 but holds 4.0-1: held (apt-mark hold)",
    ]
    record = RefreshRecord(tmp_path)
    record.remember({"r/app:1.0-s1": expected[:2], "r/other:2": expected[2:3]})
    assert [u.name for u in record.expected("r/app:1.0-s1")] == ["pinned", "kept"]
    record.forget(["r/app:1.0-s1"])
    assert record.expected("r/app:1.0-s1") == []
    assert [u.name for u in record.expected("r/other:2")] == ["moved"]


def test_the_image_on_an_external_base_is_found_when_only_its_child_was_looked_at(
    tree: Workspace,
) -> None:
    base = "registry.example/bookworm:latest"
    found = {"leaf": findings("leaf", BASE, introduced={"libc6": base})}
    holds = {base: {("libc6", "amd64"): "2.36-9+deb12u9"}}
    bases = {"root": base, "lone": base, "mid": None, "leaf": None, "other": None}
    plan = plan_refresh(tree.graph, tree.labels, found, holds, bases=bases)
    assert [(e.images, e.base_holds) for e in plan.external] == [(("root",), True)]
    assert [(r.name, r.descendants) for r in plan.refresh] == [("root", ("mid", "other", "leaf"))]
    alone = plan_refresh(tree.graph, tree.labels, found, holds)  # the leaf's own base: none
    assert alone.external[0].images == ()
    assert alone.refresh == ()


def test_a_release_pin_naming_the_package_is_taken_as_what_held_it() -> None:
    from docker_pkg.inventory.refreshed import not_moved

    image = Inventory(
        "r/app:2", "sha256:8", OperatingSystem("debian", "12"), (package("libfoo1", "1.2-3"),), True
    )
    expected = [Update("libfoo1", "amd64", "1.2-3", "1.2-3+deb12u1", True)]
    named = {
        "etc/apt/preferences": b"Package: libfoo1\nPin: release a=stable\nPin-Priority: 1001\n"
    }
    assert not_moved(image, expected, named)[0].endswith("pinned (release a=stable, priority 1001)")
    everything = {"etc/apt/preferences": b"Package: *\nPin: release o=Debian\nPin-Priority: 1001\n"}
    assert "not upgraded by its Dockerfile" in not_moved(image, expected, everything)[0]
