"""The candidate policy against apt itself: a loopback archive of three suites (a stable
one, its security suite, backports with NotAutomatic and ButAutomaticUpgrades), the same
preferences and installed versions, and ``apt-cache policy`` in a private apt root must
choose what :func:`candidate` chooses, package by package."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

import pytest

from docker_pkg.inventory.apt_policy import Release, candidate, parse_preferences
from tests.helpers import served_folder

pytestmark = pytest.mark.skipif(
    shutil.which("apt-cache") is None or shutil.which("dpkg-deb") is None,
    reason="needs apt and dpkg-deb",
)

SUITES = {
    "bookworm": Release("Debian", "Debian", "stable", "bookworm", "12", ("main",)),
    "bookworm-security": Release(
        "Debian", "Debian-Security", "stable-security", "bookworm-security", "12", ("main",)
    ),
    "bookworm-backports": Release(
        "Debian Backports",
        "Debian Backports",
        "stable-backports",
        "bookworm-backports",
        "",
        ("main",),
        not_automatic=True,
        but_automatic_upgrades=True,
    ),
}
PACKAGES = {
    "bookworm": [("libfoo", "1.0-1"), ("held", "1.2-3"), ("held", "1.4-1"), ("plain", "3.0-1")],
    "bookworm-security": [("libfoo", "1.0-1+deb12u1"), ("plain", "3.0-1+deb12u1")],
    "bookworm-backports": [("libfoo", "2.0-1~bpo12+1"), ("newish", "0.5-1~bpo12+1")],
}
INSTALLED = {"libfoo": "1.0-1", "held": "1.4-1", "plain": "3.0-1", "newish": "0.4-1"}
PREFERENCES = """\
Package: held
Pin: version 1.2*
Pin-Priority: 1001

Package: plain
Pin: release l=Debian-Security
Pin-Priority: 50
"""


def _stanza(name: str, version: str) -> str:
    return (
        f"Package: {name}\nVersion: {version}\nArchitecture: all\n"
        f"Maintainer: Test <t@example.org>\nFilename: pool/{name}_{version}_all.deb\n"
        f"Size: 1\nSHA256: {'0' * 64}\nDescription: {name}\n"
    )


def _archive(root: Path) -> None:
    for suite, release in SUITES.items():
        folder = root / "dists" / suite
        packages = "\n".join(_stanza(n, v) for n, v in PACKAGES[suite]).encode()
        (folder / "main" / "binary-amd64").mkdir(parents=True)
        (folder / "main" / "binary-amd64" / "Packages").write_bytes(packages)
        digest = hashlib.sha256(packages).hexdigest()
        lines = [
            f"Origin: {release.origin}",
            f"Label: {release.label}",
            f"Suite: {release.suite}",
            f"Codename: {release.codename}",
            *([f"Version: {release.version}"] if release.version else []),
            "Architectures: amd64 all",
            "Components: main",
            *(["NotAutomatic: yes"] if release.not_automatic else []),
            *(["ButAutomaticUpgrades: yes"] if release.but_automatic_upgrades else []),
            "SHA256:",
            f" {digest} {len(packages)} main/binary-amd64/Packages",
        ]
        (folder / "Release").write_text("\n".join(lines) + "\n")


def _apt_root(root: Path, url: str) -> list[str]:
    """A private apt configuration: the three suites, the preferences, installed versions."""
    for folder in ("etc/apt/sources.list.d", "etc/apt/preferences.d", "etc/apt/apt.conf.d"):
        (root / folder).mkdir(parents=True)
    for folder in ("var/lib/apt/lists/partial", "var/cache/apt/archives/partial", "var/lib/dpkg"):
        (root / folder).mkdir(parents=True)
    (root / "etc/apt/sources.list").write_text(
        "".join(f"deb [trusted=yes] {url} {suite} main\n" for suite in SUITES)
    )
    (root / "etc/apt/preferences").write_text(PREFERENCES)
    (root / "var/lib/dpkg/status").write_text(
        "\n".join(
            f"Package: {n}\nStatus: install ok installed\nArchitecture: all\nVersion: {v}\n"
            f"Maintainer: Test <t@example.org>\nDescription: {n}\n"
            for n, v in INSTALLED.items()
        )
    )
    return [
        f"-oDir={root}",
        f"-oDir::State::status={root}/var/lib/dpkg/status",
        "-oAPT::Architecture=amd64",
        "-oAPT::Architectures=amd64",
        "-oAcquire::Languages=none",
        "-oDebug::NoLocking=1",
    ]


def test_candidates_agree_with_apt_cache_policy(tmp_path: Path) -> None:
    _archive(tmp_path / "archive")
    with served_folder(tmp_path / "archive") as url:
        options = _apt_root(tmp_path / "root", url)
        subprocess.run(["apt-get", *options, "update"], check=True, capture_output=True)
    pins = parse_preferences(PREFERENCES)
    for package in sorted({n for listed in PACKAGES.values() for n, _ in listed}):
        policy = subprocess.run(
            ["apt-cache", *options, "policy", package],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        apt_says = next(
            line.split(":", 1)[1].strip() for line in policy.splitlines() if "Candidate:" in line
        )
        available = [
            (v, SUITES[s]) for s, listed in PACKAGES.items() for n, v in listed if n == package
        ]
        ours = candidate(package, INSTALLED.get(package), available, pins)
        assert ours is not None
        assert ours[0] == apt_says, f"{package}: apt chose {apt_says}, we chose {ours[0]}\n{policy}"
