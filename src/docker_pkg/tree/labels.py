"""Labels every built image carries: standard OCI annotations and the input fingerprint.

They are passed to the engine with the build request, so the rendered Dockerfile (what
``render`` shows) stays exactly the reference's.
"""

from __future__ import annotations

from pathlib import Path

from docker_pkg.tree.fingerprint import FINGERPRINT_LABEL
from docker_pkg.tree.workspace import Workspace

OCI = "org.opencontainers.image"


def git_revision(folder: Path) -> str | None:
    """The commit checked out in the git work tree holding ``folder``, if any."""
    import subprocess

    try:
        proc = subprocess.run(
            ["git", "-C", str(folder), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            check=False,
            timeout=10,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    revision = proc.stdout.strip()
    return revision if proc.returncode == 0 and revision else None


def image_labels(
    workspace: Workspace, fingerprints: dict[str, str], revision: str | None
) -> dict[str, dict[str, str]]:
    source = workspace.config.image_source
    labels: dict[str, dict[str, str]] = {}
    for name, definition in workspace.definitions.items():
        entry = {f"{OCI}.title": name, f"{OCI}.version": definition.tag}
        if revision:
            entry[f"{OCI}.revision"] = revision
        if source:
            entry[f"{OCI}.source"] = source
        if name in fingerprints:
            entry[FINGERPRINT_LABEL] = fingerprints[name]
        labels[name] = entry
    return labels
