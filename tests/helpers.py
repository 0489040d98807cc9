"""Small builders of definition trees for tests."""

from __future__ import annotations

import textwrap
from pathlib import Path

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
