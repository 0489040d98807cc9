"""``docker-pkg history``: past builds of images, newest first."""

from __future__ import annotations

import sqlite3
import sys
from pathlib import Path
from typing import TextIO

from docker_pkg.errors import OperationError
from docker_pkg.history import History


def show_history(
    *, path: Path, pattern: str | None, limit: int, stdout: TextIO | None = None
) -> int:
    out = stdout or sys.stdout
    try:
        entries = History(path).entries(pattern, limit)
    except sqlite3.Error as exc:
        raise OperationError(f"cannot read the build history {path}: {exc}") from None
    if not entries:
        print(f"No builds recorded{f' for {pattern!r}' if pattern else ''} in {path}", file=out)
        return 0
    print(f"{'when':<25} {'result':<9} {'duration':>9}  image", file=out)
    for entry in entries:
        duration = f"{entry.duration:8.1f}s" if entry.duration is not None else "        -"
        print(f"{entry.when[:25]:<25} {entry.state:<9} {duration}  {entry.label}", file=out)
    return 0
