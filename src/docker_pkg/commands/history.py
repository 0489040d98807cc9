"""``docker-pkg history``: past builds of images (or whole runs), newest first."""

from __future__ import annotations

import json
import sqlite3
import sys
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import TextIO

from docker_pkg.errors import OperationError
from docker_pkg.outputs.history import History
from docker_pkg.planning.estimate import format_duration


def local_time(stamp: str) -> str:
    """An ISO timestamp as the reader's local time, to the second."""
    try:
        return datetime.fromisoformat(stamp).astimezone().strftime("%Y-%m-%d %H:%M:%S")
    except ValueError:
        return stamp


def show_history(
    *,
    path: Path,
    pattern: str | None,
    limit: int,
    failed: bool = False,
    runs: bool = False,
    output_format: str = "text",
    stdout: TextIO | None = None,
) -> int:
    out = stdout or sys.stdout
    history = History(path)
    try:
        if runs:
            return _show_runs(history, limit, output_format, out)
        entries = history.entries(pattern, limit, failed=failed)
    except sqlite3.Error as exc:
        raise OperationError(f"cannot read the build history {path}: {exc}") from None
    if output_format == "json":
        json.dump([asdict(e) for e in entries], out, indent=2)
        out.write("\n")
        return 0
    if not entries:
        what = "failed builds" if failed else "builds"
        print(f"No {what} recorded{f' for {pattern!r}' if pattern else ''} in {path}", file=out)
        return 0
    print(f"{'when':<19}  {'result':<9} {'duration':>9}  image", file=out)
    for entry in entries:
        duration = f"{entry.duration:8.1f}s" if entry.duration is not None else "        -"
        line = f"{local_time(entry.when):<19}  {entry.state:<9} {duration}  {entry.label}"
        if failed and entry.reason:
            line += f"\n{'':<31}{entry.reason.strip().splitlines()[0]}"
        print(line, file=out)
    return 0


def _show_runs(history: History, limit: int, output_format: str, out: TextIO) -> int:
    found = history.runs(limit)
    if output_format == "json":
        json.dump([{**asdict(r), "duration": r.duration} for r in found], out, indent=2)
        out.write("\n")
        return 0
    if not found:
        print(f"No runs recorded in {history.path}", file=out)
        return 0
    print(f"{'when':<19}  {'exit':>4} {'duration':>9}  totals  (tree)", file=out)
    for run in found:
        totals = ", ".join(f"{n} {state}" for state, n in sorted(run.totals.items())) or "-"
        print(
            f"{local_time(run.started):<19}  {run.exit_status:>4} "
            f"{format_duration(run.duration):>9}  {totals}  ({run.directory})",
            file=out,
        )
    return 0
