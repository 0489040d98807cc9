"""The run page from a report document: layout, timeline lanes, the critical path, and a
page that loads nothing from outside."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

import pytest

from docker_pkg.outputs.graph_svg import (
    GAP_Y,
    MAX_PER_ROW,
    NODE_HEIGHT,
    NODE_WIDTH,
    Node,
    builtin_svg,
    layered_layout,
)
from docker_pkg.outputs.report_html import critical_path, outcome_of, render_page, timeline_bars

T0 = datetime(2026, 11, 29, 12, 0, 0).astimezone()


def at(seconds: float) -> str:
    return (T0 + timedelta(seconds=seconds)).isoformat()


def image(
    name: str,
    state: str,
    parents: list[str] | None = None,
    phases: dict[str, tuple[float, float]] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    return {
        "name": name,
        "label": f"reg/{name}:1.0",
        "state": state,
        "pushed": extra.pop("pushed", False),
        "reason": extra.pop("reason", ""),
        "parents": parents or [],
        "phases": {k: {"started": at(a), "ended": at(b)} for k, (a, b) in (phases or {}).items()},
        "duration": extra.pop("duration", None),
        **extra,
    }


def document(images: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {
        "directory": "images/",
        "started": at(0),
        "ended": at(10),
        "exit_status": 1,
        "jobs": 2,
        "builder": "buildkit",
        "engines": ["unix:///run/docker.sock"],
        "images": images,
        **extra,
    }


TREE = [
    image(
        "base",
        "published",
        phases={"build": (0, 2), "verify": (2, 3), "publish": (3, 4)},
        pushed=True,
    ),
    image("mid", "failed", ["base"], {"build": (3, 5)}, reason="step RUN make failed: exit 2"),
    image("leaf", "skipped", ["mid"], reason="not attempted: its ancestor reg/mid:1.0 failed"),
    image("side", "verified", ["base"], {"build": (3, 8), "verify": (8, 9)}),
    image("old", "published", reason="already in the registry"),
]


def test_parents_are_drawn_above_their_children_and_wide_rows_wrap() -> None:
    names = ["root"] + [f"c{i:02d}" for i in range(25)] + ["grandchild"]
    parents = {f"c{i:02d}": ["root"] for i in range(25)} | {"grandchild": ["c03"]}
    layout = layered_layout(names, parents)
    ys = layout.positions
    assert all(ys["root"][1] < ys[f"c{i:02d}"][1] for i in range(25))
    assert all(ys[f"c{i:02d}"][1] < ys["grandchild"][1] for i in range(25))
    rows = {ys[f"c{i:02d}"][1] for i in range(25)}
    assert len(rows) == -(-25 // MAX_PER_ROW)  # 25 children, at most MAX_PER_ROW a row
    assert layout.width <= MAX_PER_ROW * (NODE_WIDTH + 18) + 2 * 12
    # no two boxes overlap
    boxes = list(ys.values())
    for i, (x1, y1) in enumerate(boxes):
        for x2, y2 in boxes[i + 1 :]:
            assert abs(x1 - x2) >= NODE_WIDTH or abs(y1 - y2) >= NODE_HEIGHT


def test_a_child_sits_under_its_parent_when_it_can() -> None:
    layout = layered_layout(["a", "b", "a1", "b1"], {"a1": ["a"], "b1": ["b"]})
    assert layout.positions["a1"][0] == layout.positions["a"][0]
    assert layout.positions["b1"][0] == layout.positions["b"][0]
    assert layout.positions["a1"][1] - layout.positions["a"][1] >= NODE_HEIGHT + GAP_Y / 2


def test_150_images_make_a_drawing_of_reasonable_size() -> None:
    names = [f"img{i:03d}" for i in range(150)]
    parents = {n: [names[i // 3]] for i, n in enumerate(names) if i}
    svg = builtin_svg(
        [Node(n, n, "verified") for n in names], [(p[0], c) for c, p in parents.items()]
    )
    width, height = (int(v) for v in re.search(r'width="(\d+)" height="(\d+)"', svg).groups())
    assert svg.count('class="node"') == 150
    assert width < 2200
    assert height < 4000


def test_outcomes_tell_pushed_from_already_published_and_live_states() -> None:
    assert outcome_of(TREE[0], live=False) == "published"
    assert outcome_of(TREE[4], live=False) == "already published"
    waiting = image("w", "skipped")
    running = image("r", "skipped", started=at(1))
    assert outcome_of(waiting, live=True) == "waiting"
    assert outcome_of(running, live=True) == "running"
    assert outcome_of(image("n", "skipped", reason="not selected"), live=False) == "not selected"


def test_critical_path_and_timeline_lanes() -> None:
    assert critical_path(TREE) == ["base", "side"]
    bars = timeline_bars(TREE, T0)
    by = {(b.image, b.phase): b for b in bars}
    assert set(by) == {
        ("base", "build"),
        ("base", "verify"),
        ("base", "publish"),
        ("mid", "build"),
        ("side", "build"),
        ("side", "verify"),
    }
    # build and verify of an image share its slot; two builds at once take two slots
    assert by["base", "build"].lane == by["base", "verify"].lane
    assert by["mid", "build"].lane != by["side", "build"].lane
    # pushes are drawn below every build slot
    assert by["base", "publish"].lane > max(b.lane for b in bars if b.phase != "publish")
    assert by["side", "build"].critical
    assert not by["mid", "build"].critical


@pytest.mark.parametrize("use_graphviz", [True, False])
def test_the_page_links_errors_and_causes_and_loads_nothing_from_outside(
    use_graphviz: bool,
) -> None:
    page = render_page(document(TREE), use_graphviz=use_graphviz)
    for name, outcome in [
        ("base", "published"),
        ("mid", "failed"),
        ("leaf", "skipped"),
        ("old", "already published"),
    ]:
        assert re.search(rf'class="node" data-name="{name}" data-outcome="{outcome}"', page)
        assert f'<tr id="image-{name}" data-outcome="{outcome}">' in page
    assert "step RUN make failed: exit 2" in page
    assert 'caused by <a href="#image-mid">mid</a>' in page
    assert page.count('#image-mid"') >= 3  # its node, the skipped node, the "caused by" link
    assert page.count('class="bar') == 6
    assert "http-equiv" not in page  # a finished run's page does not reload
    assert not re.search(r"""(?:src|href)\s*=\s*["']?(?:https?:)?//""", page)
    assert not re.search(r"url\(|@import", page)


def test_a_live_page_reloads_and_shows_running_images() -> None:
    page = render_page(document([image("r", "skipped", started=at(1))], live=True))
    assert '<meta http-equiv="refresh" content="3">' in page
    assert 'data-outcome="running"' in page
    assert "running…" in page


def test_each_engine_has_lanes_of_its_own() -> None:
    images = [
        image("x", "verified", phases={"build": (0, 4)}, engine="left"),
        image("y", "verified", phases={"build": (1, 3)}, engine="left"),
        image("z", "verified", phases={"move": (0, 1), "build": (1, 2)}, engine="right"),
    ]
    names = {b.image: b.lane_name for b in timeline_bars(images, T0) if b.phase == "build"}
    assert names == {"x": "left 1", "y": "left 2", "z": "right 1"}
    page = render_page(document(images), use_graphviz=False)
    assert ">right 1</text>" in page
    assert 'data-image="z" data-phase="move"' in page
