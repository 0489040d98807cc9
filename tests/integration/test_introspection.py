"""Labels, fingerprints, lint, status and inferred order on the real engine and registry."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from docker_pkg.engines.docker_engine import DockerEngine
from docker_pkg.registry.client import RegistryClient
from docker_pkg.tree.fingerprint import FINGERPRINT_LABEL
from tests.helpers import write_image
from tests.integration.conftest import Project, add_base

pytestmark = pytest.mark.integration


def test_fingerprints_catch_changes_without_a_version_bump(
    project: Project, busybox: Path, engine: DockerEngine
) -> None:
    add_base(project, busybox)
    app = write_image(
        project.images,
        "app",
        template='FROM {{ "base" | image_tag }}\nCOPY data.txt /\n',
        depends=["base"],
        files={"data.txt": "one"},
    )
    write_image(project.images, "leaf", template='FROM {{ "app" | image_tag }}\n', depends=["app"])
    subprocess.run(["git", "init", "-q", str(project.images)], check=True)
    subprocess.run(
        [
            "git",
            "-C",
            str(project.images),
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@e",
            "commit",
            "-q",
            "--allow-empty",
            "-m",
            "x",
        ],
        check=True,
    )
    project.write_config(image_source="https://example.org/images.git")
    project.build()

    labels = engine.image_labels(f"{project.name('app')}:1.0.0")
    assert labels is not None
    assert labels["org.opencontainers.image.title"] == "app"
    assert labels["org.opencontainers.image.version"] == "1.0.0"
    assert labels["org.opencontainers.image.source"] == "https://example.org/images.git"
    assert len(labels["org.opencontainers.image.revision"]) == 40
    assert labels[FINGERPRINT_LABEL].startswith("sha256:")
    # The registry holds the same labels in the pushed image's config.
    remote = RegistryClient(project.registry).image_labels(f"{project.namespace}/app", "1.0.0")
    assert remote == labels
    # render shows the reference's Dockerfile: no label lines added.
    rendered = project.run("render", "--select", "*app*", str(project.images), check_code=0)
    assert "LABEL" not in rendered.stdout

    assert "lint: no findings" in project.run("lint", str(project.images), check_code=0).stdout

    (app / "data.txt").write_text("two")
    changed = project.run("lint", str(project.images), check_code=1).stdout
    assert "[unbumped-change]" in changed
    assert "/app/changelog" in changed
    assert "/leaf/changelog" in changed
    assert "/base/changelog" not in changed

    project.run("update", "app", "--reason", "New data", str(project.images), check_code=0)
    project.build()
    assert "lint: no findings" in project.run("lint", str(project.images), check_code=0).stdout

    (project.images / "base" / "payload").write_text("a change at the root")
    root_changed = project.run("lint", str(project.images), check_code=1).stdout
    for short in ("base", "app", "leaf"):
        assert f"/{short}/changelog" in root_changed


def test_undeclared_parent_is_built_first_and_status_tells_why(
    project: Project, busybox: Path, engine: DockerEngine
) -> None:
    add_base(project, busybox)
    # "aaa" sorts before "zzz" and declares nothing: only inference orders them.
    write_image(project.images, "aaa", template='FROM {{ "zzz" | image_tag }}\nRUN test -e /z\n')
    write_image(
        project.images,
        "zzz",
        template='FROM {{ "base" | image_tag }}\nRUN touch /z\n',
        depends=["base"],
    )
    project.write_config(username=None, password=None)

    plan = json.loads(
        project.run(
            "build", "--dry-run", "--format", "json", str(project.images), check_code=0
        ).stdout
    )
    assert [step["name"] for step in plan["build"]] == ["base", "zzz", "aaa"]
    assert plan["build"][0]["why"].startswith("selected; neither in")

    result = project.build("-j2")
    assert result.stdout.index(project.name("zzz")) < result.stdout.index(
        f"Built image {project.name('aaa')}"
    )
    status = json.loads(
        project.run("status", "--format", "json", str(project.images), check_code=0).stdout
    )
    assert {row["name"]: row["state"] for row in status} == {
        "base": "built",
        "zzz": "built",
        "aaa": "built",
    }
    assert status[0]["why"] == f"in the local engine, not in {project.registry}"
