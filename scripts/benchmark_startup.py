"""Start-up of short commands, two checkouts side by side in one run: ``--help``, ``render``
of the example tree (run before, so its caches are warm) and a no-op ``build`` of it on a
local engine (built before, no registry). Each side runs its own ``src/`` with this
checkout's virtual environment; sides alternate, medians of ``--repeat``.

    git worktree add /tmp/before HEAD~5
    .venv/bin/python scripts/testbed.py run -- \\
        .venv/bin/python scripts/benchmark_startup.py --before /tmp/before
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SECRET_KEYS = ("registry", "namespace", "username", "password")


def example_tree(work: Path) -> None:
    """The example tree with Debian's busybox, built locally under its own namespace."""
    shutil.copytree(ROOT / "examples" / "images", work / "images")
    busybox = shutil.which("busybox") or "/bin/busybox"
    shutil.copy(busybox, work / "images" / "busybox" / "busybox")
    kept = [
        line
        for line in (ROOT / "examples" / "config.yaml").read_text().splitlines(keepends=True)
        if not line.startswith(SECRET_KEYS)
    ]
    (work / "config.yaml").write_text("".join(kept) + "namespace: localhost/startup\n")


def timed(source: Path, argv: list[str], work: Path, home: Path) -> float:
    env = {**os.environ, "PYTHONPATH": str(source), "HOME": str(home)}
    command = [sys.executable, "-c", "from docker_pkg.cli import run; run()", *argv]
    started = time.perf_counter()
    done = subprocess.run(command, env=env, cwd=work, capture_output=True, check=False)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{source}: {' '.join(argv)} failed:\n{done.stderr.decode()[-2000:]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", type=Path, required=True, help="the other checkout")
    parser.add_argument("--repeat", type=int, default=21)
    args = parser.parse_args()
    sides = {"before": args.before.resolve() / "src", "after": ROOT / "src"}
    rows = {
        "--help": ["--help"],
        "render (run before)": ["-c", "config.yaml", "render", "--output", "out", "images"],
        "no-op build (local engine)": ["-c", "config.yaml", "build", "--no-pull", "images"],
    }
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        example_tree(work)
        homes = {side: work / f"home-{side}" for side in sides}
        for side, source in sides.items():
            for argv in rows.values():
                timed(source, argv, work, homes[side])
        print("| command | before | after | after / before |")
        print("| --- | ---: | ---: | ---: |")
        for name, argv in rows.items():
            times: dict[str, list[float]] = {side: [] for side in sides}
            for attempt in range(args.repeat):
                order = list(sides) if attempt % 2 == 0 else list(reversed(sides))
                for side in order:
                    times[side].append(timed(sides[side], argv, work, homes[side]))
            before, after = (statistics.median(times[s]) for s in ("before", "after"))
            ratio = after / before
            print(f"| {name} | {before * 1000:.0f} ms | {after * 1000:.0f} ms | {ratio:.2f} |")


if __name__ == "__main__":
    main()
