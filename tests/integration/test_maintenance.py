"""Build-stage artifacts and ``prune`` on the real engine."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from docker_pkg.engines.docker_engine import DockerEngine
from tests.helpers import write_image
from tests.integration.conftest import Bed, Project, add_base, containers

pytestmark = pytest.mark.integration


def test_build_stage_artifacts_reach_the_final_image(
    project: Project, busybox: Path, engine: DockerEngine, bed: Bed
) -> None:
    add_base(project, busybox)
    app = write_image(
        project.images,
        "app",
        template="""\
            FROM {{ "base" | image_tag }}
            COPY build/busybox-tool /usr/local/bin/busybox-tool
            COPY build/share/greeting /usr/share/greeting
            """,
        depends=["base"],
        files={
            # The build stage "compiles": a real binary (busybox) and a generated file.
            "Dockerfile.build.template": (
                'FROM {{ "base" | image_tag }}\n'
                "RUN mkdir -p /build/share && cp /bin/busybox /build/busybox-tool \\\n"
                "    && echo made-in-the-build-stage > /build/share/greeting\n"
            ),
            "test.sh": '#!/bin/sh\nset -e\ndocker run --rm --network none "$1" '
            "sh -c 'set -e; busybox-tool echo tool-runs; cat /usr/share/greeting' "
            '> "$(dirname "$0")/verified.out"\n',
        },
    )
    (app / "test.sh").chmod(0o755)
    containers_before = containers(bed)

    project.build()

    assert (app / "verified.out").read_text().split() == ["tool-runs", "made-in-the-build-stage"]
    # The stage image and its container are gone; no artifacts were left in the folder.
    assert not engine.image_exists(f"{project.name('app')}-build:1.0.0")
    assert containers(bed) == containers_before
    assert not (app / "build").exists()


def test_unsafe_build_stage_output_fails_the_image(
    project: Project, busybox: Path, engine: DockerEngine
) -> None:
    add_base(project, busybox)
    write_image(
        project.images,
        "evil",
        template='FROM {{ "base" | image_tag }}\nCOPY build/ /x/\n',
        depends=["base"],
        files={
            "Dockerfile.build.template": (
                'FROM {{ "base" | image_tag }}\n'
                "RUN mkdir /build && ln -s /etc/passwd /build/passwd\n"
            )
        },
    )

    result = project.build(check_code=1)

    assert f"ERROR: image {project.name('evil')}:1.0.0 failed: unsafe build artifacts" in (
        result.stdout
    )
    assert not engine.image_exists(f"{project.name('evil')}:1.0.0")
    assert not engine.image_exists(f"{project.name('evil')}-build:1.0.0")


def _bump(folder: Path, version: str) -> None:
    changelog = folder / "changelog"
    text = changelog.read_text()
    name = text.split(" ", 1)[0]
    changelog.write_text(
        f"{name} ({version}) wikimedia; urgency=high\n\n   bump\n\n"
        " -- T <t@example.org>  Sun, 29 Nov 2026 12:00:00 +0000\n\n" + text
    )


def test_prune_keeps_exactly_the_current_version(
    project: Project, busybox: Path, engine: DockerEngine, bed: Bed
) -> None:
    base = add_base(project, busybox)
    app = write_image(
        project.images, "app", template='FROM {{ "base" | image_tag }}\n', depends=["base"]
    )
    project.write_config(username=None, password=None)
    project.build()
    for version in ("1.0.1", "1.0.2"):
        _bump(base, version)
        _bump(app, version)
        project.build()
    project.build("--nightly")  # a nightly of the current versions, 1.0.2-YYYYMMDD
    nightly_tags = [t for t in _tags(engine, project, "app") if t.count("-") == 1]
    assert len(nightly_tags) == 1
    assert _tags(engine, project, "app") == sorted(["1.0.0", "1.0.1", "1.0.2", *nightly_tags])

    dry = project.run("prune", "--dry-run", "--select", "*app*", str(project.images), check_code=0)
    assert f"would remove {project.name('app')}:1.0.0" in dry.stdout
    assert len(_tags(engine, project, "app")) == 4

    # A selection prunes only what it selects.
    project.run("prune", "--select", "*app*", str(project.images), check_code=0)
    assert _tags(engine, project, "app") == ["1.0.2"]
    assert len(_tags(engine, project, "base")) == 4

    # --nightly keeps the named nightly build instead of the plain version.
    suffix = nightly_tags[0].split("-", 1)[1]
    project.run("prune", "--nightly", suffix, str(project.images), check_code=0)
    assert _tags(engine, project, "base") == [f"1.0.2-{suffix}"]
    assert _tags(engine, project, "app") == []


def test_prune_reports_an_image_in_use(
    project: Project, busybox: Path, engine: DockerEngine, bed: Bed
) -> None:
    base = add_base(project, busybox)
    project.write_config(username=None, password=None)
    project.build()
    _bump(base, "2.0")
    project.build()
    old = f"{project.name('base')}:1.0.0"
    container = subprocess.run(
        ["docker", "-H", bed.docker_host, "create", "--network", "none", old, "true"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    try:
        result = project.run("prune", str(project.images), check_code=1)
    finally:
        subprocess.run(
            ["docker", "-H", bed.docker_host, "rm", "-f", container],
            check=True,
            capture_output=True,
        )
    assert f"could not remove {old}" in result.stdout
    assert engine.image_exists(old)
    assert engine.image_exists(f"{project.name('base')}:2.0")


def _tags(engine: DockerEngine, project: Project, short: str) -> list[str]:
    name = project.name(short)
    return sorted(
        tag.rsplit(":", 1)[1]
        for image in engine.list_images(name)
        for tag in image.tags
        if tag.rsplit(":", 1)[0] == name
    )
