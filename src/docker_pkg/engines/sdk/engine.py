"""The SDK side of one engine behind the engine interface: each call handed to the part
whose job it is."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import BinaryIO

from docker_pkg.engines.endpoint import TLSFiles
from docker_pkg.engines.output import OutputSink
from docker_pkg.engines.sdk.builds import Builds
from docker_pkg.engines.sdk.connection import ApiClient, Connection
from docker_pkg.engines.sdk.containers import Containers
from docker_pkg.engines.sdk.images import Images
from docker_pkg.engines.sdk.streams import Streams
from docker_pkg.engines.sdk.transfers import Transfers
from docker_pkg.engines.values import BuildRequest, LocalImage


class SdkEngine:
    """What an engine is asked through the Docker SDK: builds, pushes and pulls, streams of
    images, local images, containers."""

    def __init__(
        self, base_url: str, address: str, tls: TLSFiles | None, api_version: str, timeout: int
    ):
        self._connection = Connection(base_url, address, tls, api_version, timeout)
        self._streams = Streams(self._connection)
        self.builds = Builds(self._connection, self._streams)
        self.transfers = Transfers(self._connection)
        self.images = Images(self._connection)
        self.containers = Containers(self._connection)

    @property
    def address(self) -> str:
        return self._connection.address

    @property
    def api(self) -> ApiClient:
        """The SDK client itself, for what the interface does not cover (tests, tools)."""
        return self._connection.api

    def close(self) -> None:
        self._connection.close()

    def cancel(self) -> None:
        """Stop every build in progress on this engine, and refuse new ones."""
        self._streams.cancel()

    def build(self, request: BuildRequest, output: OutputSink) -> str:
        return self.builds.build(request, output)

    def push(
        self, repository: str, tag: str, auth: Mapping[str, str] | None, output: OutputSink
    ) -> str | None:
        return self.transfers.push(repository, tag, auth, output)

    def pull(
        self, reference: str, auth: Mapping[str, str] | None, platform: str | None = None
    ) -> None:
        self.transfers.pull(reference, auth, platform)

    def save(self, reference: str) -> Iterator[bytes]:
        return self.transfers.save(reference)

    def load(self, chunks: Iterable[bytes]) -> None:
        self.transfers.load(chunks)

    def image_size(self, reference: str) -> int | None:
        return self.images.size(reference)

    def image_labels(self, reference: str) -> dict[str, str] | None:
        return self.images.labels(reference)

    def tag(self, image: str, repository: str, tag: str) -> None:
        self.images.tag(image, repository, tag)

    def list_images(self, repository: str) -> list[LocalImage]:
        return self.images.list(repository)

    def remove_image(self, reference: str) -> None:
        self.images.remove(reference)

    def export_path(self, image: str, path: str, destination: BinaryIO) -> None:
        self.containers.export_path(image, path, destination)

    def remove_containers_of(self, image: str, since: float) -> list[str]:
        return self.containers.remove_of(image, since)

    def read_files(self, image: str, paths: Iterable[Sequence[str]]) -> dict[str, bytes]:
        return self.containers.read_files(image, paths)
