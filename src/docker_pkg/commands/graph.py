"""``docker-pkg graph``: the dependency graph, declared and inferred edges told apart."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TextIO

from docker_pkg.config import Config
from docker_pkg.errors import UsageError
from docker_pkg.plan import selection
from docker_pkg.workspace import Workspace


def graph(
    *,
    config: Config,
    directory: Path,
    select: str | None,
    ancestors: bool,
    descendants: bool,
    output_format: str,
    stdout: TextIO | None = None,
) -> int:
    out = stdout or sys.stdout
    workspace, _ = Workspace.load_inferred(directory, config)
    deps = workspace.graph
    chosen = selection(workspace.labels, select)
    if select is not None and not chosen:
        raise UsageError(f"no image in {directory} matches {select!r}")
    nodes = set(chosen)
    if select is not None:
        both = not (ancestors or descendants)
        for name in chosen:
            if ancestors or both:
                nodes |= deps.ancestors(name)
            if descendants or both:
                nodes |= deps.descendants(name)
    order = deps.order(nodes)
    edges = [
        (parent, child, "inferred" if deps.is_inferred(child, parent) else "declared")
        for child in order
        for parent in deps.parents[child]
        if parent in nodes
    ]
    labels = workspace.labels
    if output_format == "json":
        document = {
            "nodes": [
                {"name": n, "label": labels[n], "selected": select is not None and n in chosen}
                for n in order
            ],
            "edges": [{"parent": p, "child": c, "kind": k} for p, c, k in edges],
        }
        json.dump(document, out, indent=2)
        out.write("\n")
    elif output_format == "mermaid":
        ids = {n: f"n{i}" for i, n in enumerate(order)}
        out.write("graph TD\n")
        for name in order:
            out.write(f'  {ids[name]}["{labels[name]}"]\n')
        for parent, child, kind in edges:
            arrow = "-.->" if kind == "inferred" else "-->"
            out.write(f"  {ids[parent]} {arrow} {ids[child]}\n")
    else:
        out.write("digraph images {\n  rankdir=LR;\n")
        for name in order:
            out.write(f'  "{name}" [label="{labels[name]}"];\n')
        for parent, child, kind in edges:
            style = ' [style=dashed, label="inferred"]' if kind == "inferred" else ""
            out.write(f'  "{parent}" -> "{child}"{style};\n')
        out.write("}\n")
    return 0
