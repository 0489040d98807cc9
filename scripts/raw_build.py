"""The raw engine floor of a tree build: rendered Dockerfiles and their contexts posted
straight to the engine's ``/build`` with BuildKit, parents first, as many at a time as the
tool's default ``-j``; no states, labels, verification, logs or reports.

    python scripts/raw_build.py RENDERED_DIR IMAGES_DIR NAMESPACE

RENDERED_DIR is what ``docker-pkg render --output`` wrote for IMAGES_DIR (a tree made by
``benchmark.generate_tree``: one folder per image, ``Depends: PARENT`` in ``control``).
"""

from __future__ import annotations

import sys
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from pathlib import Path

from docker_pkg.arguments import default_jobs
from docker_pkg.engines.builders import BUILDKIT
from docker_pkg.engines.docker_engine import DockerEngine
from docker_pkg.engines.values import BuildRequest
from docker_pkg.tree.context import stream_context


def parents_of(images: Path) -> dict[str, str | None]:
    parents: dict[str, str | None] = {}
    for folder in images.iterdir():
        control = folder / "control"
        parents[folder.name] = (
            control.read_text().split(":", 1)[1].strip() if control.exists() else None
        )
    return parents


def main(rendered: Path, images: Path, namespace: str) -> int:
    parents = parents_of(images)
    jobs = default_jobs()
    engine = DockerEngine()
    done: set[str] = set()
    running: dict[Future[str], str] = {}
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        while len(done) < len(parents):
            busy = set(running.values())
            ready = [
                n
                for n, p in sorted(parents.items())
                if n not in done and n not in busy and (p is None or p in done)
            ]
            for name in ready[: jobs - len(running)]:
                request = BuildRequest(
                    context=stream_context(
                        images / name, (rendered / name / "Dockerfile").read_text()
                    ),
                    tag=f"{namespace}/{name}:1.0.0",
                    builder=BUILDKIT,
                    network_mode="none",
                )
                running[pool.submit(engine.build, request, lambda line: None)] = name
            finished, _ = wait(list(running), return_when=FIRST_COMPLETED)
            for future in finished:
                future.result()
                done.add(running.pop(future))
    engine.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]))
