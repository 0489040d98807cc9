"""What an engine's build and push streams say, in lines: the classic builder's ``Step N/M``
output, cut into whole lines, its colours removed, the failing step and its last output
kept for the error message; and the error of a stream message."""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any

from docker_pkg.engines.buildkit import TAIL_LINES

OutputSink = Callable[[str], None]

_CLASSIC_STEP = re.compile(r"^Step \d+/\d+ : (?P<step>.*)$")
_CLASSIC_NOISE = (" ---> ", "Removing intermediate container")
# The classic builder colours a step's stderr with terminal escapes; logs get plain text.
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


class LineSplitter:
    """Engine ``stream`` chunks carry partial or several lines; emit whole lines only, and
    remember the classic builder's current step and its last output lines."""

    def __init__(self, output: OutputSink):
        self._output = output
        self._pending = ""
        self._step = ""
        self._tail: deque[str] = deque(maxlen=TAIL_LINES)

    def feed(self, text: str) -> None:
        self._pending += text
        *lines, self._pending = self._pending.split("\n")
        for line in lines:
            self._line(_ANSI.sub("", line).rstrip("\r"))

    def _line(self, line: str) -> None:
        self._output(line)
        match = _CLASSIC_STEP.match(line)
        if match:
            self._step, self._tail = match["step"], deque(maxlen=TAIL_LINES)
        elif line.strip() and not line.startswith(_CLASSIC_NOISE):
            self._tail.append(line)

    def flush(self) -> None:
        if self._pending:
            self._line(_ANSI.sub("", self._pending))
            self._pending = ""

    def failure(self, message: str) -> str:
        """``message`` with the step that failed and its last output lines."""
        if not self._step:
            return message
        text = f"step {self._step} failed: {message}"
        if self._tail:
            text += "\nlast output:\n" + "\n".join(f"  {line}" for line in self._tail)
        return text


def error_text(chunk: Mapping[str, Any]) -> str:
    detail = chunk.get("errorDetail") or {}
    message = str(detail.get("message") or chunk.get("error") or "unknown error").strip()
    code = detail.get("code")
    return f"{message} (exit code {code})" if code else message
