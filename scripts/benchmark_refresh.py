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

from benchmark import OURS, remove_namespace  # noqa: E402

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


def shape(size: int, depth: int = 4) -> tuple[dict[str, str | None], list[list[str]]]:
    """Names and parents as scripts/benchmark.py's generated tree."""
    import random

    rng = random.Random(7)
    levels: list[list[str]] = [["base"]]
    rest = size - 1
    for level in range(1, depth):
        count = rest // (depth - level)
        levels.append([f"img{level}-{i:03d}" for i in range(count)])
        rest -= count
    parents: dict[str, str | None] = {"base": None}
    for level in range(1, depth):
        for name in levels[level]:
            parents[name] = rng.choice(levels[level - 1])
    return parents, levels


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
    key: str,
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
    if subprocess.run(["docker", "image", "inspect", MINBASE], capture_output=True).returncode:
        tar = ROOT / ".cache" / "debian" / "minbase-bookworm.tar"
        if not tar.exists():
            sys.exit(f"no {tar}: run the integration tests once (they make it with mmdebstrap)")
        subprocess.run(["docker", "import", str(tar), MINBASE], check=True, capture_output=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=125)
    parser.add_argument("--share", type=float, default=0.1, help="part of the tree updated")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--profile", type=Path, help="also profile a cached outdated into FILE")
    args = parser.parse_args()
    ensure_base()
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        env = {**os.environ, "XDG_STATE_HOME": str(work / "state"),
               "XDG_CACHE_HOME": str(work / "cache")}  # fmt: skip
        archive = SignedArchive(work / "served" / "bench")
        key = archive.new_key("Bench Archive")
        parents, levels = shape(args.size)
        shared: set[str] = set()
        for name in sorted(levels[1], key=lambda n: -len(subtree(parents, n))):
            if len(set().union(*(subtree(parents, s) for s in shared | {name}))) <= round(
                args.share * args.size
            ):
                shared.add(name)
        affected = set().union(*(subtree(parents, s) for s in shared))
        for name in parents:
            make_deb(archive.pool("bookworm"), f"pkg-{name}", "1.0-1")
        make_deb(archive.pool("bookworm"), "libshared", "1.0-1")
        archive.publish("bookworm", label="Debian", key=key)
        archive.publish("bookworm-security", label="Debian-Security", key=key)
        real = real_archive(work / "served" / "real")
        namespace = f"localhost/refresh{uuid.uuid4().hex[:8]}"
        try:
            with served_folder(work / "served") as url:
                tree = work / "tree"
                write_tree(tree, parents, shared, url, real, key.armoured)
                (work / "config.yaml").write_text(
                    f"namespace: {namespace}\nnetwork_mode: host\n"
                )
                ours = [*OURS, "-c", str(work / "config.yaml")]
                build = [*ours, "build", "--no-pull", "--progress", "quiet", "-j", str(args.jobs)]
                cold = run([*build, str(tree)], work, env)
                first = run([*ours, "outdated", str(tree)], work, env, ok=(0, 1))
                cached = run([*ours, "outdated", str(tree)], work, env, ok=(0, 1))
                if args.profile:
                    profiled = [sys.executable, "-m", "cProfile", "-o", str(args.profile),
                                "-m", "docker_pkg", *ours[1:], "outdated", str(tree)]  # fmt: skip
                    run(profiled, work, env, ok=(0, 1))
                found = json.loads(
                    subprocess.run([*ours, "outdated", "--format", "json", str(tree)], cwd=work,
                                   env=env, capture_output=True, text=True).stdout
                )  # fmt: skip

                make_deb(archive.pool("bookworm-security"), "libshared", "1.0-1+deb12u1")
                archive.publish("bookworm-security", label="Debian-Security", key=key)
                shutil.copytree(tree, work / "refreshed")
                shutil.copytree(tree, work / "blind")
                report = work / "report.json"
                refresh_only = run([*ours, "refresh", str(work / "refreshed")], work, env)
                refresh = refresh_only
                if args.profile:
                    build = [sys.executable, "-m", "cProfile", "-o", f"{args.profile}.build",
                             "-m", "docker_pkg", *build[1:]]  # fmt: skip
                refresh += run([*build, "--report", str(report), str(work / "refreshed")], work, env)
                refreshed_images = rebuilt(report)
                blind = run([*ours, "update", "*", "--scheme", "date", "--reason", "Weekly rebuild",
                             str(work / "blind")], work, env)  # fmt: skip
                blind += run([*build, "--report", str(report), str(work / "blind")], work, env)
                blind_images = rebuilt(report)
        finally:
            remove_namespace(namespace.split("/", 1)[1])
    print(f"tree: {len(parents)} images, depth 4; update touches {len(affected)} "
          f"({', '.join(sorted(shared))} and below); real suites: {', '.join(real) or 'none'}")  # fmt: skip
    print(f"cold build: {cold:.1f} s")
    print(f"before the update: {len(found['refresh'])} image(s) to refresh, "
          f"{len(found['external'])} external base(s) with updates, warnings: "
          f"{found['warnings'][:3] or 'none'}")  # fmt: skip
    print("| routine | images rebuilt | wall time | ratio |")
    print("| --- | --- | --- | --- |")
    print(f"| blind weekly bump + build | {blind_images} | {blind:.1f} s | 1.00 |")
    print(f"| refresh + build | {refreshed_images} | {refresh:.1f} s | {refresh / blind:.2f} |")
    print(f"| (of which refresh itself) | | {refresh_only:.2f} s | |")
    print(f"| outdated, first run (empty cache) | | {first:.2f} s | |")
    print(f"| outdated, cached | | {cached:.2f} s | |")


if __name__ == "__main__":
    main()
