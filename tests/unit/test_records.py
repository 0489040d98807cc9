"""Reports (JSON against the shipped schema, JUnit) and the history database."""

from __future__ import annotations

import sqlite3
import xml.etree.ElementTree as ET
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jsonschema
import pytest

from docker_pkg.config.settings import state_dir
from docker_pkg.outputs.history import History
from docker_pkg.outputs.report import junit_document, load_schema, report_document
from docker_pkg.running.model import ImageResult, Outcome, RunInfo

T0 = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
SHA = "sha256:" + "ab" * 32


def results() -> list[ImageResult]:
    ok = ImageResult(
        "base",
        "r/base:1",
        Outcome.PUBLISHED,
        started=T0,
        ended=T0 + timedelta(seconds=3),
        image_id=SHA,
        digest=SHA,
        pushed=True,
        phases={
            "build": (T0, T0 + timedelta(seconds=2)),
            "publish": (T0 + timedelta(seconds=2), T0 + timedelta(seconds=3)),
        },
    )
    bad = ImageResult(
        "app",
        "r/app:2",
        Outcome.FAILED,
        "build broke\nline two",
        started=T0,
        ended=T0 + timedelta(seconds=1),
        log_file=Path("/logs/app.log"),
        phases={"build": (T0, T0 + timedelta(seconds=1))},
    )
    skipped = ImageResult("kid", "r/kid:1", Outcome.SKIPPED, "not attempted: r/app:2 failed")
    untouched = ImageResult("old", "r/old:9", Outcome.PUBLISHED, "already in the registry")
    return [ok, bad, skipped, untouched]


RUN = RunInfo(Path("/defs"), T0, T0 + timedelta(seconds=5), 1, 2, False, Path("/logs"))


def test_report_validates_and_holds_each_image() -> None:
    document = report_document(RUN, results())
    jsonschema.validate(document, load_schema())
    images = {i["name"]: i for i in document["images"]}
    assert images["base"]["phases"]["publish"]["ended"] == "2026-11-29T12:00:03+00:00"
    assert images["base"]["duration"] == 3.0
    assert images["app"]["state"] == "failed"
    assert images["app"]["log_file"] == "/logs/app.log"
    assert images["kid"]["started"] is None
    assert document["duration"] == 5.0


def test_schema_rejects_a_wrong_state() -> None:
    document = report_document(RUN, results())
    document["images"][0]["state"] = "maybe"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(document, load_schema())


def test_junit_has_a_case_per_image_of_the_run() -> None:
    root = junit_document(RUN, results()).getroot()
    suite = root.find("testsuite")
    assert suite is not None
    assert (suite.get("tests"), suite.get("failures"), suite.get("skipped")) == ("3", "1", "1")
    cases = {c.get("name"): c for c in suite.iter("testcase")}
    failure = cases["r/app:2"].find("failure")
    assert failure is not None
    assert failure.get("message") == "build broke"
    assert "line two" in (failure.text or "")
    assert cases["r/kid:1"].find("skipped") is not None
    assert "r/old:9" not in cases
    ET.tostring(root)  # serialisable


def test_junit_drops_characters_xml_cannot_hold() -> None:
    broken = ImageResult(
        "x", "r/x:1", Outcome.FAILED, "bad \x1b[91mcolour\x00", started=T0, ended=T0
    )
    text = ET.tostring(junit_document(RUN, [broken]).getroot(), encoding="unicode")
    assert "bad [91mcolour" in text
    ET.fromstring(text)


def test_history_records_and_filters(tmp_path: Path) -> None:
    history = History(tmp_path / "deep" / "h.sqlite")
    assert history.entries() == []
    history.record(RUN, results())
    later = RunInfo(
        Path("/defs"), T0 + timedelta(hours=1), T0 + timedelta(hours=1), 0, 1, False, None
    )
    history.record(
        later,
        [
            ImageResult(
                "app", "r/app:3", Outcome.VERIFIED, started=T0, ended=T0 + timedelta(seconds=4)
            )
        ],
    )
    app = history.entries("app")
    assert [(e.tag, e.state) for e in app] == [("3", "verified"), ("2", "failed")]
    assert [e.name for e in history.entries("r/k*")] == ["kid"]
    assert history.entries("old") == []  # images the run did not touch are not recorded
    assert len(history.entries(limit=1)) == 1


def test_broken_database_raises_sqlite_errors(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite"
    path.write_bytes(b"garbage" * 1000)
    with pytest.raises(sqlite3.DatabaseError):
        History(path).record(RUN, results())


def test_state_dir() -> None:
    assert state_dir({"HOME": "/h"}) == Path("/h/.local/state/docker-pkg")
    assert state_dir({"HOME": "/h", "XDG_STATE_HOME": "/s"}) == Path("/s/docker-pkg")


def _later(hours: float, status: int = 0) -> RunInfo:
    when = T0 + timedelta(hours=hours)
    return RunInfo(Path("/other"), when, when + timedelta(seconds=90), status, 1, False, None)


def test_history_failures_runs_and_durations(tmp_path: Path) -> None:
    history = History(tmp_path / "h.sqlite")
    history.record(RUN, results())
    history.record(
        _later(2),
        [
            ImageResult(
                "base",
                "r/base:2",
                Outcome.VERIFIED,
                started=T0 + timedelta(hours=2),
                ended=T0 + timedelta(hours=2, seconds=7),
                image_id=SHA,
            )
        ],
    )
    assert [(e.name, e.state) for e in history.entries(failed=True)] == [("app", "failed")]
    runs = history.runs()
    assert [r.directory for r in runs] == ["/other", "/defs"]  # newest first
    assert runs[0].totals == {"verified": 1}
    assert runs[1].totals == {"published": 1, "failed": 1, "skipped": 1}
    assert runs[0].duration == 90.0
    assert history.durations() == {"base": 7.0}  # the latest successful build of each
    assert history.last_tags() == {"base": "2"}


def test_history_forgets_runs_older_than_its_limit(tmp_path: Path) -> None:
    history = History(tmp_path / "h.sqlite")
    history.record(RUN, results())
    history.record(_later(24 * 89), [])
    assert len(history.runs()) == 2
    history.record(_later(24 * 91), [], keep_days=90)
    assert [r.started for r in history.runs()] == [
        _later(24 * 91).started.isoformat(),
        _later(24 * 89).started.isoformat(),
    ]
    assert history.entries() == []  # the images of the forgotten run went with it


def test_history_as_json_and_runs_as_text(tmp_path: Path) -> None:
    import io
    import json

    from docker_pkg.commands.history import show_history

    path = tmp_path / "h.sqlite"
    History(path).record(RUN, results())
    out = io.StringIO()
    show_history(path=path, pattern=None, limit=10, output_format="json", stdout=out)
    rows = json.loads(out.getvalue())
    assert [r["name"] for r in rows] == ["kid", "app", "base"]
    assert rows[1]["reason"] == "build broke\nline two"
    out = io.StringIO()
    show_history(path=path, pattern=None, limit=10, runs=True, stdout=out)
    text = out.getvalue()
    assert "0:05" in text
    assert "1 failed, 1 published, 1 skipped" in text
    assert "(/defs)" in text
    local = T0.astimezone().strftime("%Y-%m-%d %H:%M:%S")
    assert text.splitlines()[1].startswith(local)


def test_history_names_the_builds_that_did_not_finish(tmp_path: Path) -> None:
    """A build cut before its image was verified (no image id) makes its tag untrusted; a
    later run that builds it, or one that only skips it, changes that as it should."""
    history = History(tmp_path / "h.sqlite")
    assert history.unfinished() == set()

    def run(hours: int, *images: ImageResult) -> None:
        history.record(_later(hours), list(images))

    cut = ImageResult("app", "r/app:1", Outcome.FAILED, "lost the engine", started=T0)
    push_failed = ImageResult(
        "lib", "r/lib:1", Outcome.FAILED, "push refused", started=T0, image_id=SHA
    )
    run(1, cut, push_failed)
    assert history.unfinished() == {"r/app:1"}  # lib was built and verified: trusted
    run(2, ImageResult("app", "r/app:1", Outcome.SKIPPED, "its parent failed", started=T0))
    assert history.unfinished() == {"r/app:1"}  # skipping it says nothing new
    run(3, ImageResult("app", "r/app:1", Outcome.VERIFIED, started=T0, image_id=SHA))
    assert history.unfinished() == set()


def test_outdated_counts_and_run_warnings_are_in_the_report_and_its_page() -> None:
    from docker_pkg.outputs.report_html import render_page

    images = results()
    images[0].packages, images[0].introduced = 90, ["libfoo1 1.2-3"]
    images[0].outdated = (3, 1)
    warned = replace(
        RUN, warnings=("r/base:1: refreshed for libfoo1 1.2-3 → 1.2-4 but holds 1.2-3",)
    )
    document = report_document(warned, images)
    jsonschema.validate(document, load_schema())
    assert document["images"][0]["outdated"] == {"packages": 3, "security": 1}
    assert document["images"][1]["outdated"] is None
    assert document["warnings"] == list(warned.warnings)
    page = render_page(document, use_graphviz=False)
    assert "90 packages, 1 installed here, 3 outdated (1 security)" in page
    assert '<section id="warnings">' in page
    assert "refreshed for libfoo1 1.2-3 → 1.2-4 but holds 1.2-3" in page
    assert '<section id="warnings">' not in render_page(report_document(RUN, results()))
