"""BuildKit progress: ``moby.buildkit.trace`` messages turned into build-log lines.

With ``version=2`` the engine's ``/build`` streams BuildKit's ``StatusResponse`` protobuf
messages (base64 in ``aux``). Each build step (vertex) gets a number in order of
appearance; its start, output, cache hit, completion and error become lines like the
``docker build --progress=plain`` ones (``#5 [2/3] RUN make``, ``#5 DONE 0.4s``), so the
per-image log and the progress view read the same for both builders.
"""

from __future__ import annotations

import base64
import binascii
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

TRACE_ID = "moby.buildkit.trace"
TAIL_LINES = 10


@dataclass
class _Step:
    number: int
    name: str = ""
    started: float | None = None
    done: bool = False
    error: str = ""
    tail: deque[str] = field(default_factory=lambda: deque(maxlen=TAIL_LINES))
    partial: str = ""


class TraceDecoder:
    """Feeds on ``aux`` payloads; writes lines to ``output``; remembers the failing step."""

    def __init__(self, output: Callable[[str], None]):
        self._output = output
        self._steps: dict[str, _Step] = {}

    def _step(self, digest: str) -> _Step:
        if digest not in self._steps:
            self._steps[digest] = _Step(len(self._steps) + 1)
        return self._steps[digest]

    def feed(self, aux: str) -> None:
        # protobuf is imported on the first BuildKit message, not by every command.
        from google.protobuf.message import DecodeError

        from docker_pkg.engines.buildkit_pb2 import StatusResponse

        try:
            status = StatusResponse.FromString(base64.b64decode(aux))
        except (binascii.Error, DecodeError, ValueError):
            self._output("(undecodable BuildKit progress message skipped)")
            return
        for vertex in status.vertexes:
            step = self._step(vertex.digest)
            step.name = vertex.name or step.name
            if vertex.HasField("started") and step.started is None:
                step.started = vertex.started.ToNanoseconds() / 1e9
                self._output(f"#{step.number} {step.name}")
            if vertex.error and not step.error:
                step.error = vertex.error
            if vertex.HasField("completed") and not step.done:
                step.done = True
                self._finish(step, vertex.cached, vertex.completed.ToNanoseconds() / 1e9)
        for log in status.logs:
            self._log(self._step(log.vertex), log.msg.decode("utf-8", errors="replace"))
        for warning in status.warnings:
            step = self._step(warning.vertex)
            short = warning.short.decode("utf-8", errors="replace")
            self._output(f"#{step.number} WARNING: {short}")

    def _finish(self, step: _Step, cached: bool, completed: float) -> None:
        if step.partial:
            self._emit(step, step.partial)
            step.partial = ""
        if cached:
            self._output(f"#{step.number} CACHED")
        elif step.error:
            self._output(f"#{step.number} ERROR: {step.error}")
        else:
            elapsed = completed - step.started if step.started is not None else 0.0
            self._output(f"#{step.number} DONE {elapsed:.1f}s")

    def _log(self, step: _Step, text: str) -> None:
        *lines, step.partial = (step.partial + text).split("\n")
        for line in lines:
            self._emit(step, line.rstrip("\r"))

    def _emit(self, step: _Step, line: str) -> None:
        step.tail.append(line)
        self._output(f"#{step.number} {line}")

    def failure(self, message: str) -> str:
        """``message`` (the engine's error) with the failing step and its last output."""
        failed = next((s for s in self._steps.values() if s.error), None)
        if failed is not None:
            text = f"step {failed.name} failed: {failed.error}"
        else:
            # Stopped from outside (a time limit): name the step that was still running.
            failed = next(
                (s for s in self._steps.values() if s.started is not None and not s.done), None
            )
            if failed is None:
                return message
            text = f"step {failed.name} was running: {message}"
        tail = [line for line in failed.tail if line.strip()]
        if tail:
            text += "\nlast output:\n" + "\n".join(f"  {line}" for line in tail)
        return text
