"""``docker-pkg build``: scan, plan, render, then build, verify and publish in parallel."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from docker_pkg.commands import printer
from docker_pkg.commands.build.explain import announce, dry_run, estimate, say_external
from docker_pkg.commands.build.records import (
    records,
    summary,
    unfinished_builds,
    usable_log_dir,
)
from docker_pkg.commands.build.setting import (
    EXIT_INTERRUPTED,
    Executed,
    Outputs,
    RunPlan,
    Setting,
    run_info,
)
from docker_pkg.config.settings import Config
from docker_pkg.engines.builders import BUILDKIT, choose_builder
from docker_pkg.engines.pool import EnginePool
from docker_pkg.errors import EngineError, UsageError
from docker_pkg.logs import RedactSecrets
from docker_pkg.planning.plan import build_chain, publish_candidates, selection
from docker_pkg.planning.states import StateScan
from docker_pkg.registry.connect import registry_client, run_credentials
from docker_pkg.running.model import BuildOptions, plan_results
from docker_pkg.tree.definitions import Rendered
from docker_pkg.tree.workspace import Workspace

if TYPE_CHECKING:
    from docker_pkg.engines.interface import Engine
    from docker_pkg.running.lock import RunLock

log = logging.getLogger(__name__)


def build(
    *,
    config: Config,
    directory: Path,
    pool: EnginePool | None,
    select: str | None,
    options: BuildOptions,
    tag_suffix: str,
    outputs: Outputs,
    platforms: tuple[str, ...] = (),
    lock: RunLock | None = None,
    clock: Callable[[], datetime] = lambda: datetime.now().astimezone(),
    redactor: RedactSecrets | None = None,
    environ: Mapping[str, str] | None = None,
    stdout: TextIO | None = None,
) -> int:
    """Scan, plan, then (unless a dry run) build, verify and publish on the engines of
    ``pool``, which may be None for a dry run only: local states are then unknown."""
    environ = os.environ if environ is None else environ
    out = stdout or sys.stdout
    started = clock()
    say = printer(out)
    machine_output = outputs.dry_run_format == "json"  # JSON alone on stdout, for machines

    if not machine_output:
        say(f"== Step 0: scanning {directory} ==")
    workspace, everything = Workspace.load_inferred(directory, config, tag_suffix)
    external = workspace.external_references(everything)
    if not machine_output:
        say_external(say, workspace, external)
    if pool is None and outputs.dry_run_format is None:
        raise EngineError("building needs a Docker engine, and none is reachable")
    platform, options = _on_pool(pool, config, options, say, several=bool(platforms))
    credentials = run_credentials(config, environ, redactor)
    registry = registry_client(config, credentials)
    setting = Setting(
        directory,
        workspace,
        everything,
        pool,
        registry,
        credentials,
        select,
        options,
        platforms,
        outputs,
        external,
        redactor,
        started,
        clock,
    )
    with contextlib.ExitStack() as stack:
        if registry is not None:
            stack.callback(registry.close)
        if lock is not None and outputs.dry_run_format is None:
            # Before the scan: a run that waited must see what the other one built.
            stack.enter_context(lock.held(say))
        if platforms:
            from docker_pkg.commands.build.platforms import build_platforms

            return build_platforms(setting, say, out)
        return _single_platform(setting, platform, say, out, stack)


def _single_platform(
    setting: Setting,
    platform: str,
    say: Callable[[str], None],
    out: TextIO,
    stack: contextlib.ExitStack,
) -> int:
    """Plan the run of one platform; print it (a dry run), or run it and tell how it went."""
    workspace, outputs = setting.workspace, setting.outputs
    publishing = setting.credentials is not None
    scan = StateScan(
        workspace,
        setting.pool,
        setting.registry,
        setting.options.pull,
        untrusted=unfinished_builds(outputs.history),
    )
    plan = plan_run(workspace, setting.everything, scan, setting.select, publishing=publishing)
    if outputs.dry_run_format is not None:
        expected = estimate(workspace, plan.chain, outputs.history, setting.options.jobs)
        dry_run(
            out,
            outputs.dry_run_format,
            workspace,
            plan,
            select=setting.select,
            pulling=scan.pulling,
            estimate=expected,
        )
        return 0
    if plan.chain or plan.to_publish or plan.uninventoried:
        from docker_pkg.commands.build.run import execute_plan  # the build machinery

        executed = execute_plan(setting, plan, platform, say=say, out=out, stack=stack)
    else:
        announce(say, workspace, plan, publishing=publishing)
        log_dir = usable_log_dir(outputs.log_dir, say)
        executed = Executed(True, False, plan_results(workspace, plan.states), log_dir)
    stack.close()
    finished = executed.finished
    status = EXIT_INTERRUPTED if not finished else (1 if executed.failed else 0)
    say("== Build done! ==" if finished else "== Build interrupted ==")
    summary(say, executed.results, plan.states)
    info = run_info(setting, status, not finished, executed.log_dir, executed.warnings)
    records(say, outputs, info, executed.results)
    if outputs.logfile is not None:
        say(f"You can see the logs at ./{outputs.logfile}")
    return status


def _on_pool(
    pool: EnginePool | None,
    config: Config,
    options: BuildOptions,
    say: Callable[[str], None],
    *,
    several: bool = False,
) -> tuple[str, BuildOptions]:
    """The platform of the run (none when it builds several) and the builder it uses
    (chosen on its first engine)."""
    if pool is None:
        return "", options
    platform = "" if several else _run_platform(pool, say)
    first = next(m for m in pool.alive if not platform or m.platform == platform)
    builder = _resolve_builder(config, first.engine, options.builder, say)
    return platform, replace(options, builder=builder)


def _run_platform(pool: EnginePool, say: Callable[[str], None]) -> str:
    """The platform images are built for: the engines' own (one run builds one platform;
    an engine of another platform takes no work, and says so)."""
    platforms = [m.platform for m in pool.alive if m.platform]
    if not platforms:
        return ""
    platform = platforms[0]
    for member in pool.alive:
        if member.platform and member.platform != platform:
            say(
                f" WARNING: engine {member.name} builds for {member.platform}, this run for "
                f"{platform}: it takes no work (images of several platforms are not built yet)"
            )
    return platform


def plan_run(
    workspace: Workspace,
    everything: dict[str, Rendered],
    scan: StateScan,
    select: str | None,
    *,
    publishing: bool,
) -> RunPlan:
    states = scan.states()
    chain = build_chain(workspace.graph, states, workspace.labels, select)
    # Every Dockerfile of the chain renders before anything is built; the templates that
    # did not are rendered again, to report every error of the chain at once.
    workspace.raise_render_errors(chain, everything)
    to_publish = (
        publish_candidates(workspace.graph, states, workspace.labels, select, chain)
        if scan.registry is not None and publishing
        else []
    )
    rendered = {n: everything[n] for n in chain}
    uninventoried = _uninventoried(workspace, scan, select) if publishing else {}
    return RunPlan(
        states,
        chain,
        rendered,
        to_publish,
        dict(scan.unanswered),
        frozenset(scan.distrusted),
        uninventoried,
    )


def _uninventoried(workspace: Workspace, scan: StateScan, select: str | None) -> dict[str, str]:
    """Selected published images whose inventory is missing from the registry (it was
    deleted, or they were published before inventories were)."""
    registry = scan.registry
    if registry is None or not workspace.config.sbom or workspace.config.platforms:
        return {}
    from docker_pkg.inventory.publishing import missing_inventories

    chosen = selection(workspace.labels, select)
    digests = {n: d for n, d in scan.digests.items() if n in chosen}
    repositories = {n: registry.repository_path(workspace.name(n)) for n in digests}
    workers = workspace.config.scan_workers
    missing = missing_inventories(registry, repositories, digests, workers)
    return {n: digests[n] for n in missing}


def _resolve_builder(
    config: Config, engine: Engine, requested: str | None, say: Callable[[str], None]
) -> str:
    """The builder for this run (logged); BuildKit with container_limits warns or refuses."""
    builder, why = choose_builder(requested or config.builder, engine)
    log.info("Builder: %s (%s)", builder, why)
    if builder == BUILDKIT and config.container_limits:
        problem = (
            "BuildKit does not apply container_limits ("
            + ", ".join(sorted(config.container_limits))
            + "); use builder: classic to have them applied"
        )
        if config.container_limits_strict:
            raise UsageError(problem + " (container_limits_strict is set)")
        log.warning("%s", problem)
        say(f" WARNING: {problem}")
    return builder
