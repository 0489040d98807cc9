"""Every build run and image result, kept in a local SQLite database.

Recording is best effort by design: a broken or locked database is reported by the caller
and never fails a build.
"""

from __future__ import annotations

import contextlib
import fnmatch
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from docker_pkg.naming import split_label

if TYPE_CHECKING:  # `history` reads the database without loading the build machinery
    from docker_pkg.running.model import ImageResult, RunInfo

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY,
    started TEXT NOT NULL,
    ended TEXT NOT NULL,
    directory TEXT NOT NULL,
    exit_status INTEGER NOT NULL,
    jobs INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS images (
    run_id INTEGER NOT NULL REFERENCES runs(id),
    name TEXT NOT NULL,
    label TEXT NOT NULL,
    tag TEXT NOT NULL,
    state TEXT NOT NULL,
    reason TEXT NOT NULL,
    started TEXT,
    ended TEXT,
    duration REAL,
    image_id TEXT,
    digest TEXT
);
CREATE INDEX IF NOT EXISTS images_by_name ON images(name);
"""


@dataclass(frozen=True)
class HistoryEntry:
    when: str
    name: str
    label: str
    tag: str
    state: str
    duration: float | None
    reason: str


@dataclass(frozen=True)
class RunEntry:
    started: str
    ended: str
    directory: str
    exit_status: int
    jobs: int
    totals: dict[str, int]

    @property
    def duration(self) -> float:
        return (
            datetime.fromisoformat(self.ended) - datetime.fromisoformat(self.started)
        ).total_seconds()


class History:
    def __init__(self, path: Path, timeout: float = 2.0):
        self.path = path
        self.timeout = timeout

    @contextlib.contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        connection = sqlite3.connect(self.path, timeout=self.timeout)
        try:
            connection.executescript(SCHEMA)
            with connection:
                yield connection
        finally:
            connection.close()

    def record(
        self, run: RunInfo, results: list[ImageResult], keep_days: int | None = None
    ) -> None:
        """Store the run and every image it built, published, failed or skipped; with
        ``keep_days``, forget the runs that started that many days before this one."""
        with self._connect() as db:
            if keep_days is not None:
                cutoff = (run.started - timedelta(days=keep_days)).isoformat()
                old = "SELECT id FROM runs WHERE julianday(started) < julianday(?)"
                db.execute(f"DELETE FROM images WHERE run_id IN ({old})", (cutoff,))
                db.execute("DELETE FROM runs WHERE julianday(started) < julianday(?)", (cutoff,))
            cursor = db.execute(
                "INSERT INTO runs (started, ended, directory, exit_status, jobs) "
                "VALUES (?, ?, ?, ?, ?)",
                (
                    run.started.isoformat(),
                    run.ended.isoformat(),
                    str(run.directory),
                    run.exit_status,
                    run.jobs,
                ),
            )
            db.executemany(
                "INSERT INTO images VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        cursor.lastrowid,
                        r.name,
                        r.label,
                        split_label(r.label)[1],
                        r.outcome.value,
                        r.reason,
                        r.started.isoformat() if r.started else None,
                        r.ended.isoformat() if r.ended else None,
                        r.duration,
                        r.image_id,
                        r.digest,
                    )
                    for r in results
                    if r.in_run
                ],
            )

    def last_tags(self) -> dict[str, str]:
        """The tag each image had the last time it was built and verified (or published)."""
        if not self.path.exists():
            return {}
        with self._connect() as db:
            rows = db.execute(
                "SELECT name, tag FROM images WHERE state IN ('verified', 'published') "
                "AND image_id IS NOT NULL ORDER BY run_id ASC, rowid ASC"
            ).fetchall()
        return {str(name): str(tag) for name, tag in rows}

    def unfinished(self) -> set[str]:
        """Labels whose last build did not finish: the last run that tried them (not merely
        skipped them) failed them before they were built and verified. A tag of such an
        image in an engine (a build or verification cut by a crash) is not to be trusted."""
        if not self.path.exists():
            return set()
        with self._connect() as db:
            rows = db.execute(
                "SELECT label, state, image_id FROM images WHERE state != 'skipped' "
                "ORDER BY run_id ASC, rowid ASC"
            ).fetchall()
        last = {str(label): (str(state), image_id) for label, state, image_id in rows}
        return {
            label for label, (state, image_id) in last.items() if state == "failed" and not image_id
        }

    def durations(self) -> dict[str, float]:
        """How long each image took the last time it was built and verified (or published)."""
        if not self.path.exists():
            return {}
        with self._connect() as db:
            rows = db.execute(
                "SELECT name, duration FROM images WHERE duration IS NOT NULL "
                "AND state IN ('verified', 'published') AND image_id IS NOT NULL "
                "ORDER BY run_id ASC, rowid ASC"
            ).fetchall()
        return {str(name): float(duration) for name, duration in rows}

    def entries(
        self, pattern: str | None = None, limit: int = 50, *, failed: bool = False
    ) -> list[HistoryEntry]:
        """Newest first; ``pattern`` is a glob on the short name or the full label;
        ``failed`` keeps failures only."""
        if not self.path.exists():
            return []
        with self._connect() as db:
            rows = db.execute(
                "SELECT COALESCE(i.started, r.started), i.name, i.label, i.tag, i.state, "
                "i.duration, i.reason FROM images i JOIN runs r ON r.id = i.run_id "
                "WHERE (? = 0 OR i.state = 'failed') "
                "ORDER BY julianday(COALESCE(i.started, r.started)) DESC, r.id DESC, "
                "i.rowid DESC",
                (int(failed),),
            ).fetchall()
        found = [
            HistoryEntry(*row)
            for row in rows
            if pattern is None
            or fnmatch.fnmatchcase(row[1], pattern)
            or fnmatch.fnmatchcase(row[2], pattern)
        ]
        return found[:limit]

    def runs(self, limit: int = 50) -> list[RunEntry]:
        """The runs, newest first, with how many images ended in each state."""
        if not self.path.exists():
            return []
        with self._connect() as db:
            rows = db.execute(
                "SELECT id, started, ended, directory, exit_status, jobs FROM runs "
                "ORDER BY julianday(started) DESC, id DESC LIMIT ?",
                (limit,),
            ).fetchall()
            totals: dict[int, dict[str, int]] = {}
            for run_id, state, count in db.execute(
                "SELECT run_id, state, COUNT(*) FROM images GROUP BY run_id, state"
            ):
                totals.setdefault(run_id, {})[state] = count
        return [
            RunEntry(started, ended, directory, exit_status, jobs, totals.get(run_id, {}))
            for run_id, started, ended, directory, exit_status, jobs in rows
        ]
