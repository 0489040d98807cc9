"""The part of ``docker-pkg build`` that runs the plan's tasks on the pool, with the live
view and page. Loaded only when a plan has work: it brings in the build machinery."""

from __future__ import annotations

import contextlib
import os
from collections import Counter
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TextIO, TypeVar

from docker_pkg.commands.build.explain import announce, reasons
from docker_pkg.commands.build.records import last_tags, past_durations, usable_log_dir
from docker_pkg.commands.build.setting import Executed, RunPlan, Setting, chain_order, run_info
from docker_pkg.config.settings import state_dir
from docker_pkg.engines.endpoint import engine_name
from docker_pkg.outputs.pages import live_page
from docker_pkg.outputs.progress import Progress, make_progress
from docker_pkg.outputs.report import report_document
from docker_pkg.running.build_run import BuildRun, inventory_repairs
from docker_pkg.running.run_tasks import INVENTORY
from docker_pkg.running.scheduler import Status, Task
from docker_pkg.tree.definitions import Rendered
from docker_pkg.tree.workspace import Workspace

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
        log_dir=usable_log_dir(outputs.log_dir, say),
        redactor=setting.redactor,
        keep_failed=outputs.keep_failed,
        credentials=setting.credentials,
        labels=image_labels_of(setting.workspace, setting.everything, setting.directory, images),
        external=setting.external,
        platform=platform,
        platforms=platforms,
        rendered=dict(setting.everything),
        inventory_dir=state_dir(os.environ) / "inventories",
    )


def execute_plan(
    setting: Setting,
    plan: RunPlan,
    platform: str,
    *,
    say: Callable[[str], None],
    out: TextIO,
    stack: contextlib.ExitStack,
) -> Executed:
    """Build, verify and publish what ``plan`` holds; the run's logs close with ``stack``."""
    workspace, pool, outputs = setting.workspace, setting.pool, setting.outputs
    assert pool is not None
    pool.durations = past_durations(outputs.history)
    run = start_run(BuildRun, setting, say, plan.chain, platform=platform)
    run.untrusted = frozenset(workspace.label(n) for n in plan.distrusted)
    stack.callback(run.close_logs)
    announce(
        say,
        workspace,
        plan,
        publishing=setting.credentials is not None,
        refresh_bases=run.pull_base_images if run.pulling else None,
    )
    tasks = run.tasks(plan.chain, plan.rendered, plan.states, plan.to_publish)
    tasks.update(inventory_repairs(run, plan.uninventoried))
    progress = _progress(outputs.progress, run, plan, tasks, out)
    why = reasons(workspace, plan, setting.select, run.pulling, last_tags(outputs.history))

    def snapshot() -> dict[str, Any]:
        info = run_info(setting, 0, False, run.log_dir)
        return report_document(info, run.results(tasks, plan.states, why))

    with progress, live_page(outputs.html, snapshot, run.warnings.append):
        finished = run.execute(tasks, shown(progress, workspace.labels), setting.clock)
    results = run.results(tasks, plan.states, why)
    if run.engines.inventories is not None:
        from docker_pkg.commands.build.packages import after_inventories

        run.warnings.extend(after_inventories(results, os.environ))
    for warning in run.warnings:
        say(f" WARNING: {warning}")
    failed = any(t.status in (Status.FAILED, Status.SKIPPED) for t in tasks.values())
    return Executed(finished, failed, results, run.log_dir, tuple(run.warnings))


def _progress(
    mode: str, run: BuildRun, plan: RunPlan, tasks: Mapping[str, Task], out: TextIO
) -> Progress:
    shown = [k for k in tasks if tasks[k].kind != INVENTORY]
    keys = sorted(shown, key=lambda k: chain_order(plan.chain)(k.split(":", 1)[1]))
    return progress_of(mode, run, run.workspace.labels, keys, out)


def shown(progress: Progress, labels: Mapping[str, str]) -> Callable[[Task], None]:
    """What the view hears of the tasks: inventories only when they fail (as a message),
    builds and pushes as they go."""

    def event(task: Task) -> None:
        if task.kind != INVENTORY:
            progress.event(task)
        elif task.status is Status.FAILED:
            label = labels[task.key.split(":", 1)[1]]
            progress.message(f" ERROR: the inventory of {label} failed: {task.reason.strip()}")

    return event


def progress_of(
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


def image_labels_of(
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
