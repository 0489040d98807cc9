"""Containers of an engine: created to read files out of an image (never started), and
removed when a verification that was stopped left them behind."""

from __future__ import annotations

import functools
from typing import BinaryIO

from docker_pkg.engines.sdk.connection import CONNECTION_ERRORS, Connection


class Containers:
    """The containers docker-pkg makes or cleans up on one engine."""

    def __init__(self, connection: Connection):
        self._connection = connection

    def export_path(self, image: str, path: str, destination: BinaryIO) -> None:
        """Write a tar of ``path`` in ``image`` to ``destination``, through a container that
        is created, never started, and always removed."""
        call, api = self._connection.call, self._connection.api
        container = call(
            f"creating a container of {image}",
            lambda: api.create_container(
                image,
                command=["docker-pkg-export"],
                network_disabled=True,
                host_config=api.create_host_config(network_mode="none"),
            ),
        )["Id"]
        try:
            what = f"copying {path} out of {image}"
            chunks, _ = call(what, lambda: api.get_archive(container, path))
            try:
                for chunk in chunks:
                    destination.write(chunk)
            except CONNECTION_ERRORS as exc:
                raise self._connection.lost(what, exc) from None
        finally:
            call(
                f"removing the container of {image}",
                lambda: api.remove_container(container, force=True),
            )

    def remove_of(self, image: str, since: float) -> list[str]:
        """Force-remove the containers of ``image`` created at or after ``since`` (epoch
        seconds): what a verification that was stopped left running."""
        call, api = self._connection.call, self._connection.api
        found = call(
            f"listing the containers of {image}",
            lambda: api.containers(all=True, filters={"ancestor": image}),
        )
        removed = []
        for container in found:
            if float(container.get("Created", 0)) + 1 < since:
                continue
            ident = str(container["Id"])
            call(
                f"removing container {ident[:12]}",
                functools.partial(api.remove_container, ident, force=True),
            )
            removed.append(ident)
        return removed
