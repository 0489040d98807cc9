"""Checking a suite's signature as apt does: ``gpgv`` against exactly the keys the source
trusts, armoured keys turned into the binary form ``gpgv`` reads."""

from __future__ import annotations

import base64
import binascii
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

from docker_pkg.errors import ArchiveError

_BEGIN = "-----BEGIN PGP PUBLIC KEY BLOCK-----"
_END = "-----END PGP PUBLIC KEY BLOCK-----"


def binary_keys(keyring: bytes) -> bytes:
    """``keyring`` as OpenPGP packets: armoured blocks (an ``.asc`` file, an inline
    ``Signed-By`` key) decoded, anything else as it is."""
    text = keyring.decode("ascii", "replace")
    if _BEGIN not in text:
        return keyring
    packets = b""
    for block in text.split(_BEGIN)[1:]:
        body = block.split(_END, 1)[0].strip("\r\n").splitlines()
        # armour headers end at the first empty line (there may be none)
        if any(not line.strip() for line in body):
            body = body[[not line.strip() for line in body].index(True) + 1 :]
        data = "".join(line.strip() for line in body if line.strip() and not line.startswith("="))
        try:
            packets += base64.b64decode(data, validate=False)
        except (binascii.Error, ValueError):
            continue
    return packets


def verify(
    signed: bytes, keyrings: Sequence[bytes], *, detached: bytes | None = None, what: str
) -> bytes:
    """The text ``signed`` vouches for (the inside of a clear-signed ``InRelease``, or
    ``signed`` itself with a ``detached`` ``Release.gpg``) when a good signature by one
    of ``keyrings``' keys covers it; else an :class:`ArchiveError` about ``what``."""
    if not keyrings:
        raise ArchiveError(f"{what}: no key to check its signature with")
    with tempfile.TemporaryDirectory(prefix="docker-pkg-gpgv-") as folder:
        home = Path(folder)
        command = ["gpgv", "--homedir", folder, "--status-fd", "1"]
        for number, keyring in enumerate(keyrings):
            path = home / f"keyring{number}.gpg"
            path.write_bytes(binary_keys(keyring))
            command += ["--keyring", str(path)]
        document = home / "signed"
        document.write_bytes(signed)
        output = home / "verified"
        if detached is not None:
            signature = home / "signature"
            signature.write_bytes(detached)
            command += [str(signature), str(document)]
        else:
            command += ["--output", str(output), str(document)]
        try:
            proc = subprocess.run(command, capture_output=True, check=False, timeout=60)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise ArchiveError(f"{what}: cannot run gpgv: {exc}") from None
        status = proc.stdout.decode("utf-8", "replace")
        if proc.returncode != 0 or "[GNUPG:] VALIDSIG" not in status:
            raise ArchiveError(f"{what}: the signature does not check: {_why(status)}")
        return signed if detached is not None else output.read_bytes()


def _why(status: str) -> str:
    for token, meaning in (
        ("NO_PUBKEY", "signed by a key the source does not trust"),
        ("EXPKEYSIG", "signed by an expired key"),
        ("REVKEYSIG", "signed by a revoked key"),
        ("BADSIG", "bad signature"),
        ("NODATA", "no signature"),
    ):
        if f"[GNUPG:] {token}" in status:
            return meaning
    return "gpgv refused it"
