"""The real engine and registry: from the environment (scripts/test starts them), or started
here for this session when the variables are missing."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import pytest
import requests
import yaml

from docker_pkg.engines.docker_engine import DockerEngine
from docker_pkg.registry.media_types import MANIFEST_TYPES
from tests.helpers import write_image

ROOT = Path(__file__).resolve().parents[2]

BASE_TEMPLATE = """\
FROM scratch
COPY busybox /bin/busybox
RUN ["/bin/busybox", "--install", "-s", "/bin"]
RUN mkdir -p /tmp && echo {{ "base" }} > /stamp-base
"""


def _load_testbed() -> ModuleType:
    spec = importlib.util.spec_from_file_location("testbed", ROOT / "scripts" / "testbed.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["testbed"] = module
    spec.loader.exec_module(module)
    return module


@dataclass(frozen=True)
class Bed:
    docker_host: str
    registry: str
    module: ModuleType


@pytest.fixture(scope="session")
def bed() -> Iterator[Bed]:
    module = _load_testbed()
    host, registry = os.environ.get("DOCKER_HOST"), os.environ.get("DOCKER_PKG_TEST_REGISTRY")
    if host and registry:
        yield Bed(host, registry, module)
        return
    with module.running() as started:
        yield Bed(started.docker_host, started.registry, module)


@pytest.fixture(scope="session")
def engine(bed: Bed) -> Iterator[DockerEngine]:
    eng = DockerEngine(bed.docker_host)
    yield eng
    eng.close()


@pytest.fixture(scope="session")
def busybox() -> Path:
    found = shutil.which("busybox") or "/bin/busybox"
    path = Path(found)
    assert path.is_file(), "Debian's busybox-static must be installed (scripts/bootstrap)"
    return path


@pytest.fixture
def namespace() -> str:
    """A namespace of its own per test, so tests never see each other's images."""
    return f"t{uuid.uuid4().hex[:10]}"


@dataclass
class CliResult:
    returncode: int
    stdout: str
    stderr: str


@dataclass
class Project:
    """A definitions tree, its config.yaml and a way to run docker-pkg on it."""

    root: Path
    bed: Bed
    registry: str
    namespace: str
    builder: str = "classic"

    @property
    def images(self) -> Path:
        return self.root / "images"

    def name(self, short: str) -> str:
        return f"{self.registry}/{self.namespace}/{short}"

    def write_config(self, **extra: object) -> Path:
        values: dict[str, object] = {
            "registry": self.registry,
            "namespace": self.namespace,
            "username": "tester",
            "password": "s3cr3t-Passw0rd",
            "builder": self.builder,
        }
        values.update(extra)
        path = self.root / "config.yaml"
        path.write_text(yaml.safe_dump({k: v for k, v in values.items() if v is not None}))
        return path

    def command(self, *args: str) -> list[str]:
        """docker-pkg with this project's config.yaml and ``args``."""
        return [sys.executable, "-m", "docker_pkg", "-c", str(self.root / "config.yaml"), *args]

    def environ(self, **extra: str) -> dict[str, str]:
        return {**os.environ, "DOCKER_HOST": self.bed.docker_host, **extra}

    def start_build(self, *args: str, **env: str) -> subprocess.Popen[str]:
        """A build of the tree running in the background, its output piped."""
        return subprocess.Popen(
            self.command("build", "--progress", "plain", *args, str(self.images)),
            cwd=self.root,
            env=self.environ(**env),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def run(self, *args: str, check_code: int | None = None) -> CliResult:
        proc = subprocess.run(
            self.command(*args),
            cwd=self.root,
            env=self.environ(),
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        result = CliResult(proc.returncode, proc.stdout, proc.stderr)
        if check_code is not None:
            assert result.returncode == check_code, f"{result.stdout}\n{result.stderr}"
        return result

    def build(self, *args: str, check_code: int | None = 0) -> CliResult:
        return self.run("build", *args, str(self.images), check_code=check_code)

    def log(self) -> str:
        path = self.root / "docker-pkg-build.log"
        return path.read_text() if path.exists() else ""

    def manifest_status(self, short: str, tag: str) -> int:
        url = f"http://{self.registry}/v2/{self.namespace}/{short}/manifests/{tag}"
        return requests.get(url, headers={"Accept": MANIFEST_TYPES}, timeout=10).status_code


@pytest.fixture(params=["classic", "buildkit"])
def project(
    request: pytest.FixtureRequest, tmp_path: Path, bed: Bed, namespace: str, busybox: Path
) -> Project:
    """A project per test and builder: the whole suite runs on both of the engine's builders."""
    proj = Project(tmp_path, bed, bed.registry, namespace, builder=request.param)
    proj.images.mkdir()
    proj.write_config()
    return proj


def containers(bed: Bed) -> list[str]:
    """Ids of every container of the engine, running or not."""
    out = subprocess.run(
        ["docker", "-H", bed.docker_host, "ps", "-aq"], capture_output=True, text=True, check=True
    ).stdout
    return out.split()


def add_base(project: Project, busybox: Path, name: str = "base", test: str | None = None) -> Path:
    files = {"test.sh": test} if test else {}
    path = write_image(project.images, name, version="1.0.0", template=BASE_TEMPLATE, files=files)
    shutil.copy(busybox, path / "busybox")
    if test:
        (path / "test.sh").chmod(0o755)
    return path


MINBASE = "localhost/debian-minbase:bookworm"


@pytest.fixture(scope="module")
def debian_base(bed: Bed) -> str:
    """A real Debian base image: ``mmdebstrap --variant=minbase`` from the machine's own
    apt sources (where it reaches Debian's archive), imported into the test engine."""
    if shutil.which("mmdebstrap") is None:
        pytest.skip("mmdebstrap is not installed (scripts/bootstrap installs it)")
    tar = ROOT / ".cache" / "debian" / "minbase-bookworm.tar"
    if not tar.exists():
        tar.parent.mkdir(parents=True, exist_ok=True)
        made = subprocess.run(
            [
                "mmdebstrap",
                "--variant=minbase",
                "--format=tar",
                "--quiet",
                "bookworm",
                str(tar) + ".part",
            ],
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        if made.returncode != 0:
            pytest.skip(f"no Debian base: mmdebstrap failed ({made.stderr.strip()[-300:]})")
        Path(str(tar) + ".part").rename(tar)
    subprocess.run(
        ["docker", "-H", bed.docker_host, "import", str(tar), MINBASE],
        check=True,
        capture_output=True,
    )
    return MINBASE
