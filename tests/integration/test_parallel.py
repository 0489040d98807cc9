"""Parallel builds on the real engine: order, overlap, reports, history, interrupts."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import tarfile
import time
import xml.etree.ElementTree as ET
from datetime import datetime
from pathlib import Path

import jsonschema
import pytest

from docker_pkg.outputs.report import load_schema
from tests.helpers import write_image
from tests.integration.conftest import Bed, Project, add_base, containers

pytestmark = pytest.mark.integration


def child(project: Project, name: str, parent: str, run: str = "true") -> Path:
    return write_image(
        project.images,
        name,
        template=f'FROM {{{{ "{parent}" | image_tag }}}}\nRUN {run}\n',
        depends=[parent],
    )


def spans(report: dict[str, object], phase: str) -> dict[str, tuple[datetime, datetime]]:
    images = report["images"]
    assert isinstance(images, list)
    return {
        i["name"]: (
            datetime.fromisoformat(i["phases"][phase]["started"]),
            datetime.fromisoformat(i["phases"][phase]["ended"]),
        )
        for i in images
        if phase in i["phases"]
    }


def test_parallel_build_respects_order_overlaps_and_reports(
    project: Project, busybox: Path
) -> None:
    add_base(project, busybox)
    child(project, "left", "base", run="sleep 1")
    child(project, "right", "base", run="sleep 1")
    child(project, "leftkid", "left")
    report_path, junit_path = project.root / "report.json", project.root / "junit.xml"

    result = project.build(
        "-j2", "--progress", "plain", "--report", str(report_path), "--junit", str(junit_path)
    )

    report = json.loads(report_path.read_text())
    jsonschema.validate(report, load_schema())
    assert report["exit_status"] == 0
    assert report["jobs"] == 2
    times = spans(report, "build")
    pushes = spans(report, "publish")
    # Parents end (built and verified) before children start; pushes go parents first.
    assert times["base"][1] <= times["left"][0]
    assert times["left"][1] <= times["leftkid"][0]
    assert pushes["base"][1] <= pushes["left"][0]
    assert pushes["left"][1] <= pushes["leftkid"][0]
    assert all(times[n][1] <= pushes[n][0] for n in times)
    # Independent images overlap at -j2.
    assert times["left"][0] < times["right"][1]
    assert times["right"][0] < times["left"][1]
    states = {i["name"]: i for i in report["images"]}
    for name in ("base", "left", "right", "leftkid"):
        assert states[name]["state"] == "published"
        assert states[name]["pushed"] is True
        assert states[name]["digest"].startswith("sha256:")
        assert states[name]["image_id"].startswith("sha256:")
        log_file = Path(states[name]["log_file"])
        assert "Successfully tagged" in log_file.read_text()
    # Each image's log holds only its own build.
    assert "sleep 1" not in Path(states["leftkid"]["log_file"]).read_text()
    suite = ET.parse(junit_path).getroot().find("testsuite")
    assert suite is not None
    assert (suite.get("tests"), suite.get("failures"), suite.get("skipped")) == ("4", "0", "0")
    assert "... building" in result.stdout


def test_mid_tree_failure_is_reported_exactly(project: Project, busybox: Path) -> None:
    add_base(project, busybox)
    child(project, "mid", "base", run="echo nope >&2 && exit 3")
    child(project, "leaf", "mid")
    child(project, "other", "base")
    report_path, junit_path = project.root / "report.json", project.root / "junit.xml"
    keep = project.root / "kept"
    project.write_config(username=None, password=None)

    result = project.build(
        "-j2",
        "--report",
        str(report_path),
        "--junit",
        str(junit_path),
        "--keep-failed",
        str(keep),
        check_code=1,
    )

    report = json.loads(report_path.read_text())
    jsonschema.validate(report, load_schema())
    states = {i["name"]: (i["state"], i["reason"]) for i in report["images"]}
    assert states["base"][0] == "verified"
    assert states["other"][0] == "verified"
    assert states["mid"][0] == "failed"
    assert re.search(r"(non-zero code|exit code): 3", states["mid"][1])
    # Both builders name the failing step and its last output.
    assert "step " in states["mid"][1]
    assert "RUN echo nope >&2 && exit 3" in states["mid"][1]
    assert "nope" in states["mid"][1].split("last output:", 1)[1]
    assert states["leaf"] == (
        "skipped",
        f"not attempted: its ancestor {project.name('mid')}:1.0.0 failed",
    )
    assert report["exit_status"] == 1
    cases = {c.get("name"): c for c in ET.parse(junit_path).getroot().iter("testcase")}
    assert cases[f"{project.name('mid')}:1.0.0"].find("failure") is not None
    assert cases[f"{project.name('leaf')}:1.0.0"].find("skipped") is not None
    assert cases[f"{project.name('other')}:1.0.0"].find("failure") is None
    # The failed image's inputs are kept; the others' are not.
    kept = keep / "mid"
    assert "exit 3" in (kept / "Dockerfile").read_text()
    with tarfile.open(kept / "context.tar") as tar:
        assert "Dockerfile" in tar.getnames()
        assert "changelog" in tar.getnames()
    assert "nope" in (kept / "build.log").read_text()
    assert sorted(p.name for p in keep.iterdir()) == ["mid"]
    assert f"Kept the inputs of failed {project.name('mid')}:1.0.0" in result.stdout


def test_history_lists_past_builds_and_a_broken_database_does_not_fail(
    project: Project, busybox: Path
) -> None:
    add_base(project, busybox)
    child(project, "app", "base")
    db = project.root / "history.sqlite"
    project.write_config(username=None, password=None, history_db=str(db))
    project.build()

    listed = project.run("history", "*app*", check_code=0).stdout
    assert "verified" in listed
    assert f"{project.name('app')}:1.0.0" in listed
    assert project.name("base") not in listed

    db.write_bytes(b"this is not a database" * 100)
    (project.images / "app" / "changelog").write_text(
        (project.images / "app" / "changelog").read_text().replace("1.0.0", "1.0.1", 1)
    )
    broken = project.build()
    assert "WARNING: build history not recorded" in broken.stdout
    assert "Built image" in broken.stdout


def test_sigint_stops_running_builds_and_leaves_nothing_behind(
    project: Project, busybox: Path, bed: Bed
) -> None:
    add_base(project, busybox)
    write_image(
        project.images,
        "slow",
        template='FROM {{ "base" | image_tag }}\nCOPY build/ /from-stage/\nRUN sleep 60\n',
        depends=["base"],
        files={"Dockerfile.build.template": 'FROM {{ "base" | image_tag }}\nRUN mkdir /build\n'},
    )
    child(project, "after", "slow")
    tmp = project.root / "tmp"
    tmp.mkdir()
    containers_before = containers(bed)
    # A suite started in the background inherits an ignored SIGINT, which a child would
    # inherit too; a user's shell hands the tool the default disposition: so must the test.
    ignored = signal.signal(signal.SIGINT, signal.default_int_handler)
    # PYTHONFAULTHANDLER: should the run hang, SIGABRT makes it print every thread's stack.
    proc = project.start_build(TMPDIR=str(tmp), PYTHONFAULTHANDLER="1")
    signal.signal(signal.SIGINT, ignored)
    deadline = time.monotonic() + 60
    log = project.root / "docker-pkg-build.log"
    while time.monotonic() < deadline and "RUN sleep 60" not in (
        log.read_text() if log.exists() else ""
    ):
        time.sleep(0.2)
    assert list(tmp.iterdir()), "the build-stage artifacts folder should exist mid-build"
    interrupted_at = time.monotonic()
    proc.send_signal(signal.SIGINT)
    try:
        out, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGABRT)
        out, err = proc.communicate()
        pytest.fail(f"the run did not stop after SIGINT:\n{out}\n{err}")

    assert proc.returncode == 130, out + err
    assert time.monotonic() - interrupted_at < 20
    assert "== Build interrupted ==" in out
    assert f"SKIPPED: image {project.name('after')}:1.0.0" in out
    assert "Traceback" not in err
    assert list(tmp.iterdir()) == []
    time.sleep(1)
    assert containers(bed) == containers_before
