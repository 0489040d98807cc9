"""The run as a page: one self-contained HTML file made from the JSON report.

Everything the page shows comes from the report document, so a saved report always makes
the same page (``docker-pkg report REPORT.json --html FILE``). Nothing leaves the page: the
style, the sorting script and the SVG drawings are inline, no font or library is fetched.
While a run goes on the page is rewritten every few seconds and reloads itself.
"""

from __future__ import annotations

import html
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from docker_pkg.outputs.graph_svg import COLOURS, Node, draw

RELOAD_SECONDS = 3
PHASE_COLOURS = {"build": "#1565c0", "verify": "#6a1b9a", "publish": "#2e7d32", "move": "#ef6c00"}
LANE_HEIGHT, BAR_HEIGHT, TIMELINE_WIDTH, LABEL_WIDTH = 22, 14, 900, 70


def outcome_of(image: Mapping[str, Any], live: bool) -> str:
    """The word (and colour) for an image: published now or before, verified, failed…"""
    state = str(image.get("state", ""))
    if state == "published":
        return "published" if image.get("pushed") else "already published"
    if state == "skipped" and not image.get("reason"):
        if live and image.get("started"):
            return "running"
        return "waiting" if live else "skipped"
    if state == "skipped" and image.get("reason") == "not selected":
        return "not selected"
    return state


def _time(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) and value else None


@dataclass(frozen=True)
class Bar:
    image: str
    phase: str
    start: float  # seconds since the run started
    end: float
    lane: int
    critical: bool
    lane_name: str = ""


def critical_path(images: Sequence[Mapping[str, Any]]) -> list[str]:
    """The chain of images, parent to child, whose work took longest end to end."""
    spans = {}
    for image in images:
        times = [_time(t) for p in (image.get("phases") or {}).values() for t in p.values()]
        present = [t for t in times if t is not None]
        if present:
            spans[image["name"]] = (max(present) - min(present)).total_seconds()
    parents = {i["name"]: [p for p in i.get("parents", []) if p in spans] for i in images}
    best: dict[str, tuple[float, list[str]]] = {}

    def chain(name: str) -> tuple[float, list[str]]:
        if name not in best:
            above = [chain(p) for p in parents.get(name, [])]
            weight, path = max(above, default=(0.0, []))
            best[name] = (weight + spans[name], [*path, name])
        return best[name]

    return max((chain(n) for n in spans), default=(0.0, []))[1]


def _spans(image: Mapping[str, Any], started: datetime) -> list[tuple[str, float, float]]:
    """Each phase of an image as (phase, start, end) in seconds since the run started."""
    spans = []
    for key, times in (image.get("phases") or {}).items():
        phase = key.split(" ", 1)[0]  # "build linux/arm64": a phase of one platform
        start, end = _time(times["started"]), _time(times["ended"])
        if phase in PHASE_COLOURS and start is not None and end is not None:
            begin = (start - started).total_seconds()
            spans.append((key, begin, max(begin, (end - started).total_seconds())))
    return sorted(spans, key=lambda span: span[1])


def _assign_lanes(work: list[tuple[str, list[tuple[str, float, float]]]]) -> list[int]:
    """For each (image, spans) in start order, the first lane free when it starts."""
    busy_until: list[float] = []
    lanes = []
    for _, spans in work:
        begin, end = spans[0][1], spans[-1][2]
        lane = next((i for i, until in enumerate(busy_until) if until <= begin + 1e-6), None)
        if lane is None:
            lane = len(busy_until)
            busy_until.append(end)
        busy_until[lane] = end
        lanes.append(lane)
    return lanes


def timeline_bars(images: Sequence[Mapping[str, Any]], started: datetime) -> list[Bar]:
    """One bar per phase, laid in lanes: an image's build and verify share a build slot, its
    push takes a publish slot (drawn below the build slots)."""
    critical = set(critical_path(images))
    builds: dict[str, list[tuple[str, list[tuple[str, float, float]]]]] = {}
    pushes: list[tuple[str, list[tuple[str, float, float]]]] = []
    for image in images:
        spans = _spans(image, started)
        # each platform's build and verify share a slot; pushes take push slots
        by_platform: dict[str, list[tuple[str, float, float]]] = {}
        for key, begin, end in spans:
            phase, _, platform = key.partition(" ")
            if phase == "publish":
                pushes.append((image["name"], [(phase, begin, end)]))
            else:
                by_platform.setdefault(platform, []).append((phase, begin, end))
        engine = str(image.get("engine") or "")
        for slot in by_platform.values():
            builds.setdefault(engine, []).append((image["name"], slot))
    groups = [(engine or "slot", work) for engine, work in sorted(builds.items())]
    groups.append(("push", pushes))
    bars: list[Bar] = []
    offset = 0
    for prefix, work in groups:
        work.sort(key=lambda w: w[1][0][1])
        lanes = _assign_lanes(work)
        bars.extend(
            Bar(name, phase, begin, end, offset + lane, name in critical, f"{prefix} {lane + 1}")
            for (name, spans), lane in zip(work, lanes, strict=True)
            for phase, begin, end in spans
        )
        offset += max(lanes, default=-1) + 1
    return bars


def _timeline_svg(bars: list[Bar], duration: float) -> str:
    if not bars:
        return '<p class="empty">Nothing was built or published in this run.</p>'
    lanes = max(b.lane for b in bars) + 1
    scale = (TIMELINE_WIDTH - LABEL_WIDTH) / max(duration, 1e-3)
    height = lanes * LANE_HEIGHT + 24
    parts = [
        f'<svg class="timeline" width="{TIMELINE_WIDTH}" height="{height}" '
        f'viewBox="0 0 {TIMELINE_WIDTH} {height}" font-family="sans-serif" font-size="11">'
    ]
    names = {b.lane: b.lane_name for b in bars}
    for lane in range(lanes):
        y = lane * LANE_HEIGHT
        name = html.escape(names.get(lane, "")[:12])
        parts.append(
            f'<text x="2" y="{y + BAR_HEIGHT}" fill="#616161">{name}</text>'
            f'<line x1="{LABEL_WIDTH}" x2="{TIMELINE_WIDTH}" y1="{y + LANE_HEIGHT - 2}" '
            f'y2="{y + LANE_HEIGHT - 2}" stroke="#eeeeee"/>'
        )
    for bar in bars:
        x = LABEL_WIDTH + bar.start * scale
        width = max(2.0, (bar.end - bar.start) * scale)
        y = bar.lane * LANE_HEIGHT + 3
        critical = " critical" if bar.critical else ""
        stroke = (
            ' stroke="#000000" stroke-width="2"'
            if bar.critical
            else ' stroke="#ffffff" stroke-width="1"'
        )
        title = f"{bar.image}: {bar.phase} {bar.end - bar.start:.1f}s (at {bar.start:.1f}s)"
        if bar.critical:
            title += ", on the critical path"
        parts.append(
            f'<rect class="bar phase-{bar.phase}{critical}" data-image="{html.escape(bar.image)}" '
            f'data-phase="{bar.phase}" x="{x:.1f}" y="{y}" width="{width:.1f}" '
            f'height="{BAR_HEIGHT}" fill="{PHASE_COLOURS.get(bar.phase, "#757575")}"{stroke}>'
            f"<title>{html.escape(title)}</title></rect>"
        )
        if width > 48 and bar.phase == "build":
            fits = int(width / 6.5)
            parts.append(
                f'<text x="{x + 3:.1f}" y="{y + BAR_HEIGHT - 3}" fill="#ffffff" font-size="10" '
                f'pointer-events="none">{html.escape(bar.image[:fits])}</text>'
            )
    axis = lanes * LANE_HEIGHT + 16
    for tick in range(5):
        seconds = duration * tick / 4
        parts.append(
            f'<text x="{LABEL_WIDTH + seconds * scale:.0f}" y="{axis}" fill="#616161" '
            f'text-anchor="{"start" if tick == 0 else "end" if tick == 4 else "middle"}">'
            f"{seconds:.1f}s</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


def _failed_ancestor(
    name: str, by_name: Mapping[str, Mapping[str, Any]], outcomes: Mapping[str, str]
) -> str | None:
    todo, seen = list(by_name[name].get("parents", [])), set()
    while todo:
        parent = todo.pop(0)
        if parent in seen or parent not in by_name:
            continue
        seen.add(parent)
        if outcomes[parent] == "failed":
            return str(parent)
        todo.extend(by_name[parent].get("parents", []))
    return None


def _packages(image: Mapping[str, Any]) -> str:
    """The image's package count, and the packages it installed itself (folded)."""
    introduced = [str(p) for p in image.get("introduced") or []]
    summary = f"{image['packages']} packages, {len(introduced)} installed here"
    outdated = image.get("outdated")
    if outdated:
        summary += f", {outdated['packages']} outdated ({outdated['security']} security)"
    if not introduced:
        return f'<div class="packages">{html.escape(summary)}</div>'
    listed = html.escape(", ".join(introduced))
    return (
        f'<details class="packages"><summary>{html.escape(summary)}</summary>'
        f"<code>{listed}</code></details>"
    )


def _row(
    image: Mapping[str, Any], outcome: str, ancestor: str | None, duration: float | None
) -> str:
    name = html.escape(image["name"], quote=True)
    details = []
    if image.get("why"):
        details.append(f'<div class="why">{html.escape(image["why"])}</div>')
    reason = str(image.get("reason") or "")
    if outcome == "failed":
        details.append(f'<pre class="error">{html.escape(reason)}</pre>')
    elif reason and outcome not in ("published", "verified"):
        details.append(f'<div class="reason">{html.escape(reason)}</div>')
    if ancestor is not None:
        details.append(
            f'<div class="cause">caused by <a href="#image-{html.escape(ancestor, quote=True)}">'
            f"{html.escape(ancestor)}</a></div>"
        )
    if image.get("log_file"):
        details.append(f'<div class="log">log: <code>{html.escape(image["log_file"])}</code></div>')
    if image.get("packages") is not None:
        details.append(_packages(image))
    seconds = f"{duration:.1f}" if duration is not None else ""
    return (
        f'<tr id="image-{name}" data-outcome="{html.escape(outcome)}">'
        f'<td data-key="{name}"><span class="label">{html.escape(image["label"])}</span></td>'
        f'<td data-key="{html.escape(outcome)}"><span class="chip" '
        f'style="background:{COLOURS.get(outcome, "#eeeeee")}"></span>{html.escape(outcome)}</td>'
        f'<td data-key="{seconds or -1}" class="num">{seconds and seconds + " s"}</td>'
        f"<td>{''.join(details)}</td></tr>"
    )


STYLE = """
body { font-family: sans-serif; margin: 1.5em; color: #212121; }
header h1 { font-size: 1.3em; margin: 0 0 .3em 0; }
header .meta { color: #616161; margin-bottom: .6em; }
.totals span { display: inline-block; margin-right: 1em; }
.chip { display: inline-block; width: .8em; height: .8em; border-radius: 2px;
        margin-right: .35em; border: 1px solid #9e9e9e; vertical-align: middle; }
section { margin-top: 1.6em; }
section h2 { font-size: 1.1em; border-bottom: 1px solid #e0e0e0; padding-bottom: .2em; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; width: 100%; font-size: .92em; }
th { text-align: left; cursor: pointer; border-bottom: 2px solid #bdbdbd; padding: .3em; }
th:hover { background: #f5f5f5; }
td { border-bottom: 1px solid #eeeeee; padding: .3em; vertical-align: top; }
td.num { text-align: right; white-space: nowrap; }
pre.error { background: #ffebee; padding: .5em; margin: .3em 0; white-space: pre-wrap; }
.why, .reason, .cause, .log { color: #424242; margin: .1em 0; }
tr:target { background: #fff8e1; }
.legend span { margin-right: 1em; }
.status-live { color: #00838f; }
"""

SORT_SCRIPT = """
document.querySelectorAll("th[data-sort]").forEach(function (th, column) {
  th.addEventListener("click", function () {
    var body = document.querySelector("#image-table tbody");
    var rows = Array.prototype.slice.call(body.rows);
    var up = th.getAttribute("data-dir") !== "up";
    th.setAttribute("data-dir", up ? "up" : "down");
    var numeric = th.getAttribute("data-sort") === "number";
    rows.sort(function (a, b) {
      var x = a.cells[column].getAttribute("data-key");
      var y = b.cells[column].getAttribute("data-key");
      var order = numeric ? parseFloat(x) - parseFloat(y) : x.localeCompare(y);
      return up ? order : -order;
    });
    rows.forEach(function (row) { body.appendChild(row); });
  });
});
"""


def render_page(document: Mapping[str, Any], *, use_graphviz: bool = True) -> str:
    """The page for a report document; a document with ``"live": true`` reloads itself."""
    live = bool(document.get("live"))
    images = list(document.get("images", []))
    by_name = {i["name"]: i for i in images}
    outcomes = {i["name"]: outcome_of(i, live) for i in images}
    started = _time(document.get("started")) or datetime.now().astimezone()
    ended = _time(document.get("ended")) or started
    duration = max((ended - started).total_seconds(), 0.0)
    causes = {
        n: _failed_ancestor(n, by_name, outcomes) if o == "skipped" else None
        for n, o in outcomes.items()
    }
    nodes = [
        Node(
            i["name"],
            i["label"],
            outcomes[i["name"]],
            f"{i['label']} — {outcomes[i['name']]}",
            link=f"#image-{causes[i['name']]}" if causes[i["name"]] else None,
        )
        for i in images
    ]
    edges = [(p, i["name"]) for i in images for p in i.get("parents", []) if p in by_name]
    graph = draw(nodes, edges, use_graphviz=use_graphviz)
    bars = timeline_bars(images, started)
    totals = Counter(outcomes.values())
    status = (
        '<span class="status-live">running…</span>'
        if live
        else f"exit status {html.escape(str(document.get('exit_status')))}"
        + (" (interrupted)" if document.get("interrupted") else "")
    )
    engines = ", ".join(document.get("engines") or []) or "the default engine"
    chips = "".join(
        f'<span><span class="chip" style="background:{COLOURS.get(o, "#eeeeee")}"></span>'
        f"{html.escape(o)}: {n}</span>"
        for o, n in sorted(totals.items())
    )
    rows = "".join(
        _row(i, outcomes[i["name"]], causes[i["name"]], i.get("duration")) for i in images
    )
    legend = "".join(
        f'<span><span class="chip" style="background:{c}"></span>{p}</span>'
        for p, c in PHASE_COLOURS.items()
    )
    reload = f'<meta http-equiv="refresh" content="{RELOAD_SECONDS}">' if live else ""
    title = f"docker-pkg build of {document.get('directory', '')}"
    warnings = "".join(f"<li>{html.escape(str(w))}</li>" for w in document.get("warnings") or [])
    if warnings:
        warnings = f'<section id="warnings"><h2>Warnings</h2><ul>{warnings}</ul></section>'

    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">{reload}
<title>{html.escape(title)}</title><style>{STYLE}</style></head>
<body data-live="{str(live).lower()}">
<header><h1>{html.escape(title)}</h1>
<div class="meta">started {started:%Y-%m-%d %H:%M:%S %Z}, {duration:.1f} s;
builder {html.escape(str(document.get("builder") or "-"))}; engines: {html.escape(engines)};
{document.get("jobs", "-")} at a time; {status}</div>
<div class="totals">{chips}</div></header>{warnings}
<section id="graph"><h2>Dependency graph</h2><div class="scroll">{graph}</div></section>
<section id="timeline"><h2>Timeline</h2>
<div class="legend">{legend}<span>black outline: the critical path</span></div>
<div class="scroll">{_timeline_svg(bars, duration)}</div></section>
<section id="images"><h2>Images</h2>
<table id="image-table"><thead><tr><th data-sort="text">image</th><th data-sort="text">outcome</th>
<th data-sort="number">duration</th><th>why, errors and logs</th></tr></thead>
<tbody>{rows}</tbody></table></section>
<script>{SORT_SCRIPT}</script>
</body></html>
"""
