"""``docker-pkg build`` with ``platforms``: images of several platforms, each built on an
engine of its platform and published as an index (:mod:`docker_pkg.running.platform_run`)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TextIO

from docker_pkg.commands.build.records import records, summary
from docker_pkg.commands.build.run import progress_of, shown, start_run
from docker_pkg.commands.build.setting import EXIT_INTERRUPTED, Setting, run_info
from docker_pkg.errors import EngineError
from docker_pkg.outputs.pages import live_page
from docker_pkg.outputs.report import report_document
from docker_pkg.planning.plan import State
from docker_pkg.planning.platform_plan import plan_platforms, scan_platforms
from docker_pkg.planning.platforms import wanted_platforms
from docker_pkg.running.model import RunInfo
from docker_pkg.running.platform_run import PlatformRun
from docker_pkg.running.run_tasks import INVENTORY
from docker_pkg.running.scheduler import Status
from docker_pkg.tree.workspace import Workspace


def build_platforms(setting: Setting, say: Callable[[str], None], out: TextIO) -> int:
    workspace, pool, outputs = setting.workspace, setting.pool, setting.outputs
    wanted = wanted_platforms(workspace.definitions, workspace.graph, setting.platforms)
    states = scan_platforms(workspace, setting.registry, pool, wanted)
    publishing = setting.registry is not None and setting.credentials is not None
    plan = plan_platforms(workspace, states, setting.select, publishing)
    chain = list(dict.fromkeys(n for n, _ in plan.builds))
    workspace.raise_render_errors(chain, setting.everything)
    if outputs.dry_run_format is not None:
        _dry_run(out, outputs.dry_run_format, workspace, plan.builds, plan.indexes)
        return 0
    if pool is None:
        raise EngineError("building needs a Docker engine, and none is reachable")
    unserved = [p for p in setting.platforms if not pool.serves(p)]
    if unserved:
        raise EngineError(
            "no engine of the pool builds for "
            + ", ".join(unserved)
            + " (give an engine that platform in the engines list)"
        )
    run = start_run(
        PlatformRun, setting, say, list(workspace.definitions), platforms=setting.platforms
    )
    say("Will build the following images:")
    for name, platform in plan.builds:
        say(f"* {workspace.label(name)} for {platform}")
    if not publishing:
        say("NOT publishing images as we have no auth setup")
    say("== Step 1: building and publishing images ==")
    published = [n for n, s in states.items() if s.published]
    tasks = run.platform_tasks(plan, {n: setting.everything[n] for n in chain}, published)
    keys = [k for k, task in tasks.items() if task.kind != INVENTORY]
    progress = progress_of(outputs.progress, run, run.unit_labels(), keys, out)

    def info(status: int, interrupted: bool) -> RunInfo:
        return run_info(setting, status, interrupted, run.log_dir)

    def snapshot() -> dict[str, Any]:
        return report_document(info(0, False), run.platform_results(tasks, states))

    try:
        with progress, live_page(outputs.html, snapshot, run.warnings.append):
            finished = run.execute(tasks, shown(progress, run.unit_labels()), setting.clock)
    finally:
        run.close_logs()
    for warning in run.warnings:
        say(f" WARNING: {warning}")
    results = run.platform_results(tasks, states)
    failed = any(t.status in (Status.FAILED, Status.SKIPPED) for t in tasks.values())
    status = EXIT_INTERRUPTED if not finished else (1 if failed else 0)
    say("== Build done! ==" if finished else "== Build interrupted ==")
    summary(
        say,
        results,
        {n: State.PUBLISHED if s.published else State.TO_BUILD for n, s in states.items()},
    )
    records(say, outputs, info(status, not finished), results)
    if outputs.logfile is not None:
        say(f"You can see the logs at ./{outputs.logfile}")
    return status


def _dry_run(
    out: TextIO,
    output_format: str,
    workspace: Workspace,
    builds: list[tuple[str, str]],
    indexes: list[str],
) -> None:
    if output_format == "json":
        document = {
            "build": [{"name": n, "label": workspace.label(n), "platform": p} for n, p in builds],
            "index": indexes,
        }
        json.dump(document, out, indent=2)
        out.write("\n")
        return
    print("Dry run: nothing will be built. Build order:", file=out)
    for number, (name, platform) in enumerate(builds, start=1):
        print(f"{number:3}. {workspace.label(name)} for {platform}", file=out)
    if indexes:
        print(
            "Then published as indexes: " + ", ".join(workspace.label(n) for n in indexes),
            file=out,
        )
