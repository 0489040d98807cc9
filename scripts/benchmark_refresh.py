"""Refreshing exactly what is stale against the blind weekly bump, side by side in one run.

A generated tree shaped like production-images (``--size`` Debian-based images over four
levels, each installing its own package with apt from a signed loopback archive, a shared
library installed by a few images of the second level) is built cold; one security update
of the shared library is published; then

* ``refresh`` + ``build`` on one copy of the tree, and
* ``update '*' --scheme date`` (every changelog bumped, the weekly routine) + ``build`` on
  another copy,

each timed with the images it rebuilt. ``outdated`` over the whole tree is timed too, first
run (empty cache) and cached, with real-sized indexes: the machine's own apt lists (real
Debian ``InRelease`` files and ``Packages`` indexes, ~60,000 stanzas in ``main``) served on
loopback beside the tree's archive.

    .venv/bin/python scripts/testbed.py run -- .venv/bin/python scripts/benchmark_refresh.py
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmark import OURS, remove_namespace, tree_shape  # noqa: E402
from tests.archives import SignedArchive  # noqa: E402
from tests.helpers import served_folder  # noqa: E402

MINBASE = "localhost/debian-minbase:bookworm"
LISTS = Path("/var/lib/apt/lists")
REAL_SUITES = {  # suite -> the prefix of its files in apt's lists
    "bookworm": "deb.debian.org_debian_dists_bookworm",
    "bookworm-updates": "deb.debian.org_debian_dists_bookworm-updates",
    "bookworm-security": "deb.debian.org_debian-security_dists_bookworm-security",
}
BUILD_LIST = "/etc/apt/bench-build.list"
APT = f"apt-get -o Dir::Etc::SourceList={BUILD_LIST} -o Dir::Etc::SourceParts=-"
CHANGELOG = """{name} (1.0.0) wikimedia; urgency=medium

  * Initial.

 -- Bench <bench@example.org>  Fri, 04 Dec 2026 12:00:00 +0000
"""


def make_deb(pool: Path, name: str, version: str) -> None:
    root = pool / f"{name}-{version}"
    (root / "DEBIAN").mkdir(parents=True)
    (root / "usr/share" / name).mkdir(parents=True)
    (root / "usr/share" / name / "hello").write_text(f"{name} {version}\n")
    (root / "DEBIAN/control").write_text(
        f"Package: {name}\nVersion: {version}\nArchitecture: all\n"
        "Maintainer: Bench <bench@example.org>\nDescription: benchmark package\n"
    )
    deb = pool / f"{name}_{version}_all.deb"
    subprocess.run(["dpkg-deb", "--build", "--root-owner-group", str(root), str(deb)], check=True,
                   capture_output=True)  # fmt: skip
    shutil.rmtree(root)


def subtree(parents: dict[str, str | None], name: str) -> set[str]:
    below = {name}
    grew = True
    while grew:
        more = {n for n, p in parents.items() if p in below} - below
        below |= more
        grew = bool(more)
    return below


def real_archive(folder: Path) -> list[str]:
    """The machine's apt lists laid out as an archive; the suites it could make."""
    made = []
    for suite, prefix in REAL_SUITES.items():
        signed = LISTS / f"{prefix}_InRelease"
        packed = LISTS / f"{prefix}_main_binary-amd64_Packages.lz4"
        plain = LISTS / f"{prefix}_main_binary-amd64_Packages"
        if not signed.exists() or not (packed.exists() or plain.exists()):
            continue
        binary = folder / "dists" / suite / "main" / "binary-amd64"
        binary.mkdir(parents=True)
        shutil.copy(signed, folder / "dists" / suite / "InRelease")
        if plain.exists():
            shutil.copy(plain, binary / "Packages")
        else:
            with (binary / "Packages").open("wb") as out:
                subprocess.run(["lz4", "-dc", str(packed)], stdout=out, check=True)
        made.append(suite)
    return made


def write_tree(
    root: Path, parents: dict[str, str | None], shared: set[str], url: str, real: list[str],
    *, key: str,
) -> None:  # fmt: skip
    final = [f"deb [signed-by=/usr/share/keyrings/bench.asc] {url}/bench {s} main"
             for s in ("bookworm", "bookworm-security")]  # fmt: skip
    final += [f"deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] {url}/real {s} main"
              for s in real]  # fmt: skip
    for name, parent in parents.items():
        folder = root / name
        folder.mkdir(parents=True)
        (folder / "changelog").write_text(CHANGELOG.format(name=name))
        packages = f"pkg-{name}" + (" libshared" if name in shared else "")
        install = (
            f"{APT} update -qq && {APT} install -y -qq --no-install-recommends {packages} "
            "> /dev/null && rm -rf /var/lib/apt/lists/*"
        )
        if parent is None:
            (folder / "bench.asc").write_text(key)
            sources = "\\n".join(final)
            template = (
                f"FROM {MINBASE}\nCOPY bench.asc /usr/share/keyrings/bench.asc\n"
                "RUN rm -f /etc/apt/sources.list /etc/apt/sources.list.d/* \\\n"
                f"    && printf '%s\\n' '{final[0]}' '{final[1]}' > {BUILD_LIST} \\\n"
                f"    && {install} \\\n"
                f"    && printf '{sources}\\n' > /etc/apt/sources.list.d/bench.list\n"
            )
        else:
            template = f'FROM {{{{ "{parent}" | image_tag }}}}\nRUN {install}\n'
            (folder / "control").write_text(f"Depends: {parent}\n")
        (folder / "Dockerfile.template").write_text(template)


def run(argv: list[str], cwd: Path, env: dict[str, str], ok: tuple[int, ...] = (0,)) -> float:
    start = time.monotonic()
    proc = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    elapsed = time.monotonic() - start
    if proc.returncode not in ok:
        sys.exit(f"benchmark step failed: {' '.join(argv)}\n{proc.stdout[-3000:]}\n{proc.stderr}")
    return elapsed


def rebuilt(report: Path) -> int:
    return sum(i["state"] == "verified" for i in json.loads(report.read_text())["images"])


def ensure_base() -> None:
    inspect = ["docker", "image", "inspect", MINBASE]
    if subprocess.run(inspect, capture_output=True, check=False).returncode:
        tar = ROOT / ".cache" / "debian" / "minbase-bookworm.tar"
        if not tar.exists():
            sys.exit(f"no {tar}: run the integration tests once (they make it with mmdebstrap)")
        subprocess.run(["docker", "import", str(tar), MINBASE], check=True, capture_output=True)


def pick_shared(parents: dict[str, str | None], levels: list[list[str]], most: int) -> set[str]:
    """Images of the second level whose subtrees together hold at most ``most`` images."""
    shared: set[str] = set()
    for name in sorted(levels[1], key=lambda n: -len(subtree(parents, n))):
        if len(set().union(*(subtree(parents, s) for s in shared | {name}))) <= most:
            shared.add(name)
    return shared


class Bench:
    """One run: the tree, its archive, the tool's command lines and what was measured."""

    def __init__(self, work: Path, args: argparse.Namespace):
        self.work = work
        self.args = args
        self.env = {
            **os.environ,
            "XDG_STATE_HOME": str(work / "state"),
            "XDG_CACHE_HOME": str(work / "cache"),
        }
        self.archive = SignedArchive(work / "served" / "bench")
        self.key = self.archive.new_key("Bench Archive")
        self.parents, levels = tree_shape(args.size)
        self.shared = pick_shared(self.parents, levels, round(args.share * args.size))
        self.affected = set().union(*(subtree(self.parents, s) for s in self.shared))
        self.namespace = f"localhost/refresh{uuid.uuid4().hex[:8]}"
        config = work / "config.yaml"
        config.write_text(f"namespace: {self.namespace}\nnetwork_mode: host\n")
        self.ours = [*OURS, "-c", str(config)]
        self.build = [*self.ours, "build", "--no-pull", "--progress", "quiet"]
        self.build += ["-j", str(args.jobs)]
        self.times: dict[str, float] = {}
        self.rebuilt: dict[str, int] = {}

    def run(self, name: str, *argv: str, ok: tuple[int, ...] = (0,)) -> None:
        self.times[name] = self.times.get(name, 0.0) + run(list(argv), self.work, self.env, ok)

    def prepare(self) -> list[str]:
        """The archive's first packages; the real suites served beside it."""
        for name in self.parents:
            make_deb(self.archive.pool("bookworm"), f"pkg-{name}", "1.0-1")
        make_deb(self.archive.pool("bookworm"), "libshared", "1.0-1")
        self.archive.publish("bookworm", label="Debian", key=self.key)
        self.archive.publish("bookworm-security", label="Debian-Security", key=self.key)
        return real_archive(self.work / "served" / "real")

    def before_the_update(self, tree: Path) -> dict[str, list[object]]:
        self.run("cold", *self.build, str(tree))
        self.run("first", *self.ours, "outdated", str(tree), ok=(0, 1))
        self.run("cached", *self.ours, "outdated", str(tree), ok=(0, 1))
        if self.args.profile:
            profiled = [sys.executable, "-m", "cProfile", "-o", str(self.args.profile)]
            run([*profiled, "-m", "docker_pkg", *self.ours[1:], "outdated", str(tree)],
                self.work, self.env, ok=(0, 1))  # fmt: skip
        listed = subprocess.run(
            [*self.ours, "outdated", "--format", "json", str(tree)],
            cwd=self.work, env=self.env, capture_output=True, text=True, check=False,
        )  # fmt: skip
        found: dict[str, list[object]] = json.loads(listed.stdout)
        return found

    def after_the_update(self, tree: Path) -> None:
        make_deb(self.archive.pool("bookworm-security"), "libshared", "1.0-1+deb12u1")
        self.archive.publish("bookworm-security", label="Debian-Security", key=self.key)
        refreshed, blind = self.work / "refreshed", self.work / "blind"
        shutil.copytree(tree, refreshed)
        shutil.copytree(tree, blind)
        report = self.work / "report.json"
        self.run("refresh itself", *self.ours, "refresh", str(refreshed))
        self.times["refresh"] = self.times["refresh itself"]
        self.run("refresh", *self.build, "--report", str(report), str(refreshed))
        self.rebuilt["refresh"] = rebuilt(report)
        weekly = ("update", "*", "--scheme", "date", "--reason", "Weekly rebuild")
        self.run("blind", *self.ours, *weekly, str(blind))
        self.run("blind", *self.build, "--report", str(report), str(blind))
        self.rebuilt["blind"] = rebuilt(report)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=125)
    parser.add_argument("--share", type=float, default=0.1, help="part of the tree updated")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--profile", type=Path, help="also profile a cached outdated into FILE")
    args = parser.parse_args()
    ensure_base()
    with tempfile.TemporaryDirectory() as scratch:
        bench = Bench(Path(scratch), args)
        real = bench.prepare()
        try:
            with served_folder(bench.work / "served") as url:
                tree = bench.work / "tree"
                write_tree(tree, bench.parents, bench.shared, url, real, key=bench.key.armoured)
                found = bench.before_the_update(tree)
                bench.after_the_update(tree)
        finally:
            bench.archive.close()
            remove_namespace(bench.namespace.split("/", 1)[1])
    times, touched = bench.times, len(bench.affected)
    shared, suites = ", ".join(sorted(bench.shared)), ", ".join(real)
    print(f"tree: {len(bench.parents)} images, depth 4; the update touches {touched} "
          f"({shared} and below); real suites: {suites}")  # fmt: skip
    stale, external, warned = found["refresh"], found["external"], found["warnings"][:3]
    print(f"cold build: {times['cold']:.1f} s; before the update: {len(stale)} to refresh, "
          f"{len(external)} external, warnings: {warned}")  # fmt: skip
    print("| routine | images rebuilt | wall time | ratio |")
    print("| --- | ---: | ---: | ---: |")
    blind, refresh = times["blind"], times["refresh"]
    print(f"| blind weekly bump + build | {bench.rebuilt['blind']} | {blind:.1f} s | 1.00 |")
    print(f"| refresh + build | {bench.rebuilt['refresh']} | {refresh:.1f} s "
          f"| {refresh / blind:.2f} |")  # fmt: skip
    print(f"| (of which refresh itself) | | {times['refresh itself']:.2f} s | |")
    print(f"| outdated, first run (empty cache) | | {times['first']:.2f} s | |")
    print(f"| outdated, cached | | {times['cached']:.2f} s | |")


if __name__ == "__main__":
    main()
