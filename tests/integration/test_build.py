"""``docker-pkg build`` end to end on the real engine and registry."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from docker_pkg.engines.docker_engine import DockerEngine
from tests.helpers import write_image
from tests.integration.conftest import Bed, Project, add_base, containers

pytestmark = pytest.mark.integration

# test.sh proves it ran on the built image: it runs the image and records what it printed.
RECORDING_TEST = """#!/bin/sh
set -e
docker run --rm --network none "$1" sh -c 'cat /stamp-*' > "$(dirname "$0")/verified.out"
"""


def child(project: Project, name: str, parent: str, *, run: str = "", test: bool = False) -> Path:
    template = f'FROM {{{{ "{parent}" | image_tag }}}}\nRUN echo {name} > /stamp-{name}\n' + (
        f"RUN {run}\n" if run else ""
    )
    files = {"test.sh": RECORDING_TEST} if test else {}
    path = write_image(project.images, name, template=template, depends=[parent], files=files)
    if test:
        (path / "test.sh").chmod(0o755)
    return path


def layers(engine: DockerEngine, reference: str) -> list[str]:
    info = engine.sdk.api.inspect_image(reference)  # type: ignore[no-untyped-call]
    return list(info["RootFS"]["Layers"])


def test_tree_is_built_verified_published_and_not_rebuilt(
    project: Project, busybox: Path, engine: DockerEngine
) -> None:
    base = add_base(project, busybox, test=RECORDING_TEST)
    mid = child(project, "mid", "base", test=True)
    leaf = child(project, "leaf", "mid", test=True)
    child(project, "sibling", "base")

    result = project.build()

    out = result.stdout
    for short in ("base", "mid", "leaf", "sibling"):
        label = f"{project.name(short)}:1.0.0"
        assert f"* Built image {label}" in out
        assert f"Successfully published image {label}" in out
        assert project.manifest_status(short, "1.0.0") == 200
        assert project.manifest_status(short, "latest") == 200
    # Parents are built (and listed) before their children.
    assert out.index(f"Built image {project.name('mid')}") < out.index(
        f"Built image {project.name('leaf')}"
    )
    # Each test.sh ran against its own image, which holds its ancestors' content.
    assert (base / "verified.out").read_text().split() == ["base"]
    assert sorted((mid / "verified.out").read_text().split()) == ["base", "mid"]
    assert sorted((leaf / "verified.out").read_text().split()) == ["base", "leaf", "mid"]
    # Children are built on their parents: the parent's layers start the child's.
    base_layers = layers(engine, f"{project.name('base')}:1.0.0")
    mid_layers = layers(engine, f"{project.name('mid')}:1.0.0")
    leaf_layers = layers(engine, f"{project.name('leaf')}:1.0.0")
    assert mid_layers[: len(base_layers)] == base_layers
    assert leaf_layers[: len(mid_layers)] == mid_layers
    assert len(leaf_layers) > len(mid_layers) > len(base_layers)
    assert "s3cr3t-Passw0rd" not in out + result.stderr + project.log()

    again = project.build()
    assert "Built image" not in again.stdout
    assert "Successfully published" not in again.stdout
    assert "4 already published" in again.stdout

    # What was published can be pulled back after the local copy is gone.
    label = f"{project.name('leaf')}:1.0.0"
    engine.remove_image(label)
    assert not engine.image_exists(label)
    engine.pull(label, None)
    assert engine.image_exists(label)


def test_failures_skip_descendants_and_spare_everything_else(
    project: Project, busybox: Path, engine: DockerEngine, bed: Bed
) -> None:
    add_base(project, busybox)
    child(project, "broken", "base", run="echo about to fail && false")
    child(project, "orphan", "broken")
    child(project, "grandorphan", "orphan")
    child(project, "healthy", "base", test=True)
    flaky = child(project, "flaky", "base")
    (flaky / "test.sh").write_text("#!/bin/sh\necho verification says no\nexit 1\n")
    child(project, "flakychild", "flaky")
    containers_before = len(containers(bed))

    result = project.build(check_code=1)

    out = result.stdout
    assert f"ERROR: image {project.name('broken')}:1.0.0 failed" in out
    assert f"ERROR: image {project.name('flaky')}:1.0.0 failed: verification failed" in out
    for short, cause in (("orphan", "broken"), ("grandorphan", "broken"), ("flakychild", "flaky")):
        assert (
            f"SKIPPED: image {project.name(short)}:1.0.0: not attempted: its ancestor "
            f"{project.name(cause)}:1.0.0 failed"
        ) in out
        assert not engine.image_exists(f"{project.name(short)}:1.0.0")
    for short in ("base", "healthy"):
        assert f"Successfully published image {project.name(short)}:1.0.0" in out
    for short in ("broken", "flaky", "orphan", "flakychild"):
        assert project.manifest_status(short, "1.0.0") == 404
    assert "3 failed" not in out
    assert "2 failed, 3 skipped" in out
    # The failing RUN left no stopped container behind (the reference leaves one).
    assert len(containers(bed)) == containers_before
    # The build log holds the failing step's output, under the image's label.
    assert re.search(
        rf"\[{re.escape(project.name('broken'))}:1\.0\.0\] (#\d+ )?about to fail", project.log()
    )


def test_template_error_builds_nothing(
    project: Project, busybox: Path, engine: DockerEngine
) -> None:
    add_base(project, busybox)
    write_image(project.images, "bad", template="FROM scratch\nRUN {{ not_defined }}\n")

    result = project.build(check_code=2)

    assert "'not_defined' is undefined" in result.stderr
    assert "bad/Dockerfile.template:2" in result.stderr
    assert "Built image" not in result.stdout
    assert engine.list_images(project.name("base")) == []


def test_without_credentials_nothing_is_published_and_no_pull_uses_local_state(
    project: Project, busybox: Path, engine: DockerEngine
) -> None:
    add_base(project, busybox)
    child(project, "app", "base")
    project.write_config(username=None, password=None)

    first = project.build()
    assert "NOT publishing images as we have no auth setup" in first.stdout
    assert project.manifest_status("base", "1.0.0") == 404
    assert engine.image_exists(f"{project.name('app')}:1.0.0")

    # Built locally, not published: nothing to build either way.
    assert "Built image" not in project.build("--no-pull").stdout
    assert "Built image" not in project.build().stdout

    # --nightly builds the selection (and its ancestors) under a dated tag.
    nightly = project.build("--nightly", "--select", "*app*")
    tags = [line.split(":")[-1] for line in nightly.stdout.splitlines() if "Built image" in line]
    assert len(tags) == 2
    assert all(t.startswith("1.0.0-") and len(t) == len("1.0.0-YYYYMMDD") for t in tags)


def test_build_settings_reach_the_engine_and_the_test(
    project: Project, busybox: Path, engine: DockerEngine
) -> None:
    add_base(project, busybox)
    app = write_image(
        project.images,
        "app",
        template="""\
            FROM {{ "base" | image_tag }}
            COPY . /ctx
            RUN echo "proxy=$http_proxy" > /proxy.txt && test ! -e /ctx/secret.txt \\
                && test -e /ctx/keep/me.txt && test ! -e /ctx/keep/drop.log
            """,
        depends=["base"],
        files={
            "secret.txt": "not for the image",
            "keep/me.txt": "kept",
            "keep/drop.log": "dropped",
            ".dockerignore": "# leave these out\nsecret.txt\n**/*.log\n",
            "test.sh": '#!/bin/sh\nset -e\necho "$http_proxy" > "$(dirname "$0")/env.out"\n'
            'docker run --rm --network none "$1" cat /proxy.txt >> "$(dirname "$0")/env.out"\n',
        },
    )
    (app / "test.sh").chmod(0o755)
    project.write_config(
        http_proxy="http://127.0.0.1:3128",
        network_mode="host",
        container_limits="memory=268435456,memswap=-1",
    )

    project.build("--select", "*app*")

    assert (app / "env.out").read_text().split() == [
        "http://127.0.0.1:3128",
        "proxy=http://127.0.0.1:3128",
    ]


def test_an_error_in_the_push_stream_fails_the_image(
    project: Project, busybox: Path, bed: Bed
) -> None:
    readonly = bed.module.Testbed()
    try:
        address = readonly.start_registry(readonly=True)
        project.registry = address
        project.write_config()
        add_base(project, busybox)
        child(project, "app", "base")

        result = project.build(check_code=1)
    finally:
        readonly.stop()

    assert f"ERROR: publishing {address}/{project.namespace}/base:1.0.0 failed" in result.stdout
    assert f"SKIPPED: image {address}/{project.namespace}/app:1.0.0: not pushed" in result.stdout
    assert "Successfully published" not in result.stdout
    assert "s3cr3t-Passw0rd" not in result.stdout + result.stderr + project.log()
