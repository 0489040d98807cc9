"""Reading apt indexes as apt does, against a signed archive on loopback: signatures
checked with gpgv against the source's own keys, indexes against the release's hashes,
each fetched once per run and kept by hash."""

from __future__ import annotations

import functools
import shutil
import subprocess
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from docker_pkg.errors import ArchiveError
from docker_pkg.inventory.apt_indexes import AptIndexes
from docker_pkg.inventory.apt_sources import Source
from docker_pkg.inventory.signatures import binary_keys
from tests.archives import Key, SignedArchive, have_archive_tools
from tests.helpers import served_folder

pytestmark = pytest.mark.skipif(
    bool(have_archive_tools()), reason=f"lacking {have_archive_tools()}"
)


def make_deb(pool: Path, name: str, version: str) -> None:
    root = pool / f"{name}-{version}"
    (root / "DEBIAN").mkdir(parents=True)
    (root / "DEBIAN" / "control").write_text(
        f"Package: {name}\nVersion: {version}\nArchitecture: all\n"
        "Maintainer: Test <test@example.org>\nDescription: test\n"
    )
    subprocess.run(
        [
            "dpkg-deb",
            "--build",
            "--root-owner-group",
            str(root),
            str(pool / f"{name}_{version}.deb"),
        ],
        check=True,
        capture_output=True,
    )
    shutil.rmtree(root)


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[SignedArchive, Key, Key]]:
    made = SignedArchive(tmp_path_factory.mktemp("archive") / "debian")
    good, rogue = made.new_key("Test Archive"), made.new_key("Nobody Trusts")
    make_deb(made.pool("bookworm"), "libfoo1", "1.2-3")
    make_deb(made.pool("bookworm"), "libfoo1", "1.2-2")
    make_deb(made.pool("bookworm-security"), "libfoo1", "1.2-3+deb12u1")
    made.publish("bookworm", label="Debian", key=good)
    made.publish("bookworm-security", label="Debian-Security", key=good)
    make_deb(made.pool("rogue"), "libfoo1", "9.9-1")
    made.publish("rogue", label="Rogue", key=rogue)
    yield made, good, rogue
    made.close()


@pytest.fixture
def served(archive: tuple[SignedArchive, Key, Key]) -> Iterator[tuple[str, list[str]]]:
    seen: list[str] = []
    with served_folder(archive[0].root, seen) as url:
        yield url, seen


def source(url: str, suite: str, **options: object) -> Source:
    return Source(url, suite, ("main",), where="/etc/apt/sources.list:1", **options)  # type: ignore[arg-type]


def test_a_signed_suite_is_read_and_each_index_fetched_once(
    archive: tuple[SignedArchive, Key, Key], served: tuple[str, list[str]], tmp_path: Path
) -> None:
    url, seen = served
    indexes = AptIndexes(tmp_path)
    for _ in range(3):  # three images sharing the source
        release = indexes.release(source(url, "bookworm-security"), [archive[1].binary])
        versions = indexes.versions(source(url, "bookworm-security"), release, "main", "amd64")
    assert release.release.security
    assert release.release.label == "Debian-Security"
    assert versions == {"libfoo1": ["1.2-3+deb12u1"]}
    assert seen == [
        "/dists/bookworm-security/InRelease",
        "/dists/bookworm-security/main/binary-amd64/Packages.xz",
    ]
    both = AptIndexes(tmp_path).versions(
        source(url, "bookworm"),
        AptIndexes(tmp_path).release(source(url, "bookworm"), [archive[1].armoured.encode()]),
        "main",
        "amd64",
    )
    assert sorted(both["libfoo1"]) == ["1.2-2", "1.2-3"]


def test_an_unchanged_index_is_not_fetched_again_in_the_next_run(
    archive: tuple[SignedArchive, Key, Key], served: tuple[str, list[str]], tmp_path: Path
) -> None:
    url, seen = served
    for _ in range(2):
        indexes = AptIndexes(tmp_path)
        release = indexes.release(source(url, "bookworm"), [archive[1].binary])
        assert "libfoo1" in indexes.versions(source(url, "bookworm"), release, "main", "amd64")
    assert seen.count("/dists/bookworm/InRelease") == 2
    assert seen.count("/dists/bookworm/main/binary-amd64/Packages.xz") == 1
    offline = AptIndexes(tmp_path, offline=True)
    release = offline.release(source(url, "bookworm"), [archive[1].binary])
    assert "libfoo1" in offline.versions(source(url, "bookworm"), release, "main", "amd64")
    with pytest.raises(ArchiveError, match="not fetched yet"):
        offline.release(source(url, "bookworm-security"), [archive[1].binary])
    assert len(seen) == 3


def test_a_suite_signed_by_a_key_the_source_does_not_trust_is_refused(
    archive: tuple[SignedArchive, Key, Key], served: tuple[str, list[str]], tmp_path: Path
) -> None:
    url, _ = served
    indexes = AptIndexes(tmp_path)
    with pytest.raises(ArchiveError, match=r"rogue.*key the source does not trust"):
        indexes.release(source(url, "rogue"), [archive[1].binary])
    with pytest.raises(ArchiveError, match="no key"):
        indexes.release(source(url, "bookworm"), [])
    trusted = indexes.release(source(url, "rogue", trusted=True), [])
    assert trusted.release.label == "Rogue"


def test_a_tampered_index_or_release_does_not_check(
    archive: tuple[SignedArchive, Key, Key], tmp_path: Path
) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(archive[0].root, copy)
    (copy / "dists/bookworm/main/binary-amd64/Packages.xz").write_bytes(b"not an index")
    (copy / "dists/bookworm/main/binary-amd64/Packages.gz").unlink()
    with served_folder(copy) as url:
        indexes = AptIndexes(tmp_path / "cache")
        release = indexes.release(source(url, "bookworm"), [archive[1].binary])
        with pytest.raises(ArchiveError, match="does not match the hash"):
            indexes.versions(source(url, "bookworm"), release, "main", "amd64")
    signed = copy / "dists/bookworm-security/InRelease"
    signed.write_text(signed.read_text().replace("Debian-Security", "Debian-Securitz"))
    with served_folder(copy) as url, pytest.raises(ArchiveError, match="bad signature"):
        AptIndexes(tmp_path / "cache").release(
            source(url, "bookworm-security"), [archive[1].binary]
        )


def test_without_inrelease_release_and_its_detached_signature_are_used(
    archive: tuple[SignedArchive, Key, Key], tmp_path: Path
) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(archive[0].root, copy)
    for suite in ("bookworm", "rogue"):
        (copy / "dists" / suite / "InRelease").unlink()
    with served_folder(copy) as url:
        indexes = AptIndexes(tmp_path / "cache")
        release = indexes.release(source(url, "bookworm"), [archive[1].binary])
        assert release.release.label == "Debian"
        with pytest.raises(ArchiveError, match="does not trust"):
            indexes.release(source(url, "rogue"), [archive[1].binary])


def test_armoured_keys_become_what_gpgv_reads(archive: tuple[SignedArchive, Key, Key]) -> None:
    key = archive[1]
    assert binary_keys(key.armoured.encode()) == key.binary
    assert binary_keys(key.binary) == key.binary


def test_a_plain_index_is_read_when_the_compressed_ones_are_missing_and_kept(
    archive: tuple[SignedArchive, Key, Key], tmp_path: Path
) -> None:
    """As apt keeps its lists: the release lists every form, the mirror serves one."""
    copy = tmp_path / "copy"
    shutil.copytree(archive[0].root, copy)
    binary = copy / "dists/bookworm/main/binary-amd64"
    (binary / "Packages.xz").unlink()
    (binary / "Packages.gz").unlink()
    seen: list[str] = []
    with served_folder(copy, seen) as url:
        for _ in range(2):
            indexes = AptIndexes(tmp_path / "cache")
            release = indexes.release(source(url, "bookworm"), [archive[1].binary])
            versions = indexes.versions(source(url, "bookworm"), release, "main", "amd64")
            assert sorted(versions["libfoo1"]) == ["1.2-2", "1.2-3"]
    assert [p.rsplit("/", 1)[1] for p in seen] == [
        "InRelease",
        "Packages.xz",
        "Packages.gz",
        "Packages",
        "InRelease",
    ]


def test_a_release_past_its_valid_until_is_refused_as_apt_does(
    archive: tuple[SignedArchive, Key, Key], tmp_path: Path
) -> None:
    made = SignedArchive(tmp_path / "stale")
    key = made.new_key("Stale Mirror")
    make_deb(made.pool("bookworm-security"), "libfoo1", "1.2-3+deb12u1")
    made.publish(
        "bookworm-security",
        label="Debian-Security",
        key=key,
        valid_until="Wed, 02 Dec 2020 23:13:43 UTC",
    )
    made.publish("bookworm", label="Debian", key=key, valid_until="Wed, 02 Dec 2099 23:13:43 UTC")
    with served_folder(made.root) as url:
        indexes = AptIndexes(tmp_path / "cache")
        with pytest.raises(ArchiveError, match="expired on Wed, 02 Dec 2020"):
            indexes.release(source(url, "bookworm-security"), [key.binary])
        made.close()
        assert indexes.release(source(url, "bookworm"), [key.binary]).valid_until.endswith(
            "2099 23:13:43 UTC"
        )


class _Proxy(SimpleHTTPRequestHandler):
    """A forward proxy on loopback that answers from a folder: requests name whole URLs."""

    seen: list[str]

    def do_GET(self) -> None:
        self.seen.append(self.path)
        self.path = urlsplit(self.path).path
        super().do_GET()

    def log_message(self, format: str, *args: object) -> None:
        return


def test_indexes_go_through_apts_proxy_and_never_the_process_proxy(
    archive: tuple[SignedArchive, Key, Key],
    served: tuple[str, list[str]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: list[str] = []
    handler = functools.partial(
        type("Recording", (_Proxy,), {"seen": seen}), directory=str(archive[0].root)
    )
    proxy = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    try:
        address = f"http://127.0.0.1:{proxy.server_address[1]}"
        unreachable = "http://archive.example.invalid"
        indexes = AptIndexes(tmp_path / "cache", proxy=address)
        release = indexes.release(source(unreachable, "bookworm"), [archive[1].binary])
        assert "libfoo1" in indexes.versions(
            source(unreachable, "bookworm"), release, "main", "amd64"
        )
        assert seen == [
            f"{unreachable}/dists/bookworm/InRelease",
            f"{unreachable}/dists/bookworm/main/binary-amd64/Packages.xz",
        ]
        # the process's own proxy variables are not apt's: a direct source stays direct
        monkeypatch.setenv("http_proxy", address)
        monkeypatch.setenv("HTTP_PROXY", address)
        url, _ = served
        direct = AptIndexes(tmp_path / "direct")
        assert (
            direct.release(source(url, "bookworm"), [archive[1].binary]).release.label == "Debian"
        )
        assert len(seen) == 2
    finally:
        proxy.shutdown()
        proxy.server_close()
