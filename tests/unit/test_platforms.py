"""Images of several platforms, the pure parts: wanted platforms, the plan, the index."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from docker_pkg.config.settings import config_from_mapping
from docker_pkg.errors import ConfigError, DependencyError
from docker_pkg.naming import platform_tag
from docker_pkg.planning.platform_plan import PlatformState, plan_platforms
from docker_pkg.planning.platforms import Entry, index_body, index_platforms, wanted_platforms
from docker_pkg.registry.media_types import DOCKER_LIST, OCI_INDEX, OCI_MANIFEST
from docker_pkg.tree.workspace import Workspace
from tests.helpers import write_image

AMD, ARM = "linux/amd64", "linux/arm64"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"


def tree(tmp_path: Path, arm_only_leaf: bool = False) -> Workspace:
    write_image(tmp_path, "base")
    write_image(tmp_path, "app", depends=["base"])
    leaf = write_image(tmp_path, "leaf", depends=["app"])
    if arm_only_leaf:
        (leaf / "control").write_text(f"Source: x\nDepends: app\nPlatforms: {ARM}\n")
    return Workspace.load(tmp_path, config_from_mapping({"registry": "reg.example"}))


def test_platform_tags_carry_arch_and_variant() -> None:
    assert platform_tag("1.2.3-1", AMD) == "1.2.3-1-amd64"
    assert platform_tag("1.2.3-1", "linux/arm/v7") == "1.2.3-1-armv7"


def test_control_narrows_and_a_parent_must_have_the_platform(tmp_path: Path) -> None:
    workspace = tree(tmp_path, arm_only_leaf=True)
    wanted = wanted_platforms(workspace.definitions, workspace.graph, (AMD, ARM))
    assert wanted == {"base": (AMD, ARM), "app": (AMD, ARM), "leaf": (ARM,)}
    (tmp_path / "app" / "control").write_text(f"Source: x\nDepends: base\nPlatforms: {AMD}\n")
    workspace = Workspace.load(tmp_path, workspace.config)
    with pytest.raises(
        DependencyError, match="leaf is built for linux/arm64, which its parent app"
    ):
        wanted_platforms(workspace.definitions, workspace.graph, (AMD, ARM))


def test_the_plan_builds_only_what_the_registry_lacks(tmp_path: Path) -> None:
    workspace = tree(tmp_path)
    states = {
        "base": PlatformState((AMD, ARM), in_registry={AMD, ARM}, published=True),
        "app": PlatformState((AMD, ARM), in_registry={AMD}),
        "leaf": PlatformState((AMD, ARM)),
    }
    plan = plan_platforms(workspace, states, None, publishing=True)
    assert plan.builds == [("app", ARM), ("leaf", AMD), ("leaf", ARM)]
    assert plan.pushes == [("app", ARM), ("leaf", AMD), ("leaf", ARM)]
    assert plan.indexes == ["app", "leaf"]
    assert plan_platforms(workspace, states, None, publishing=False).indexes == []


def test_an_index_is_oci_when_any_entry_is_and_lists_each_platform() -> None:
    docker = [Entry(DOCKER_MANIFEST, "sha256:" + "a" * 64, 100, AMD)]
    kind, body = index_body(docker)
    assert kind == DOCKER_LIST
    document = json.loads(body)
    assert document["mediaType"] == DOCKER_LIST
    assert index_platforms(document) == {AMD}
    mixed = [*docker, Entry(OCI_MANIFEST, "sha256:" + "b" * 64, 200, "linux/arm/v7")]
    kind, body = index_body(mixed)
    assert kind == OCI_INDEX
    assert json.loads(body)["manifests"][1]["platform"] == {
        "architecture": "arm",
        "os": "linux",
        "variant": "v7",
    }
    assert index_platforms(json.loads(body)) == {AMD, "linux/arm/v7"}


def test_platforms_in_the_configuration() -> None:
    assert config_from_mapping({"platforms": [AMD, ARM, AMD]}).platforms == (AMD, ARM)
    for bad in ("linux/amd64", ["amd64"], [], [1]):
        with pytest.raises(ConfigError, match="platforms"):
            config_from_mapping({"platforms": bad})
