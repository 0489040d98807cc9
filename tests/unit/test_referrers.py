"""Inventories attached to images through the OCI referrers API: a small registry of our
own that has the API (Debian's docker-registry has not; the integration tests cover the
``sha256-<hex>`` tag fallback against it)."""

from __future__ import annotations

import hashlib
import json
import re
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from docker_pkg.registry.client import RegistryClient
from docker_pkg.registry.media_types import OCI_INDEX, OCI_MANIFEST
from docker_pkg.registry.referrers import Descriptor, attach, referrers

CYCLONEDX = "application/vnd.cyclonedx+json"


class ReferrersRegistry:
    """Blobs, manifests by digest or tag, and ``GET /v2/<name>/referrers/<digest>``."""

    def __init__(self, with_api: bool = True):
        self.with_api = with_api
        self.blobs: dict[str, bytes] = {}
        self.manifests: dict[str, tuple[str, bytes]] = {}  # digest -> (type, body)
        self.tags: dict[str, str] = {}  # repo:tag -> digest
        self.requests: list[str] = []

    def put_manifest(self, repo: str, reference: str, media_type: str, body: bytes) -> str:
        digest = "sha256:" + hashlib.sha256(body).hexdigest()
        self.manifests[digest] = (media_type, body)
        if not reference.startswith("sha256:"):
            self.tags[f"{repo}:{reference}"] = digest
        return digest

    def referrers_of(self, subject: str) -> list[dict[str, Any]]:
        found = []
        for digest, (media_type, body) in self.manifests.items():
            document = json.loads(body)
            if (document.get("subject") or {}).get("digest") == subject:
                found.append(
                    {
                        "mediaType": media_type,
                        "digest": digest,
                        "size": len(body),
                        "artifactType": document.get("artifactType"),
                    }
                )
        return found

    @contextmanager
    def serving(self) -> Iterator[str]:
        registry = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                return

            def _send(self, status: int, body: bytes = b"", **headers: str) -> None:
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name.replace("_", "-"), value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            def _route(self) -> None:  # noqa: PLR0911 (one return per route)
                registry.requests.append(f"{self.command} {self.path}")
                length = int(self.headers.get("Content-Length") or 0)
                data = self.rfile.read(length) if length else b""
                path = self.path.split("?")[0]
                if path == "/v2/":
                    return self._send(200)
                if m := re.fullmatch(r"/v2/(.+)/referrers/(sha256:[0-9a-f]+)", path):
                    if not registry.with_api:
                        return self._send(404)
                    index = {"schemaVersion": 2, "mediaType": OCI_INDEX}
                    index["manifests"] = registry.referrers_of(m[2])
                    return self._send(200, json.dumps(index).encode(), Content_Type=OCI_INDEX)
                if m := re.fullmatch(r"/v2/(.+)/blobs/uploads/", path):
                    return self._send(202, Location=f"/v2/{m[1]}/blobs/uploads/{uuid.uuid4()}")
                if re.fullmatch(r"/v2/(.+)/blobs/uploads/[0-9a-f-]+", path):
                    digest = self.path.split("digest=")[1]
                    registry.blobs[digest] = data
                    return self._send(201, Docker_Content_Digest=digest)
                if m := re.fullmatch(r"/v2/(.+)/blobs/(sha256:[0-9a-f]+)", path):
                    blob = registry.blobs.get(m[2])
                    return self._send(200, blob) if blob is not None else self._send(404)
                if m := re.fullmatch(r"/v2/(.+)/manifests/(.+)", path):
                    return self._manifest(m[1], m[2], data)
                return self._send(404)

            def _manifest(self, repo: str, reference: str, data: bytes) -> None:
                if self.command == "PUT":
                    media_type = self.headers.get("Content-Type", "")
                    digest = registry.put_manifest(repo, reference, media_type, data)
                    subject = (json.loads(data).get("subject") or {}).get("digest")
                    extra = {"OCI_Subject": subject} if subject and registry.with_api else {}
                    return self._send(201, Docker_Content_Digest=digest, **extra)
                digest = reference
                if not reference.startswith("sha256:"):
                    digest = registry.tags.get(f"{repo}:{reference}", "")
                if digest not in registry.manifests:
                    return self._send(404)
                media_type, body = registry.manifests[digest]
                return self._send(200, body, Content_Type=media_type, Docker_Content_Digest=digest)

            do_GET = do_HEAD = do_PUT = do_POST = _route

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield f"127.0.0.1:{server.server_address[1]}"
        finally:
            server.shutdown()
            server.server_close()


def _image(registry: ReferrersRegistry) -> Descriptor:
    body = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "layers": []}).encode()
    digest = registry.put_manifest("ns/app", "1.0", OCI_MANIFEST, body)
    return Descriptor(OCI_MANIFEST, digest, len(body))


@pytest.mark.parametrize("with_api", [True, False])
def test_an_inventory_is_attached_and_found_with_or_without_the_referrers_api(
    with_api: bool,
) -> None:
    registry = ReferrersRegistry(with_api=with_api)
    with registry.serving() as address:
        client = RegistryClient(address)
        subject = _image(registry)
        assert referrers(client, "ns/app", subject.digest, CYCLONEDX) == []
        document = b'{"bomFormat": "CycloneDX"}'
        artifact = attach(client, "ns/app", subject, CYCLONEDX, document)
        again = attach(client, "ns/app", subject, CYCLONEDX, document)  # idempotent
        found = referrers(client, "ns/app", subject.digest, CYCLONEDX)
        client.close()
    assert again == artifact
    assert [f["digest"] for f in found] == [artifact]
    manifest = json.loads(registry.manifests[artifact][1])
    assert manifest["subject"]["digest"] == subject.digest
    assert manifest["artifactType"] == CYCLONEDX
    assert registry.blobs[manifest["layers"][0]["digest"]] == document
    schema_tag = f"ns/app:{subject.digest.replace(':', '-')}"
    assert (schema_tag in registry.tags) is (not with_api)
    assert any("/referrers/" in r for r in registry.requests)


def test_a_bad_answer_about_one_image_costs_that_images_repair_only() -> None:
    from docker_pkg.errors import RegistryError
    from docker_pkg.inventory.publishing import missing_inventories

    registry = ReferrersRegistry(with_api=True)
    with registry.serving() as address:
        client = RegistryClient(address)
        fine = _image(registry)
        real_request = client.request

        def failing_for_broken(method: str, path: str, *args: object, **kw: object) -> object:
            if "ns/broken/" in path:
                raise RegistryError("registry answered HTTP 500 (gave up after 5 attempts)")
            return real_request(method, path, *args, **kw)  # type: ignore[arg-type]

        client.request = failing_for_broken  # type: ignore[method-assign]
        missing = missing_inventories(
            client,
            {"app": "ns/app", "broken": "ns/broken"},
            {"app": fine.digest, "broken": fine.digest},
            workers=2,
        )
        client.close()
    assert missing == ["app"]  # no inventory attached yet; "broken" is left for next time
