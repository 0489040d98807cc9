"""A pool of real engines: a tree spread over two, remote engines over ssh:// and tcp://
with TLS, and one engine of two killed mid-run."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import requests
import yaml

from docker_pkg.outputs.report import load_schema
from docker_pkg.registry.media_types import MANIFEST_TYPES
from tests.helpers import write_image
from tests.integration.conftest import Bed, Project, add_base

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def side(bed: Bed) -> Iterator[Any]:
    """Engines of this module's own, started next to the test bed's."""
    extra = bed.module.Testbed()
    try:
        yield extra
    finally:
        extra.stop()


def tree(project: Project, busybox: Path, children: int, run: str = "true") -> None:
    add_base(project, busybox)
    for index in range(children):
        name = f"child{index}"
        write_image(
            project.images,
            name,
            template=f'FROM {{{{ "base" | image_tag }}}}\nRUN {run} && echo {name} > /who\n',
            depends=["base"],
        )
        write_image(
            project.images,
            f"grand{index}",
            template=f'FROM {{{{ "{name}" | image_tag }}}}\nRUN test "$(cat /who)" = {name}\n',
            depends=[name],
        )


def pool_config(project: Project, engines: list[dict[str, Any]]) -> None:
    project.write_config(username=None, password=None, engines=engines)


@dataclass
class Finished:
    returncode: int
    output: str
    report: dict[str, Any]


def build(project: Project, *args: str, **env: str) -> Finished:
    """A build with a report; its exit status, output and report."""
    report = project.root / "report.json"
    proc = project.start_build("--report", str(report), *args, **env)
    out, err = proc.communicate(timeout=600)
    return Finished(proc.returncode, out + err, json.loads(report.read_text()))


def test_a_tree_spread_over_two_engines(project: Project, busybox: Path, side: Any) -> None:
    if project.builder != "buildkit":
        pytest.skip("placement does not depend on the builder")
    other = side.start_side_engine("second")
    tree(project, busybox, children=4, run="sleep 1")
    pool_config(
        project,
        [
            {"name": "first", "url": project.bed.docker_host, "jobs": 1},
            {"name": "second", "url": other.docker_host, "jobs": 1},
        ],
    )
    done = build(project)
    assert done.returncode == 0, done.output
    report = done.report
    images = {i["name"]: i for i in report["images"]}
    assert {i["state"] for i in images.values()} == {"verified"}
    used = {i["engine"] for i in images.values()}
    assert used == {"first", "second"}
    assert [e.split(" ")[0] for e in report["engines"]] == ["first", "second"]
    # a child built where its parent was not had the parent streamed there first
    moved = [n for n, i in images.items() if "move" in i["phases"]]
    assert moved
    for name in moved:
        parent = images[name]["parents"][0]
        assert images[parent]["engine"] != images[name]["engine"]
    # status counts what any engine of the pool holds
    rows = project.run("status", "--format", "json", str(project.images), check_code=0).stdout
    assert {r["state"] for r in json.loads(rows)} == {"built"}


def test_remote_engines_over_ssh_and_tcp_with_tls(
    project: Project, busybox: Path, side: Any
) -> None:
    if project.builder != "buildkit":
        pytest.skip("reaching engines does not depend on the builder")
    secure = side.start_side_engine("tls", tls=True)
    behind_ssh = side.start_side_engine("behind-ssh")
    ssh = side.start_sshd(behind_ssh.docker_host)
    ca, cert, key = (str(p) for p in secure.client_tls)
    tree(project, busybox, children=3, run="sleep 2")
    pool_config(
        project,
        [
            {"name": "local", "url": project.bed.docker_host, "jobs": 1},
            {
                "name": "tls",
                "url": secure.docker_host,
                "jobs": 1,
                "tls": {"ca": ca, "cert": cert, "key": key},
            },
            {"name": "ssh", "url": ssh.url, "jobs": 1},
        ],
    )
    done = build(project, PATH=f"{ssh.bin_dir}:{os.environ['PATH']}")
    assert done.returncode == 0, done.output
    images = done.report["images"]
    assert {i["state"] for i in images} == {"verified"}
    assert {i["engine"] for i in images} == {"local", "tls", "ssh"}


def test_one_of_two_engines_killed_mid_run(project: Project, busybox: Path, side: Any) -> None:
    if project.builder != "buildkit":
        pytest.skip("losing an engine does not depend on the builder")
    doomed = side.start_side_engine("doomed")
    survivor = side.start_side_engine("survivor")
    tree(project, busybox, children=2, run="sleep 8")
    pool_config(
        project,
        [
            {"name": "doomed", "url": doomed.docker_host, "jobs": 1},
            {"name": "survivor", "url": survivor.docker_host, "jobs": 1},
        ],
    )
    config = yaml.safe_load((project.root / "config.yaml").read_text())
    assert len(config["engines"]) == 2
    report_path = project.root / "report.json"
    proc = project.start_build("--report", str(report_path))
    deadline = time.monotonic() + 120
    log = project.root / "docker-pkg-build.log"
    while log.read_text().count("sleep 8") < 2 if log.exists() else True:
        assert time.monotonic() < deadline, "the two slow builds never both started"
        time.sleep(0.2)
    doomed.kill()
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, out + err
    assert "Traceback" not in out + err
    images = {i["name"]: i for i in json.loads(report_path.read_text())["images"]}
    assert {i["state"] for i in images.values()} == {"verified"}
    retried = [n for n, i in images.items() if i["retries"]]
    assert retried, "the build on the killed engine was not tried again"
    for name in retried:
        assert images[name]["retries"][0].startswith("doomed: ")
        assert "lost the engine" in images[name]["retries"][0]
        assert images[name]["engine"] == "survivor"
    # everything after the loss went to the survivor
    late = [i for i in images.values() if i["name"].startswith("grand")]
    assert {i["engine"] for i in late} == {"survivor"}


ARM64_BUSYBOX = Path(__file__).resolve().parents[2] / ".cache" / "arm64" / "bin" / "busybox"


def test_an_engine_building_for_another_platform_under_emulation(
    project: Project, side: Any
) -> None:
    if project.builder != "buildkit":
        pytest.skip("emulated builds go through BuildKit")
    assert ARM64_BUSYBOX.is_file(), "scripts/bootstrap fetches Debian's busybox-static:arm64"
    emulating = side.start_side_engine("arm64")
    base = write_image(
        project.images,
        "base",
        template='FROM scratch\nCOPY busybox /bin/busybox\nRUN ["/bin/busybox", "--install", '
        '"-s", "/bin"]\nRUN uname -m > /arch\n',
        files={
            "test.sh": '#!/bin/sh\nset -e\n[ "$DOCKER_PKG_PLATFORM" = linux/arm64 ]\n'
            'test "$(docker run --rm "$1" cat /arch)" = aarch64\n'
        },
    )
    (base / "test.sh").chmod(0o755)
    shutil.copy(ARM64_BUSYBOX, base / "busybox")
    write_image(
        project.images,
        "app",
        template='FROM {{ "base" | image_tag }}\nRUN test "$(uname -m)" = aarch64\n',
        depends=["base"],
    )
    pool_config(
        project,
        [{"name": "arm", "url": emulating.docker_host, "platform": "linux/arm64", "jobs": 1}],
    )
    done = build(project)
    assert done.returncode == 0, done.output
    assert {i["engine"] for i in done.report["images"]} == {"arm"}
    arch = subprocess.run(
        [
            "docker",
            "-H",
            emulating.docker_host,
            "image",
            "inspect",
            "--format",
            "{{.Os}}/{{.Architecture}}",
            f"{project.name('app')}:1.0.0",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert arch == "linux/arm64"


INDEX_TYPES = (
    "application/vnd.oci.image.index.v1+json, "
    "application/vnd.docker.distribution.manifest.list.v2+json"
)


def index_of(project: Project, short: str, tag: str) -> dict[str, Any] | None:
    url = f"http://{project.registry}/v2/{project.namespace}/{short}/manifests/{tag}"
    answer = requests.get(url, headers={"Accept": INDEX_TYPES}, timeout=10)
    if answer.status_code == 404:
        return None
    assert answer.status_code == 200
    document: dict[str, Any] = answer.json()
    document["_digest"] = answer.headers["Docker-Content-Digest"]
    return document


def platforms_in(document: dict[str, Any] | None) -> list[str]:
    assert document is not None
    return sorted(
        f"{m['platform']['os']}/{m['platform']['architecture']}" for m in document["manifests"]
    )


def test_images_of_two_platforms_published_as_indexes(
    project: Project, busybox: Path, side: Any
) -> None:
    if project.builder != "buildkit":
        pytest.skip("builds for a platform go through BuildKit")
    assert ARM64_BUSYBOX.is_file(), "scripts/bootstrap fetches Debian's busybox-static:arm64"
    arm = side.start_side_engine("indexes-arm64")
    base = write_image(
        project.images,
        "base",
        template="FROM scratch\nARG TARGETARCH\nCOPY busybox-${TARGETARCH} /bin/busybox\n"
        'RUN ["/bin/busybox", "--install", "-s", "/bin"]\nRUN uname -m > /arch\n',
    )
    shutil.copy(busybox, base / "busybox-amd64")
    shutil.copy(ARM64_BUSYBOX, base / "busybox-arm64")
    write_image(
        project.images,
        "app",
        template='FROM {{ "base" | image_tag }}\nRUN cat /arch\n',
        depends=["base"],
    )
    engines = [
        {"name": "x86", "url": project.bed.docker_host},
        {"name": "arm", "url": arm.docker_host, "platform": "linux/arm64"},
    ]
    # amd64 first: TAG is an index of one platform
    project.write_config(engines=engines, platforms=["linux/amd64"])
    first = build(project)
    assert first.returncode == 0, first.output
    assert platforms_in(index_of(project, "app", "1.0.0")) == ["linux/amd64"]

    # adding arm64 builds only arm64, and makes the indexes again with both
    project.write_config(engines=engines, platforms=["linux/amd64", "linux/arm64"])
    second = build(project)
    assert second.returncode == 0, second.output
    assert " for linux/arm64" in second.output
    assert " for linux/amd64" not in second.output
    for short in ("base", "app"):
        document = index_of(project, short, "1.0.0")
        assert platforms_in(document) == ["linux/amd64", "linux/arm64"]
        assert index_of(project, short, "latest")["_digest"] == document["_digest"]  # type: ignore[index]
        # each platform's manifest carries the inventory of that platform's image
        for entry in document["manifests"]:  # type: ignore[index]
            url = f"http://{project.registry}/v2/{project.namespace}/{short}/manifests/"
            tag = entry["digest"].replace(":", "-")
            listed = requests.get(url + tag, headers={"Accept": MANIFEST_TYPES}, timeout=10)
            assert listed.status_code == 200, (short, entry["platform"])
            kinds = [m["artifactType"] for m in listed.json()["manifests"]]
            assert kinds == ["application/vnd.cyclonedx+json"]
    # each entry's config names its architecture; the arm64 image runs as aarch64
    arch = subprocess.run(
        [
            "docker",
            "-H",
            arm.docker_host,
            "run",
            "--rm",
            f"{project.name('app')}:1.0.0-arm64",
            "cat",
            "/arch",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert arch == "aarch64"
    assert any(i["engine"] == "arm" for i in second.report["images"])
    jsonschema.validate(second.report, load_schema())
    app = next(i for i in second.report["images"] if i["name"] == "app")
    assert "build linux/arm64" in app["phases"]
    assert "build linux/amd64" not in app["phases"]

    # a finished tree is a no-op
    third = build(project)
    assert third.returncode == 0, third.output
    assert "2 already published" in third.output
    assert "Built image" not in third.output
    # outdated looks at the images of the engine's own platform (TAG-amd64 here)
    looked = project.run("outdated", "--format", "json", str(project.images), check_code=0)
    assert json.loads(looked.stdout)["warnings"] == []

    # a platform that fails leaves TAG as it was (here: absent) and fails the image
    write_image(
        project.images,
        "picky",
        template='FROM {{ "base" | image_tag }}\nRUN test "$(uname -m)" != aarch64\n',
        depends=["base"],
    )
    before = index_of(project, "base", "1.0.0")
    fourth = build(project)
    assert fourth.returncode == 1, fourth.output
    assert index_of(project, "picky", "1.0.0") is None
    assert index_of(project, "base", "1.0.0") == before
    picky = next(i for i in fourth.report["images"] if i["name"] == "picky")
    assert picky["state"] == "failed"
    rows = project.run("status", "--format", "json", str(project.images), check_code=0).stdout
    status = {r["name"]: r for r in json.loads(rows)}
    assert status["app"]["state"] == "published"
    assert status["picky"]["state"] == "partial"
    assert status["picky"]["platforms"] == {"linux/amd64": "published", "linux/arm64": "to_build"}


# When the doomed engine is killed: the first build under way, then after so many images
# were published (with work in hand).
KILL_MOMENTS = [0, 2, 6, 12, 18]


def wide_tree(project: Project, busybox: Path) -> int:
    """24 images: base, 7 children, 16 grandchildren."""
    add_base(project, busybox)
    for index in range(7):
        write_image(
            project.images,
            f"child{index}",
            template=f'FROM {{{{ "base" | image_tag }}}}\nRUN echo child{index} > /who\n',
            depends=["base"],
        )
    for index in range(16):
        parent = f"child{index % 7}"
        write_image(
            project.images,
            f"grand{index}",
            template=f'FROM {{{{ "{parent}" | image_tag }}}}\nRUN test "$(cat /who)" = {parent}\n',
            depends=[parent],
        )
    return 24


@pytest.mark.parametrize("moment", KILL_MOMENTS)
def test_an_engine_killed_at_seeded_moments_costs_no_image(
    project: Project, busybox: Path, side: Any, moment: int
) -> None:
    if project.builder != "buildkit":
        pytest.skip("losing an engine does not depend on the builder")
    doomed = side.start_side_engine(f"doomed{moment}")
    survivor = side.start_side_engine("steady")
    count = wide_tree(project, busybox)
    project.write_config(
        engines=[
            {"name": "doomed", "url": doomed.docker_host, "jobs": 1},
            {"name": "steady", "url": survivor.docker_host, "jobs": 1},
        ]
    )
    report_path = project.root / "report.json"
    proc = project.start_build("--report", str(report_path))
    assert proc.stdout is not None
    lines = []
    for line in proc.stdout:
        lines.append(line)
        published = sum("Successfully published image" in x for x in lines)
        started = any(line.startswith("... building") for line in lines)
        if (moment == 0 and started) or (moment and published >= moment):
            doomed.kill()
            break
    out, err = proc.communicate(timeout=600)
    output = "".join(lines) + out + err
    assert proc.returncode == 0, output
    assert "Traceback" not in output
    images = {i["name"]: i for i in json.loads(report_path.read_text())["images"]}
    assert len(images) == count
    assert {i["state"] for i in images.values()} == {"published"}, output
    for name in images:
        assert project.manifest_status(name, "1.0.0") == 200
    for image in images.values():
        # every retry is about the killed engine: work redone after losing it, or an image
        # whose only copy was on it built again
        assert all(
            why.startswith("doomed: ") or "only on lost engine(s) doomed; built again" in why
            for why in image["retries"]
        ), (image["name"], image["retries"])
