"""One module per CLI verb: arguments in, a call, results out as text and an exit status."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TextIO


def printer(stdout: TextIO | None) -> Callable[[str], None]:
    """A function printing whole lines to ``stdout`` (default: the current sys.stdout)."""
    out = stdout or sys.stdout

    def say(line: str) -> None:
        print(line, file=out, flush=True)

    return say
