"""Builds through ``/build``: the request made here rather than through the SDK's ``build``,
so that the response is at hand to cut (a cancelled run, ``build_timeout``); the classic
builder's lines and BuildKit's trace turned into log lines."""

from __future__ import annotations

import json
import threading
from typing import Any

from docker_pkg.engines.builders import BUILDKIT
from docker_pkg.engines.buildkit import TRACE_ID, TraceDecoder
from docker_pkg.engines.output import LineSplitter, OutputSink, error_text
from docker_pkg.engines.sdk.connection import Connection
from docker_pkg.engines.sdk.streams import Streams
from docker_pkg.engines.values import BuildRequest
from docker_pkg.errors import BuildError, EngineLost


class Builds:
    """The builds of one engine."""

    def __init__(self, connection: Connection, streams: Streams):
        self._connection = connection
        self._streams = streams
        self._lock = threading.Lock()
        self._bridge: bool | None = None

    def build(self, request: BuildRequest, output: OutputSink) -> str:
        """Build and tag the image; return its id. Any error in the stream raises."""
        what = f"building {request.tag}"
        streams = self._streams
        response = streams.start("/build", self.params(request), request.context, what, BuildError)
        lines = LineSplitter(output)
        trace = TraceDecoder(output)
        failure = trace.failure if request.builder == BUILDKIT else lines.failure
        image_id = ""
        deadline = streams.deadline(response, request.timeout)
        try:
            for chunk in streams.chunks(response, what):
                if chunk.get("id") == TRACE_ID and isinstance(chunk.get("aux"), str):
                    trace.feed(chunk["aux"])
                    continue
                if "error" in chunk or "errorDetail" in chunk:
                    lines.flush()
                    raise BuildError(failure(error_text(chunk)))
                if "stream" in chunk:
                    lines.feed(str(chunk["stream"]))
                elif "status" in chunk:
                    lines.feed(str(chunk["status"]) + "\n")
                aux = chunk.get("aux")
                if isinstance(aux, dict) and aux.get("ID"):
                    image_id = str(aux["ID"])
            if streams.expired(response):
                raise EngineLost("the build stream ended early")
        except EngineLost:
            if not streams.expired(response):
                raise
            lines.flush()
            raise BuildError(
                failure(f"stopped: the build took longer than build_timeout ({request.timeout}s)")
            ) from None
        finally:
            if deadline is not None:
                deadline.cancel()
            streams.finish(response)
        lines.flush()
        return image_id or self._built_id(request.tag)

    def _built_id(self, tag: str) -> str:
        api = self._connection.api
        found = self._connection.call(
            "inspecting the built image",
            lambda: api.inspect_image(tag),  # type: ignore[no-untyped-call]
        )
        return str(found["Id"])

    def params(self, request: BuildRequest) -> dict[str, Any]:
        """The query of ``/build`` for ``request``."""
        buildkit = request.builder == BUILDKIT
        params: dict[str, Any] = {
            "t": request.tag,
            "nocache": request.nocache,
            "rm": True,
            "forcerm": True,
            "pull": False,
            "dockerfile": "Dockerfile",
        }
        if request.platform:
            params["platform"] = request.platform
        if buildkit:
            params["version"] = "2"
        else:
            params.update(request.container_limits)
        if request.buildargs:
            params["buildargs"] = json.dumps(dict(request.buildargs))
        if request.labels:
            params["labels"] = json.dumps(dict(request.labels))
        network = request.network_mode
        if network is None and buildkit and not self._has_bridge():
            network = "none"  # BuildKit's default network is the bridge, which is missing
        if network:
            params["networkmode"] = network
        return params

    def _has_bridge(self) -> bool:
        with self._lock:
            if self._bridge is None:
                api = self._connection.api
                found = self._connection.call(
                    "listing networks", lambda: api.networks(names=["bridge"])
                )
                self._bridge = any(n.get("Name") == "bridge" for n in found)
            return self._bridge
