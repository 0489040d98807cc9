"""Inventories of real images: tiny Debian packages made with ``dpkg-deb`` and installed
with busybox's ``dpkg -i`` in images ``FROM scratch``, read back by ``docker-pkg sbom``
without running the images."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests

from docker_pkg.inventory.publishing import CYCLONEDX_JSON as CYCLONEDX
from docker_pkg.registry.media_types import MANIFEST_TYPES
from tests.helpers import served_folder, write_image
from tests.integration.conftest import Project

pytestmark = pytest.mark.integration

DPKG_BASE = """\
FROM scratch
COPY busybox /bin/busybox
RUN ["/bin/busybox", "--install", "-s", "/bin"]
RUN mkdir -p /var/lib/dpkg/info /tmp /etc && touch /var/lib/dpkg/status \\
    && echo ID=debian > /etc/os-release && echo 'VERSION_ID="12"' >> /etc/os-release
"""


def make_deb(folder: Path, name: str, version: str, source: str | None = None) -> str:
    """A package holding one file; returns the .deb's file name."""
    root = folder / f"{name}-build"
    (root / "DEBIAN").mkdir(parents=True)
    (root / "usr" / "share" / name).mkdir(parents=True)
    (root / "usr" / "share" / name / "hello").write_text(f"{name} {version}\n")
    control = [
        f"Package: {name}",
        f"Version: {version}",
        "Architecture: all",
        "Maintainer: Test <test@example.org>",
        f"Description: {name} for tests",
    ]
    if source:
        control.append(f"Source: {source}")
    (root / "DEBIAN" / "control").write_text("\n".join(control) + "\n")
    deb = f"{name}_{version.replace(':', '%3a')}_all.deb"
    subprocess.run(
        ["dpkg-deb", "--build", "--root-owner-group", str(root), str(folder / deb)],
        check=True,
        capture_output=True,
    )
    shutil.rmtree(root)
    return deb


def installing(parent: str, *debs: str) -> str:
    lines = [f'FROM {{{{ "{parent}" | image_tag }}}}']
    for deb in debs:
        lines += [f"COPY {deb} /tmp/", f"RUN dpkg -i /tmp/{deb} && rm /tmp/{deb}"]
    return "\n".join(lines) + "\n"


def test_sbom_lists_what_each_image_installed_and_who_introduced_it(
    project: Project, busybox: Path
) -> None:
    if project.builder != "buildkit":
        pytest.skip("reading an image does not depend on the builder")
    base = write_image(project.images, "base", template=DPKG_BASE)
    shutil.copy(busybox, base / "busybox")
    libfoo = make_deb(base, "libfoo1", "1:1.2+b1-3", source="foo (1.2-3)")
    (base / "Dockerfile.template").write_text(
        DPKG_BASE + f"COPY {libfoo} /tmp/\nRUN dpkg -i /tmp/{libfoo} && rm /tmp/{libfoo}\n"
    )
    mid = write_image(project.images, "mid", depends=["base"])
    tool = make_deb(mid, "tool", "0.9")
    (mid / "Dockerfile.template").write_text(installing("base", tool))
    leaf = write_image(project.images, "leaf", depends=["mid"])
    jq = make_deb(leaf, "jq", "1.6-2+deb12u1")
    newer = make_deb(leaf, "libfoo1", "1:1.2+b1-3+deb12u1", source="foo (1.2-3+deb12u1)")
    (leaf / "Dockerfile.template").write_text(installing("mid", jq, newer))
    bare = write_image(project.images, "bare", template=DPKG_BASE.split("RUN mkdir", maxsplit=1)[0])
    shutil.copy(busybox, bare / "busybox")
    project.write_config(username=None, password=None)
    report, page = project.root / "report.json", project.root / "run.html"
    project.build("--no-pull", "--report", str(report), "--html", str(page), check_code=0)
    taken = {i["name"]: i for i in json.loads(report.read_text())["images"]}
    assert taken["leaf"]["introduced"] == ["jq 1.6-2+deb12u1", "libfoo1 1:1.2+b1-3+deb12u1"]
    assert taken["mid"]["introduced"] == ["tool 0.9"]
    assert taken["base"]["introduced"] == ["libfoo1 1:1.2+b1-3"]
    assert "3 packages, 2 installed here" in page.read_text()
    assert {n: i["packages"] for n, i in taken.items()} == {
        "base": 1,
        "mid": 2,
        "leaf": 3,
        "bare": 0,
    }
    assert all(i["inventory"].startswith("sha256:") for i in taken.values())
    kept = list((Path(os.environ["HOME"]) / ".local/state/docker-pkg/inventories").iterdir())
    assert len(kept) == 4

    result = project.run("sbom", "leaf", str(project.images), check_code=0)
    document = json.loads(result.stdout)
    assert document["metadata"]["component"]["name"] == project.name("leaf")
    components = {
        c["name"]: (c["version"], c["purl"], {p["name"]: p["value"] for p in c["properties"]})
        for c in document["components"]
    }
    assert set(components) == {"libfoo1", "tool", "jq"}
    version, purl, properties = components["libfoo1"]
    assert version == "1:1.2+b1-3+deb12u1"
    assert purl == "pkg:deb/debian/libfoo1@1:1.2%2Bb1-3%2Bdeb12u1?arch=all&distro=debian-12"
    assert properties["docker-pkg:introduced-by"] == "leaf"  # upgraded there
    assert properties["docker-pkg:source-version"] == "1.2-3+deb12u1"
    assert components["tool"][2]["docker-pkg:introduced-by"] == "mid"
    assert components["jq"][2]["docker-pkg:introduced-by"] == "leaf"

    mid_doc = json.loads(project.run("sbom", "mid", str(project.images), check_code=0).stdout)
    by_name = {c["name"]: c for c in mid_doc["components"]}
    introduced = {p["name"]: p["value"] for p in by_name["libfoo1"]["properties"]}
    assert introduced["docker-pkg:introduced-by"] == "base"

    spdx = project.run("sbom", "--format", "spdx", "leaf", str(project.images), check_code=0)
    assert {p["name"] for p in json.loads(spdx.stdout)["packages"]} == {
        project.name("leaf"),
        "libfoo1",
        "tool",
        "jq",
    }

    empty = json.loads(project.run("sbom", "bare", str(project.images), check_code=0).stdout)
    assert empty.get("components", []) == []
    subject = {p["name"]: p["value"] for p in empty["metadata"]["component"]["properties"]}
    assert subject["docker-pkg:package-database"] == "none"

    unknown = project.run("sbom", "nosuch", str(project.images))
    assert unknown.returncode == 2
    assert "no image named 'nosuch'" in unknown.stderr


def test_no_inventory_with_sbom_off(project: Project, busybox: Path) -> None:
    if project.builder != "buildkit":
        pytest.skip("reading an image does not depend on the builder")
    base = write_image(project.images, "base", template=DPKG_BASE)
    shutil.copy(busybox, base / "busybox")
    project.write_config(username=None, password=None, sbom=False)
    report = project.root / "report.json"
    project.build("--no-pull", "--report", str(report), check_code=0)
    image = json.loads(report.read_text())["images"][0]
    assert (image["packages"], image["inventory"]) == (None, None)
    assert not (Path(os.environ["HOME"]) / ".local/state/docker-pkg/inventories").exists()


def test_each_published_image_carries_its_inventory_in_the_registry(
    project: Project, busybox: Path
) -> None:
    """Debian's docker-registry has no referrers API: the inventory is listed in the index
    at the tag ``sha256-<hex>`` of the image manifest's digest."""
    if project.builder != "buildkit":
        pytest.skip("publishing an inventory does not depend on the builder")
    base = write_image(project.images, "base", template=DPKG_BASE)
    shutil.copy(busybox, base / "busybox")
    deb = make_deb(base, "libfoo1", "1.2-3")
    (base / "Dockerfile.template").write_text(
        DPKG_BASE + f"COPY {deb} /tmp/\nRUN dpkg -i /tmp/{deb} && rm /tmp/{deb}\n"
    )
    project.build(check_code=0)

    registry = f"http://{project.registry}/v2/{project.namespace}/base"
    accept = {"Accept": MANIFEST_TYPES}
    head = requests.head(f"{registry}/manifests/1.0.0", headers=accept, timeout=10)
    digest = head.headers["Docker-Content-Digest"]
    index = requests.get(
        f"{registry}/manifests/{digest.replace(':', '-')}", headers=accept, timeout=10
    ).json()
    listed = [m for m in index["manifests"] if m["artifactType"] == CYCLONEDX]
    assert len(listed) == 1
    artifact = requests.get(
        f"{registry}/manifests/{listed[0]['digest']}", headers=accept, timeout=10
    ).json()
    assert artifact["subject"]["digest"] == digest
    assert artifact["config"]["mediaType"] == "application/vnd.oci.empty.v1+json"
    layer = artifact["layers"][0]
    document = requests.get(f"{registry}/blobs/{layer['digest']}", timeout=10).json()
    assert document["metadata"]["component"]["hashes"][0]["content"] == digest.split(":")[1]
    assert [c["name"] for c in document["components"]] == ["libfoo1"]

    # The inventory deleted from the registry comes back on the next run, nothing rebuilt.
    tag = f"{registry}/manifests/{digest.replace(':', '-')}"
    index_digest = requests.head(tag, headers=accept, timeout=10).headers["Docker-Content-Digest"]
    assert requests.delete(f"{registry}/manifests/{index_digest}", timeout=10).status_code == 202
    assert requests.head(tag, headers=accept, timeout=10).status_code == 404
    again = project.build(check_code=0)
    assert f"Will publish the missing inventories of: {project.name('base')}:1.0.0" in again.stdout
    assert "Built image" not in again.stdout
    assert "Successfully published image" not in again.stdout
    index = requests.get(tag, headers=accept, timeout=10).json()
    assert [m["artifactType"] for m in index["manifests"]] == [CYCLONEDX]
    quiet = project.build(check_code=0)
    assert "missing inventories" not in quiet.stdout

    # No local image: sbom prints the copy the registry holds (it names the pushed digest).
    subprocess.run(
        [
            "docker",
            "-H",
            project.bed.docker_host,
            "rmi",
            "-f",
            f"{project.name('base')}:1.0.0",
            f"{project.name('base')}:latest",
        ],
        check=True,
        capture_output=True,
    )
    printed = json.loads(project.run("sbom", "base", str(project.images), check_code=0).stdout)
    assert printed["metadata"]["component"]["hashes"][0]["content"] == digest.split(":")[1]
    assert [c["name"] for c in printed["components"]] == ["libfoo1"]


@contextmanager
def loopback_archive(folder: Path) -> Iterator[str]:
    """``folder`` (its .debs indexed with dpkg-scanpackages) served on 127.0.0.1."""
    index = subprocess.run(
        ["dpkg-scanpackages", "--multiversion", "."],
        cwd=folder,
        capture_output=True,
        check=True,
    ).stdout
    (folder / "Packages").write_bytes(index)
    with served_folder(folder) as url:
        yield url + "/"


APT_FROM = (
    "RUN rm -f /etc/apt/sources.list /etc/apt/sources.list.d/* \\\n"
    "    && echo 'deb [trusted=yes] {url} ./' > /etc/apt/sources.list.d/loop.list \\\n"
    "    && apt-get update && apt-get install -y --no-install-recommends {packages} \\\n"
    "    && rm -rf /var/lib/apt/lists/*\n"
)


def test_a_debian_based_tree_inventory_equals_what_dpkg_says(
    project: Project, debian_base: str, tmp_path: Path
) -> None:
    if project.builder != "buildkit":
        pytest.skip("reading an image does not depend on the builder")
    archive = tmp_path / "archive"
    archive.mkdir()
    make_deb(archive, "tinyfoo", "1:1.2+b1-3", source="foo (1.2-3)")
    make_deb(archive, "toolbar", "2.0-1")
    with loopback_archive(archive) as url:
        write_image(
            project.images,
            "deb-root",
            template=f"FROM {debian_base}\n" + APT_FROM.format(url=url, packages="tinyfoo"),
        )
        write_image(
            project.images,
            "deb-app",
            template='FROM {{ "deb-root" | image_tag }}\n'
            + APT_FROM.format(url=url, packages="toolbar"),
            depends=["deb-root"],
        )
        project.write_config(username=None, password=None, network_mode="host")
        project.build("--no-pull", check_code=0)

    document = json.loads(project.run("sbom", "deb-app", str(project.images), check_code=0).stdout)
    found = {c["name"]: c for c in document["components"]}
    listed = subprocess.run(
        [
            "docker",
            "-H",
            project.bed.docker_host,
            "run",
            "--rm",
            f"{project.name('deb-app')}:1.0.0",
            "dpkg-query",
            "-W",
            "-f",
            "${db:Status-Abbrev} ${Package} ${Version}\\n",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    installed = {
        line.split()[1].split(":")[0]: line.split()[2]
        for line in listed.splitlines()
        if line.startswith("ii ")
    }
    assert {n: c["version"] for n, c in found.items()} == installed
    by = {n: {p["name"]: p["value"] for p in c["properties"]} for n, c in found.items()}
    assert by["tinyfoo"]["docker-pkg:introduced-by"] == "deb-root"
    assert by["toolbar"]["docker-pkg:introduced-by"] == "deb-app"
    assert by["dpkg"]["docker-pkg:introduced-by"] == debian_base
    assert found["dpkg"]["purl"].endswith("&distro=debian-12")
    assert found["tinyfoo"]["purl"].startswith("pkg:deb/debian/tinyfoo@1:1.2%2Bb1-3?arch=all")
    # apt's sources and the keyrings are kept with the inventory, for refreshing
    kept = Path(os.environ["HOME"]) / ".local/state/docker-pkg/inventories"
    records = [json.loads(p.read_text()) for p in kept.glob("*.json")]
    app = next(r for r in records if r["image"].endswith("/deb-app:1.0.0"))
    apt = dict(app["apt"])
    assert "etc/apt/sources.list.d/loop.list" in apt
    assert any(path.startswith("usr/share/keyrings/") for path in apt)
    listed = kept / "files" / apt["etc/apt/sources.list.d/loop.list"].removeprefix("sha256:")
    assert "[trusted=yes]" in listed.read_text()
