"""A no-op ``build`` (every image already published) against a local TLS registry:
this tool against the reference docker-pkg 4.0.4, side by side in one run.

    .venv/bin/python scripts/testbed.py run -- .venv/bin/python scripts/benchmark_noop.py

Two registries, each with a self-signed CA on 127.0.0.1 (the engine trusts it through
``/etc/docker/certs.d``), each given a generated tree published once by this tool:
- one that wants the password for every request (htpasswd), as production registries do,
  served on port 443 (``--port``): the reference can publish only to a registry whose name
  has no port. The reference asks it without credentials, is refused, takes the images
  for unpublished and verifies and pushes them all again, every run;
- one that lets anyone read: both tools find every image published and build nothing.
Then ``--repeat`` no-op builds of each tool, alternating, on each.
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
from typing import Any

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


def _scenario(
    bed: Any, reference: Path, size: int, repeat: int, *, port: int | None, password: bool
) -> dict[str, list[float]]:
    """Times of each tool's no-op builds against one registry."""
    ca, cert, key = bed.make_tls()
    htpasswd = bed.make_htpasswd("bench", "bench-password") if password else None
    address = bed.start_registry(port=port, tls=(cert, key), htpasswd=htpasswd)
    host = address.removesuffix(":443")
    trust = CERTS_D / host
    trust.mkdir(parents=True, exist_ok=True)
    shutil.copy(ca, trust / "ca.crt")
    try:
        with tempfile.TemporaryDirectory(prefix="docker-pkg-noop-") as tmp:
            work = Path(tmp)
            generate_tree(work / "images", size)
            config = work / "config.yaml"
            config.write_text(
                f"registry: {host}\nnamespace: noop\nca_bundle: {ca}\n"
                "username: bench\npassword: bench-password\n"
            )
            images = str(work / "images")
            build = ["-c", str(config), "build"]
            timed([*OURS, *build, "--progress", "quiet", images], work)
            runs = {
                "reference 4.0.4": [str(reference), *build, images],
                "docker-pkg": [*OURS, *build, "--progress", "quiet", images],
            }
            times: dict[str, list[float]] = {name: [] for name in runs}
            for _ in range(repeat):
                for name, argv_ in runs.items():
                    start = time.monotonic()
                    timed(argv_, work)
                    times[name].append(time.monotonic() - start)
            return times
    finally:
        shutil.rmtree(trust, ignore_errors=True)


def _report(title: str, times: dict[str, list[float]]) -> None:
    base = statistics.median(times["reference 4.0.4"])
    print(title)
    for name, values in times.items():
        median = statistics.median(values)
        print(
            f"  {name:<16} {median:6.2f}s  {median / base:5.2f}x  (runs: "
            + ", ".join(f"{v:.2f}" for v in values)
            + ")"
        )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument(
        "--port", type=int, default=443, help="port of the registry that wants the password"
    )
    args = parser.parse_args(argv)
    reference = ensure_reference()
    bed = _testbed().Testbed()  # type: ignore[attr-defined]
    try:
        with_password = _scenario(
            bed, reference, args.size, args.repeat, port=args.port, password=True
        )
        anonymous = _scenario(bed, reference, args.size, args.repeat, port=None, password=False)
    finally:
        bed.stop()
    what = f"no-op build of {args.size} published images, TLS registry on loopback"
    _report(f"{what}, password required, median of {args.repeat}", with_password)
    _report(f"{what}, anonymous reads, median of {args.repeat}", anonymous)
    return 0


if __name__ == "__main__":
    sys.exit(main())
