"""What a build run works with, decided before anything runs: where its records go, the
plan, the setting the command worked out, and how the run went."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from docker_pkg.engines.pool import EnginePool
from docker_pkg.logs import RedactSecrets
from docker_pkg.planning.plan import State
from docker_pkg.running.model import BuildOptions, ImageResult, RunInfo
from docker_pkg.tree.definitions import Rendered
from docker_pkg.tree.workspace import Workspace

if TYPE_CHECKING:
    # A run with no registry never loads these.
    from docker_pkg.registry.client import RegistryClient
    from docker_pkg.registry.credentials import Credentials

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
class RunPlan:
    """What a run will do, decided before anything is built."""

    states: dict[str, State]
    chain: list[str]
    rendered: dict[str, Rendered]
    to_publish: list[str]
    # image -> the registry's server error about it: taken as not published (a broken tag)
    unanswered: Mapping[str, str] = field(default_factory=dict)
    # images whose tag in the engine comes from a build that did not finish: built again
    distrusted: frozenset[str] = frozenset()
    # published images without their inventory in the registry: image -> manifest digest
    uninventoried: Mapping[str, str] = field(default_factory=dict)


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
    warnings: tuple[str, ...] = ()


def run_info(
    setting: Setting,
    status: int,
    interrupted: bool,
    log_dir: Path | None,
    warnings: tuple[str, ...] = (),
) -> RunInfo:
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
        warnings=warnings,
    )


def chain_order(chain: list[str]) -> Callable[[str], tuple[int, str]]:
    position = {name: i for i, name in enumerate(chain)}
    return lambda name: (position.get(name, len(chain)), name)
