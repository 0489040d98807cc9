"""Streamed requests to an engine (``/build``) that can be cut: by a cancelled run, or by a
time limit. Cutting the socket makes the engine stop the work behind the stream."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import requests
import urllib3
from docker.utils.json_stream import json_stream

from docker_pkg.engines.sdk.connection import CONNECTION_ERRORS, Connection, shut
from docker_pkg.errors import Cancelled, OperationError


class Streams:
    """The open response streams of one engine."""

    def __init__(self, connection: Connection):
        self._connection = connection
        self._cancelled = threading.Event()
        self._lock = threading.Lock()
        self._active: set[requests.Response] = set()
        self._expired: set[requests.Response] = set()

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set()

    def cancel(self) -> None:
        """Cut every open stream, and refuse new ones."""
        self._cancelled.set()
        with self._lock:
            active = list(self._active)
        for response in active:
            shut(response)

    def start(
        self,
        endpoint: str,
        params: Mapping[str, Any],
        body: Iterable[bytes],
        what: str,
        error: type[OperationError],
    ) -> requests.Response:
        """POST a tar ``body`` to ``endpoint`` and open its answer as a stream; a refusal
        is an ``error`` with the engine's message."""
        if self._cancelled.is_set():
            raise Cancelled(f"{what}: cancelled")
        api = self._connection.api
        url = f"{api.base_url}/v{api.api_version}{endpoint}"
        try:
            response = api.post(
                url,
                params=params,
                data=body,
                headers={"Content-Type": "application/x-tar"},
                stream=True,
                timeout=None,
            )
        except CONNECTION_ERRORS as exc:
            raise self._connection.lost(what, exc) from None
        except requests.RequestException as exc:
            raise error(f"{what}: engine at {self._connection.address} failed: {exc}") from None
        if response.status_code >= 400:
            try:
                message = response.json().get("message", response.text)
            except ValueError:
                message = response.text
            response.close()
            raise error(f"{what}: {message.strip()}")
        with self._lock:
            self._active.add(response)
        return response

    def chunks(self, response: requests.Response, what: str) -> Iterator[dict[str, Any]]:
        """The JSON messages of a response stream; a cut stream means a lost engine, unless
        the run was cancelled."""
        try:
            for chunk in json_stream(response.iter_content(chunk_size=None)):
                if isinstance(chunk, dict):
                    yield chunk
        except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as exc:
            if self._cancelled.is_set():
                raise Cancelled("cancelled") from None
            raise self._connection.lost(what, exc) from None
        if self._cancelled.is_set():
            raise Cancelled(f"{what}: cancelled")

    def expired(self, response: requests.Response) -> bool:
        """Whether ``response`` was cut by its time limit."""
        with self._lock:
            return response in self._expired

    def deadline(
        self, response: requests.Response, timeout: float | None
    ) -> threading.Timer | None:
        """A timer that cuts ``response`` after ``timeout`` seconds (the engine then stops
        the work); None without a limit."""
        if not timeout:
            return None

        def expire() -> None:
            with self._lock:
                self._expired.add(response)
            shut(response)

        timer = threading.Timer(timeout, expire)
        timer.daemon = True
        timer.start()
        return timer

    def finish(self, response: requests.Response) -> None:
        with self._lock:
            self._active.discard(response)
            self._expired.discard(response)
        response.close()
