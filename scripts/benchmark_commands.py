"""Everything around the builds, side by side with the reference docker-pkg 4.0.4 in one run:
render, a no-op build on a local engine, the memory and time of planning a big tree, and a
cold build against the raw engine floor.

    .venv/bin/python scripts/testbed.py run -- .venv/bin/python scripts/benchmark_commands.py

Rows (whole processes, median of ``--repeat``):
- render every image of a production-shaped tree (nested folders, includes, filters, long
  changelogs): the reference's scan + render (``scripts/reference_render.py`` in its venv)
  against ``docker-pkg render --output``: compiling every template, with the tree
  rendered by an earlier run, and after a version bump since (templates compiled before);
- a no-op ``build`` of a tree whose images are all built in the local engine, no registry;
- ``render`` and ``build --dry-run`` of a 1,000-image tree: wall time and peak memory;
- a cold BuildKit build of a generated tree at the default ``-j`` against the raw engine
  floor: the same rendered Dockerfiles and contexts posted straight to ``/build``, parents
  first, as many at a time.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from benchmark import OURS, ROOT, ensure_reference, generate_tree, remove_namespace

from docker_pkg.arguments import default_jobs

ENTRY = """{name} ({version}) wikimedia; urgency=medium

  * Rebuild {number}.

 -- Bench <bench@example.org>  Mon, 16 Aug 2026 10:00:00 +0000

"""


def production_tree(root: Path, size: int, seed: int = 11) -> None:
    """``size`` images shaped like production-images: nested folders named unlike their
    images, a base image, parents drawn from earlier images, includes and every filter."""
    rng = random.Random(seed)
    names = ["bookworm"]
    for index in range(size):
        name = "bookworm" if index == 0 else f"tool{index}-{rng.choice(['py', 'php', 'go'])}"
        folder = root / f"group{index % 12}" / f"sub{index % 5}" / f"image{index}"
        folder.mkdir(parents=True)
        history = "".join(
            ENTRY.format(name=name, version=f"0.{index}.{n}-1-20260816", number=n)
            for n in range(25, 0, -1)
        )
        (folder / "changelog").write_text(history)
        if index == 0:
            template = (
                'FROM {{ "bookworm-base" | image_tag }}\n'
                'RUN {{ "ca-certificates curl" | apt_install }}\n'
            )
        else:
            parent = rng.choice(names)
            (folder / "control").write_text(f"Source: {name}\nBuild-Depends: {parent}\n")
            template = (
                f'FROM {{{{ "{parent}" | image_tag }}}}\n'
                f'{{% set packages = ["lib{index}", "python3", "git"] %}}\n'
                "RUN {{ packages | join(' ') | apt_install }}\n"
                f'ENV UPSTREAM={{{{ "{parent}" | image_tag | upstream_version }}}}\n'
                '{% include "snippet.j2" %}\n'
                'RUN {{ "www-data" | add_user }}\n'
                'USER {{ "www-data" | uid }}\n'
            )
            (folder / "snippet.j2").write_text(
                "{% if http_proxy %}ENV http_proxy={{ http_proxy }}{% endif %}\n"
                "COPY . /srv/app\nWORKDIR /srv/app\n"
            )
        (folder / "Dockerfile.template").write_text(template)
        names.append(name)


def run_measured(argv: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, int]:
    """Wall seconds and peak resident memory (KiB) of one process."""
    start = time.monotonic()
    proc = subprocess.Popen(
        argv, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.monotonic() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    stderr = proc.stderr.read().decode() if proc.stderr else ""
    if proc.stderr:
        proc.stderr.close()
    if proc.returncode != 0:
        sys.exit(f"benchmark run failed: {' '.join(argv)}\n{stderr}")
    return elapsed, usage.ru_maxrss


def median_of(repeat: int, argv: list[str], cwd: Path, env: dict[str, str]) -> float:
    return statistics.median(run_measured(argv, cwd, env)[0] for _ in range(repeat))


def row(what: str, ours: float, reference: float | None, extra: str = "") -> None:
    ratio = f"{ours / reference:5.2f}x" if reference else "    -"
    ref = f"{reference:6.2f}s" if reference else "      -"
    print(f"  {what:<46} {ref}  {ours:6.2f}s  {ratio}  {extra}")


@dataclass(frozen=True)
class Bench:
    work: Path
    env: dict[str, str]
    ours: list[str]
    reference: Path
    repeat: int
    config: Path


def render_rows(bench: Bench, size: int) -> None:
    tree = bench.work / "production"
    production_tree(tree, size)
    reference_python = str(bench.reference.parent / "python")
    script = str(ROOT / "scripts" / "reference_render.py")
    ref_argv = [reference_python, script, str(bench.config), str(tree), str(bench.work / "ref")]
    ref = median_of(bench.repeat, ref_argv, bench.work, bench.env)

    def argv(out: str) -> list[str]:
        return [*bench.ours, "-c", str(bench.config), "render", "--output", out, str(tree)]

    cold = []
    for attempt in range(bench.repeat):
        shutil.rmtree(bench.work / "cache", ignore_errors=True)
        cold.append(run_measured(argv(str(bench.work / f"cold{attempt}")), bench.work, bench.env))
    warm = median_of(bench.repeat, argv(str(bench.work / "warm")), bench.work, bench.env)
    bumped = []
    changelog = next(tree.glob("*/*/image1/changelog"))
    for attempt in range(bench.repeat):
        _bump(changelog, attempt)
        bumped.append(run_measured(argv(str(bench.work / "warm")), bench.work, bench.env)[0])
    row(f"render {size} images, templates compiled", statistics.median(t for t, _ in cold), ref)
    row(f"render {size} images, compiled by an earlier run", warm, ref)
    row(f"render {size} images, one version bumped since", statistics.median(bumped), ref)


def _bump(changelog: Path, number: int) -> None:
    """A new first entry, as ``docker-pkg update`` writes: the tree changed, its templates
    did not."""
    text = changelog.read_text()
    name = text.split(" ", 1)[0]
    entry = ENTRY.format(name=name, version=f"9.{number}.0-1-20261130", number=number)
    changelog.write_text(entry + text)


def noop_row(bench: Bench, size: int) -> None:
    noop = bench.work / "noop"
    generate_tree(noop / "images", size)
    config = noop / "config.yaml"
    config.write_text("namespace: benchnoop\n")
    build = ["-c", str(config), "build"]
    ours = [*bench.ours, *build, "--progress", "quiet", str(noop / "images")]
    reference = [str(bench.reference), *build, str(noop / "images")]
    try:
        run_measured(ours, noop, bench.env)
        times: dict[str, list[float]] = {"ours": [], "reference": []}
        for _ in range(bench.repeat):  # alternating: both meet the machine as it is
            times["reference"].append(run_measured(reference, noop, bench.env)[0])
            times["ours"].append(run_measured(ours, noop, bench.env)[0])
        row(
            f"no-op build, {size} images built locally",
            statistics.median(times["ours"]),
            statistics.median(times["reference"]),
        )
    finally:
        remove_namespace("benchnoop")


def big_rows(bench: Bench, size: int) -> None:
    big = bench.work / "big"
    production_tree(big, size)
    base = [*bench.ours, "-c", str(bench.config)]
    out = str(bench.work / "big-out")
    seconds, rss = run_measured([*base, "render", "--output", out, str(big)], bench.work, bench.env)
    row(f"render {size} images (first run)", seconds, None, f"peak {rss / 1024:.0f} MiB")
    plan = [*base, "build", "--dry-run", "--no-pull", str(big)]
    seconds, rss = run_measured(plan, bench.work, bench.env)
    row(f"build --dry-run {size} images", seconds, None, f"peak {rss / 1024:.0f} MiB")


def cold_build_row(bench: Bench, size: int, attempts: int) -> None:
    tree = bench.work / "cold"
    generate_tree(tree / "images", size)
    config = tree / "config.yaml"
    floors, tool = [], []
    for attempt in range(attempts):
        rendered = bench.work / f"cold-rendered-{attempt}"
        config.write_text(f"namespace: benchraw{attempt}\n")
        render = [*bench.ours, "-c", str(config), "render", "--output", str(rendered)]
        run_measured([*render, str(tree / "images")], bench.work, bench.env)
        # Each goes first in every other attempt: neither gains from the other's leftovers.
        if attempt % 2:
            tool.append(_tool_build(bench, tree, config, f"benchtool{attempt}"))
            floors.append(_raw_build(bench, tree, rendered, f"benchraw{attempt}"))
        else:
            floors.append(_raw_build(bench, tree, rendered, f"benchraw{attempt}"))
            tool.append(_tool_build(bench, tree, config, f"benchtool{attempt}"))
    runs = ", ".join(f"{t:.1f}/{f:.1f}" for t, f in zip(tool, floors, strict=True))
    row(
        f"cold build {size} images, -j{default_jobs()} (vs raw /build)",
        statistics.median(tool),
        statistics.median(floors),
        f"runs (ours/raw): {runs}",
    )


def _raw_build(bench: Bench, tree: Path, rendered: Path, namespace: str) -> float:
    raw = [sys.executable, str(ROOT / "scripts" / "raw_build.py"), str(rendered)]
    try:
        return run_measured([*raw, str(tree / "images"), namespace], bench.work, bench.env)[0]
    finally:
        remove_namespace(namespace)


def _tool_build(bench: Bench, tree: Path, config: Path, namespace: str) -> float:
    config.write_text(f"namespace: {namespace}\n")
    build = ["build", "--progress", "quiet", "--builder", "buildkit"]
    try:
        argv = [*bench.ours, "-c", str(config), *build, str(tree / "images")]
        return run_measured(argv, tree, bench.env)[0]
    finally:
        remove_namespace(namespace)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--render-size", type=int, default=125)
    parser.add_argument("--noop-size", type=int, default=30)
    parser.add_argument("--big-size", type=int, default=1000)
    parser.add_argument("--build-size", type=int, default=30)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument(
        "--rows", nargs="+", default=["render", "noop", "big", "build"], help="rows to run"
    )
    args = parser.parse_args(argv)
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, engine at {os.environ.get('DOCKER_HOST', 'default')}; "
        f"median of {args.repeat}"
    )
    print(f"  {'':<46} {'reference':>7}  {'ours':>7}  {'ratio':>6}")
    with tempfile.TemporaryDirectory(prefix="docker-pkg-bench-") as tmp:
        work = Path(tmp)
        config = work / "config.yaml"
        config.write_text(
            "registry: docker-registry.example.org\nhttp_proxy: http://proxy.example.org:8080\n"
            "base_images: [docker-registry.example.org/bookworm-base:20261101]\n"
        )
        bench = Bench(
            work=work,
            env={**os.environ, "HOME": str(work / "home"), "XDG_CACHE_HOME": str(work / "cache")},
            ours=OURS,
            reference=ensure_reference(),
            repeat=args.repeat,
            config=config,
        )
        if "render" in args.rows:
            render_rows(bench, args.render_size)
        if "noop" in args.rows:
            noop_row(bench, args.noop_size)
        if "big" in args.rows:
            big_rows(bench, args.big_size)
        if "build" in args.rows:
            cold_build_row(bench, args.build_size, attempts=args.repeat)
    return 0


if __name__ == "__main__":
    sys.exit(main())
