"""The dependency graph as SVG: parents above children, each image coloured by its outcome.

Graphviz lays it out when ``dot`` is installed; otherwise a layered layout of our own does
(:func:`layered_layout`, pure): each image one row below its lowest parent, the images of a
row ordered by where their parents stand, wide rows wrapped, so a tree of a few hundred
images stays readable. Either way every node is ``<g class="node" data-name=… data-outcome=…>``
linking to ``#image-NAME``, which the run page and the tests rely on.
"""

from __future__ import annotations

import html
import re
import shutil
import subprocess
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

NODE_WIDTH, NODE_HEIGHT = 150, 28
GAP_X, GAP_Y = 18, 46
MARGIN = 12
MAX_PER_ROW = 8

COLOURS = {
    "published": "#2e7d32",
    "already published": "#a5d6a7",
    "verified": "#1565c0",
    "built": "#90a4ae",
    "failed": "#c62828",
    "skipped": "#f9a825",
    "running": "#00838f",
    "waiting": "#eeeeee",
    "to_build": "#eeeeee",
    "unknown": "#eeeeee",
    "external": "#ffffff",
}
DARK = {"published", "verified", "failed", "running"}


@dataclass(frozen=True)
class Node:
    name: str
    label: str
    outcome: str
    title: str = ""
    external: bool = False
    link: str | None = None  # where a click leads; default: the image's own row

    @property
    def href(self) -> str:
        return self.link or f"#image-{self.name}"


@dataclass(frozen=True)
class Layout:
    positions: dict[str, tuple[float, float]]  # top-left corner of each node
    width: float
    height: float


def depths(nodes: Iterable[str], parents: Mapping[str, Iterable[str]]) -> dict[str, int]:
    """Row of each node: 0 without parents (among ``nodes``), else one below the lowest."""
    wanted = set(nodes)
    found: dict[str, int] = {}

    def depth(name: str, seen: frozenset[str]) -> int:
        if name not in found:
            above = [p for p in parents.get(name, ()) if p in wanted and p not in seen]
            found[name] = 1 + max((depth(p, seen | {name}) for p in above), default=-1)
        return found[name]

    for name in sorted(wanted):
        depth(name, frozenset())
    return found


def layered_layout(nodes: list[str], parents: Mapping[str, Iterable[str]]) -> Layout:
    """Positions for a top-down drawing: a layer per depth, ordered by the mean position of
    each node's parents (fewer crossings), layers wider than ``MAX_PER_ROW`` wrapped."""
    level = depths(nodes, parents)
    layers: dict[int, list[str]] = {}
    for name in sorted(nodes):
        layers.setdefault(level[name], []).append(name)
    slot: dict[str, float] = {}
    positions: dict[str, tuple[float, float]] = {}
    y = float(MARGIN)
    width = 0.0
    for depth in sorted(layers):
        row = layers[depth]
        if depth > 0:

            def centre(name: str) -> float:
                above = [slot[p] for p in parents.get(name, ()) if p in slot]
                return sum(above) / len(above) if above else float("inf")

            row.sort(key=lambda n: (centre(n), n))
        for index, name in enumerate(row):
            column, line = index % MAX_PER_ROW, index // MAX_PER_ROW
            x = MARGIN + column * (NODE_WIDTH + GAP_X)
            positions[name] = (x, y + line * (NODE_HEIGHT + GAP_Y / 2))
            slot[name] = column + line * 0.01
            width = max(width, x + NODE_WIDTH + MARGIN)
        lines = (len(row) + MAX_PER_ROW - 1) // MAX_PER_ROW
        y += lines * (NODE_HEIGHT + GAP_Y / 2) + GAP_Y / 2
    return Layout(positions, max(width, 2 * MARGIN), y + MARGIN)


def _short(text: str, limit: int = 22) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _node_svg(node: Node, x: float, y: float) -> str:
    fill = COLOURS.get(node.outcome, "#eeeeee")
    ink = "#ffffff" if node.outcome in DARK else "#212121"
    dash = ' stroke-dasharray="4 3"' if node.external else ""
    name = html.escape(node.name, quote=True)
    title = html.escape(node.title or f"{node.label} — {node.outcome}")
    href = html.escape(node.href, quote=True)
    body = (
        f'<rect x="{x:.0f}" y="{y:.0f}" width="{NODE_WIDTH}" height="{NODE_HEIGHT}" rx="5" '
        f'fill="{fill}" stroke="#424242"{dash}/>'
        f'<text x="{x + NODE_WIDTH / 2:.0f}" y="{y + NODE_HEIGHT / 2 + 4:.0f}" fill="{ink}" '
        f'text-anchor="middle" font-size="12">{html.escape(_short(node.name))}</text>'
    )
    inner = body if node.external else f'<a href="{href}">{body}</a>'
    return (
        f'<g class="node" data-name="{name}" data-outcome="{html.escape(node.outcome)}">'
        f"<title>{title}</title>{inner}</g>"
    )


def builtin_svg(nodes: list[Node], edges: list[tuple[str, str]]) -> str:
    """Our own drawing: ``edges`` are (parent, child) pairs."""
    names = [n.name for n in nodes]
    parents: dict[str, list[str]] = {}
    for parent, child in edges:
        parents.setdefault(child, []).append(parent)
    layout = layered_layout(names, parents)
    lines = []
    for parent, child in edges:
        if parent not in layout.positions or child not in layout.positions:
            continue
        px, py = layout.positions[parent]
        cx, cy = layout.positions[child]
        x1, y1 = px + NODE_WIDTH / 2, py + NODE_HEIGHT
        x2, y2 = cx + NODE_WIDTH / 2, cy
        bend = max(12.0, (y2 - y1) / 2)
        lines.append(
            f'<path class="edge" d="M{x1:.0f},{y1:.0f} C{x1:.0f},{y1 + bend:.0f} '
            f'{x2:.0f},{y2 - bend:.0f} {x2:.0f},{y2:.0f}" fill="none" stroke="#9e9e9e"/>'
        )
    shapes = [_node_svg(n, *layout.positions[n.name]) for n in nodes]
    return (
        f'<svg class="graph" width="{layout.width:.0f}" height="{layout.height:.0f}" '
        f'viewBox="0 0 {layout.width:.0f} {layout.height:.0f}" role="img" '
        f'font-family="sans-serif">{"".join(lines)}{"".join(shapes)}</svg>'
    )


@dataclass
class _Dot:
    """The graph in Graphviz's language, with our node attributes carried through ids."""

    nodes: list[Node]
    edges: list[tuple[str, str]]
    ids: dict[str, str] = field(default_factory=dict)

    def source(self) -> str:
        out = [
            "digraph images {",
            '  rankdir=TB; node [shape=box, style="rounded,filled", fontname="sans-serif", '
            'fontsize=11, height=0.35]; edge [color="#9e9e9e"];',
        ]
        for index, node in enumerate(self.nodes):
            ident = f"n{index}"
            self.ids[ident] = node.name
            fill = COLOURS.get(node.outcome, "#eeeeee")
            ink = "#ffffff" if node.outcome in DARK else "#212121"
            extra = ', style="rounded,dashed"' if node.external else f', URL="{node.href}"'
            label = _short(node.name).replace('"', "'")
            out.append(
                f'  {ident} [id="{ident}", label="{label}", fillcolor="{fill}", '
                f'fontcolor="{ink}"{extra}];'
            )
        index_of = {v: k for k, v in self.ids.items()}
        for parent, child in self.edges:
            if parent in index_of and child in index_of:
                out.append(f"  {index_of[parent]} -> {index_of[child]};")
        out.append("}")
        return "\n".join(out)


_PROLOG = re.compile(r"^.*?(?=<svg)", re.DOTALL)
_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)
_NODE_GROUP = re.compile(r'<g id="(n\d+)" class="node">\s*<title>[^<]*</title>')


def graphviz_svg(nodes: list[Node], edges: list[tuple[str, str]], dot: str) -> str | None:
    """Graphviz's drawing, its nodes given our attributes; None when ``dot`` fails."""
    graph = _Dot(nodes, edges)
    try:
        proc = subprocess.run(
            [dot, "-Tsvg"],
            input=graph.source(),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if proc.returncode != 0:
        return None
    by_name = {n.name: n for n in nodes}

    def node_group(match: re.Match[str]) -> str:
        node = by_name[graph.ids[match[1]]]
        name = html.escape(node.name, quote=True)
        title = html.escape(node.title or f"{node.label} — {node.outcome}")
        return (
            f'<g id="{match[1]}" class="node" data-name="{name}" '
            f'data-outcome="{html.escape(node.outcome)}"><title>{title}</title>'
        )

    svg = _COMMENT.sub("", _PROLOG.sub("", proc.stdout, count=1))
    svg = svg.replace("<svg ", '<svg class="graph" ', 1)
    return _NODE_GROUP.sub(node_group, svg)


def draw(nodes: list[Node], edges: list[tuple[str, str]], *, use_graphviz: bool = True) -> str:
    """The graph as an SVG element: Graphviz's layout when ``dot`` is installed, else ours."""
    dot = shutil.which("dot") if use_graphviz else None
    if dot is not None:
        drawn = graphviz_svg(nodes, edges, dot)
        if drawn is not None:
            return drawn
    return builtin_svg(nodes, edges)
