"""The live view in a real terminal: a 150-image tree built in a 30-row tmux pane."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from tests.integration.conftest import Project

pytestmark = pytest.mark.integration

ROWS, COLUMNS = 30, 100


def generate(project: Project, size: int) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
    try:
        from benchmark import generate_tree
    finally:
        sys.path.pop(0)
    shutil.rmtree(project.images)
    generate_tree(project.images, size)


def test_a_150_image_build_in_a_30_row_pane(project: Project) -> None:
    if project.builder != "buildkit":
        pytest.skip("the view does not depend on the builder")
    assert shutil.which("tmux"), "tmux must be installed (scripts/bootstrap)"
    generate(project, 150)
    project.write_config(username=None, password=None)
    server = f"docker-pkg-{uuid.uuid4().hex[:8]}"
    env = [f"DOCKER_HOST={project.bed.docker_host}", f"HOME={os.environ['HOME']}"]
    argv = project.command("build", "--html", str(project.root / "run.html"), str(project.images))
    command = shlex.join(["env", *env, "TERM=xterm-256color", *argv])

    def tmux(*args: str) -> str:
        return subprocess.run(
            ["tmux", "-L", server, *args], capture_output=True, text=True, check=True
        ).stdout

    tmux(
        "new-session",
        "-d",
        "-x",
        str(COLUMNS),
        "-y",
        str(ROWS),
        "-c",
        str(project.root),
        f"{command}; echo EXIT=$?; sleep 300",
    )
    during: list[str] = []
    live_pages: list[str] = []
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            screen = tmux("capture-pane", "-p")
            if "EXIT=" in screen:
                break
            if re.search(r"\d+/150 images", screen) and "building" in screen:
                during.append(screen)
                page = project.root / "run.html"
                if page.exists():
                    live_pages.append(page.read_text())
            time.sleep(0.3)
        final = tmux("capture-pane", "-p")
    finally:
        subprocess.run(["tmux", "-L", server, "kill-server"], check=False)

    assert during, "the live view never showed the bar and a running image"
    for screen in [*during, final]:
        lines = screen.split("\n")
        assert len(lines) <= ROWS + 1  # capture-pane ends with a newline
        assert all(len(line) <= COLUMNS for line in lines)
    sample = during[len(during) // 2]
    bar = next(line for line in sample.split("\n") if re.search(r"\d+/150 images", line))
    assert re.search(r"[█░]+ \d+/150 images · \d+ failed · \d+ skipped · \d+:\d\d · ETA", bar)
    assert re.search(r"^  building +\d+\.\ds  ", sample, re.MULTILINE)
    assert "EXIT=0" in final
    assert "Summary: 150 built and verified" in final
    # The run page was live meanwhile (it reloads itself), and is final now.
    assert any('http-equiv="refresh"' in page for page in live_pages)
    assert any('data-outcome="running"' in page for page in live_pages)
    final_page = (project.root / "run.html").read_text()
    assert "http-equiv" not in final_page
    assert final_page.count('class="node"') == 150
