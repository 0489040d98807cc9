"""The command line: the reference's verbs and flags, errors turned into messages and exit
statuses (0 success, 1 an image failed, 2 bad invocation or definitions, 130 interrupted).
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from docker_pkg.arguments import parse_args
from docker_pkg.config.settings import Config, load_config, state_dir
from docker_pkg.errors import DockerPkgError, EngineError
from docker_pkg.logs import DEFAULT_LOGFILE, RedactSecrets, setup_logging
from docker_pkg.naming import tag_suffix

if TYPE_CHECKING:
    from docker_pkg.engines.docker_engine import DockerEngine
    from docker_pkg.engines.pool import EnginePool
    from docker_pkg.planning.states import TagSource
    from docker_pkg.tree.workspace import Workspace


log = logging.getLogger(__name__)

EXIT_INTERRUPTED = 130


def _build_tag_suffix(args: argparse.Namespace, now: datetime) -> str:
    if args.snapshot:
        return tag_suffix("snapshot", now)
    if args.nightly:
        return tag_suffix("nightly", now)
    return ""


def _history_path(config: Config) -> Path:
    if config.history_db:
        return Path(config.history_db).expanduser()
    return state_dir(os.environ) / "history.sqlite"


def _engine() -> DockerEngine:
    from docker_pkg.engines.docker_engine import DockerEngine

    return DockerEngine()


def _pool(args: argparse.Namespace, config: Config) -> EnginePool | None:
    """The engines of a build: ``--engine`` URLs, else the ``engines`` of the configuration,
    else the one engine of ``DOCKER_HOST``. A dry run goes on without any."""
    from docker_pkg.config.settings import EngineSpec
    from docker_pkg.engines.endpoint import engine_name
    from docker_pkg.engines.pool import EnginePool, open_pool

    specs = config.engines
    if args.engine:
        specs = tuple(
            EngineSpec(f"{engine_name(url)}-{index}", url)
            for index, url in enumerate(args.engine, start=1)
        )
    if not specs:
        engine = _engine_if_reachable(_note) if args.dry_run else _engine()
        return EnginePool.single(engine, args.jobs) if engine is not None else None
    try:
        return open_pool(specs, args.jobs, lambda text: _note(f"docker-pkg: {text}"))
    except EngineError:
        if args.dry_run:
            _note("note: no engine of the pool answers; local image states are unknown")
            return None
        raise


def _engine_if_reachable(say: Callable[[str], None] | None = None) -> DockerEngine | None:
    """The engine, or None (said once) when none answers: planning works without one."""
    try:
        return _engine()
    except EngineError as exc:
        log.warning("%s", exc)
        if say is not None:
            say(f"note: no Docker engine reachable ({exc}); local image states are unknown")
        return None


def _note(text: str) -> None:
    print(text, file=sys.stderr)


@dataclass(frozen=True)
class Context:
    """What every command handler gets besides its arguments."""

    config: Config
    logfile: Path | None
    redactor: RedactSecrets


def _run_history(args: argparse.Namespace, ctx: Context) -> int:
    from docker_pkg.commands.history import show_history

    return show_history(
        path=_history_path(ctx.config),
        pattern=args.pattern,
        limit=args.limit,
        failed=args.failed,
        runs=args.runs,
        output_format=args.format,
    )


def _run_report(args: argparse.Namespace, ctx: Context) -> int:
    from docker_pkg.commands.report import report_page

    return report_page(args.report, args.html)


def _run_render(args: argparse.Namespace, ctx: Context) -> int:
    from docker_pkg.commands.render import render

    return render(
        config=ctx.config,
        directory=Path(args.directory),
        select=args.select,
        output=Path(args.output) if args.output else None,
    )


def _run_build(args: argparse.Namespace, ctx: Context) -> int:
    from docker_pkg.commands.build.command import build
    from docker_pkg.commands.build.setting import Outputs
    from docker_pkg.running.model import BuildOptions

    now = datetime.now()
    log_dir = args.log_dir or state_dir(os.environ) / "logs"
    outputs = Outputs(
        logfile=ctx.logfile,
        log_dir=log_dir / f"{now:%Y%m%d-%H%M%S}-{os.getpid()}",
        report=args.report,
        junit=args.junit,
        history=_history_path(ctx.config),
        keep_failed=args.keep_failed,
        progress=args.progress,
        dry_run_format=args.format if args.dry_run else None,
        html=args.html,
        history_days=ctx.config.history_days,
    )
    options = BuildOptions(
        nocache=args.nocache,
        pull=args.pull,
        jobs=args.jobs,
        fail_fast=args.fail_fast,
        publish_at_end=args.publish_at_end,
        builder=args.builder,
    )
    directory = Path(args.directory)
    pool = _pool(args, ctx.config)
    lock = None
    if pool is not None:
        where = ",".join(sorted(m.address for m in pool.members))
        from docker_pkg.running.lock import RunLock

        lock = RunLock(state_dir(os.environ) / "locks", directory, where, wait=args.wait)
    return build(
        config=ctx.config,
        directory=directory,
        pool=pool,
        lock=lock,
        platforms=tuple(args.platform) or ctx.config.platforms,
        select=args.select,
        options=options,
        tag_suffix=_build_tag_suffix(args, now),
        outputs=outputs,
        redactor=ctx.redactor,
    )


def _run_graph(args: argparse.Namespace, ctx: Context) -> int:
    from docker_pkg.commands.graph import graph

    return graph(
        config=ctx.config,
        directory=Path(args.directory),
        select=args.select,
        ancestors=args.ancestors,
        descendants=args.descendants,
        output_format=args.format,
        states=_drawing_states if args.format in ("svg", "html") else None,
    )


def _drawing_states(workspace: Workspace) -> dict[str, str]:
    """Each image's state for a drawing, from the engine and registry when they answer;
    nothing (a plain drawing) when neither does."""
    from docker_pkg.errors import OperationError
    from docker_pkg.planning.states import StateScan
    from docker_pkg.registry.connect import registry_client
    from docker_pkg.registry.credentials import find_credentials

    config = workspace.config
    engine = _engine_if_reachable()
    registry = registry_client(
        config, find_credentials(config.registry, config.username, config.password, os.environ)
    )
    if engine is None and registry is None:
        return {}
    try:
        return {n: s.value for n, s in StateScan(workspace, engine, registry).states().items()}
    except OperationError as exc:
        log.warning("Image states not drawn: %s", exc)
        return {}
    finally:
        if registry is not None:
            registry.close()


def _run_status(args: argparse.Namespace, ctx: Context) -> int:
    from docker_pkg.commands.status import status

    engines: TagSource | None
    if ctx.config.engines:  # what any engine of the pool holds counts as built
        from docker_pkg.engines.pool import open_pool

        try:
            engines = open_pool(ctx.config.engines, 1, lambda t: _note(f"docker-pkg: {t}"))
        except EngineError:
            _note("note: no engine of the pool answers; local image states are unknown")
            engines = None
    else:
        engines = _engine_if_reachable(_note)
    return status(
        config=ctx.config,
        directory=Path(args.directory),
        engine=engines,
        pull=args.pull,
        output_format=args.format,
    )


def _run_sbom(args: argparse.Namespace, ctx: Context) -> int:
    from docker_pkg.commands.sbom import sbom

    return sbom(
        config=ctx.config,
        directory=Path(args.directory),
        name=args.name,
        output_format=args.format,
        engine=_engine_if_reachable(),
    )


def _run_outdated(args: argparse.Namespace, ctx: Context) -> int:
    from docker_pkg.commands.outdated import outdated

    return outdated(
        config=ctx.config,
        directory=Path(args.directory),
        select=args.select,
        security=args.security,
        output_format=args.format,
        engine=_engine_if_reachable(),
    )


def _run_refresh(args: argparse.Namespace, ctx: Context) -> int:
    from docker_pkg.commands.refresh import refresh
    from docker_pkg.tree.versions import Scheme

    return refresh(
        config=ctx.config,
        directory=Path(args.directory),
        select=args.select,
        security=args.security,
        scheme=Scheme(args.scheme),
        dry_run=args.dry_run,
        engine=_engine_if_reachable(),
        environ=os.environ,
        now=datetime.now().astimezone(),
    )


def _run_lint(args: argparse.Namespace, ctx: Context) -> int:
    from docker_pkg.commands.lint import run_lint

    directory = Path(args.directory)
    lookup = None
    if not args.offline:
        from docker_pkg.commands.lint import label_lookup
        from docker_pkg.registry.connect import registry_client
        from docker_pkg.registry.credentials import find_credentials

        engine = _engine_if_reachable()
        config = ctx.config
        credentials = find_credentials(
            config.registry, config.username, config.password, os.environ
        )
        lookup = label_lookup(engine, registry_client(config, credentials))
    return run_lint(
        config=ctx.config, directory=directory, lookup=lookup, output_format=args.format
    )


def _run_prune(args: argparse.Namespace, ctx: Context) -> int:
    from docker_pkg.commands.prune import prune

    return prune(
        config=ctx.config,
        directory=Path(args.directory),
        engine=_engine(),
        select=args.select,
        nightly=args.nightly,
        dry_run=args.dry_run,
    )


def _run_update(args: argparse.Namespace, ctx: Context) -> int:
    from docker_pkg.commands.update import update
    from docker_pkg.tree.changelog import UpdateRequest
    from docker_pkg.tree.versions import Scheme

    request = UpdateRequest(
        pattern=args.select, reason=args.reason, version=args.version, scheme=Scheme(args.scheme)
    )
    return update(
        config=ctx.config,
        directory=Path(args.directory),
        request=request,
        dry_run=args.dry_run,
        environ=os.environ,
        now=datetime.now().astimezone(),
    )


# Each verb imports what it needs when it runs: `--help` or `render` never pay for the
# Docker SDK, rich or protobuf.
_HANDLERS: dict[str, Callable[[argparse.Namespace, Context], int]] = {
    "build": _run_build,
    "graph": _run_graph,
    "history": _run_history,
    "lint": _run_lint,
    "outdated": _run_outdated,
    "prune": _run_prune,
    "refresh": _run_refresh,
    "render": _run_render,
    "report": _run_report,
    "sbom": _run_sbom,
    "status": _run_status,
    "update": _run_update,
}

# Verbs that work on the user's own state, not on a tree: a missing config.yaml is fine.
_NEED_NO_CONFIG = ("history", "report")


def _config_file(args: argparse.Namespace) -> Path | None:
    if args.configfile is not None:
        return Path(args.configfile)
    default = Path("config.yaml")
    if args.mode in _NEED_NO_CONFIG and not default.exists():
        return None
    return default


def _terminate(signum: int, frame: object) -> None:
    """SIGTERM stops a run the way Ctrl-C does."""
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _terminate)
    level = "debug" if args.debug else "info" if args.info else None
    # render prints what it makes; only a build keeps a log file by default.
    redactor, logfile = setup_logging(level, DEFAULT_LOGFILE if args.mode == "build" else None)
    try:
        config = load_config(_config_file(args), os.environ)
        for secret in config.secrets():
            redactor.add(secret)
        return _HANDLERS[args.mode](args, Context(config, logfile, redactor))
    except DockerPkgError as exc:
        return report_error(exc, redactor, to_logfile=logfile is not None)
    except KeyboardInterrupt:
        print("docker-pkg: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


def report_error(exc: DockerPkgError, redactor: RedactSecrets, *, to_logfile: bool) -> int:
    text = redactor.redact(str(exc))
    if to_logfile:
        log.error("%s", text)
    for line in text.splitlines() or [""]:
        print(f"docker-pkg: error: {line}", file=sys.stderr)
    return exc.exit_status


EXIT_BROKEN_PIPE = 128 + signal.SIGPIPE


def run() -> None:
    try:
        status = main()
        sys.stdout.flush()
    except BrokenPipeError:
        # Whoever read the output left (``docker-pkg render --select x | head -1``): stop
        # quietly, as a program killed by SIGPIPE would, without a traceback at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        status = EXIT_BROKEN_PIPE
    raise SystemExit(status)
