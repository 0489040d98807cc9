from __future__ import annotations

from docker_pkg.engines.values import LocalImage
from docker_pkg.planning.prune import stale_references


def test_only_other_versions_of_the_name_are_stale() -> None:
    images = [
        LocalImage("sha256:1", ("reg/app:2.0", "reg/app:latest")),
        LocalImage("sha256:2", ("reg/app:1.0",)),
        LocalImage("sha256:3", ("reg/app:0.9", "reg/other:0.9")),
        LocalImage("sha256:4", ()),
    ]
    assert stale_references(images, "reg/app", "reg/app:2.0") == ["reg/app:1.0", "reg/app:0.9"]


def test_registry_ports_are_not_tags() -> None:
    images = [LocalImage("sha256:1", ("localhost:5000/app:1",))]
    assert stale_references(images, "localhost:5000/app", "localhost:5000/app:2") == [
        "localhost:5000/app:1"
    ]
