"""Small builders of definition trees for tests."""

from __future__ import annotations

import functools
import os
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

CHANGELOG = """\
{name} ({version}) wikimedia; urgency=medium

  * Test entry.

 -- Test Author <test@example.org>  Sun, 29 Nov 2026 12:00:00 +0000
"""


def write_image(
    root: Path,
    folder: str,
    *,
    name: str | None = None,
    version: str = "1.0.0",
    template: str = "FROM scratch\n",
    depends: list[str] | None = None,
    build_depends: list[str] | None = None,
    files: dict[str, str] | None = None,
) -> Path:
    """Create one image definition folder and return it."""
    path = root / folder
    path.mkdir(parents=True, exist_ok=True)
    (path / "changelog").write_text(
        CHANGELOG.format(name=name or Path(folder).name, version=version)
    )
    (path / "Dockerfile.template").write_text(textwrap.dedent(template))
    control = []
    if depends:
        control.append("Depends: " + ", ".join(depends))
    if build_depends:
        control.append("Build-Depends: " + ", ".join(build_depends))
    if control:
        (path / "control").write_text("Source: x\n" + "\n".join(control) + "\n")
    for rel, content in (files or {}).items():
        target = path / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content)
    return path


_LOADED_PROBE = """
import sys
from docker_pkg.cli import main
watched = set(sys.argv[1].split(","))
try:
    main(sys.argv[2:])
except SystemExit:
    pass
loaded = sorted(watched.intersection(sys.modules))
print("LOADED=" + ",".join(loaded), file=sys.stderr)
"""


def modules_loaded(
    argv: list[str], watched: Iterable[str], env: Mapping[str, str] | None = None
) -> list[str]:
    """Which of the ``watched`` modules (packages or dotted names) a ``docker-pkg ARGV``
    process imports."""
    proc = subprocess.run(
        [sys.executable, "-c", _LOADED_PROBE, ",".join(watched), *argv],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        check=False,
    )
    line = next((x for x in proc.stderr.splitlines() if x.startswith("LOADED=")), None)
    assert line is not None, proc.stderr
    return [m for m in line.removeprefix("LOADED=").split(",") if m]


@contextmanager
def served_folder(folder: Path, seen: list[str] | None = None) -> Iterator[str]:
    """``folder`` served over HTTP on 127.0.0.1 (a loopback archive); yields its URL.
    ``seen``: where the path of each request is appended."""
    handler = functools.partial(_QuietFiles, directory=str(folder), seen=seen)
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


class _QuietFiles(SimpleHTTPRequestHandler):
    def __init__(self, *args: Any, seen: list[str] | None = None, **kwargs: Any) -> None:
        self.seen = seen
        super().__init__(*args, **kwargs)

    def do_GET(self) -> None:
        if self.seen is not None:
            self.seen.append(self.path)
        super().do_GET()

    def log_message(self, format: str, *args: object) -> None:
        return
