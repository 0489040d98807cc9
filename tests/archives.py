"""A signed Debian-format archive on disk, as Debian lays one out: ``dists/SUITE`` with a
``Release`` made by ``apt-ftparchive``, clear-signed into ``InRelease`` with a throwaway
``gpg`` key, and ``main/binary-ARCH/Packages`` (plain, gz and xz) indexed by
``dpkg-scanpackages`` from ``pool/SUITE``."""

from __future__ import annotations

import gzip
import lzma
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Key:
    fingerprint: str
    binary: bytes  # the public key as gpgv reads it
    armoured: str


def have_archive_tools() -> str:
    """Empty when gpg, dpkg-scanpackages and apt-ftparchive are installed; else what lacks."""
    lacking = [t for t in ("gpg", "dpkg-scanpackages", "apt-ftparchive") if not shutil.which(t)]
    return ", ".join(lacking)


class SignedArchive:
    """An archive under ``root`` whose suites are signed by keys made in ``root/gnupg``."""

    def __init__(self, root: Path, architecture: str = "amd64"):
        self.root = root
        self.architecture = architecture
        self.home = root.parent / f"{root.name}-gnupg"
        self.home.mkdir(mode=0o700, parents=True, exist_ok=True)
        root.mkdir(parents=True, exist_ok=True)

    def close(self) -> None:
        """Stop the gpg-agent that making and using keys started."""
        subprocess.run(
            ["gpgconf", "--homedir", str(self.home), "--kill", "gpg-agent"],
            capture_output=True,
            check=False,
        )

    def _gpg(self, *args: str) -> bytes:
        return subprocess.run(
            ["gpg", "--homedir", str(self.home), "--batch", "--quiet", *args],
            check=True,
            capture_output=True,
        ).stdout

    def new_key(self, who: str) -> Key:
        """A fresh signing key for ``who`` (no passphrase, never expires)."""
        user = f"{who} <{who.lower().replace(' ', '-')}@example.org>"
        self._gpg("--passphrase", "", "--quick-gen-key", user, "ed25519", "sign", "never")
        listing = self._gpg("--with-colons", "--list-keys", user).decode()
        fingerprint = next(
            line.split(":")[9] for line in listing.splitlines() if line.startswith("fpr:")
        )
        return Key(
            fingerprint,
            self._gpg("--export", fingerprint),
            self._gpg("--armor", "--export", fingerprint).decode(),
        )

    def pool(self, suite: str) -> Path:
        folder = self.root / "pool" / suite
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def publish(
        self, suite: str, *, label: str, key: Key, origin: str = "Debian", valid_until: str = ""
    ) -> None:
        """Index ``pool/SUITE`` into ``dists/SUITE`` and sign its release with ``key``
        (``valid_until``: a ``Valid-Until`` field, RFC 2822, as Debian's security suite has)."""
        self.pool(suite)
        packages = subprocess.run(
            ["dpkg-scanpackages", "--multiversion", f"pool/{suite}"],
            cwd=self.root,
            check=True,
            capture_output=True,
        ).stdout
        dist = self.root / "dists" / suite
        binary = dist / "main" / f"binary-{self.architecture}"
        binary.mkdir(parents=True, exist_ok=True)
        (binary / "Packages").write_bytes(packages)
        (binary / "Packages.gz").write_bytes(gzip.compress(packages))
        (binary / "Packages.xz").write_bytes(lzma.compress(packages))
        settings = {
            "Origin": origin,
            "Label": label,
            "Suite": suite,
            "Codename": suite,
            "Components": "main",
            "Architectures": self.architecture,
        }
        options = [f"-oAPT::FTPArchive::Release::{k}={v}" for k, v in settings.items()]
        for old in ("Release", "InRelease", "Release.gpg"):
            (dist / old).unlink(missing_ok=True)
        release = subprocess.run(
            ["apt-ftparchive", *options, "release", "."],
            cwd=dist,
            check=True,
            capture_output=True,
        ).stdout
        if valid_until:
            release = release.replace(b"\nDate:", f"\nValid-Until: {valid_until}\nDate:".encode())
        (dist / "Release").write_bytes(release)
        self._gpg(
            "--yes", "--local-user", key.fingerprint, "--clearsign",
            "--output", str(dist / "InRelease"), str(dist / "Release"),
        )  # fmt: skip
        self._gpg(
            "--yes", "--local-user", key.fingerprint, "--detach-sign",
            "--output", str(dist / "Release.gpg"), str(dist / "Release"),
        )  # fmt: skip
