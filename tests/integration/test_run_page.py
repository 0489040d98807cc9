"""The run page in a real browser: headless Chromium loads what a real build wrote, the test
keeps a screenshot and reads the rendered DOM."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.helpers import write_image
from tests.integration.conftest import ROOT, Project, add_base

pytestmark = pytest.mark.integration

ARTIFACTS = ROOT / "test-artifacts"


def chromium(*args: str, profile: Path) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("chromium")
    assert binary, "Debian's chromium must be installed (scripts/bootstrap)"
    return subprocess.run(
        [
            binary,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={profile}",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )


def test_the_run_page_in_a_browser(project: Project, busybox: Path) -> None:
    if project.builder != "buildkit":
        pytest.skip("the page does not depend on the builder")
    add_base(project, busybox)
    for name, parent, run in [
        ("mid", "base", "echo the-mid-step-broke >&2 && exit 3"),
        ("leaf", "mid", "true"),
        ("other", "base", "true"),
        ("tested", "other", "true"),
    ]:
        write_image(
            project.images,
            name,
            template=f'FROM {{{{ "{parent}" | image_tag }}}}\nRUN {run}\n',
            depends=[parent],
        )
    test = project.images / "tested" / "test.sh"
    test.write_text("#!/bin/sh\nexit 0\n")
    test.chmod(0o755)
    page, report = project.root / "run.html", project.root / "run.json"
    project.build("--html", str(page), "--report", str(report), check_code=1)

    text = page.read_text()
    assert not re.search(r"""(?:src|href)\s*=\s*["']?(?:https?:)?//""", text)
    assert not re.search(r"url\(|@import|<link ", text)
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "run-page.png"
    shot.unlink(missing_ok=True)
    profile = project.root / "chromium"
    chromium("--window-size=1300,1600", f"--screenshot={shot}", page.as_uri(), profile=profile)
    assert shot.stat().st_size > 10_000
    dom = chromium("--dump-dom", page.as_uri(), profile=profile).stdout

    outcomes = dict(re.findall(r'class="node" data-name="([^"]+)" data-outcome="([^"]+)"', dom))
    assert outcomes == {
        "base": "published",
        "mid": "failed",
        "leaf": "skipped",
        "other": "published",
        "tested": "published",
    }
    built = set(re.findall(r'class="bar phase-build[^"]*" data-image="([^"]+)"', dom))
    assert built == {"base", "mid", "other", "tested"}
    assert re.search(r'data-image="tested" data-phase="verify"', dom)
    assert re.search(r'data-image="base" data-phase="publish"', dom)
    row = re.search(r'<tr id="image-mid" data-outcome="failed">.*?</tr>', dom, re.DOTALL)
    assert row is not None
    assert "the-mid-step-broke" in row.group(0)
    assert "exit code" in row.group(0) or "non-zero code" in row.group(0)
    assert 'caused by <a href="#image-mid">mid</a>' in dom

    # The same page again from the saved report, byte for byte.
    again = project.root / "again.html"
    project.run("report", str(report), "--html", str(again), check_code=0)
    assert again.read_text() == text
    assert json.loads(report.read_text())["schema_version"] == 2


def test_graph_as_svg_and_html(project: Project, busybox: Path) -> None:
    if project.builder != "buildkit":
        pytest.skip("drawing does not depend on the builder")
    add_base(project, busybox)
    write_image(project.images, "app", template='FROM {{ "base" | image_tag }}\n', depends=["base"])
    project.build("--select", "*base*")
    svg = project.run("graph", "--format", "svg", str(project.images), check_code=0).stdout
    assert svg.startswith("<svg")
    states = dict(re.findall(r'class="node" data-name="([^"]+)" data-outcome="([^"]+)"', svg))
    assert states == {"base": "published", "app": "to_build"}
    page = project.run("graph", "--format", "html", str(project.images), check_code=0).stdout
    assert page.startswith("<!DOCTYPE html>")
    assert 'data-name="app"' in page
