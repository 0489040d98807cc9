"""The record of a build run: a JSON report (with its schema) and JUnit XML for CI servers."""

from __future__ import annotations

import json
import re
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from docker_pkg import __version__
from docker_pkg.running.model import ImageResult, Outcome, RunInfo

if TYPE_CHECKING:
    import xml.etree.ElementTree as ET

SCHEMA_VERSION = 2


def _time(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def report_document(run: RunInfo, results: list[ImageResult]) -> dict[str, Any]:
    return {
        "schema_version": SCHEMA_VERSION,
        "docker_pkg_version": __version__,
        "directory": str(run.directory),
        "started": _time(run.started),
        "ended": _time(run.ended),
        "duration": (run.ended - run.started).total_seconds(),
        "exit_status": run.exit_status,
        "jobs": run.jobs,
        "interrupted": run.interrupted,
        "log_dir": str(run.log_dir) if run.log_dir else None,
        "builder": run.builder,
        "engines": list(run.engines),
        "warnings": list(run.warnings),
        "images": [
            {
                "name": r.name,
                "label": r.label,
                "state": r.outcome.value,
                "pushed": r.pushed,
                "reason": r.reason,
                "started": _time(r.started),
                "ended": _time(r.ended),
                "duration": r.duration,
                "image_id": r.image_id,
                "digest": r.digest,
                "log_file": str(r.log_file) if r.log_file else None,
                "parents": list(r.parents),
                "why": r.why,
                "engine": r.engine,
                "retries": list(r.retries),
                "packages": r.packages,
                "inventory": r.inventory,
                "introduced": list(r.introduced),
                "outdated": (
                    {"packages": r.outdated[0], "security": r.outdated[1]}
                    if r.outdated is not None
                    else None
                ),
                "phases": {
                    kind: {"started": _time(start), "ended": _time(end)}
                    for kind, (start, end) in r.phases.items()
                },
            }
            for r in results
        ],
    }


def load_schema() -> dict[str, Any]:
    from importlib import resources

    text = resources.files("docker_pkg.outputs").joinpath("report.schema.json").read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


def write_json(path: Path, run: RunInfo, results: list[ImageResult]) -> None:
    path.write_text(json.dumps(report_document(run, results), indent=2) + "\n", "utf-8")


_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _xml_text(text: str) -> str:
    """Text with the characters XML 1.0 cannot hold (terminal escapes, NULs) removed."""
    return _NOT_XML.sub("", text)


def junit_document(run: RunInfo, results: list[ImageResult]) -> ET.ElementTree[ET.Element]:
    """One test case per image of the run; failed ones fail, skipped ones are skipped."""
    import xml.etree.ElementTree as ET

    counted = [r for r in results if r.in_run]
    failures = sum(1 for r in counted if r.outcome is Outcome.FAILED)
    skipped = sum(1 for r in counted if r.outcome is Outcome.SKIPPED)
    suite = ET.Element(
        "testsuite",
        name="docker-pkg build",
        tests=str(len(counted)),
        failures=str(failures),
        errors="0",
        skipped=str(skipped),
        time=f"{(run.ended - run.started).total_seconds():.3f}",
        timestamp=run.started.isoformat(),
    )
    for result in counted:
        case = ET.SubElement(
            suite,
            "testcase",
            classname="docker-pkg",
            name=result.label,
            time=f"{result.duration or 0.0:.3f}",
        )
        if result.outcome is Outcome.FAILED:
            reason = _xml_text(result.reason)
            first = reason.strip().splitlines()[0] if reason.strip() else "failed"
            failure = ET.SubElement(case, "failure", message=first)
            failure.text = reason
        elif result.outcome is Outcome.SKIPPED:
            ET.SubElement(case, "skipped", message=_xml_text(result.reason))
        if result.log_file:
            out = ET.SubElement(case, "system-out")
            out.text = f"build log: {result.log_file}"
    root = ET.Element("testsuites")
    root.append(suite)
    return ET.ElementTree(root)


def write_junit(path: Path, run: RunInfo, results: list[ImageResult]) -> None:
    import xml.etree.ElementTree as ET

    tree = junit_document(run, results)
    ET.indent(tree)
    tree.write(path, encoding="utf-8", xml_declaration=True)
