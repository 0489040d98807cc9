"""What a build run leaves behind and reads back: per-image logs, the summary, kept inputs
of failed images, reports, the run page and the history (durations and versions of earlier
builds). Each record is best effort: one that cannot be written is a warning, never a
change of the run's outcome."""

from __future__ import annotations

import functools
import logging
import sqlite3
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from docker_pkg.commands.build.setting import Outputs
from docker_pkg.outputs.history import History
from docker_pkg.planning.plan import State
from docker_pkg.running.model import ImageResult, Outcome, RunInfo

log = logging.getLogger(__name__)


def usable_log_dir(log_dir: Path | None, say: Callable[[str], None]) -> Path | None:
    """The per-image log folder, created; None (and a warning) when it cannot be."""
    if log_dir is None:
        return None
    try:
        log_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        say(f" WARNING: per-image logs not kept: cannot create {log_dir} ({exc.strerror})")
        return None
    return log_dir


def past_durations(history: Path | None) -> dict[str, float]:
    """Each image's last build time, for estimates; nothing when there is no history."""
    if history is None:
        return {}
    try:
        return History(history).durations()
    except (sqlite3.Error, OSError) as exc:
        log.info("No estimates from the build history: %s", exc)
        return {}


def unfinished_builds(history: Path | None) -> frozenset[str]:
    """Labels whose last build did not finish (see :meth:`History.unfinished`)."""
    if history is None:
        return frozenset()
    try:
        return frozenset(History(history).unfinished())
    except (sqlite3.Error, OSError) as exc:
        log.info("No earlier outcomes from the build history: %s", exc)
        return frozenset()


def last_tags(history: Path | None) -> dict[str, str]:
    if history is None:
        return {}
    try:
        return History(history).last_tags()
    except (sqlite3.Error, OSError) as exc:
        log.info("No versions from the build history: %s", exc)
        return {}


def summary(
    say: Callable[[str], None], results: list[ImageResult], states: dict[str, State]
) -> None:
    touched = [r for r in results if r.in_run]
    for result in touched:
        duration = f"{result.duration:6.1f}s" if result.duration is not None else "      -"
        reason = f"  ({result.reason.strip().splitlines()[0]})" if result.reason.strip() else ""
        say(f"  {result.outcome.value:<9} {duration}  {result.label}{reason}")
    counts = Counter(r.outcome for r in touched)
    built = sum(1 for r in touched if r.image_id)
    pushed = sum(1 for r in touched if r.pushed)
    up_to_date = sum(1 for s in states.values() if s is State.PUBLISHED)
    say(
        f"Summary: {built} built and verified, {pushed} published, "
        f"{counts[Outcome.FAILED]} failed, {counts[Outcome.SKIPPED]} skipped, "
        f"{up_to_date} already published"
    )


def records(
    say: Callable[[str], None], outputs: Outputs, info: RunInfo, results: list[ImageResult]
) -> None:
    """Logs, kept inputs, reports and history. Each is best effort: a record that cannot be
    written is a warning, never a change of the run's outcome."""
    if info.log_dir is not None:
        say(f"Build logs of each image: {info.log_dir}")

    def attempt(failure: str, write: Callable[[], object]) -> bool:
        try:
            write()
        except (OSError, sqlite3.Error) as exc:
            log.warning("%s: %s", failure, exc)
            say(f" WARNING: {failure} ({exc})")
            return False
        return True

    if outputs.keep_failed is not None:
        import shutil

        for result in results:
            kept = outputs.keep_failed / result.name
            if result.outcome is Outcome.FAILED and kept.is_dir():
                if result.log_file and result.log_file.exists():
                    attempt(
                        f"log not copied to {kept}",
                        functools.partial(shutil.copy, result.log_file, kept / "build.log"),
                    )
                say(f"Kept the inputs of failed {result.label} in {kept}")
    if outputs.report is not None or outputs.junit is not None or outputs.html is not None:
        _write_reports(say, attempt, outputs, info, results)
    if outputs.history is not None:
        history = outputs.history
        attempt(
            f"build history not recorded in {history}",
            lambda: History(history).record(info, results, outputs.history_days),
        )


def _write_reports(
    say: Callable[[str], None],
    attempt: Callable[[str, Callable[[], object]], bool],
    outputs: Outputs,
    info: RunInfo,
    results: list[ImageResult],
) -> None:
    from docker_pkg.outputs.pages import write_page  # only runs asked for a report load these
    from docker_pkg.outputs.report import report_document, write_json, write_junit

    report, junit, page = outputs.report, outputs.junit, outputs.html
    if report is not None and attempt(
        f"report {report} not written", functools.partial(write_json, report, info, results)
    ):
        say(f"Report: {report}")
    if junit is not None and attempt(
        f"JUnit report {junit} not written", functools.partial(write_junit, junit, info, results)
    ):
        say(f"JUnit report: {junit}")
    if page is not None and attempt(
        f"run page {page} not written",
        lambda: write_page(page, report_document(info, results)),
    ):
        say(f"Run page: {page}")
