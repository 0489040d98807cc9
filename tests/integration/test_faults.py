"""Real trees and real faults: another tree's images, a dying engine or registry, two runs at
once, hanging builds and tests, records that cannot be written, and planning with no engine.

The engine and registry that these tests kill are their own (a private test bed per module),
so the rest of the suite never sees them go.
"""

from __future__ import annotations

import contextlib
import json
import random
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from docker_pkg.registry.media_types import MANIFEST_TYPES
from tests.helpers import write_image
from tests.integration.conftest import BASE_TEMPLATE, Bed, Project, add_base, containers

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def own_bed(bed: Bed) -> Iterator[tuple[Bed, object]]:
    """An engine and a registry of this module's own, to kill and restart."""
    side = bed.module.Testbed()
    try:
        side.start_engine()
        registry = side.start_registry()
        yield Bed(side.docker_host, registry, bed.module), side
    finally:
        side.stop()


def make_project(root: Path, bed: Bed, namespace: str, busybox: Path, **config: object) -> Project:
    project = Project(root, bed, bed.registry, namespace, builder="buildkit")
    project.images.mkdir(parents=True)
    project.write_config(**config)
    add_base(project, busybox)
    return project


def child(project: Project, name: str, parent: str, run: str = "true", **kw: object) -> Path:
    template = f'FROM {{{{ "{parent}" | image_tag }}}}\nRUN {run}\n'
    return write_image(project.images, name, template=template, depends=[parent], **kw)  # type: ignore[arg-type]


def in_registry(project: Project, short: str, tag: str = "1.0.0") -> bool:
    return project.manifest_status(short, tag) == 200


def wait_for_log(project: Project, text: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while text not in project.log():
        assert time.monotonic() < deadline, f"{text!r} never appeared in the log"
        time.sleep(0.1)


def report_states(path: Path) -> dict[str, dict[str, object]]:
    return {i["name"]: i for i in json.loads(path.read_text())["images"]}


# -- another tree's images ----------------------------------------------------------------


def test_a_dependency_on_another_trees_published_image(
    project: Project, busybox: Path, namespace: str
) -> None:
    other = Project(project.root / "other", project.bed, project.registry, namespace + "o")
    other.images.mkdir(parents=True)
    other.write_config(builder=project.builder)
    golang = write_image(other.images, "golang1.25", template=BASE_TEMPLATE)
    shutil.copy(busybox, golang / "busybox")
    other.build()
    # Only the registry has it now: the main tree's build must pull it.
    subprocess.run(
        ["docker", "-H", project.bed.docker_host, "rmi", f"{other.name('golang1.25')}:1.0.0"],
        check=True,
        capture_output=True,
    )
    write_image(
        project.images,
        "cert-manager/build",
        name="cert-manager-build",
        template="FROM {{ registry }}/" + other.namespace + "/golang1.25:1.0.0\n"
        "RUN test -f /stamp-base\n",
        build_depends=["golang1.25"],
    )

    built = project.run("--info", "build", str(project.images), check_code=0)
    assert (
        "Assuming images built elsewhere (external dependencies): "
        "golang1.25 (for cert-manager-build)" in built.stdout
    )
    assert f"the Dockerfiles use it as {other.name('golang1.25')}:1.0.0" in built.stderr
    assert in_registry(project, "cert-manager-build")

    lint = project.run("lint", "--offline", "--format", "json", str(project.images))
    assert lint.returncode == 0, lint.stdout
    [finding] = json.loads(lint.stdout)
    assert (finding["code"], finding["severity"]) == ("external-dependency", "warning")
    graph = json.loads(project.run("graph", "--format", "json", str(project.images)).stdout)
    assert {"name": "golang1.25", "label": "golang1.25", "selected": False, "external": True} in (
        graph["nodes"]
    )
    assert {"parent": "golang1.25", "child": "cert-manager-build", "kind": "external"} in (
        graph["edges"]
    )
    project.run("update", "cert-manager-build", "--reason", "rebuild", str(project.images))
    assert "1.0.0-s1" in (project.images / "cert-manager/build/changelog").read_text()


# -- a dying engine -------------------------------------------------------------------------


def test_engine_killed_mid_run_ends_promptly_and_a_rerun_finishes(
    own_bed: tuple[Bed, object], tmp_path: Path, namespace: str, busybox: Path
) -> None:
    bed, side = own_bed
    project = make_project(tmp_path, bed, namespace, busybox)
    child(project, "slow", "base", run="sleep 30")
    child(project, "leaf", "slow")
    child(project, "quick", "base")
    report = tmp_path / "report.json"

    proc = project.start_build("-j2", "--report", str(report))
    wait_for_log(project, "sleep 30")
    side.kill_engine()  # type: ignore[attr-defined]
    killed_at = time.monotonic()
    out, err = proc.communicate(timeout=60)
    assert time.monotonic() - killed_at < 30, "the run did not end promptly"
    assert proc.returncode == 1, out + err
    assert "Traceback" not in out + err
    assert f"lost the engine at {bed.docker_host}" in out
    states = report_states(report)
    assert states["slow"]["state"] == "failed"
    assert states["leaf"]["state"] == "skipped"
    # Nothing claimed that did not happen: published means in the registry, and back.
    for name, image in states.items():
        assert (image["state"] == "published") == in_registry(project, name), name

    side.start_engine()  # type: ignore[attr-defined]
    (project.images / "slow" / "Dockerfile.template").write_text(
        '{{ "base" | image_tag }}'.join(["FROM ", "\nRUN true\n"])
    )
    again = project.build("--report", str(report))
    assert "Traceback" not in again.stdout + again.stderr
    rerun = report_states(report)
    for name, image in states.items():
        if image["state"] == "published":
            assert rerun[name]["pushed"] is False, f"{name} was pushed twice"
    assert all(in_registry(project, n) for n in ("base", "slow", "leaf", "quick"))


class CuttingEngineProxy:
    """A unix socket in front of the engine that passes everything through, except that it
    cuts the connection in the middle of the first push's response stream."""

    def __init__(self, engine_socket: str, path: Path):
        self.engine_socket = engine_socket
        self.path = path
        self.cut = threading.Event()
        self._server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._server.bind(str(path))
        self._server.listen(16)
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        with contextlib.suppress(OSError):
            while True:
                client, _ = self._server.accept()
                threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        upstream.connect(self.engine_socket)
        pushing = threading.Event()

        def engine_to_client() -> None:
            with contextlib.suppress(OSError):
                while data := upstream.recv(65536):
                    client.sendall(data)
                    if pushing.is_set() and not self.cut.is_set():
                        self.cut.set()  # the headers and a first chunk went through
                        break
            for sock in (client, upstream):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()

        threading.Thread(target=engine_to_client, daemon=True).start()
        with contextlib.suppress(OSError):
            while data := client.recv(65536):
                if b"/push" in data and not self.cut.is_set():
                    pushing.set()
                upstream.sendall(data)

    def close(self) -> None:
        self._server.close()


def test_engine_lost_while_pushing_fails_that_image_with_a_report(
    project: Project, busybox: Path, tmp_path: Path
) -> None:
    if project.builder != "buildkit":
        pytest.skip("the push path does not depend on the builder")
    add_base(project, busybox)
    child(project, "app", "base")
    proxy = CuttingEngineProxy(project.bed.docker_host.removeprefix("unix://"), tmp_path / "e.sock")
    report = tmp_path / "report.json"
    real = project.bed
    project.bed = Bed(f"unix://{proxy.path}", real.registry, real.module)
    try:
        cut = project.build("--report", str(report), check_code=1)
    finally:
        proxy.close()
        project.bed = real
    assert proxy.cut.is_set()
    assert "Traceback" not in cut.stdout + cut.stderr
    assert "lost the engine at unix://" in cut.stdout
    states = report_states(report)
    assert states["base"]["state"] == "failed"
    assert states["app"]["state"] == "skipped"
    assert not in_registry(project, "base")
    project.build()
    assert in_registry(project, "base")
    assert in_registry(project, "app")


# -- a dying registry -----------------------------------------------------------------------


def test_registry_killed_mid_publish_then_a_rerun_publishes_the_rest(
    own_bed: tuple[Bed, object], tmp_path: Path, namespace: str, busybox: Path
) -> None:
    bed, side = own_bed
    project = make_project(tmp_path, bed, namespace, busybox)
    child(project, "app", "base", run="sleep 8")
    report = tmp_path / "report.json"

    proc = project.start_build("--report", str(report))
    deadline = time.monotonic() + 60
    while not in_registry(project, "base", "latest"):  # pushed last, then checked
        assert time.monotonic() < deadline
        time.sleep(0.1)
    time.sleep(1)
    side.kill_registry(bed.registry)  # type: ignore[attr-defined]
    out, err = proc.communicate(timeout=240)
    assert proc.returncode == 1, out + err
    assert "Traceback" not in out + err
    states = report_states(report)
    assert states["base"]["state"] == "published"
    assert states["app"]["state"] == "failed"

    side.restart_registry(bed.registry)  # type: ignore[attr-defined]
    project.build("--report", str(report))
    rerun = report_states(report)
    assert rerun["base"]["pushed"] is False
    assert rerun["app"]["pushed"] is True
    assert in_registry(project, "app")


# -- two runs at once -----------------------------------------------------------------------


def test_a_second_run_waits_for_the_first_or_refuses_with_no_wait(
    project: Project, busybox: Path
) -> None:
    if project.builder != "buildkit":
        pytest.skip("locking does not depend on the builder")
    add_base(project, busybox)
    child(project, "slow", "base", run="sleep 4")

    first = project.start_build()
    wait_for_log(project, "sleep 4")
    refused = project.build("--no-wait", check_code=75)
    assert "another docker-pkg build (pid" in refused.stderr
    assert "not waiting (--no-wait)" in refused.stderr
    second = project.build()
    out, _ = first.communicate(timeout=120)
    assert first.returncode == 0, out
    assert "Waiting for another docker-pkg build (pid" in second.stdout
    # The second run planned after the first had finished: nothing left to do.
    assert "Will build the following images:\n== Step 1" in second.stdout
    assert "2 already published" in second.stdout


# -- limits on builds and tests -------------------------------------------------------------


def test_hanging_build_and_test_are_stopped_at_their_limits(
    project: Project, busybox: Path, bed: Bed
) -> None:
    if project.builder != "buildkit":
        pytest.skip("timeouts are enforced the same way for both builders")
    project.write_config(build_timeout=5, verify_timeout=5)
    add_base(project, busybox)
    child(project, "hangs-building", "base", run="sleep 120")
    test = '#!/bin/sh\nexec docker run --rm "$1" sleep 120\n'
    tested = child(project, "hangs-testing", "base", files={"test.sh": test})
    (tested / "test.sh").chmod(0o755)
    child(project, "fine", "base")
    before = containers(bed)
    report = project.root / "report.json"

    started = time.monotonic()
    project.build("-j4", "--report", str(report), check_code=1)
    assert time.monotonic() - started < 90
    states = report_states(report)
    assert states["hangs-building"]["state"] == "failed"
    assert "build_timeout (5.0s)" in str(states["hangs-building"]["reason"])
    assert "sleep 120" in str(states["hangs-building"]["reason"])
    assert states["hangs-testing"]["state"] == "failed"
    assert "verify_timeout (5s)" in str(states["hangs-testing"]["reason"])
    assert "removed 1 container(s)" in str(states["hangs-testing"]["reason"])
    assert states["fine"]["state"] == "published"
    assert containers(bed) == before


# -- records that cannot be written ---------------------------------------------------------


def test_unwritable_logs_and_history_are_warnings(project: Project, busybox: Path) -> None:
    if project.builder != "buildkit":
        pytest.skip("records do not depend on the builder")
    add_base(project, busybox)
    blocker = project.root / "a-file"
    blocker.write_text("")
    project.write_config(history_db=str(blocker / "history.sqlite"))
    result = project.build("--log-dir", str(blocker / "logs"))
    assert "WARNING: per-image logs not kept: cannot create" in result.stdout
    assert "WARNING: build history not recorded in" in result.stdout
    assert in_registry(project, "base")


# -- planning without an engine -------------------------------------------------------------


def test_dry_run_and_status_work_without_an_engine(project: Project, busybox: Path) -> None:
    if project.builder != "buildkit":
        pytest.skip("planning does not depend on the builder")
    add_base(project, busybox)
    project.build()
    child(project, "app", "base")
    real = project.bed
    project.bed = Bed("unix:///nonexistent/docker.sock", real.registry, real.module)
    try:
        plan = project.run("build", "--dry-run", "--format", "json", str(project.images))
        status = project.run("status", "--format", "json", str(project.images))
    finally:
        project.bed = real
    assert plan.returncode == 0, plan.stderr
    assert plan.stderr.count("no Docker engine reachable") == 1
    steps = json.loads(plan.stdout)["build"]
    assert [s["name"] for s in steps] == ["app"]
    assert "no engine to ask" in steps[0]["why"]
    assert status.returncode == 0, status.stderr
    rows = {r["name"]: r["state"] for r in json.loads(status.stdout)}
    assert rows == {"base": "published", "app": "unknown"}
    assert (
        requests.get(
            f"http://{project.registry}/v2/{project.namespace}/app/manifests/1.0.0",
            headers={"Accept": MANIFEST_TYPES},
            timeout=5,
        ).status_code
        == 404
    )


# -- a rerun after the daemon crashed -----------------------------------------------------

CRASH_MOMENTS = 20


def crash_tree(project: Project) -> list[str]:
    """Ten images over three levels; the middle ones verified by a test.sh that runs them."""
    names = ["base"]
    test = '#!/bin/sh\nexec docker run --rm --network none "$1" cat /who\n'
    for index in range(3):
        path = child(project, f"mid{index}", "base", run=f"echo mid{index} > /who")
        (path / "test.sh").write_text(test)
        (path / "test.sh").chmod(0o755)
        names.append(f"mid{index}")
    for index in range(6):
        child(project, f"leaf{index}", f"mid{index % 3}", run="test -s /who")
        names.append(f"leaf{index}")
    return names


def published_by(output: str) -> set[str]:
    return {
        line.rsplit("/", 1)[-1].split(":")[0]
        for line in output.splitlines()
        if "Successfully published image" in line
    }


def test_a_rerun_after_the_daemon_crashed_at_twenty_moments_finishes_the_job(
    own_bed: tuple[Bed, object], tmp_path: Path, busybox: Path
) -> None:
    """SIGKILL the daemon at the n-th event of a run (a build or a push starting or
    ending), a seeded moment later (during builds, verification, pushes, between them);
    start it again on the same data and run the same build again: it publishes the rest,
    each image once."""
    bed, side = own_bed
    rng = random.Random(22)
    failures = []
    cut_short = 0
    for moment in range(CRASH_MOMENTS):
        project = make_project(
            tmp_path / f"m{moment}", bed, f"crash{moment}x{rng.randrange(10**6)}", busybox
        )
        names = crash_tree(project)
        proc = project.start_build("-j2")
        assert proc.stdout is not None
        lines: list[str] = []
        events = 0
        for line in proc.stdout:
            lines.append(line)
            events += line.startswith(("... ", "* Built", "Successfully published"))
            if events > moment * 2:
                time.sleep(rng.uniform(0, 0.6))
                break
        side.kill_engine()  # type: ignore[attr-defined]
        out, err = proc.communicate(timeout=120)
        first = "".join(lines) + out + err
        cut_short += proc.returncode != 0
        side.start_engine()  # type: ignore[attr-defined]
        again = project.build(check_code=None)
        second = again.stdout + again.stderr
        missing = [n for n in names if not in_registry(project, n)]
        twice = published_by(first) & published_by(second)
        if again.returncode != 0 or missing or twice or "Traceback" in second:
            failures.append(
                f"moment {moment}: exit {again.returncode}, missing {missing}, "
                f"pushed twice {sorted(twice)}\n{second[-1500:]}"
            )
    assert failures == []
    assert cut_short >= CRASH_MOMENTS // 2, "the crashes missed the runs"
