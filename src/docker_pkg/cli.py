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

from docker_pkg import __version__
from docker_pkg.config.settings import Config, load_config, state_dir
from docker_pkg.errors import DockerPkgError, EngineError
from docker_pkg.logs import DEFAULT_LOGFILE, RedactSecrets, setup_logging
from docker_pkg.naming import tag_suffix
from docker_pkg.running.lock import RunLock

if TYPE_CHECKING:
    from docker_pkg.engines.docker_engine import DockerEngine
    from docker_pkg.engines.pool import EnginePool
    from docker_pkg.planning.states import TagSource
    from docker_pkg.tree.workspace import Workspace

# Each verb imports what it needs when it runs: `--help` or `render` never pay for the
# Docker SDK, rich or protobuf.
UPDATE_SCHEMES = ("counter", "date")

log = logging.getLogger(__name__)

EXIT_INTERRUPTED = 130


def _add_select(parser: argparse._ActionsContainer, what: str) -> None:
    parser.add_argument(
        "--select",
        metavar="GLOB",
        default=None,
        help=f"a glob pattern for the images to {what}, matched on registry/namespace/name:tag",
    )


def _add_format(parser: argparse.ArgumentParser, choices: list[str], what: str) -> None:
    parser.add_argument("--format", choices=choices, default=choices[0], help=what)


def _add_directory(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("directory", metavar="DIRECTORY", help="the directory to scan for images")


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="docker-pkg", description="Build, verify and publish trees of Docker images."
    )
    parser.add_argument("--version", action="version", version=f"docker-pkg {__version__}")
    parser.add_argument(
        "-c",
        "--configfile",
        default=None,
        help="configuration file (default: config.yaml; history and report need none)",
    )
    level = parser.add_argument_group("logging options").add_mutually_exclusive_group()
    level.add_argument("--debug", action="store_true", help="debug logging to the terminal")
    level.add_argument("--info", action="store_true", help="info logging to the terminal")
    verbs = parser.add_subparsers(
        dest="mode",
        metavar="{build,prune,update,render,graph,status,lint,history,report}",
        required=True,
    )

    _build_parser(verbs)
    _graph_parser(verbs)
    _status_parser(verbs)
    _lint_parser(verbs)
    _history_parser(verbs)
    _prune_parser(verbs)
    _update_parser(verbs)
    _render_parser(verbs)
    _report_parser(verbs)
    return parser.parse_args(argv)


def _report_parser(verbs: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    report = verbs.add_parser("report", help="make the run page from a saved JSON report")
    report.add_argument("report", metavar="REPORT", type=Path, help="a report of build --report")
    report.add_argument("--html", metavar="FILE", type=Path, required=True, help="page to write")
    report.set_defaults(handler=_run_report)


def _build_parser(verbs: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    build = verbs.add_parser("build", help="build, verify and publish images")
    opts = build.add_argument_group("options for docker build")
    nightly = opts.add_mutually_exclusive_group()
    nightly.add_argument("--nightly", action="store_true", help="tag with -YYYYMMDD appended")
    nightly.add_argument(
        "--snapshot", action="store_true", help="tag with -YYYYMMDD-HHMMSS appended"
    )
    opts.add_argument(
        "--use-cache", dest="nocache", action="store_false", help="use the Docker build cache"
    )
    opts.add_argument(
        "--no-pull", dest="pull", action="store_false", help="do not pull images from the registry"
    )
    _add_select(opts, "build")
    run = build.add_argument_group("running and reporting")
    run.add_argument(
        "-j",
        "--jobs",
        type=_positive,
        default=default_jobs(),
        help="images built at once (default: %(default)s here; -j1 builds one at a time)",
    )
    run.add_argument(
        "--builder",
        choices=["buildkit", "classic"],
        default=None,
        help="the engine's builder (default: the builder config key, else BuildKit when the "
        "engine supports it)",
    )
    run.add_argument(
        "--fail-fast", action="store_true", help="start nothing new after the first failure"
    )
    run.add_argument(
        "--engine",
        metavar="URL",
        action="append",
        default=[],
        help="build on this engine (unix://, tcp://, ssh://); repeat for a pool (default: the "
        "engines key, else DOCKER_HOST)",
    )
    run.add_argument(
        "--platform",
        metavar="OS/ARCH",
        type=_platform,
        action="append",
        default=[],
        help="build every image for this platform and publish indexes; repeat for several "
        "(default: the platforms key; none: today's single-platform images)",
    )
    run.add_argument(
        "--no-wait",
        dest="wait",
        action="store_false",
        help="when another build runs on this tree and engine, exit (status 75) instead of "
        "waiting for it",
    )
    run.add_argument(
        "--publish-at-end",
        action="store_true",
        help="push only after every build (default: as soon as an image and its parents are)",
    )
    run.add_argument(
        "--progress",
        choices=["auto", "rich", "plain", "quiet"],
        default="auto",
        help="live view on a terminal (auto), one line per event, or only the outcome",
    )
    run.add_argument("--report", metavar="FILE", type=Path, help="write a JSON report")
    run.add_argument("--junit", metavar="FILE", type=Path, help="write a JUnit XML report")
    run.add_argument(
        "--html",
        metavar="FILE",
        type=Path,
        help="write the run page (graph, timeline, images), live while the run goes",
    )
    run.add_argument(
        "--log-dir", metavar="DIR", type=Path, help="per-image build logs (default: state dir)"
    )
    run.add_argument(
        "--keep-failed",
        metavar="DIR",
        type=Path,
        help="keep the Dockerfile, exact context tar and log of each failed image in DIR",
    )
    build.add_argument(
        "--dry-run", action="store_true", help="print the build order and why; build nothing"
    )
    _add_format(build, ["text", "json"], "output of --dry-run")
    _add_directory(build)
    build.set_defaults(handler=_run_build)


def _graph_parser(verbs: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    graph = verbs.add_parser("graph", help="show the dependency graph")
    _add_select(graph, "show, with their ancestors and descendants")
    narrow = graph.add_mutually_exclusive_group()
    narrow.add_argument("--ancestors", action="store_true", help="only the selection's ancestors")
    narrow.add_argument(
        "--descendants", action="store_true", help="only the selection's descendants"
    )
    _add_format(graph, ["dot", "mermaid", "json", "svg", "html"], "graph format")
    _add_directory(graph)
    graph.set_defaults(handler=_run_graph)


def _status_parser(verbs: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    status = verbs.add_parser("status", help="state of every image and why")
    status.add_argument(
        "--no-pull", dest="pull", action="store_false", help="ask the local engine first"
    )
    _add_format(status, ["text", "json"], "output format")
    _add_directory(status)
    status.set_defaults(handler=_run_status)


def _lint_parser(verbs: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    lint = verbs.add_parser("lint", help="find mistakes in the definitions")
    _add_format(lint, ["text", "json"], "output format")
    lint.add_argument("--offline", action="store_true", help="do not compare with built images")
    _add_directory(lint)
    lint.set_defaults(handler=_run_lint)


def _history_parser(verbs: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    history = verbs.add_parser("history", help="list past builds of images")
    history.add_argument("pattern", metavar="GLOB", nargs="?", help="image name or label glob")
    history.add_argument("--limit", type=_positive, default=50, help="at most this many rows")
    history.add_argument("--failed", action="store_true", help="failed builds only")
    history.add_argument("--runs", action="store_true", help="list runs instead of images")
    _add_format(history, ["text", "json"], "output format")
    history.set_defaults(handler=_run_history)


def _prune_parser(verbs: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    prune = verbs.add_parser("prune", help="remove old local versions of images")
    _add_select(prune, "prune")
    prune.add_argument(
        "--nightly",
        default=None,
        metavar="NIGHTLY_IDENTIFIER",
        help="keep the nightly build VERSION-NIGHTLY_IDENTIFIER instead of VERSION",
    )
    prune.add_argument("--dry-run", action="store_true", help="only list what would be removed")
    _add_directory(prune)
    prune.set_defaults(handler=_run_prune)


def _update_parser(verbs: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    update = verbs.add_parser("update", help="add changelog entries to an image tree")
    update.add_argument("select", metavar="NAME", help="image name (a glob: 'php*', '*') to update")
    update.add_argument("--reason", default="Security update", help="reason for the update")
    update.add_argument("--version", "-v", default=None, help="version for the NAME image(s)")
    update.add_argument(
        "--scheme",
        choices=UPDATE_SCHEMES,
        default=UPDATE_SCHEMES[0],
        help="automatic versions: counter (-s1, -s2, ...) or date (-YYYYMMDD, today)",
    )
    update.add_argument("--dry-run", action="store_true", help="print the entries, write nothing")
    _add_directory(update)
    update.set_defaults(handler=_run_update)


def _render_parser(verbs: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    render = verbs.add_parser("render", help="render Dockerfiles without building")
    _add_select(render, "render")
    render.add_argument(
        "--output", metavar="DIR", default=None, help="write DIR/<name>/Dockerfile per image"
    )
    _add_directory(render)
    render.set_defaults(handler=_run_render)


def _build_tag_suffix(args: argparse.Namespace, now: datetime) -> str:
    if args.snapshot:
        return tag_suffix("snapshot", now)
    if args.nightly:
        return tag_suffix("nightly", now)
    return ""


def _platform(text: str) -> str:
    from docker_pkg.naming import is_valid_platform

    if not is_valid_platform(text):
        raise argparse.ArgumentTypeError(f"{text!r} is not os/arch[/variant], e.g. linux/arm64")
    return text


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def default_jobs() -> int:
    """Builds mostly wait on the engine: one per core, at most four."""
    return max(1, min(4, os.cpu_count() or 1))


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
    from docker_pkg.engines.pool import EnginePool

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
        return EnginePool.open(specs, args.jobs, lambda text: _note(f"docker-pkg: {text}"))
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
        from docker_pkg.engines.pool import EnginePool

        try:
            engines = EnginePool.open(ctx.config.engines, 1, lambda t: _note(f"docker-pkg: {t}"))
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
        handler: Callable[[argparse.Namespace, Context], int] = args.handler
        return handler(args, Context(config, logfile, redactor))
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
