"""The tasks of a build run and what their outcomes mean for each image (pure, given the
functions that do the work).

Each image of the build chain is one ``build`` task (move its parents to the engine chosen
for it, build, verify); each image to publish is one ``publish`` task (verify when not yet,
then push). A publish task waits for its own build and for the publishing of its ancestors,
so no image is pushed unverified and no child before its parents.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from docker_pkg.running.model import ImageResult, Outcome
from docker_pkg.running.scheduler import Status, Task, heights
from docker_pkg.tree.graph import DependencyGraph

BUILD, VERIFY, PUBLISH, MOVE = "build", "verify", "publish", "move"
INVENTORY = "inventory"


def chain_tasks(
    graph: DependencyGraph,
    chain: list[str],
    to_publish: list[str],
    build: Callable[[str], Callable[[], object]],
    publish: Callable[[str, bool], Callable[[], object]],
    *,
    publish_at_end: bool = False,
    inventory: Callable[[str], Callable[[], object]] | None = None,
) -> dict[str, Task]:
    """The build and publish tasks of ``chain`` and ``to_publish``, with their dependencies;
    ``build(name)`` and ``publish(name, verified)`` make each task's work. With
    ``inventory``, each image built or published has its inventory taken after its build
    (and its ancestors' inventories), off the build slots, and before it is published."""
    in_chain = set(chain)
    chain_children = {n: [c for c in graph.children(n) if c in in_chain] for n in chain}
    priority = heights(chain_children, chain)
    tasks: dict[str, Task] = {}
    for name in chain:
        deps = tuple(f"{BUILD}:{a}" for a in sorted(graph.ancestors(name) & in_chain))
        key = f"{BUILD}:{name}"
        tasks[key] = Task(key, BUILD, deps, build(name), priority=priority[name])
    publishing = set(to_publish)
    taking = in_chain | publishing if inventory is not None else set()
    for name in (n for n in graph.order() if n in taking):
        assert inventory is not None
        after = [f"{INVENTORY}:{a}" for a in sorted(graph.ancestors(name) & taking)]
        if name in in_chain:
            after.append(f"{BUILD}:{name}")
        key = f"{INVENTORY}:{name}"
        tasks[key] = Task(key, INVENTORY, tuple(after), inventory(name))
    for name in to_publish:
        needs = [f"{PUBLISH}:{a}" for a in sorted(graph.ancestors(name) & publishing)]
        if name in taking:
            needs.append(f"{INVENTORY}:{name}")
        if name in in_chain:
            needs.append(f"{BUILD}:{name}")
        if publish_at_end:
            needs.extend(f"{BUILD}:{n}" for n in chain if n != name)
        key = f"{PUBLISH}:{name}"
        tasks[key] = Task(key, PUBLISH, tuple(needs), publish(name, name in in_chain))
    return tasks


def skip_reason(task: Task, failed: Task, failed_label: str) -> str:
    """Why ``task`` of a run of one platform is not run, ``failed`` (``failed_label``)
    having failed."""
    if task.kind == INVENTORY:
        return f"no inventory: {failed_label} failed"
    if failed.kind == INVENTORY:
        return f"not pushed: the inventory of {failed_label} failed"
    if task.kind == BUILD:
        return f"not attempted: its ancestor {failed_label} failed"
    if failed.kind == BUILD and failed.key.split(":", 1)[1] == task.key.split(":", 1)[1]:
        return "not pushed: its build failed"
    return f"not pushed: {failed_label} was not published"


def building(tasks: Mapping[str, Task]) -> set[str]:
    """The units (images, or images of one platform) the tasks build."""
    return {key.split(":", 1)[1] for key in tasks if key.startswith(f"{BUILD}:")}


def apply(result: ImageResult, task: Task) -> bool:
    """Fold one finished task into the image's result; False when later phases do not count."""
    if task.status is Status.RUNNING and result.started is None:
        result.started = task.started  # a live view shows it running
    if task.status in (Status.PENDING, Status.RUNNING):
        return True
    if task.started and result.started is None:
        result.started = task.started
    result.ended = task.ended or result.ended
    if task.status is Status.FAILED:
        result.outcome, result.reason = Outcome.FAILED, task.reason
        return False
    if task.status is Status.SKIPPED:
        result.outcome, result.reason = Outcome.SKIPPED, task.reason
        return False
    if task.kind == INVENTORY:
        return True
    if task.kind == BUILD:
        result.outcome, result.image_id = Outcome.VERIFIED, task.value
    else:
        result.outcome, result.digest, result.pushed = Outcome.PUBLISHED, task.value, True
    return True
