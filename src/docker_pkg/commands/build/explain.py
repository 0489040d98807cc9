"""What a build run says before it builds: the external images it assumes, what it will
build and why, and (``--dry-run``) the plan with its estimated duration."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TextIO

from docker_pkg.commands.build.records import past_durations
from docker_pkg.commands.build.setting import RunPlan
from docker_pkg.planning.estimate import format_duration, remaining_seconds
from docker_pkg.planning.plan import chain_reasons, selection, state_reason
from docker_pkg.tree.workspace import Workspace

log = logging.getLogger(__name__)

UNFINISHED = (
    "in the local engine, but from a build that did not finish (its last run failed it "
    "before it was verified, e.g. an engine crash): built again"
)


def say_external(
    say: Callable[[str], None], workspace: Workspace, references: Mapping[str, list[str]]
) -> None:
    """Name once the external dependencies the run assumes (``--info``: where each was looked
    for and how the Dockerfiles use it)."""
    external = workspace.graph.external_names
    if not external:
        return
    say(
        "Assuming images built elsewhere (external dependencies): "
        + ", ".join(f"{dep} (for {', '.join(users)})" for dep, users in external.items())
    )
    for dep, users in external.items():
        uses = sorted({r for u in users for r in references.get(u, ()) if dep in r})
        log.info(
            "External dependency %s: no folder of %s (%d images) defines it, nor does "
            "base_images; %s",
            dep,
            workspace.root,
            len(workspace.definitions),
            "the Dockerfiles use it as " + ", ".join(uses)
            if uses
            else "no Dockerfile names it (a run-time dependency?)",
        )


def announce(
    say: Callable[[str], None],
    workspace: Workspace,
    plan: RunPlan,
    *,
    publishing: bool,
    refresh_bases: Callable[[], list[str]] | None = None,
) -> None:
    """What the run is about to do; base images refreshed first (``refresh_bases``: pulls
    them, returning warnings)."""
    for name, answer in sorted(plan.unanswered.items()):
        again = ", so it is published again" if name in plan.to_publish else ""
        say(f" WARNING: {workspace.label(name)}: {answer}; taken as not published{again}")
    for name in sorted(plan.distrusted):
        say(f" WARNING: {workspace.label(name)}: {UNFINISHED}")
    if plan.uninventoried:
        labels = ", ".join(workspace.label(n) for n in sorted(plan.uninventoried))
        say(f"Will publish the missing inventories of: {labels}")
    say("Will build the following images:")
    for name in plan.chain:
        say(f"* {workspace.label(name)}")
    if not publishing:
        say("NOT publishing images as we have no auth setup")
    if plan.chain and refresh_bases is not None:
        for warning in refresh_bases():
            say(f" WARNING: {warning}")
    say(
        "== Step 1: building and publishing images =="
        if plan.to_publish
        else "== Step 1: building images =="
    )


def estimate(
    workspace: Workspace, chain: list[str], history: Path | None, jobs: int
) -> tuple[float | None, int]:
    """Seconds the chain should take at ``jobs`` (None: no history), and how many of its
    images that is based on."""
    durations = past_durations(history)
    seconds = remaining_seconds(workspace.graph.parents, durations, chain, jobs)
    return seconds, sum(1 for n in chain if n in durations)


def dry_run(
    out: TextIO,
    output_format: str,
    workspace: Workspace,
    plan: RunPlan,
    *,
    select: str | None,
    pulling: bool,
    estimate: tuple[float | None, int],
) -> None:
    """The build chain in order, with why each image is in it, and how long it should take
    (from the history); nothing is built."""
    chain, to_publish = plan.chain, plan.to_publish
    why = reasons(workspace, plan, select, pulling)
    steps = [
        {
            "name": name,
            "label": workspace.label(name),
            "why": why[name],
            "publish": name in to_publish,
        }
        for name in chain
    ]
    seconds, known = estimate
    if output_format == "json":
        document = {"build": steps, "publish": to_publish, "estimated_seconds": seconds}
        json.dump(document, out, indent=2)
        out.write("\n")
        return
    print("Dry run: nothing will be built. Build order:", file=out)
    for number, step in enumerate(steps, start=1):
        print(f"{number:3}. {step['label']}  ({step['why']})", file=out)
    if to_publish:
        print("Then published: " + ", ".join(workspace.label(n) for n in to_publish), file=out)
    if chain:
        print(
            f"Estimated duration: about {format_duration(seconds)} "
            f"(from earlier builds of {known} of the {len(chain)} images)"
            if seconds is not None
            else "Estimated duration: unknown (none of these images was built before)",
            file=out,
        )


def reasons(
    workspace: Workspace,
    plan: RunPlan,
    select: str | None,
    pulling: bool,
    last_tags: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """Why each image of the chain is built: selected or needed, where it was missing, and
    (from the history) whether it is a new version or one built before and gone since."""
    reasons = chain_reasons(workspace.graph, plan.chain, selection(workspace.labels, select))
    registry = workspace.config.registry
    why = {}
    for name in plan.chain:
        state = state_reason(plan.states[name], pulling, registry, plan.unanswered.get(name))
        if name in plan.distrusted:
            state = UNFINISHED
        text = f"{reasons[name]}; {state}"
        last = (last_tags or {}).get(name)
        tag = workspace.definitions[name].tag
        if last is not None:
            text += f"; new version (last built: {last})" if last != tag else "; built before"
        why[name] = text
    return why
