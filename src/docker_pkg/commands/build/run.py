"""The part of ``docker-pkg build`` that runs the plan's tasks on the pool, with the live
view and page. Loaded only when a plan has work: it brings in the build machinery."""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any, TextIO, TypeVar

from docker_pkg.commands.build.command import (
    Executed,
    Setting,
    _announce,
    _labels,
    _last_tags,
    _past_durations,
    _Plan,
    _usable_log_dir,
    _why,
    chain_order,
    run_info,
)
from docker_pkg.engines.endpoint import engine_name
from docker_pkg.outputs.pages import live_page
from docker_pkg.outputs.progress import Progress, make_progress
from docker_pkg.outputs.report import report_document
from docker_pkg.running.build_run import BuildRun
from docker_pkg.running.scheduler import Status, Task

Run = TypeVar("Run", bound=BuildRun)


def start_run(
    kind: type[Run],
    setting: Setting,
    say: Callable[[str], None],
    images: list[str],
    *,
    platform: str = "",
    platforms: tuple[str, ...] = (),
) -> Run:
    """The run of ``setting`` (a :class:`BuildRun`, or a subclass), labelling ``images``."""
    outputs = setting.outputs
    assert setting.pool is not None
    return kind(
        setting.workspace,
        setting.pool,
        setting.registry,
        setting.options,
        log_dir=_usable_log_dir(outputs.log_dir, say),
        redactor=setting.redactor,
        keep_failed=outputs.keep_failed,
        credentials=setting.credentials,
        labels=_labels(setting.workspace, setting.everything, setting.directory, images),
        external=setting.external,
        platform=platform,
        platforms=platforms,
    )


def execute_plan(
    setting: Setting,
    plan: _Plan,
    platform: str,
    *,
    say: Callable[[str], None],
    out: TextIO,
    stack: contextlib.ExitStack,
) -> Executed:
    """Build, verify and publish what ``plan`` holds; the run's logs close with ``stack``."""
    workspace, pool, outputs = setting.workspace, setting.pool, setting.outputs
    assert pool is not None
    pool.durations = _past_durations(outputs.history)
    run = start_run(BuildRun, setting, say, plan.chain, platform=platform)
    stack.callback(run.close_logs)
    _announce(
        say,
        workspace,
        plan,
        publishing=setting.credentials is not None,
        refresh_bases=run.pull_base_images if run.pulling else None,
    )
    tasks = run.tasks(plan.chain, plan.rendered, plan.states, plan.to_publish)
    progress = _progress(outputs.progress, run, plan, tasks, out)
    why = _why(workspace, plan, setting.select, run.pulling, _last_tags(outputs.history))

    def snapshot() -> dict[str, Any]:
        info = run_info(setting, 0, False, run.log_dir)
        return report_document(info, run.results(tasks, plan.states, why))

    with progress, live_page(outputs.html, snapshot, run.warnings.append):
        finished = run.execute(tasks, progress.event, setting.clock)
    for warning in run.warnings:
        say(f" WARNING: {warning}")
    failed = any(t.status in (Status.FAILED, Status.SKIPPED) for t in tasks.values())
    return Executed(finished, failed, run.results(tasks, plan.states, why), run.log_dir)


def _progress(
    mode: str, run: BuildRun, plan: _Plan, tasks: Mapping[str, Task], out: TextIO
) -> Progress:
    keys = sorted(tasks, key=lambda k: chain_order(plan.chain)(k.split(":", 1)[1]))
    return _progress_of(mode, run, run.workspace.labels, keys, out)


def _progress_of(
    mode: str, run: BuildRun, labels: dict[str, str], task_keys: list[str], out: TextIO
) -> Progress:
    """The view of the run, wired to it: output lines, where each image goes."""
    per_image = Counter(key.split(":", 1)[1] for key in task_keys)
    pool = run.pool
    progress = make_progress(
        mode,
        labels,
        dict(per_image),
        out,
        parents=run.workspace.graph.parents,
        durations=pool.durations,
        jobs=pool.total_jobs,
        engine=engine_name(pool.members[0].address) if len(pool.members) == 1 else "",
    )
    run.on_placed = progress.placed
    run.on_output = progress.output
    return progress
