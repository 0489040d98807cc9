"""``outdated`` and ``refresh`` on a Debian-based tree built from a signed loopback archive
(suites ``bookworm`` and ``bookworm-security`` signed by a throwaway key, ``rogue`` by a
key nobody trusts): updates published into the archive between runs are found in exactly
the images that introduced them, refreshed there and in their descendants, and gone after
the build."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.archives import SignedArchive, have_archive_tools
from tests.helpers import served_folder, write_image
from tests.integration.conftest import Project
from tests.integration.test_inventory import make_deb

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(bool(have_archive_tools()), reason=f"lacking {have_archive_tools()}"),
]

ROOT_TEMPLATE = """\
FROM {base}
COPY loop.asc /usr/share/keyrings/loop.asc
RUN rm -f /etc/apt/sources.list /etc/apt/sources.list.d/* \\
    && echo 'deb [signed-by=/usr/share/keyrings/loop.asc] {url} bookworm main' \\
        > /etc/apt/sources.list.d/loop.list \\
    && echo 'deb [signed-by=/usr/share/keyrings/loop.asc] {url} bookworm-security main' \\
        >> /etc/apt/sources.list.d/loop.list \\
    && apt-get update && apt-get install -y --no-install-recommends tinyfoo \\
    && rm -rf /var/lib/apt/lists/*
"""
MID_TEMPLATE = """\
FROM {{ "deb-root" | image_tag }}
RUN printf 'Package: toolbar\\nPin: version 2.0-1\\nPin-Priority: 1001\\n' \\
        > /etc/apt/preferences.d/toolbar \\
    && apt-get update && apt-get install -y --no-install-recommends barbaz toolbar \\
    && rm -rf /var/lib/apt/lists/*
"""
LEAF_TEMPLATE = """\
FROM {{{{ "deb-mid" | image_tag }}}}
RUN echo 'deb [signed-by=/usr/share/keyrings/loop.asc] {url} rogue main' \\
        > /etc/apt/sources.list.d/rogue.list
"""
OTHER_TEMPLATE = """\
FROM {{ "deb-root" | image_tag }}
RUN apt-get update && apt-get install -y --no-install-recommends qux=1.0-1 \
    && rm -rf /var/lib/apt/lists/*
"""


@pytest.fixture
def archive(tmp_path: Path) -> Iterator[SignedArchive]:
    made = SignedArchive(tmp_path / "debian")
    yield made
    made.close()


def entries(path: Path) -> int:
    return sum(1 for line in path.read_text().splitlines() if line and line[0] != " ")


def test_outdated_finds_and_refresh_bumps_exactly_what_the_archive_updated(
    project: Project, debian_base: str, archive: SignedArchive, tmp_path: Path
) -> None:
    if project.builder != "buildkit":
        pytest.skip("refreshing does not depend on the builder")
    key, stranger = archive.new_key("Test Archive"), archive.new_key("Nobody Trusts")
    make_deb(archive.pool("bookworm"), "tinyfoo", "1.0-1")
    make_deb(archive.pool("bookworm"), "barbaz", "3.0-1")
    make_deb(archive.pool("bookworm"), "toolbar", "2.0-1")
    make_deb(archive.pool("bookworm"), "qux", "1.0-1")
    make_deb(archive.pool("rogue"), "barbaz", "9.0-1")
    archive.publish("bookworm", label="Debian", key=key)
    archive.publish("bookworm-security", label="Debian-Security", key=key)
    archive.publish("rogue", label="Rogue", key=stranger)
    with served_folder(archive.root) as url:
        images = project.images
        write_image(
            images,
            "deb-root",
            template=ROOT_TEMPLATE.format(base=debian_base, url=url),
            files={"loop.asc": key.armoured},
        )
        write_image(images, "deb-mid", template=MID_TEMPLATE, depends=["deb-root"])
        write_image(images, "deb-leaf", template=LEAF_TEMPLATE.format(url=url), depends=["deb-mid"])
        write_image(images, "deb-other", template=OTHER_TEMPLATE, depends=["deb-root"])
        project.write_config(username=None, password=None, network_mode="host")
        project.build("--no-pull", check_code=0)

        clean = project.run("outdated", "--format", "json", str(images), check_code=0)
        found = json.loads(clean.stdout)
        assert found["refresh"] == []
        assert found["external"] == []
        assert any("rogue" in w and "does not trust" in w for w in found["warnings"])
        assert all("deb-leaf" in w for w in found["warnings"] if "rogue" in w)

        # a security update of the root's package, a point update of the middle's, an
        # update of the package the middle pins
        make_deb(archive.pool("bookworm-security"), "tinyfoo", "1.0-1+deb12u1")
        make_deb(archive.pool("bookworm"), "barbaz", "3.0-2")
        make_deb(archive.pool("bookworm"), "toolbar", "2.0-2")
        make_deb(archive.pool("bookworm"), "qux", "1.0-2")  # deb-other asks for 1.0-1
        archive.publish("bookworm", label="Debian", key=key)
        archive.publish("bookworm-security", label="Debian-Security", key=key)

        stale = project.run("outdated", "--format", "json", str(images), check_code=1)
        plan = json.loads(stale.stdout)
        tinyfoo = {
            "name": "tinyfoo",
            "installed": "1.0-1",
            "candidate": "1.0-1+deb12u1",
            "security": True,
        }
        barbaz = {"name": "barbaz", "installed": "3.0-1", "candidate": "3.0-2", "security": False}
        qux = {"name": "qux", "installed": "1.0-1", "candidate": "1.0-2", "security": False}
        assert [(r["name"], r["packages"], r["descendants"]) for r in plan["refresh"]] == [
            ("deb-root", [tinyfoo], ["deb-mid", "deb-other", "deb-leaf"]),
            ("deb-mid", [barbaz], ["deb-leaf"]),
            ("deb-other", [qux], []),
        ]
        assert plan["external"] == []
        # images built elsewhere (no inventory kept here): read from the images, same answer
        shutil.rmtree(Path(os.environ["HOME"]) / ".local" / "state" / "docker-pkg" / "inventories")
        again = project.run("outdated", "--format", "json", str(images), check_code=1)
        assert json.loads(again.stdout)["refresh"] == plan["refresh"]
        security = project.run("outdated", "--security", "--format", "json", str(images))
        assert security.returncode == 1
        assert [r["name"] for r in json.loads(security.stdout)["refresh"]] == ["deb-root"]
        text = project.run("outdated", str(images), check_code=1).stdout
        assert "tinyfoo 1.0-1 → 1.0-1+deb12u1  [security]" in text

        states = json.loads(project.run("status", "--format", "json", str(images)).stdout)
        assert {r["name"]: r["outdated"] for r in states} == {
            "deb-root": {"packages": 1, "security": 1},
            "deb-mid": {"packages": 2, "security": 1},
            "deb-other": {"packages": 2, "security": 1},
            "deb-leaf": {"packages": 2, "security": 1},
        }

        changelogs = {
            n: images / n / "changelog" for n in ("deb-root", "deb-mid", "deb-leaf", "deb-other")
        }
        before = {n: p.read_text() for n, p in changelogs.items()}
        project.run("refresh", "--dry-run", str(images), check_code=0)
        assert {n: p.read_text() for n, p in changelogs.items()} == before
        refreshed = project.run("refresh", str(images), check_code=0)
        assert all(entries(p) == 2 for p in changelogs.values()), refreshed.stdout
        root_entry = changelogs["deb-root"].read_text().split("\n -- ")[0]
        assert "Security update: tinyfoo 1.0-1 → 1.0-1+deb12u1" in root_entry
        assert "deb-root (1.0.0-s1)" in root_entry
        mid_entry = changelogs["deb-mid"].read_text().split("\n -- ")[0]
        assert "Package update: barbaz 3.0-1 → 3.0-2" in mid_entry
        leaf_entry = changelogs["deb-leaf"].read_text().split("\n -- ")[0]
        assert "parent image deb-mid, deb-root" in leaf_entry

        rebuilt = project.build("--no-pull", "--report", str(tmp_path / "report.json"))
        report = json.loads((tmp_path / "report.json").read_text())
        assert sorted(i["name"] for i in report["images"] if i["state"] == "verified") == [
            "deb-leaf",
            "deb-mid",
            "deb-other",
            "deb-root",
        ], rebuilt.stdout
        # the indexes the last outdated fetched tell each new image's count
        assert {i["name"]: i["outdated"] for i in report["images"]} == {
            "deb-root": {"packages": 0, "security": 0},
            "deb-mid": {"packages": 0, "security": 0},
            "deb-other": {"packages": 1, "security": 0},
            "deb-leaf": {"packages": 0, "security": 0},
        }
        # deb-other asks for qux 1.0-1 by version: its refresh did not move it
        unmoved = [w for w in report["warnings"] if "qux" in w]
        assert len(unmoved) == 1, report["warnings"]
        assert "refreshed for qux 1.0-1 → 1.0-2 but holds 1.0-1" in unmoved[0]
        assert "not upgraded by its Dockerfile" in unmoved[0]
        assert "refreshed for qux" in rebuilt.stdout
        after = json.loads(project.run("outdated", "--format", "json", str(images)).stdout)
        assert [(r["name"], r["packages"]) for r in after["refresh"]] == [("deb-other", [qux])]


BASE_TEMPLATE = """\
FROM {base}
COPY loop.asc /usr/share/keyrings/loop.asc
RUN rm -f /etc/apt/sources.list /etc/apt/sources.list.d/* \\
    && for suite in bookworm bookworm-security; do \\
        echo "deb [signed-by=/usr/share/keyrings/loop.asc] {url} $suite main" \\
            >> /etc/apt/sources.list.d/loop.list; done \\
    && apt-get update && apt-get install -y --no-install-recommends tinyfoo \\
    && rm -rf /var/lib/apt/lists/*
"""


def docker(project: Project, *args: str, stdin: str | None = None) -> str:
    return subprocess.run(
        ["docker", "-H", project.bed.docker_host, *args],
        input=stdin,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


def test_a_package_of_an_external_base_waits_for_the_base_then_refreshes_its_roots(
    project: Project, debian_base: str, archive: SignedArchive, tmp_path: Path
) -> None:
    if project.builder != "buildkit":
        pytest.skip("refreshing does not depend on the builder")
    key = archive.new_key("Test Archive")
    make_deb(archive.pool("bookworm"), "tinyfoo", "1.0-1")
    archive.publish("bookworm", label="Debian", key=key)
    archive.publish("bookworm-security", label="Debian-Security", key=key)
    base = f"{project.registry}/{project.namespace}-ext/debian:bookworm"
    context = tmp_path / "base"
    context.mkdir()
    (context / "loop.asc").write_text(key.armoured)
    with served_folder(archive.root) as url:
        (context / "Dockerfile").write_text(BASE_TEMPLATE.format(base=debian_base, url=url))
        build = ("build", "--network", "host", "--no-cache", "-t", base, str(context))
        docker(project, *build)
        docker(project, "push", base)
        old = docker(project, "image", "inspect", "-f", "{{.Id}}", base)
        write_image(
            project.images, "ext-root", template=f"FROM {base}\nRUN echo root > /root.txt\n"
        )
        child = 'FROM {{ "ext-root" | image_tag }}\nRUN echo child > /child.txt\n'
        write_image(project.images, "ext-child", template=child, depends=["ext-root"])
        project.write_config(username=None, password=None, network_mode="host")
        project.build("--no-pull", check_code=0)
        project.run("outdated", str(project.images), check_code=0)

        make_deb(archive.pool("bookworm-security"), "tinyfoo", "1.0-1+deb12u1")
        archive.publish("bookworm-security", label="Debian-Security", key=key)
        waiting = json.loads(
            project.run("outdated", "--format", "json", str(project.images), check_code=1).stdout
        )
        assert waiting["refresh"] == []
        assert [
            (e["base"], e["images"], e["base_holds_candidates"]) for e in waiting["external"]
        ] == [(base, ["ext-root"], False)]
        assert waiting["external"][0]["packages"][0]["candidate"] == "1.0-1+deb12u1"
        refreshed = project.run("refresh", str(project.images), check_code=0)
        assert "Nothing to refresh" in refreshed.stdout

        # the base's maintainers publish a new image; this engine still holds the old one
        docker(project, *build)
        docker(project, "push", base)
        docker(project, "tag", old, base)
        ready = json.loads(
            project.run("outdated", "--format", "json", str(project.images), check_code=1).stdout
        )
        assert [(e["images"], e["base_holds_candidates"]) for e in ready["external"]] == [
            (["ext-root"], True)
        ]
        assert [(r["name"], r["descendants"]) for r in ready["refresh"]] == [
            ("ext-root", ["ext-child"])
        ]
        project.run("refresh", str(project.images), check_code=0)
        project.build("--no-pull", check_code=0)
        project.run("outdated", str(project.images), check_code=0)
