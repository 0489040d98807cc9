"""``docker-pkg lint``: report mistakes in a definitions tree; exit 1 on any error."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from docker_pkg.config.settings import Config
from docker_pkg.errors import OperationError, UsageError
from docker_pkg.registry.client import RegistryClient
from docker_pkg.tree.lint import Finding, LabelLookup, Severity, lint

if TYPE_CHECKING:
    from docker_pkg.engines.interface import Engine


def label_lookup(engine: Engine | None, registry: RegistryClient | None) -> LabelLookup:
    """Labels of a built image: from the registry first, then from the local engine."""

    def lookup(full_name: str, tag: str) -> dict[str, str] | None:
        if registry is not None:
            labels = registry.image_labels(registry.repository_path(full_name), tag)
            if labels is not None:
                return labels
        if engine is not None:
            return engine.image_labels(f"{full_name}:{tag}")
        return None

    return lookup


def run_lint(
    *,
    config: Config,
    directory: Path,
    lookup: LabelLookup | None,
    output_format: str,
    stdout: TextIO | None = None,
) -> int:
    out = stdout or sys.stdout
    if not directory.is_dir():
        raise UsageError(f"{directory}: not a directory")
    try:
        findings = lint(directory, config, lookup)
    except OperationError as exc:
        # The tree's own findings do not depend on the registry; say why the comparison
        # with built images could not be made, and lint without it.
        findings = lint(directory, config, None)
        print(f"note: built images not compared: {exc}", file=sys.stderr)
    errors = [f for f in findings if f.severity is Severity.ERROR]
    if output_format == "json":
        json.dump([f.as_dict() for f in findings], out, indent=2)
        out.write("\n")
    else:
        for finding in findings:
            print(finding, file=out)
        print(_summary(findings, errors), file=out)
    return 1 if errors else 0


def _summary(findings: list[Finding], errors: list[Finding]) -> str:
    if not findings:
        return "lint: no findings"
    return f"lint: {len(errors)} error(s), {len(findings) - len(errors)} warning(s)"
