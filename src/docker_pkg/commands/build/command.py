"""``docker-pkg build``: scan, plan, render, then build, verify and publish in parallel."""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import sqlite3
import sys
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from docker_pkg.commands import printer
from docker_pkg.config.settings import Config
from docker_pkg.engines.builders import BUILDKIT, choose_builder
from docker_pkg.engines.interface import Engine
from docker_pkg.engines.pool import EnginePool
from docker_pkg.errors import EngineError, UsageError
from docker_pkg.logs import RedactSecrets
from docker_pkg.outputs.history import History
from docker_pkg.planning.estimate import format_duration, remaining_seconds
from docker_pkg.planning.plan import (
    State,
    build_chain,
    chain_reasons,
    publish_candidates,
    selection,
    state_reason,
)
from docker_pkg.planning.states import StateScan
from docker_pkg.running.lock import RunLock
from docker_pkg.running.model import BuildOptions, ImageResult, Outcome, RunInfo, plan_results
from docker_pkg.tree.definitions import Rendered
from docker_pkg.tree.workspace import Workspace

if TYPE_CHECKING:
    # A run with no registry, or no report to write, never loads these.
    from docker_pkg.registry.client import RegistryClient
    from docker_pkg.registry.credentials import Credentials

log = logging.getLogger(__name__)

EXIT_INTERRUPTED = 130


@dataclass(frozen=True)
class Outputs:
    """Where a build run leaves its records."""

    logfile: Path | None = None
    log_dir: Path | None = None
    report: Path | None = None
    junit: Path | None = None
    history: Path | None = None
    keep_failed: Path | None = None
    progress: str = "auto"
    dry_run_format: str | None = None  # set: print the plan ("text" or "json"), build nothing
    html: Path | None = None  # the run page, rewritten while the run goes
    history_days: int | None = None  # runs older than this are forgotten


@dataclass(frozen=True)
class _Plan:
    """What a run will do, decided before anything is built."""

    states: dict[str, State]
    chain: list[str]
    rendered: dict[str, Rendered]
    to_publish: list[str]


@dataclass(frozen=True)
class Setting:
    """What the build command worked out before running anything."""

    directory: Path
    workspace: Workspace
    everything: dict[str, Rendered]
    pool: EnginePool | None
    registry: RegistryClient | None
    credentials: Credentials | None
    select: str | None
    options: BuildOptions
    platforms: tuple[str, ...]
    outputs: Outputs
    external: dict[str, list[str]]
    redactor: RedactSecrets | None
    started: datetime
    clock: Callable[[], datetime]


@dataclass(frozen=True)
class Executed:
    """How a run went: finished (not interrupted), any image failed or skipped, each
    image's result, where its per-image logs are."""

    finished: bool
    failed: bool
    results: list[ImageResult]
    log_dir: Path | None


def run_info(setting: Setting, status: int, interrupted: bool, log_dir: Path | None) -> RunInfo:
    return RunInfo(
        setting.directory,
        setting.started,
        setting.clock(),
        status,
        setting.options.jobs,
        interrupted,
        log_dir,
        builder=setting.options.builder,
        engines=setting.pool.describe() if setting.pool is not None else (),
    )


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
        _say_external(say, workspace, external)
    if pool is None and outputs.dry_run_format is None:
        raise EngineError("building needs a Docker engine, and none is reachable")
    platform, options = _on_pool(pool, config, options, say, several=bool(platforms))
    credentials = _credentials(config, environ, redactor)
    registry = registry_client(config, credentials)
    with contextlib.ExitStack() as stack:
        if registry is not None:
            stack.callback(registry.close)
        if lock is not None and outputs.dry_run_format is None:
            # Before the scan: a run that waited must see what the other one built.
            stack.enter_context(lock.held(say))
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
        if platforms:
            from docker_pkg.commands.build.platforms import build_platforms

            return build_platforms(setting, say, out)
        scan = StateScan(workspace, pool, registry, options.pull)
        plan = _plan(workspace, everything, scan, select, publishing=credentials is not None)
        if outputs.dry_run_format is not None:
            _dry_run(
                out,
                outputs.dry_run_format,
                workspace,
                plan,
                select=select,
                pulling=scan.pulling,
                estimate=_estimate(workspace, plan.chain, outputs.history, options.jobs),
            )
            return 0
        assert pool is not None
        if plan.chain or plan.to_publish:
            from docker_pkg.commands.build.run import execute_plan  # the build machinery

            executed = execute_plan(setting, plan, platform, say=say, out=out, stack=stack)
        else:
            _announce(say, workspace, plan, publishing=credentials is not None)
            log_dir = _usable_log_dir(outputs.log_dir, say)
            executed = Executed(True, False, plan_results(workspace, plan.states), log_dir)

    finished = executed.finished
    status = EXIT_INTERRUPTED if not finished else (1 if executed.failed else 0)
    say("== Build done! ==" if finished else "== Build interrupted ==")
    _summary(say, executed.results, plan.states)
    info = run_info(setting, status, not finished, executed.log_dir)
    _records(say, outputs, info, executed.results)
    if outputs.logfile is not None:
        say(f"You can see the logs at ./{outputs.logfile}")
    return status


def _estimate(
    workspace: Workspace, chain: list[str], history: Path | None, jobs: int
) -> tuple[float | None, int]:
    """Seconds the chain should take at ``jobs`` (None: no history), and how many of its
    images that is based on."""
    durations = _past_durations(history)
    seconds = remaining_seconds(workspace.graph.parents, durations, chain, jobs)
    return seconds, sum(1 for n in chain if n in durations)


def _past_durations(history: Path | None) -> dict[str, float]:
    """Each image's last build time, for estimates; nothing when there is no history."""
    if history is None:
        return {}
    try:
        return History(history).durations()
    except (sqlite3.Error, OSError) as exc:
        log.info("No estimates from the build history: %s", exc)
        return {}


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


def _announce(
    say: Callable[[str], None],
    workspace: Workspace,
    plan: _Plan,
    *,
    publishing: bool,
    refresh_bases: Callable[[], list[str]] | None = None,
) -> None:
    """What the run is about to do; base images refreshed first (``refresh_bases``: pulls
    them, returning warnings)."""
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


def _plan(
    workspace: Workspace,
    everything: dict[str, Rendered],
    scan: StateScan,
    select: str | None,
    *,
    publishing: bool,
) -> _Plan:
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
    return _Plan(states, chain, {n: everything[n] for n in chain}, to_publish)


def _usable_log_dir(log_dir: Path | None, say: Callable[[str], None]) -> Path | None:
    """The per-image log folder, created; None (and a warning) when it cannot be."""
    if log_dir is None:
        return None
    try:
        log_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        say(f" WARNING: per-image logs not kept: cannot create {log_dir} ({exc.strerror})")
        return None
    return log_dir


def _say_external(
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


def _labels(
    workspace: Workspace, rendered: dict[str, Rendered], directory: Path, chain: list[str]
) -> dict[str, dict[str, str]]:
    """OCI and fingerprint labels for the images to build, unless ``image_labels: false``
    (with the classic builder labels cost one more step per image)."""
    if not workspace.config.image_labels or not chain:
        return {}
    from docker_pkg.tree.fingerprint import fingerprints
    from docker_pkg.tree.labels import git_revision, image_labels

    prints = fingerprints(workspace.graph, rendered, chain)
    return image_labels(workspace, prints, git_revision(directory))


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


def _dry_run(
    out: TextIO,
    output_format: str,
    workspace: Workspace,
    plan: _Plan,
    *,
    select: str | None,
    pulling: bool,
    estimate: tuple[float | None, int],
) -> None:
    """The build chain in order, with why each image is in it, and how long it should take
    (from the history); nothing is built."""
    chain, to_publish = plan.chain, plan.to_publish
    why = _why(workspace, plan, select, pulling)
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


def _why(
    workspace: Workspace,
    plan: _Plan,
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
        text = f"{reasons[name]}; {state_reason(plan.states[name], pulling, registry)}"
        last = (last_tags or {}).get(name)
        tag = workspace.definitions[name].tag
        if last is not None:
            text += f"; new version (last built: {last})" if last != tag else "; built before"
        why[name] = text
    return why


def _last_tags(history: Path | None) -> dict[str, str]:
    if history is None:
        return {}
    try:
        return History(history).last_tags()
    except (sqlite3.Error, OSError) as exc:
        log.info("No versions from the build history: %s", exc)
        return {}


def chain_order(chain: list[str]) -> Callable[[str], tuple[int, str]]:
    position = {name: i for i, name in enumerate(chain)}
    return lambda name: (position.get(name, len(chain)), name)


def _credentials(
    config: Config, environ: Mapping[str, str], redactor: RedactSecrets | None
) -> Credentials | None:
    if not config.registry:
        return None
    from docker_pkg.registry.credentials import find_credentials

    credentials = find_credentials(config.registry, config.username, config.password, environ)
    if credentials is not None:
        if redactor is not None:
            redactor.add(credentials.password)
        log.info("Registry credentials for %s from %s", config.registry, credentials.source)
    return credentials


def registry_client(config: Config, credentials: Credentials | None) -> RegistryClient | None:
    """The run's client of the configured registry (None when there is none)."""
    if not config.registry:
        return None
    from docker_pkg.registry.client import RegistryClient

    return RegistryClient(
        config.registry,
        credentials=credentials,
        ca_bundle=config.ca_bundle,
        http_proxy=config.http_proxy,
        insecure=config.registry in config.insecure_registries,
    )


def _summary(
    say: Callable[[str], None], results: list[ImageResult], states: dict[str, State]
) -> None:
    touched = [r for r in results if r.in_run]
    for result in touched:
        duration = f"{result.duration:6.1f}s" if result.duration is not None else "      -"
        reason = f"  ({result.reason.strip().splitlines()[0]})" if result.reason.strip() else ""
        say(f"  {result.outcome.value:<9} {duration}  {result.label}{reason}")
    counts = Counter(r.outcome for r in touched)
    built = sum(1 for r in touched if r.image_id)
    pushed = sum(1 for r in touched if r.pushed)
    up_to_date = sum(1 for s in states.values() if s is State.PUBLISHED)
    say(
        f"Summary: {built} built and verified, {pushed} published, "
        f"{counts[Outcome.FAILED]} failed, {counts[Outcome.SKIPPED]} skipped, "
        f"{up_to_date} already published"
    )


def _records(
    say: Callable[[str], None], outputs: Outputs, info: RunInfo, results: list[ImageResult]
) -> None:
    """Logs, kept inputs, reports and history. Each is best effort: a record that cannot be
    written is a warning, never a change of the run's outcome."""
    if info.log_dir is not None:
        say(f"Build logs of each image: {info.log_dir}")

    def attempt(failure: str, write: Callable[[], object]) -> bool:
        try:
            write()
        except (OSError, sqlite3.Error) as exc:
            log.warning("%s: %s", failure, exc)
            say(f" WARNING: {failure} ({exc})")
            return False
        return True

    if outputs.keep_failed is not None:
        import shutil

        for result in results:
            kept = outputs.keep_failed / result.name
            if result.outcome is Outcome.FAILED and kept.is_dir():
                if result.log_file and result.log_file.exists():
                    attempt(
                        f"log not copied to {kept}",
                        functools.partial(shutil.copy, result.log_file, kept / "build.log"),
                    )
                say(f"Kept the inputs of failed {result.label} in {kept}")
    if outputs.report is not None or outputs.junit is not None or outputs.html is not None:
        _write_reports(say, attempt, outputs, info, results)
    if outputs.history is not None:
        history = outputs.history
        attempt(
            f"build history not recorded in {history}",
            lambda: History(history).record(info, results, outputs.history_days),
        )


def _write_reports(
    say: Callable[[str], None],
    attempt: Callable[[str, Callable[[], object]], bool],
    outputs: Outputs,
    info: RunInfo,
    results: list[ImageResult],
) -> None:
    from docker_pkg.outputs.pages import write_page  # only runs asked for a report load these
    from docker_pkg.outputs.report import report_document, write_json, write_junit

    report, junit, page = outputs.report, outputs.junit, outputs.html
    if report is not None and attempt(
        f"report {report} not written", functools.partial(write_json, report, info, results)
    ):
        say(f"Report: {report}")
    if junit is not None and attempt(
        f"JUnit report {junit} not written", functools.partial(write_junit, junit, info, results)
    ):
        say(f"JUnit report: {junit}")
    if page is not None and attempt(
        f"run page {page} not written",
        lambda: write_page(page, report_document(info, results)),
    ):
        say(f"Run page: {page}")
