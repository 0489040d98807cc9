"""apt's sources and candidate versions as apt reads and chooses them (pure): the ground
for ``outdated`` and ``refresh``."""

from __future__ import annotations

import pytest

from docker_pkg.inventory.apt_policy import (
    Release,
    candidate,
    parse_preferences,
    priority,
)
from docker_pkg.inventory.apt_sources import Source, sources_of

KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg"
ONE_LINE = b"""# the image's sources
deb [arch=amd64 signed-by=%s] http://deb.example/debian/ bookworm main contrib
deb-src http://deb.example/debian bookworm main
deb http://security.example/debian-security bookworm-security main # security
deb [trusted=yes] http://127.0.0.1:8080/ ./
""" % KEYRING.encode()
DEB822 = b"""Types: deb deb-src
URIs: http://deb.example/debian http://mirror.example/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://off.example/debian
Suites: sid
Components: main
Enabled: no

Types: deb
URIs: http://inline.example/debian
Suites: stable
Components: main
Signed-By:
 -----BEGIN PGP PUBLIC KEY BLOCK-----
 .
 mQINBF0000
 -----END PGP PUBLIC KEY BLOCK-----
"""


def test_one_line_and_deb822_sources_as_apt_reads_them() -> None:
    found = sources_of(
        {
            "etc/apt/sources.list.d/zz.sources": DEB822,
            "etc/apt/sources.list": ONE_LINE,
            "etc/apt/sources.list.d/ignored.save": b"deb http://x.example y z\n",
        }
    )
    assert found[0] == Source(
        "http://deb.example/debian",
        "bookworm",
        ("main", "contrib"),
        ("amd64",),
        ("/usr/share/keyrings/debian-archive-keyring.gpg",),
        False,
        "/etc/apt/sources.list:2",
    )
    assert [(s.uri, s.suite) for s in found[1:3]] == [
        ("http://security.example/debian-security", "bookworm-security"),
        ("http://127.0.0.1:8080", "./"),
    ]
    assert found[2].trusted
    assert found[2].flat
    deb822 = found[3:]
    assert [(s.uri, s.suite) for s in deb822] == [
        ("http://deb.example/debian", "bookworm"),
        ("http://deb.example/debian", "bookworm-updates"),
        ("http://mirror.example/debian", "bookworm"),
        ("http://mirror.example/debian", "bookworm-updates"),
        ("http://inline.example/debian", "stable"),
    ]
    assert "BEGIN PGP PUBLIC KEY BLOCK" in deb822[-1].signed_by[0]


STABLE = Release("Debian", "Debian", "stable", "bookworm", "12", ("main",), "deb.example")
SECURITY = Release(
    "Debian",
    "Debian-Security",
    "stable-security",
    "bookworm-security",
    "12",
    ("main",),
    "security.example",
)
BACKPORTS = Release(
    "Debian Backports",
    "Debian Backports",
    "stable-backports",
    "bookworm-backports",
    "",
    ("main",),
    "deb.example",
    not_automatic=True,
    but_automatic_upgrades=True,
)
EXPERIMENTAL = Release(
    "Debian",
    "Debian",
    "experimental",
    "rc-buggy",
    "",
    ("main",),
    "deb.example",
    not_automatic=True,
)


def test_default_priorities_follow_the_release_flags() -> None:
    assert priority([], "libfoo", "1.0", STABLE) == 500
    assert priority([], "libfoo", "1.0", BACKPORTS) == 100
    assert priority([], "libfoo", "1.0", EXPERIMENTAL) == 1
    assert priority([], "libfoo", "1.0", None) == 100  # only installed
    assert SECURITY.security
    assert not STABLE.security


def test_the_highest_version_of_the_highest_priority_wins() -> None:
    available = [("1.0-1", STABLE), ("1.0-1+deb12u1", SECURITY), ("2.0-1~bpo12+1", BACKPORTS)]
    assert candidate("libfoo", "1.0-1", available, []) == ("1.0-1+deb12u1", SECURITY)
    only_backports = [("2.0-1~bpo12+1", BACKPORTS)]
    # an installed version not in any index keeps priority 100: a tie, the newer wins
    assert candidate("libfoo", "1.0-1", only_backports, []) == ("2.0-1~bpo12+1", BACKPORTS)
    assert candidate("libfoo", "1.0-1", [("3.0", EXPERIMENTAL)], []) == ("1.0-1", None)
    assert candidate("libfoo", None, [], []) is None


PREFERENCES = """\
Package: libfoo*
Pin: release a=stable-backports
Pin-Priority: 990

# a downgrade is allowed from 1000 up
Package: held
Pin: version 1.2*
Pin-Priority: 1001

Package: *
Pin: origin "security.example"
Pin-Priority: 50

Package: broken
Pin-Priority: 700
"""


def test_pins_by_release_version_and_origin() -> None:
    pins = parse_preferences(PREFERENCES)
    assert [(p.kind, p.priority) for p in pins] == [
        ("release", 990),
        ("version", 1001),
        ("origin", 50),
    ]
    available = [("1.0-1", STABLE), ("2.0-1~bpo12+1", BACKPORTS)]
    assert candidate("libfoo1", "1.0-1", available, pins) == ("2.0-1~bpo12+1", BACKPORTS)
    assert candidate("other", "1.0-1", available, pins) == ("1.0-1", STABLE)
    held = [("1.2-3", STABLE), ("1.4-1", STABLE)]
    assert candidate("held", "1.4-1", held, pins) == ("1.2-3", STABLE)  # pinned down: 1001
    secure = [("1.0-1", STABLE), ("1.0-1+deb12u1", SECURITY)]
    assert candidate("libbar", "1.0-1", secure, pins) == ("1.0-1", STABLE)  # origin pinned low


@pytest.mark.parametrize(
    ("expression", "matches"),
    [
        ("a=stable", True),
        ("n=bookworm, c=main", True),
        ("o=Debian,l=Debian,v=12", True),
        ("a=testing", False),
        ("c=contrib", False),
        ("bookworm", True),
        ("n=book*", True),
    ],
)
def test_release_pin_expressions(expression: str, matches: bool) -> None:
    pins = parse_preferences(f"Package: *\nPin: release {expression}\nPin-Priority: 900\n")
    assert (priority(pins, "x", "1", STABLE) == 900) is matches


def test_never_a_downgrade_below_priority_1000() -> None:
    pins = parse_preferences("Package: libfoo\nPin: release a=stable\nPin-Priority: 999\n")
    assert candidate("libfoo", "2.0", [("1.0", STABLE)], pins) == ("2.0", None)
