"""Images in and out of an engine: pushed to and pulled from registries, saved and loaded
as ``docker save`` tars (how a pool moves an image between engines)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping

import docker.errors
import requests

from docker_pkg.engines.output import OutputSink, error_text
from docker_pkg.engines.sdk.connection import CONNECTION_ERRORS, Connection
from docker_pkg.errors import EngineError, PublishError


class Transfers:
    """Pushes, pulls, saves and loads of one engine."""

    def __init__(self, connection: Connection):
        self._connection = connection

    def push(
        self, repository: str, tag: str, auth: Mapping[str, str] | None, output: OutputSink
    ) -> str | None:
        """Push ``repository:tag``; an error anywhere in the stream fails the push."""
        digest: str | None = None
        label = f"{repository}:{tag}"
        try:
            for chunk in self._connection.api.push(
                repository, tag, auth_config=dict(auth) if auth else None, stream=True, decode=True
            ):
                if "error" in chunk or "errorDetail" in chunk:
                    raise PublishError(f"pushing {label}: {error_text(chunk)}")
                aux = chunk.get("aux")
                if isinstance(aux, dict) and aux.get("Digest"):
                    digest = str(aux["Digest"])
                status = chunk.get("status")
                if status and "progress" not in chunk:
                    output(f"{chunk.get('id', '')}: {status}" if chunk.get("id") else str(status))
        except docker.errors.APIError as exc:
            raise PublishError(f"pushing {label}: {exc.explanation or exc}") from None
        except CONNECTION_ERRORS as exc:
            raise self._connection.lost(f"pushing {label}", exc) from None
        except (requests.RequestException, docker.errors.DockerException) as exc:
            raise PublishError(f"pushing {label}: engine connection failed: {exc}") from None
        return digest

    def pull(
        self, reference: str, auth: Mapping[str, str] | None, platform: str | None = None
    ) -> None:
        """Pull ``reference`` (for ``platform``, from an index, when not the engine's own)."""
        repository, _, tag = reference.rpartition(":")
        if "/" in tag or not repository:
            repository, tag = reference, "latest"
        try:
            for chunk in self._connection.api.pull(
                repository,
                tag,
                auth_config=dict(auth) if auth else None,
                stream=True,
                decode=True,
                platform=platform,
            ):
                if "error" in chunk or "errorDetail" in chunk:
                    raise EngineError(f"pulling {reference}: {error_text(chunk)}")
        except docker.errors.APIError as exc:
            raise EngineError(f"pulling {reference}: {exc.explanation or exc}") from None
        except CONNECTION_ERRORS as exc:
            raise self._connection.lost(f"pulling {reference}", exc) from None
        except (requests.RequestException, docker.errors.DockerException) as exc:
            raise EngineError(f"pulling {reference}: engine connection failed: {exc}") from None

    def save(self, reference: str) -> Iterator[bytes]:
        """The image as the tar ``docker save`` makes, streamed."""
        what = f"exporting {reference}"
        api = self._connection.api
        chunks = self._connection.call(what, lambda: api.get_image(reference, chunk_size=1 << 20))
        try:
            yield from chunks
        except CONNECTION_ERRORS as exc:
            raise self._connection.lost(what, exc) from None

    def load(self, chunks: Iterable[bytes]) -> None:
        """Load images from a streamed ``docker save`` tar; an error in the answer raises."""
        what = "loading an image"
        api = self._connection.api
        answer = self._connection.call(
            what,
            lambda: api.load_image(chunks, quiet=True),  # type: ignore[no-untyped-call]
        )
        for chunk in answer or ():
            if isinstance(chunk, dict) and ("error" in chunk or "errorDetail" in chunk):
                raise EngineError(f"{what}: {error_text(chunk)}")
