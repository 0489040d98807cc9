"""Build generated image trees with docker-pkg and with the reference docker-pkg 4.0.4.

    .venv/bin/python scripts/benchmark.py [--sizes 30 100] [--jobs 1 2 4] [--registry HOST:PORT]

Needs a Docker engine (``DOCKER_HOST``); run it through ``scripts/testbed.py run --`` to get
a private one. The reference is installed from PyPI into ``.bench/reference-venv`` on first
use. Every run builds the same tree under a namespace of its own, without cache, so no run
benefits from another; the images are removed afterwards. For each run it prints the wall
time, the ratio to the reference, and the ratio to the critical-path bound: the longest
chain of per-image build times (from this tool's own ``-j1`` report), the best any
scheduler can do on one engine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

import docker

ROOT = Path(__file__).resolve().parents[1]
# This tool as its users run it (the console script, as the reference is run): not through
# ``python -m``, which adds runpy's start-up.
OURS = [str(Path(sys.executable).with_name("docker-pkg"))]
REFERENCE_VENV = ROOT / ".bench" / "reference-venv"
CHANGELOG = """{name} (1.0.0) wikimedia; urgency=medium

  * Benchmark image.

 -- Bench <bench@example.org>  Sun, 29 Nov 2026 12:00:00 +0000
"""


def tree_shape(
    size: int, depth: int = 4, seed: int = 7
) -> tuple[dict[str, str | None], list[list[str]]]:
    """``size`` image names over ``depth`` levels (``base`` alone on the first), each below
    the first with one parent drawn from the level above; the parents and the levels."""
    rng = random.Random(seed)
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


def generate_tree(root: Path, size: int, depth: int = 4, seed: int = 7) -> dict[str, str | None]:
    """``size`` images over ``depth`` levels; each below the first has one parent above."""
    busybox = shutil.which("busybox") or "/bin/busybox"
    parents, _ = tree_shape(size, depth, seed)
    for name, parent in parents.items():
        folder = root / name
        folder.mkdir(parents=True)
        (folder / "changelog").write_text(CHANGELOG.format(name=name))
        (folder / "payload.txt").write_text(f"{name}\n" * 50)
        if parent is None:
            shutil.copy(busybox, folder / "busybox")
            template = (
                "FROM scratch\nCOPY busybox /bin/busybox\n"
                'RUN ["/bin/busybox", "--install", "-s", "/bin"]\n'
            )
        else:
            template = f'FROM {{{{ "{parent}" | image_tag }}}}\n'
            (folder / "control").write_text(f"Depends: {parent}\n")
        template += (
            f"COPY payload.txt /data/{name}.txt\n"
            f"RUN wc -l /data/{name}.txt > /dev/null && echo {name} >> /stamp\n"
        )
        (folder / "Dockerfile.template").write_text(template)
    return parents


def ensure_reference() -> Path:
    tool = REFERENCE_VENV / "bin" / "docker-pkg"
    if not tool.exists():
        subprocess.run([sys.executable, "-m", "venv", str(REFERENCE_VENV)], check=True)
        subprocess.run(
            [str(REFERENCE_VENV / "bin" / "pip"), "install", "-q", "docker-pkg==4.0.4"],
            check=True,
        )
    return tool


def timed(argv: list[str], cwd: Path) -> float:
    start = time.monotonic()
    proc = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, check=False)
    elapsed = time.monotonic() - start
    if proc.returncode != 0 or "ERROR" in proc.stdout:
        sys.exit(f"benchmark run failed: {' '.join(argv)}\n{proc.stdout}\n{proc.stderr}")
    return elapsed


def remove_namespace(namespace: str) -> None:
    client = docker.from_env()
    try:
        for image in client.images.list():
            for tag in image.tags:
                if f"/{namespace}/" in f"/{tag}":
                    client.images.remove(tag, force=True)
        client.images.prune()
    finally:
        client.close()


def critical_path(report: Path, parents: dict[str, str | None]) -> float:
    """The longest chain of per-image build times, from a report of this tool."""
    data = json.loads(report.read_text())
    build = {
        i["name"]: _seconds(i["phases"]["build"]) for i in data["images"] if "build" in i["phases"]
    }
    memo: dict[str, float] = {}

    def chain(name: str) -> float:
        if name not in memo:
            parent = parents[name]
            memo[name] = build[name] + (chain(parent) if parent else 0.0)
        return memo[name]

    return max(chain(name) for name in build)


def _seconds(span: dict[str, str]) -> float:
    started, ended = (datetime.fromisoformat(span[k]) for k in ("started", "ended"))
    return (ended - started).total_seconds()


def command(
    tool: list[str], config: Path, images: Path, run: tuple[int, str] | None, report: Path
) -> list[str]:
    """The reference takes the plain invocation; this tool also gets -j, the builder and a
    report."""
    if run is None:
        return [*tool, "-c", str(config), "build", str(images)]
    jobs, builder = run
    options = ["-j", str(jobs), "--builder", builder, "--progress", "quiet"]
    return [*tool, "-c", str(config), "build", *options, "--report", str(report), str(images)]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[30, 100])
    parser.add_argument("--jobs", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--builders", nargs="+", default=["classic", "buildkit"])
    parser.add_argument("--no-reference", action="store_true", help="skip docker-pkg 4.0.4")
    args = parser.parse_args(argv)
    tools: list[tuple[str, list[str], tuple[int, str] | None]] = []
    if not args.no_reference:
        tools.append(("reference 4.0.4", [str(ensure_reference())], None))
    ours = OURS
    tools += [
        (f"{builder} -j{j}", ours, (j, builder)) for builder in args.builders for j in args.jobs
    ]
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, engine at {os.environ.get('DOCKER_HOST', 'default')}"
    )
    rows = []
    for size in args.sizes:
        with tempfile.TemporaryDirectory(prefix="docker-pkg-bench-") as tmp:
            work = Path(tmp)
            parents = generate_tree(work / "images", size)
            times: dict[str, float] = {}
            bound = None
            for index, (name, tool, run) in enumerate(tools):
                namespace = f"bench{size}r{index}"
                config = work / f"{namespace}.yaml"
                config.write_text(f"namespace: {namespace}\n")
                report = work / f"{namespace}.json"
                try:
                    times[name] = timed(command(tool, config, work / "images", run, report), work)
                    if run is not None and run[0] == 1 and bound is None:
                        bound = critical_path(report, parents)
                finally:
                    remove_namespace(namespace)
            reference = times.get("reference 4.0.4")
            for name, seconds in times.items():
                vs_ref = seconds / reference if reference else None
                vs_bound = seconds / bound if bound else None
                rows.append((size, name, seconds, vs_ref, vs_bound))
    print(
        f"{'images':>6}  {'tool':<18} {'wall':>8}  {'vs reference':>12}  {'vs critical path':>16}"
    )
    for size, name, seconds, vs_ref, vs_bound in rows:
        ref = f"{vs_ref:.2f}x" if vs_ref is not None else "-"
        cp = f"{vs_bound:.2f}x" if vs_bound is not None else "-"
        print(f"{size:>6}  {name:<18} {seconds:7.1f}s  {ref:>12}  {cp:>16}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
