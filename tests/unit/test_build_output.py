"""Build output of both builders: BuildKit's protobuf trace and the classic stream."""

from __future__ import annotations

import base64

from docker_pkg.engines.buildkit import TraceDecoder
from docker_pkg.engines.buildkit_pb2 import StatusResponse, Vertex, VertexLog
from docker_pkg.engines.output import LineSplitter


def trace(*vertexes: Vertex, logs: tuple[VertexLog, ...] = ()) -> str:
    message = StatusResponse(vertexes=list(vertexes), logs=list(logs))
    return base64.b64encode(message.SerializeToString()).decode()


def vertex(
    digest: str,
    name: str,
    *,
    started: int | None = None,
    completed: int | None = None,
    cached: bool = False,
    error: str = "",
) -> Vertex:
    v = Vertex(digest=digest, name=name, cached=cached, error=error)
    if started is not None:
        v.started.FromNanoseconds(started * 10**9)
    if completed is not None:
        v.completed.FromNanoseconds(completed * 10**9)
    return v


def test_steps_logs_cache_and_timing_become_lines() -> None:
    lines: list[str] = []
    decoder = TraceDecoder(lines.append)
    decoder.feed(trace(vertex("sha256:a", "[1/3] FROM base", started=10)))
    decoder.feed(
        trace(vertex("sha256:a", "[1/3] FROM base", started=10, completed=10, cached=True))
    )
    decoder.feed(trace(vertex("sha256:b", "[2/3] RUN make", started=11)))
    decoder.feed(trace(logs=(VertexLog(vertex="sha256:b", stream=1, msg=b"comp"),)))
    decoder.feed(trace(logs=(VertexLog(vertex="sha256:b", stream=1, msg=b"iling\ndone\n"),)))
    decoder.feed(trace(vertex("sha256:b", "[2/3] RUN make", started=11, completed=13)))
    assert lines == [
        "#1 [1/3] FROM base",
        "#1 CACHED",
        "#2 [2/3] RUN make",
        "#2 compiling",
        "#2 done",
        "#2 DONE 2.0s",
    ]


def test_a_failing_step_is_named_with_its_last_output() -> None:
    lines: list[str] = []
    decoder = TraceDecoder(lines.append)
    decoder.feed(trace(vertex("sha256:c", "[3/3] RUN false", started=1)))
    output = "".join(f"line {i}\n" for i in range(15)).encode()
    decoder.feed(trace(logs=(VertexLog(vertex="sha256:c", stream=2, msg=output),)))
    decoder.feed(
        trace(vertex("sha256:c", "[3/3] RUN false", started=1, completed=2, error="exit code: 1"))
    )
    assert lines[-1] == "#1 ERROR: exit code: 1"
    failure = decoder.failure("executor failed: exit code: 1")
    assert failure.startswith("step [3/3] RUN false failed: exit code: 1\nlast output:\n")
    assert "  line 14" in failure
    assert "line 4\n" not in failure  # only the last ten lines


def test_garbage_is_skipped_not_fatal() -> None:
    lines: list[str] = []
    TraceDecoder(lines.append).feed("!!not base64!!")
    assert lines == ["(undecodable BuildKit progress message skipped)"]
    assert TraceDecoder(lines.append).failure("plain") == "plain"


def test_terminal_escapes_are_removed() -> None:
    lines: list[str] = []
    LineSplitter(lines.append).feed("\x1b[91mnope\n\x1b[0mRemoving intermediate container 1\n")
    assert lines == ["nope", "Removing intermediate container 1"]


def test_classic_stream_lines_and_failure() -> None:
    lines: list[str] = []
    splitter = LineSplitter(lines.append)
    splitter.feed("Step 1/2 : FROM base\n ---> abc\nStep 2/2 : RUN ma")
    splitter.feed("ke\n ---> Running in 123\nbuilding\nbroken\n")
    assert lines == [
        "Step 1/2 : FROM base",
        " ---> abc",
        "Step 2/2 : RUN make",
        " ---> Running in 123",
        "building",
        "broken",
    ]
    assert splitter.failure("returned a non-zero code: 2") == (
        "step RUN make failed: returned a non-zero code: 2\nlast output:\n  building\n  broken"
    )
