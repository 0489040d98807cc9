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
from pathlib import Path

from docker_pkg.naming import split_label
from docker_pkg.pipeline import ImageResult
from docker_pkg.report import RunInfo

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

    def record(self, run: RunInfo, results: list[ImageResult]) -> None:
        """Store the run and every image it built, published, failed or skipped."""
        with self._connect() as db:
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

    def entries(self, pattern: str | None = None, limit: int = 50) -> list[HistoryEntry]:
        """Newest first; ``pattern`` is a glob on the short name or the full label."""
        if not self.path.exists():
            return []
        with self._connect() as db:
            rows = db.execute(
                "SELECT COALESCE(i.started, r.started), i.name, i.label, i.tag, i.state, "
                "i.duration, i.reason FROM images i JOIN runs r ON r.id = i.run_id "
                "ORDER BY r.id DESC, i.rowid ASC"
            ).fetchall()
        found = [
            HistoryEntry(*row)
            for row in rows
            if pattern is None
            or fnmatch.fnmatchcase(row[1], pattern)
            or fnmatch.fnmatchcase(row[2], pattern)
        ]
        return found[:limit]
