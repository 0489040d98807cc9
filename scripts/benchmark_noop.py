"""A no-op ``build`` (every image already published) against a local TLS registry:
this tool against the reference docker-pkg 4.0.4, side by side in one run.

    .venv/bin/python scripts/testbed.py run -- .venv/bin/python scripts/benchmark_noop.py

Starts a registry with a self-signed CA on 127.0.0.1 (the engine trusts it through
``/etc/docker/certs.d``), publishes a generated tree once with this tool, then times
``--repeat`` no-op builds of each tool. Both must find every image published and build
nothing.
"""

from __future__ import annotations

import argparse
import importlib.util
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from benchmark import OURS, ROOT, ensure_reference, generate_tree, timed

CERTS_D = Path("/etc/docker/certs.d")


def _testbed() -> object:
    spec = importlib.util.spec_from_file_location("testbed", ROOT / "scripts" / "testbed.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["testbed"] = module  # dataclasses look their module up while being made
    spec.loader.exec_module(module)
    return module


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    reference = ensure_reference()
    bed = _testbed().Testbed()  # type: ignore[attr-defined]
    ca, cert, key = bed.make_tls()
    address = bed.start_registry(tls=(cert, key))
    trust = CERTS_D / address
    trust.mkdir(parents=True, exist_ok=True)
    shutil.copy(ca, trust / "ca.crt")
    ours = OURS
    try:
        with tempfile.TemporaryDirectory(prefix="docker-pkg-noop-") as tmp:
            work = Path(tmp)
            generate_tree(work / "images", args.size)
            config = work / "config.yaml"
            config.write_text(
                f"registry: {address}\nnamespace: noop\nca_bundle: {ca}\n"
                "username: bench\npassword: bench-password\n"
            )
            images = str(work / "images")
            build = ["-c", str(config), "build"]
            timed([*ours, *build, "--progress", "quiet", images], work)
            runs = {
                "reference 4.0.4": [str(reference), *build, images],
                "docker-pkg": [*ours, *build, "--progress", "quiet", images],
            }
            times: dict[str, list[float]] = {name: [] for name in runs}
            for _ in range(args.repeat):
                for name, argv_ in runs.items():
                    start = time.monotonic()
                    timed(argv_, work)
                    times[name].append(time.monotonic() - start)
    finally:
        shutil.rmtree(trust, ignore_errors=True)
        bed.stop()
    base = statistics.median(times["reference 4.0.4"])
    print(
        f"no-op build of {args.size} published images, TLS registry on loopback, "
        f"median of {args.repeat}"
    )
    for name, values in times.items():
        median = statistics.median(values)
        print(
            f"  {name:<16} {median:6.2f}s  {median / base:5.2f}x  (runs: "
            + ", ".join(f"{v:.2f}" for v in values)
            + ")"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
