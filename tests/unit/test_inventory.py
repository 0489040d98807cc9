"""Inventories without an engine: dpkg's database and os-release as images hold them,
attribution along a chain of images, and the documents checked by the field's own
validators (CycloneDX's JSON schema, spdx-tools)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator

from docker_pkg.inventory.attribution import introduced_by
from docker_pkg.inventory.documents import INTRODUCED_BY, cyclonedx, purl, spdx
from docker_pkg.inventory.dpkg import MAX_DATABASE_BYTES, read_database
from docker_pkg.inventory.model import Inventory, OperatingSystem, Package
from docker_pkg.inventory.reading import inventory_of
from docker_pkg.tree.inference import final_base

STATUS = b"""Package: libfoo1
Status: install ok installed
Architecture: amd64
Source: foo (1.2-3)
Version: 1:1.2+b1-3+deb12u1
Description: foo

Package: gone
Status: deinstall ok config-files
Architecture: amd64
Version: 2.0-1

Package: half
Status: install reinstreq half-installed
Architecture: amd64
Version: 3.0-1

Package: tool
Status: install ok installed
Architecture: all
Version: 0.9
"""
OS_RELEASE = b'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\nVERSION_ID="12"\n'


def test_only_installed_packages_count_with_epochs_plus_and_their_sources() -> None:
    packages, _, warnings = read_database({"var/lib/dpkg/status": STATUS})
    assert warnings == []
    assert packages == (
        Package("libfoo1", "1:1.2+b1-3+deb12u1", "amd64", "foo", "1.2-3"),
        Package("tool", "0.9", "all", "tool", "0.9"),
    )


def test_distroless_status_d_files_count_and_md5sums_do_not() -> None:
    files = {
        "var/lib/dpkg/status.d/base": b"Package: base-files\nVersion: 12.4\nArchitecture: amd64\n",
        "var/lib/dpkg/status.d/base.md5sums": b"0123  etc/issue\n",
        "var/lib/dpkg/status.d/tzdata": b"Package: tzdata\nVersion: 2024a-0+deb12u1\n"
        b"Architecture: all\nSource: tzdata\n",
    }
    inventory = inventory_of("r/distroless:1", "sha256:1", files)
    assert inventory.has_database
    assert [(p.name, p.version) for p in inventory.packages] == [
        ("base-files", "12.4"),
        ("tzdata", "2024a-0+deb12u1"),
    ]


def test_an_image_without_a_database_has_an_empty_inventory_that_says_so() -> None:
    inventory = inventory_of("r/scratch:1", "sha256:2", {"etc/os-release": OS_RELEASE})
    assert not inventory.has_database
    assert inventory.packages == ()
    assert inventory.system == OperatingSystem("debian", "12", "Debian GNU/Linux 12 (bookworm)")
    document = json.loads(cyclonedx(inventory, {}))
    assert "components" not in document or document["components"] == []


def test_broken_or_huge_databases_are_warnings_naming_the_file() -> None:
    packages, _, warnings = read_database(
        {
            "var/lib/dpkg/status": b"Package: nover\nStatus: install ok installed\n\n"
            b"Package: caf\xe9\nVersion: 1\nStatus: install ok installed\n",
            "var/lib/dpkg/status.d/big": b"x" * (MAX_DATABASE_BYTES + 1),
        }
    )
    assert [p.name for p in packages] == ["café"]
    assert any("/var/lib/dpkg/status.d/big is 64 MiB: not read" in w for w in warnings)
    assert any("without Package or Version" in w for w in warnings)
    assert any("not UTF-8" in w for w in warnings)


def test_os_release_falls_back_to_usr_lib() -> None:
    files = {"usr/lib/os-release": b"ID='ubuntu'\nVERSION_ID=24.04\n# a comment\n"}
    assert inventory_of("r/x:1", "", files).system == OperatingSystem("ubuntu", "24.04")


def _inventory(label: str, *packages: tuple[str, str]) -> Inventory:
    return Inventory(
        label,
        "sha256:" + label,
        OperatingSystem("debian", "12"),
        tuple(Package(n, v, "amd64", n, v) for n, v in packages),
        True,
    )


def test_attribution_along_a_chain_from_an_external_base() -> None:
    base = _inventory("reg/bookworm:1", ("libc6", "2.36-9"), ("tzdata", "2024a"))
    root = _inventory("r/root:1", ("libc6", "2.36-9"), ("tzdata", "2024a"), ("curl", "7.88"))
    mid = _inventory("r/mid:1", ("libc6", "2.36-9"), ("curl", "7.88"), ("python3", "3.11"))
    leaf = _inventory(
        "r/leaf:1",
        ("libc6", "2.36-9"),
        ("curl", "7.88"),
        ("python3", "3.11"),
        ("tzdata", "2024a"),  # removed by mid, installed again here
        ("jq", "1.6"),
    )
    found = introduced_by([("reg/bookworm:1", base), ("root", root), ("mid", mid), ("leaf", leaf)])
    assert found == {
        ("libc6", "amd64", "2.36-9"): "reg/bookworm:1",
        ("curl", "amd64", "7.88"): "root",
        ("python3", "amd64", "3.11"): "mid",
        ("tzdata", "amd64", "2024a"): "leaf",
        ("jq", "amd64", "1.6"): "leaf",
    }
    # an upgraded package counts from the image that upgraded it
    newer = _inventory("r/up:1", ("libc6", "2.36-9+deb12u4"))
    assert introduced_by([("root", root), ("up", newer)]) == {
        ("libc6", "amd64", "2.36-9+deb12u4"): "up"
    }


def test_purls_carry_the_distribution_and_escape_plus() -> None:
    inventory = _inventory("r/x:1")
    package = Package("libfoo1", "1:1.2+b1-3", "amd64", "foo", "1.2-3")
    assert (
        purl(package, inventory)
        == "pkg:deb/debian/libfoo1@1:1.2%2Bb1-3?arch=amd64&distro=debian-12"
    )


def test_cyclonedx_document_is_valid_and_complete() -> None:
    inventory = inventory_of(
        "127.0.0.1:5000/ns/app:1.0.0",
        "sha256:" + "a" * 64,
        {"var/lib/dpkg/status": STATUS, "etc/os-release": OS_RELEASE},
    )
    text = cyclonedx(
        inventory, {("libfoo1", "amd64", "1:1.2+b1-3+deb12u1"): "base"}, "sha256:" + "b" * 64
    )
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(text) is None
    document = json.loads(text)
    assert document["specVersion"] == "1.6"
    subject = document["metadata"]["component"]
    assert (subject["name"], subject["version"], subject["type"]) == (
        "127.0.0.1:5000/ns/app",
        "1.0.0",
        "container",
    )
    assert subject["hashes"] == [{"alg": "SHA-256", "content": "b" * 64}]
    components = {c["name"]: c for c in document["components"]}
    assert set(components) == {"libfoo1", "tool"}
    libfoo = components["libfoo1"]
    assert libfoo["purl"] == (
        "pkg:deb/debian/libfoo1@1:1.2%2Bb1-3%2Bdeb12u1?arch=amd64&distro=debian-12"
    )
    properties = {p["name"]: p["value"] for p in libfoo["properties"]}
    assert properties[INTRODUCED_BY] == "base"
    assert (properties["docker-pkg:source-name"], properties["docker-pkg:source-version"]) == (
        "foo",
        "1.2-3",
    )
    tool = {p["name"]: p["value"] for p in components["tool"]["properties"]}
    assert tool[INTRODUCED_BY] == "127.0.0.1:5000/ns/app:1.0.0"  # nothing else known


def test_spdx_document_passes_spdx_tools(tmp_path: Path) -> None:
    from spdx_tools.spdx.parser.parse_anything import parse_file
    from spdx_tools.spdx.validation.document_validator import validate_full_spdx_document

    inventory = inventory_of(
        "r/ns/app:1.0.0",
        "sha256:" + "a" * 64,
        {"var/lib/dpkg/status": STATUS, "etc/os-release": OS_RELEASE},
    )
    path = tmp_path / "app.spdx.json"
    path.write_text(spdx(inventory, {("tool", "all", "0.9"): "base"}, "sha256:" + "c" * 64))
    document = parse_file(str(path))
    assert validate_full_spdx_document(document) == []
    names = {p.name: p for p in document.packages}
    assert set(names) == {"r/ns/app", "libfoo1", "tool"}
    assert names["tool"].comment == f"{INTRODUCED_BY}: base"
    refs = [r.locator for r in names["libfoo1"].external_references]
    assert refs == ["pkg:deb/debian/libfoo1@1:1.2%2Bb1-3%2Bdeb12u1?arch=amd64&distro=debian-12"]


@pytest.mark.parametrize(
    ("dockerfile", "base"),
    [
        ("FROM scratch\nCOPY x /\n", None),
        ("FROM reg/base:1\nRUN true\n", "reg/base:1"),
        (
            "FROM reg/golang:1 AS build\nRUN make\nFROM reg/base:2\nCOPY --from=build /x /\n",
            "reg/base:2",
        ),
        ("FROM reg/base:1 AS one\nFROM one AS two\nFROM two\n", "reg/base:1"),
        ("FROM --platform=linux/amd64 reg/base:3\n", "reg/base:3"),
    ],
)
def test_the_final_stage_base_follows_stage_names(dockerfile: str, base: str | None) -> None:
    assert final_base(dockerfile) == base


def test_apt_sources_pins_and_keyrings_are_kept_by_content(tmp_path: Path) -> None:
    from docker_pkg.inventory.store import InventoryStore

    files = {
        "var/lib/dpkg/status": STATUS,
        "etc/apt/sources.list.d/debian.sources": b"Types: deb\nURIs: http://deb.example\n",
        "etc/apt/preferences.d/pin": b"Package: *\nPin: release a=stable\nPin-Priority: 900\n",
        "usr/share/keyrings/archive.gpg": b"\x99\x01binary key",
    }
    inventory = inventory_of("r/app:1", "sha256:" + "d" * 64, files)
    assert [path for path, _ in inventory.apt] == [
        "etc/apt/preferences.d/pin",
        "etc/apt/sources.list.d/debian.sources",
        "usr/share/keyrings/archive.gpg",
    ]
    store = InventoryStore(tmp_path)
    apt = {p: d for p, d in files.items() if not p.startswith("var/")}
    digest = store.keep(inventory, {}, apt)
    kept = store.load(inventory.image_id)
    assert kept is not None
    assert kept.inventory == inventory
    assert kept.digest == digest
    for path, content_digest in inventory.apt:
        stored = tmp_path / "files" / content_digest.removeprefix("sha256:")
        assert stored.read_bytes() == files[path]


def test_no_password_of_an_image_is_kept_with_its_apt_files() -> None:
    from docker_pkg.inventory.reading import apt_files

    files = {
        "etc/apt/sources.list": b"deb http://robot:Pr1vate@repo.example/debian bookworm main\n",
        "etc/apt/sources.list.d/x.sources": b"URIs: https://u:Pr1vate@repo.example/\n",
        "etc/apt/auth.conf.d/repo.conf": b"machine repo.example login u password Pr1vate\n",
        "etc/apt/apt.conf.d/80_proxy": b'Acquire::http::Proxy "http://u:Pr1vate@proxy:3128";\n',
        "etc/apt/preferences.d/pin": b"Package: *\nPin: origin repo.example\nPin-Priority: 900\n",
    }
    kept = apt_files(files)
    assert sorted(kept) == [
        "etc/apt/preferences.d/pin",
        "etc/apt/sources.list",
        "etc/apt/sources.list.d/x.sources",
    ]
    assert kept["etc/apt/sources.list"] == b"deb http://repo.example/debian bookworm main\n"
    assert not any(b"Pr1vate" in data for data in kept.values())


def test_held_packages_are_kept_apart_from_the_inventory(tmp_path: Path) -> None:
    from docker_pkg.inventory.store import InventoryStore

    held = b"\nPackage: pinme\nStatus: hold ok installed\nArchitecture: amd64\nVersion: 1.0-1\n"
    files = {"var/lib/dpkg/status": STATUS + held}
    inventory = inventory_of("r/app:1", "sha256:" + "e" * 64, files)
    assert [p.name for p in inventory.packages] == ["libfoo1", "tool"]
    assert inventory.held == (Package("pinme", "1.0-1", "amd64", "pinme", "1.0-1"),)
    store = InventoryStore(tmp_path)
    store.keep(inventory, {})
    kept = store.load(inventory.image_id)
    assert kept is not None
    assert kept.inventory == inventory
    plain = inventory_of("r/app:1", "sha256:" + "f" * 64, {"var/lib/dpkg/status": STATUS})
    store.keep(plain, {})
    record = (tmp_path / ("f" * 64 + ".json")).read_text()
    assert '"held"' not in record  # a record without held packages is as before
