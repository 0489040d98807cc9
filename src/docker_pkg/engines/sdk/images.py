"""The images an engine holds: inspected, listed, tagged, removed."""

from __future__ import annotations

from docker_pkg.engines.sdk.connection import Connection
from docker_pkg.engines.values import LocalImage


class Images:
    """The local images of one engine."""

    def __init__(self, connection: Connection):
        self._connection = connection

    def size(self, reference: str) -> int | None:
        info = self._connection.inspect(reference)
        return int(info.get("Size") or 0) if info is not None else None

    def labels(self, reference: str) -> dict[str, str] | None:
        """The labels of a local image, or None when there is no such image."""
        info = self._connection.inspect(reference)
        if info is None:
            return None
        return dict((info.get("Config") or {}).get("Labels") or {})

    def tag(self, image: str, repository: str, tag: str) -> None:
        api = self._connection.api
        self._connection.call(
            f"tagging {image} as {repository}:{tag}", lambda: api.tag(image, repository, tag)
        )

    def list(self, repository: str) -> list[LocalImage]:
        api = self._connection.api
        found = self._connection.call(f"listing {repository}", lambda: api.images(name=repository))
        return [LocalImage(str(i["Id"]), tuple(i.get("RepoTags") or ())) for i in found]

    def remove(self, reference: str) -> None:
        api = self._connection.api
        self._connection.call(f"removing {reference}", lambda: api.remove_image(reference))
