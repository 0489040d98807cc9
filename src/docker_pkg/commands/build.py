"""``docker-pkg build``: scan, plan, render, build and verify, then publish (spec 4)."""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path
from typing import TextIO

from docker_pkg.config import Config
from docker_pkg.engine import Engine
from docker_pkg.pipeline import BuildOptions, BuildRun, ImageResult, Outcome
from docker_pkg.plan import State, build_chain, publish_candidates
from docker_pkg.registry import RegistryClient
from docker_pkg.workspace import Workspace


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else ""


def build(
    *,
    config: Config,
    directory: Path,
    engine: Engine,
    select: str | None,
    nocache: bool,
    pull: bool,
    tag_suffix: str,
    logfile: Path | None,
    stdout: TextIO | None = None,
) -> int:
    out = stdout or sys.stdout

    def say(line: str) -> None:
        print(line, file=out, flush=True)

    say(f"== Step 0: scanning {directory} ==")
    workspace = Workspace.load(directory, config, tag_suffix)
    registry = (
        RegistryClient(
            config.registry,
            username=config.username,
            password=config.password,
            ca_bundle=config.ca_bundle,
            http_proxy=config.http_proxy,
        )
        if config.registry
        else None
    )
    run = BuildRun(workspace, engine, registry, BuildOptions(nocache=nocache, pull=pull))
    states = run.scan_states()
    chain = build_chain(workspace.graph, states, workspace.labels, select)
    # Render everything before building anything: a broken template stops the run (exit 2).
    rendered = workspace.renderer().render_all(workspace.definitions[n] for n in chain)

    say("Will build the following images:")
    for name in chain:
        say(f"* {workspace.label(name)}")

    say("== Step 1: building images ==")
    results: list[ImageResult] = []
    if chain and run.pulling:
        for warning in run.pull_base_images():
            say(f" WARNING: {warning}")
    for result in run.build_chain(chain, rendered, states):
        results.append(result)
        say(_result_line(result))

    say("== Step 2: publishing ==")
    if not config.can_publish:
        say("NOT publishing images as we have no auth setup")
    else:
        verified = {r.name for r in results if r.outcome is Outcome.VERIFIED}
        candidates = publish_candidates(workspace.graph, states, workspace.labels, select, verified)
        for result in run.publish(candidates, verified):
            results.append(result)
            say(_result_line(result))

    say("== Build done! ==")
    final = Counter(_final_outcomes(results).values())
    phases = Counter(r.outcome for r in results)
    up_to_date = sum(1 for s in states.values() if s is State.PUBLISHED)
    say(
        f"Summary: {phases[Outcome.VERIFIED]} built and verified, "
        f"{phases[Outcome.PUBLISHED]} published, {final[Outcome.FAILED]} failed, "
        f"{final[Outcome.SKIPPED]} skipped, {up_to_date} already published"
    )
    if logfile is not None:
        say(f"You can see the logs at ./{logfile}")
    if registry is not None:
        registry.close()
    return 1 if final[Outcome.FAILED] or final[Outcome.SKIPPED] else 0


def _result_line(result: ImageResult) -> str:
    if result.outcome is Outcome.VERIFIED:
        return f"* Built image {result.label}"
    if result.outcome is Outcome.PUBLISHED:
        return f"Successfully published image {result.label}"
    if result.outcome is Outcome.FAILED:
        return f" ERROR: image {result.label} failed: {_first_line(result.reason)}"
    return f" SKIPPED: image {result.label}: {result.reason}"


def _final_outcomes(results: list[ImageResult]) -> dict[str, Outcome]:
    """The last word on each image: a publish result replaces its build result."""
    final: dict[str, Outcome] = {}
    for result in results:
        final[result.name] = result.outcome
    return final
