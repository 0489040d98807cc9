"""Containers of an engine: created to read files out of an image (never started), and
removed when a verification that was stopped left them behind."""

from __future__ import annotations

import contextlib
import functools
import io
import tarfile
from collections.abc import Iterable, Iterator, Sequence
from typing import BinaryIO

import docker.errors

from docker_pkg.engines.sdk.connection import CONNECTION_ERRORS, Connection
from docker_pkg.errors import EngineError

# What one file read out of an image may weigh (a package database is a few MiB).
MAX_READ_BYTES = 256 << 20


class Containers:
    """The containers docker-pkg makes or cleans up on one engine."""

    def __init__(self, connection: Connection):
        self._connection = connection

    @contextlib.contextmanager
    def _created(self, image: str, command: str) -> Iterator[str]:
        """A container of ``image`` that is created, never started, and always removed."""
        call, api = self._connection.call, self._connection.api
        container = call(
            f"creating a container of {image}",
            lambda: api.create_container(
                image,
                command=[command],
                network_disabled=True,
                host_config=api.create_host_config(network_mode="none"),
            ),
        )["Id"]
        try:
            yield str(container)
        finally:
            call(
                f"removing the container of {image}",
                lambda: api.remove_container(container, force=True),
            )

    def export_path(self, image: str, path: str, destination: BinaryIO) -> None:
        """Write a tar of ``path`` in ``image`` to ``destination``, through a container that
        is never started."""
        call, api = self._connection.call, self._connection.api
        with self._created(image, "docker-pkg-export") as container:
            what = f"copying {path} out of {image}"
            chunks, _ = call(what, lambda: api.get_archive(container, path))
            try:
                for chunk in chunks:
                    destination.write(chunk)
            except CONNECTION_ERRORS as exc:
                raise self._connection.lost(what, exc) from None

    def read_files(self, image: str, paths: Iterable[Sequence[str]]) -> dict[str, bytes]:
        """The regular files in ``image`` at or under the first path of each group of
        ``paths`` that holds any (a group's later paths are alternatives), by path relative
        to the image's root, through one container that is never started."""
        found: dict[str, bytes] = {}
        with self._created(image, "docker-pkg-read") as container:
            for group in paths:
                for path in group:
                    files = self._read(container, image, path)
                    if files:
                        found.update(files)
                        break
        return found

    def _read(self, container: str, image: str, path: str) -> dict[str, bytes]:
        what = f"reading {path} in {image}"
        api = self._connection.api
        try:
            chunks, _ = api.get_archive(container, path)
            data = bytearray()
            for chunk in chunks:
                data += chunk
                if len(data) > MAX_READ_BYTES:
                    raise EngineError(f"{what}: more than {MAX_READ_BYTES >> 20} MiB")
        except docker.errors.NotFound:
            return {}
        except docker.errors.APIError as exc:
            raise EngineError(f"{what}: {exc.explanation or exc}") from None
        except CONNECTION_ERRORS as exc:
            raise self._connection.lost(what, exc) from None
        parent = path.strip("/").rpartition("/")[0]
        files = {}
        with tarfile.open(fileobj=io.BytesIO(bytes(data))) as archive:
            for member in archive.getmembers():
                if not member.isfile():
                    continue
                content = archive.extractfile(member)
                if content is not None:
                    name = f"{parent}/{member.name}" if parent else member.name
                    files[name.lstrip("/")] = content.read()
        return files

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
