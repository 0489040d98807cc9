"""Build-stage artifacts (``Dockerfile.build.template``): ``/build`` of the build-stage image,
extracted safely into a temporary folder that joins the build context as ``build/``."""

from __future__ import annotations

import tarfile
from pathlib import Path

from docker_pkg.errors import BuildError

ARTIFACTS = "build"


def extract_artifacts(archive: Path, destination: Path) -> Path:
    """Extract ``archive`` (a tar of ``/build``) under ``destination``; return the tree.

    Members that would land outside ``destination``, absolute names, device files, and
    links pointing outside are refused (Python's ``data`` extraction filter), naming the
    member; nothing of such an archive is used.
    """
    try:
        with tarfile.open(archive) as tar:
            names = tar.getnames()
            outside = [n for n in names if n != ARTIFACTS and not n.startswith(ARTIFACTS + "/")]
            if outside:
                raise BuildError(
                    f"unsafe build artifacts: member {outside[0]!r} is not under /build"
                )
            tar.extractall(destination, filter="data")
    except tarfile.FilterError as exc:
        raise BuildError(f"unsafe build artifacts refused: {exc}") from None
    except tarfile.TarError as exc:
        raise BuildError(f"unreadable build artifacts: {exc}") from None
    tree = destination / ARTIFACTS
    if not tree.is_dir():
        raise BuildError("the build stage left no /build folder")
    return tree
