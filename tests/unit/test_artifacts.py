from __future__ import annotations

import io
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest

from docker_pkg.errors import BuildError
from docker_pkg.running.artifacts import extract_artifacts


def archive(tmp_path: Path, *members: tuple[tarfile.TarInfo, bytes | None]) -> Path:
    path = tmp_path / "a.tar"
    with tarfile.open(path, "w") as tar:
        for info, data in members:
            if data is not None:
                info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return path


def entry(name: str, kind: bytes = tarfile.REGTYPE, **attrs: object) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.mode = 0o755 if kind == tarfile.DIRTYPE else 0o644
    for key, value in attrs.items():
        setattr(info, key, value)
    return info


def test_a_normal_tree_is_extracted(tmp_path: Path) -> None:
    path = archive(
        tmp_path,
        (entry("build", tarfile.DIRTYPE), None),
        (entry("build/tool", mode=0o755), b"#!/bin/sh\n"),
        (entry("build/link", tarfile.SYMTYPE, linkname="tool"), None),
    )
    tree = extract_artifacts(path, tmp_path / "out")
    assert (tree / "tool").read_bytes() == b"#!/bin/sh\n"
    assert (tree / "tool").stat().st_mode & 0o100
    assert (tree / "link").is_symlink()


MALICIOUS: dict[str, Callable[[], tarfile.TarInfo]] = {
    "parent path": lambda: entry("build/../../escape"),
    "absolute path": lambda: entry("/etc/escape"),
    "link out": lambda: entry("build/passwd", tarfile.SYMTYPE, linkname="/etc/passwd"),
    "relative link out": lambda: entry("build/up", tarfile.SYMTYPE, linkname="../../../etc"),
    "hard link out": lambda: entry("build/hard", tarfile.LNKTYPE, linkname="../outside"),
    "device": lambda: entry("build/sda", tarfile.BLKTYPE, devmajor=8, devminor=0),
    "not under build": lambda: entry("elsewhere"),
}


@pytest.mark.parametrize("kind", sorted(MALICIOUS))
def test_unsafe_members_are_refused(tmp_path: Path, kind: str) -> None:
    member = MALICIOUS[kind]()
    data = b"x" if member.type == tarfile.REGTYPE else None
    path = archive(tmp_path, (entry("build", tarfile.DIRTYPE), None), (member, data))
    with pytest.raises(BuildError, match="unsafe build artifacts"):
        extract_artifacts(path, tmp_path / "out")
    assert not (tmp_path / "escape").exists()
    assert not (tmp_path / "out" / "build" / "passwd").exists()


def test_missing_build_folder(tmp_path: Path) -> None:
    with pytest.raises(BuildError, match="no /build"):
        extract_artifacts(archive(tmp_path), tmp_path / "out")
