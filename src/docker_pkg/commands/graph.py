"""``docker-pkg graph``: the dependency graph, declared and inferred edges told apart."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from docker_pkg.config.settings import Config
from docker_pkg.errors import UsageError
from docker_pkg.outputs.graph_svg import Node, draw
from docker_pkg.planning.plan import selection
from docker_pkg.tree.workspace import Workspace


def graph(
    *,
    config: Config,
    directory: Path,
    select: str | None,
    ancestors: bool,
    descendants: bool,
    output_format: str,
    states: Callable[[Workspace], Mapping[str, str]] | None = None,
    stdout: TextIO | None = None,
) -> int:
    """``states`` (for svg and html) gives each image's state, when engine or registry can
    be asked; without it the drawing is plain."""
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
    # External dependencies (images of another tree) are drawn as nodes of their own.
    external = sorted({dep for child in order for dep in deps.external.get(child, ())})
    edges += [(dep, child, "external") for child in order for dep in deps.external.get(child, ())]
    view = _View(order, external, edges, workspace.labels, chosen if select is not None else set())
    if output_format in ("svg", "html"):
        known = states(workspace) if states is not None else {}
        _write_drawing(view, known, output_format == "html", out)
        return 0
    {"json": _write_json, "mermaid": _write_mermaid}.get(output_format, _write_dot)(view, out)
    return 0


def _write_drawing(view: _View, states: Mapping[str, str], page: bool, out: TextIO) -> None:
    nodes = [
        Node(
            n,
            view.labels[n],
            states.get(n, "unknown"),
            f"{view.labels[n]} — {states.get(n, 'state unknown')}",
        )
        for n in view.order
    ] + [Node(n, n, "external", f"{n} (external)", external=True) for n in view.external]
    svg = draw(nodes, [(p, c) for p, c, _ in view.edges])
    if not page:
        out.write(svg + "\n")
        return
    out.write(
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        "<title>docker-pkg graph</title><style>body{font-family:sans-serif;margin:1em}</style>"
        f"</head><body><h1>Dependency graph</h1>{svg}</body></html>\n"
    )


@dataclass(frozen=True)
class _View:
    order: list[str]
    external: list[str]
    edges: list[tuple[str, str, str]]  # parent, child, kind
    labels: Mapping[str, str]
    selected: set[str]


def _write_json(view: _View, out: TextIO) -> None:
    nodes = [
        {"name": n, "label": view.labels[n], "selected": n in view.selected, "external": False}
        for n in view.order
    ] + [{"name": n, "label": n, "selected": False, "external": True} for n in view.external]
    edges = [{"parent": p, "child": c, "kind": k} for p, c, k in view.edges]
    json.dump({"nodes": nodes, "edges": edges}, out, indent=2)
    out.write("\n")


def _write_mermaid(view: _View, out: TextIO) -> None:
    ids = {n: f"n{i}" for i, n in enumerate(view.order)}
    ids.update({n: f"x{i}" for i, n in enumerate(view.external)})
    out.write("graph TD\n")
    for name in view.order:
        out.write(f'  {ids[name]}["{view.labels[name]}"]\n')
    for name in view.external:
        out.write(f'  {ids[name]}[/"{name} (external)"/]\n')
    for parent, child, kind in view.edges:
        arrow = "-->" if kind == "declared" else "-.->"
        out.write(f"  {ids[parent]} {arrow} {ids[child]}\n")


def _write_dot(view: _View, out: TextIO) -> None:
    out.write("digraph images {\n  rankdir=LR;\n")
    for name in view.order:
        out.write(f'  "{name}" [label="{view.labels[name]}"];\n')
    for name in view.external:
        out.write(f'  "{name}" [label="{name} (external)", shape=box, style=dashed];\n')
    for parent, child, kind in view.edges:
        style = f' [style=dashed, label="{kind}"]' if kind != "declared" else ""
        out.write(f'  "{parent}" -> "{child}"{style};\n')
    out.write("}\n")
