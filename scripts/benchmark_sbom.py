"""What taking inventories costs a cold build: the generated benchmark tree built with
``sbom: true`` and ``sbom: false``, side by side in one run (the two alternating, each
under its own namespace, without cache, its images removed between attempts), medians of
``--repeat``.

    .venv/bin/python scripts/testbed.py run -- .venv/bin/python scripts/benchmark_sbom.py
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import uuid
from pathlib import Path

from benchmark import OURS, generate_tree, remove_namespace, timed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=30)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        generate_tree(work / "images", args.size)
        times: dict[bool, list[float]] = {True: [], False: []}
        for attempt in range(args.repeat):
            for sbom in (True, False) if attempt % 2 == 0 else (False, True):
                namespace = f"sbom{uuid.uuid4().hex[:8]}"
                config = work / f"config-{sbom}.yaml"
                config.write_text(f"namespace: localhost/{namespace}\nsbom: {str(sbom).lower()}\n")
                argv = [*OURS, "-c", str(config), "build", "--no-pull", "--progress", "quiet"]
                times[sbom].append(timed([*argv, str(work / "images")], work))
                remove_namespace(namespace)
        on, off = statistics.median(times[True]), statistics.median(times[False])
        print(f"| cold build of {args.size} images | {off:.2f} s | {on:.2f} s | {on / off:.2f} |")
        print(f"(sbom off: {sorted(round(t, 2) for t in times[False])})")
        print(f"(sbom on:  {sorted(round(t, 2) for t in times[True])})")


if __name__ == "__main__":
    main()
