"""``lint``: the mistakes maintainers of image trees make again and again, found before a
build. The checks here read files only; comparing fingerprints with built images is
handed a lookup that the command provides."""

from __future__ import annotations

import difflib
import graphlib
from collections.abc import Callable
from dataclasses import asdict, dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from docker_pkg.config.settings import Config
from docker_pkg.errors import DefinitionError, NumericUserError
from docker_pkg.files import read_text
from docker_pkg.tree.definitions import (
    CONTROL,
    TEMPLATE,
    ImageDefinition,
    Rendered,
    definition_folders,
    load_definition,
)
from docker_pkg.tree.fingerprint import FINGERPRINT_LABEL, fingerprints
from docker_pkg.tree.graph import DependencyGraph, constraint_errors
from docker_pkg.tree.workspace import Workspace


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True)
class Finding:
    severity: Severity
    code: str
    message: str
    path: Path | None = None
    line: int | None = None
    hint: str = ""

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["severity"] = self.severity.value
        data["path"] = str(self.path) if self.path else None
        return data

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.path and self.line else str(self.path or "")
        text = f"{where}: {self.severity.value}: {self.message} [{self.code}]"
        return text + (f"\n    hint: {self.hint}" if self.hint else "")


# Labels of the built image ``full name``, ``tag``: from the registry, else the local engine;
# None when there is no such image anywhere.
LabelLookup = Callable[[str, str], dict[str, str] | None]


def load_definitions(root: Path, findings: list[Finding]) -> list[ImageDefinition]:
    """Every definition that loads; the others become findings (and duplicates too)."""
    loaded: dict[str, ImageDefinition] = {}
    for folder in definition_folders(root):
        try:
            definition = load_definition(folder)
        except DefinitionError as exc:
            findings.append(
                Finding(
                    Severity.ERROR,
                    "definition",
                    exc.message,
                    exc.path,
                    exc.line,
                    "fix the changelog or control file",
                )
            )
            continue
        other = loaded.get(definition.short_name)
        if other is not None:
            findings.append(
                Finding(
                    Severity.ERROR,
                    "duplicate-name",
                    f"image {definition.short_name!r} is also defined in {other.path}",
                    folder / "changelog",
                    1,
                    "give each image folder a name of its own",
                )
            )
            continue
        loaded[definition.short_name] = definition
    return list(loaded.values())


def check_declared(definitions: list[ImageDefinition], findings: list[Finding]) -> None:
    """Dependencies on images of no folder of the tree: external ones (a sibling tree's
    images), or a typo of one of the tree's names, which the hint then suggests."""
    known = sorted(d.short_name for d in definitions)
    for definition in definitions:
        control = definition.path / CONTROL
        for dep in definition.depends:
            if dep in known:
                continue
            near = difflib.get_close_matches(dep, known, n=1, cutoff=0.75)
            hint = (
                f"did you mean {near[0]!r}? Otherwise make sure another tree publishes {dep}"
                if near
                else f"make sure another tree publishes {dep}, or add its definition here"
            )
            findings.append(
                Finding(
                    Severity.WARNING,
                    "external-dependency",
                    f"{definition.short_name} depends on {dep!r}, which no folder of this "
                    "tree defines: it is assumed to be built elsewhere",
                    control,
                    _line_of(control, dep),
                    hint,
                )
            )
    for error in constraint_errors(definitions):
        findings.append(
            Finding(
                Severity.ERROR,
                "version-constraint",
                error.message,
                error.path,
                error.line,
                "bump the parent, or correct the constraint in control",
            )
        )


def _line_of(path: Path, needle: str) -> int | None:
    try:
        lines = read_text(path, "the control file", DefinitionError).splitlines()
    except DefinitionError:
        return None
    return next((n for n, line in enumerate(lines, start=1) if needle in line), None)


def render_checks(workspace: Workspace, findings: list[Finding]) -> dict[str, Rendered]:
    definitions = [workspace.definitions[name] for name in sorted(workspace.definitions)]
    rendered, errors = workspace.renderer().render_each(definitions)
    for exc in errors:
        if isinstance(exc, NumericUserError):
            rule, hint = "numeric-user", 'use a numeric USER, e.g. USER {{ "www-data" | uid }}'
        else:
            rule = "template"
            hint = "run `docker-pkg render` on this image to see the error in context"
        findings.append(Finding(Severity.ERROR, rule, exc.message, exc.path, exc.line, hint))
    return rendered


def dependency_checks(
    workspace: Workspace, rendered: dict[str, Rendered], findings: list[Finding]
) -> None:
    """Used but not declared, declared but not used, and references to old versions."""
    references = workspace.references(rendered)
    for name, refs in sorted(references.items()):
        definition = workspace.definitions[name]
        used = {r.image for r in refs}
        template = definition.path / TEMPLATE
        for ref in refs:
            if ref.image not in definition.depends:
                findings.append(
                    Finding(
                        Severity.ERROR,
                        "undeclared-dependency",
                        f"{name} uses {ref.reference} (rendered line {ref.line}) but does "
                        f"not declare {ref.image!r}",
                        template,
                        None,
                        f"add {ref.image} to Depends in {definition.path / CONTROL}",
                    )
                )
            if not ref.current:
                current = workspace.label(ref.image)
                findings.append(
                    Finding(
                        Severity.WARNING,
                        "stale-reference",
                        f"{name} uses {ref.reference}, but {ref.image} is now {current}",
                        template,
                        None,
                        f'use {{{{ "{ref.image}" | image_tag }}}} and bump {name} '
                        f"(docker-pkg update {ref.image})",
                    )
                )
        for dep in definition.depends:
            if dep in workspace.definitions and dep not in used:
                findings.append(
                    Finding(
                        Severity.WARNING,
                        "unused-dependency",
                        f"{name} declares {dep!r} but its Dockerfiles never use it",
                        definition.path / CONTROL,
                        _line_of(definition.path / CONTROL, dep),
                        "remove it from control, unless it is needed at run time",
                    )
                )


def cycle_check(graph: DependencyGraph, findings: list[Finding]) -> bool:
    sorter: graphlib.TopologicalSorter[str] = graphlib.TopologicalSorter(
        {n: list(p) for n, p in graph.parents.items()}
    )
    try:
        sorter.prepare()
    except graphlib.CycleError as exc:
        error = graph.cycle_error(list(exc.args[1]))
        findings.append(
            Finding(
                Severity.ERROR,
                "cycle",
                error.message,
                error.path,
                None,
                "break the cycle in the control files or templates",
            )
        )
        return False
    return True


def fingerprint_checks(
    workspace: Workspace,
    rendered: dict[str, Rendered],
    lookup: LabelLookup,
    findings: list[Finding],
) -> None:
    """Images whose inputs changed while their version did not."""
    current = fingerprints(workspace.graph, rendered)
    for name in workspace.graph.order():
        if name not in current:
            continue
        labels = lookup(workspace.name(name), workspace.definitions[name].tag)
        if labels is None or FINGERPRINT_LABEL not in labels:
            continue
        if labels[FINGERPRINT_LABEL] != current[name]:
            definition = workspace.definitions[name]
            findings.append(
                Finding(
                    Severity.ERROR,
                    "unbumped-change",
                    f"{workspace.label(name)} was built from other inputs than its "
                    "definition now has, but its version did not change",
                    definition.path / "changelog",
                    1,
                    f"docker-pkg update {name} --reason '...' (bumps it and its children)",
                )
            )


def lint(root: Path, config: Config, lookup: LabelLookup | None) -> list[Finding]:
    findings: list[Finding] = []
    definitions = load_definitions(root, findings)
    check_declared(definitions, findings)
    known = {d.short_name for d in definitions}
    declared = {d.short_name: tuple(p for p in d.depends if p in known) for d in definitions}
    folders = {d.short_name: d.path for d in definitions}
    workspace = Workspace(
        root,
        config,
        {d.short_name: d for d in definitions},
        DependencyGraph(declared, declared, folders=folders),
    )
    rendered = render_checks(workspace, findings)
    dependency_checks(workspace, rendered, findings)
    inferred = {n: [r.image for r in refs] for n, refs in workspace.references(rendered).items()}
    graph = workspace.graph.with_inferred(inferred, check=False)
    if cycle_check(graph, findings) and lookup is not None:
        fingerprint_checks(
            Workspace(root, config, workspace.definitions, graph), rendered, lookup, findings
        )
    return findings
