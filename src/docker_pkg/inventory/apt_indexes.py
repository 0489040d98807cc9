"""The indexes of apt sources, read as apt reads them: ``InRelease`` (else ``Release`` and
``Release.gpg``) checked against the keys the source trusts, then a ``Packages`` index
checked against the hash the release lists. Each release and index is fetched once per
run however many images share it; an index's versions are kept in the cache folder by the
index's hash, so an unchanged index is never fetched or parsed again."""

from __future__ import annotations

import email.utils
import gzip
import hashlib
import lzma
import threading
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit

import requests

from docker_pkg.caches import write_bytes
from docker_pkg.errors import ArchiveError
from docker_pkg.inventory.apt_packages import (
    Versions,
    dump_versions,
    load_versions,
    package_versions,
)
from docker_pkg.inventory.apt_release import ReleaseFile, parse_release
from docker_pkg.inventory.apt_sources import Source
from docker_pkg.inventory.signatures import verify

T = TypeVar("T")
RELEASES = "releases"  # each suite's release text once it checked, by source and keys
MAX_INDEX_BYTES = 512 * 1024 * 1024
_SIGNATURE = "\n-----BEGIN PGP SIGNATURE-----"


class AptIndexes:
    """The indexes one run reads. ``offline``: only what an earlier run fetched and
    checked (for ``status`` and the run page, which never go to the network for it)."""

    def __init__(self, cache: Path, *, proxy: str | None = None, offline: bool = False):
        self.cache = cache
        self.offline = offline
        self._session: requests.Session | None = None
        self._proxy = proxy
        self._memo: dict[tuple[str, ...], object] = {}
        self._lock = threading.Lock()

    @staticmethod
    def fetched_before(cache: Path) -> bool:
        """Whether any release was fetched and checked into ``cache`` (what the offline
        mode can use)."""
        return (cache / RELEASES).is_dir()

    def close(self) -> None:
        if self._session is not None:
            self._session.close()

    def release(self, source: Source, keyrings: Sequence[bytes]) -> ReleaseFile:
        """The release of ``source``'s suite once its signature checks with ``keyrings``
        (not checked for a ``trusted=yes`` source)."""
        digests = sorted(hashlib.sha256(k).hexdigest() for k in keyrings)
        key = ("release", source.uri, source.suite, str(source.trusted), *digests)
        return self._once(key, lambda: self._checked_release(source, keyrings, key))

    def versions(
        self, source: Source, release: ReleaseFile, component: str, architecture: str
    ) -> Versions:
        """The versions of every package of ``component`` for ``architecture``."""
        paths = release.packages_paths(component, architecture, flat=source.flat)
        if not paths:
            raise ArchiveError(
                f"{self._where(source)}: its release lists no Packages index of "
                f"{component or 'its folder'} for {architecture}"
            )
        key = ("packages", release.files[paths[0]][0])
        return self._once(key, lambda: self._packages(source, release, paths))

    def _once(self, key: tuple[str, ...], compute: Callable[[], T]) -> T:
        with self._lock:
            if key not in self._memo:
                try:
                    self._memo[key] = compute()
                except ArchiveError as exc:
                    self._memo[key] = exc
            found = self._memo[key]
        if isinstance(found, ArchiveError):
            raise found
        return found  # type: ignore[return-value]

    def _checked_release(
        self, source: Source, keyrings: Sequence[bytes], key: tuple[str, ...]
    ) -> ReleaseFile:
        known = self.cache / RELEASES / hashlib.sha256("\0".join(key).encode()).hexdigest()
        host = urlsplit(source.uri).hostname or ""
        if self.offline:
            try:
                return parse_release(known.read_text("utf-8"), host)
            except (OSError, UnicodeDecodeError):
                raise ArchiveError(f"{self._where(source)}: not fetched yet") from None
        text = self._release_text(source, keyrings)
        parsed = parse_release(text, host)
        _check_valid_until(parsed, self._where(source))
        write_bytes(known, text.encode())
        return parsed

    def _release_text(self, source: Source, keyrings: Sequence[bytes]) -> str:
        where = self._where(source)
        signed = self._get(self._url(source, "InRelease"), missing_ok=True)
        if signed is not None:
            if source.trusted:
                return _clear_signed_text(signed)
            return verify(signed, keyrings, what=where).decode("utf-8", "replace")
        plain = self._get(self._url(source, "Release"))
        assert plain is not None
        if source.trusted:
            return plain.decode("utf-8", "replace")
        signature = self._get(self._url(source, "Release.gpg"), missing_ok=True)
        if signature is None:
            raise ArchiveError(f"{where}: unsigned (no InRelease, no Release.gpg)")
        return verify(plain, keyrings, detached=signature, what=where).decode("utf-8", "replace")

    def _packages(self, source: Source, release: ReleaseFile, paths: list[str]) -> Versions:
        for path in paths:  # any form of this index read before
            try:
                found = load_versions(self._kept(release, path).read_bytes())
            except OSError:
                continue
            if found is not None:
                return found
        if self.offline:
            raise ArchiveError(f"{self._where(source)}: {paths[0]} not fetched yet")
        for path in paths:
            wanted, size = release.files[path]
            data = self._get(self._url(source, path), missing_ok=True, limit=size)
            if data is None:
                continue
            if len(data) != size or hashlib.sha256(data).hexdigest() != wanted:
                raise ArchiveError(
                    f"{self._where(source)}: {path} does not match the hash its release lists"
                )
            versions = package_versions(_decompressed(data, path).decode("utf-8", "replace"))
            write_bytes(self._kept(release, path), dump_versions(versions))
            return versions
        raise ArchiveError(f"{self._where(source)}: none of {', '.join(paths)} can be fetched")

    def _kept(self, release: ReleaseFile, path: str) -> Path:
        return self.cache / "packages" / f"{release.files[path][0]}.versions"

    def _url(self, source: Source, name: str) -> str:
        if source.flat:
            return f"{source.uri}/{source.suite.removeprefix('./')}{name}"
        return f"{source.uri}/dists/{source.suite}/{name}"

    @staticmethod
    def _where(source: Source) -> str:
        return f"{source.uri} {source.suite} ({source.where})"

    def _get(self, url: str, *, missing_ok: bool = False, limit: int = 0) -> bytes | None:
        if not url.startswith(("http://", "https://")):
            raise ArchiveError(f"{url}: only http and https sources can be read from outside")
        if self._session is None:
            self._session = requests.Session()
            self._session.trust_env = False  # the proxy apt has, not this process's
            if self._proxy:
                self._session.proxies = {"http": self._proxy, "https": self._proxy}
        try:
            with self._session.get(url, timeout=60, stream=True) as response:
                if response.status_code == 404 and missing_ok:
                    return None
                if response.status_code != 200:
                    raise ArchiveError(f"{url}: HTTP {response.status_code}")
                chunks: list[bytes] = []
                received, cap = 0, limit if limit else MAX_INDEX_BYTES
                for chunk in response.iter_content(1 << 20):
                    chunks.append(chunk)
                    received += len(chunk)
                    if received > cap:
                        raise ArchiveError(f"{url}: larger than its release says")
                return b"".join(chunks)
        except requests.RequestException as exc:
            raise ArchiveError(f"{url}: {type(exc).__name__}") from None


def _check_valid_until(release: ReleaseFile, where: str) -> None:
    """apt refuses a release past its ``Valid-Until`` (a mirror that stopped updating)."""
    if not release.valid_until:
        return
    try:
        until = email.utils.parsedate_to_datetime(release.valid_until)
    except (TypeError, ValueError):
        raise ArchiveError(f"{where}: unreadable Valid-Until {release.valid_until!r}") from None
    if until.tzinfo is None:
        until = until.replace(tzinfo=UTC)
    if until < datetime.now(UTC):
        raise ArchiveError(f"{where}: its release expired on {release.valid_until}")


def _decompressed(data: bytes, path: str) -> bytes:
    try:
        if path.endswith(".xz"):
            return lzma.decompress(data)
        if path.endswith(".gz"):
            return gzip.decompress(data)
    except (lzma.LZMAError, OSError, EOFError) as exc:
        raise ArchiveError(f"{path}: cannot decompress: {exc}") from None
    return data


def _clear_signed_text(signed: bytes) -> str:
    """The text of a clear-signed document, unchecked (for a ``trusted=yes`` source)."""
    text = signed.decode("utf-8", "replace")
    if not text.startswith("-----BEGIN PGP SIGNED MESSAGE-----"):
        return text
    body = text.split("\n\n", 1)[1] if "\n\n" in text else ""
    body = body.split(_SIGNATURE, 1)[0]
    return "\n".join(line[2:] if line.startswith("- ") else line for line in body.splitlines())
