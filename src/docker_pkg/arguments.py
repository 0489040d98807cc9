"""The command line's verbs and flags: the reference's, and ours beside them."""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from pathlib import Path

from docker_pkg import __version__

UPDATE_SCHEMES = ("counter", "date")


def _add_select(parser: argparse._ActionsContainer, what: str) -> None:
    parser.add_argument(
        "--select",
        metavar="GLOB",
        default=None,
        help=f"a glob pattern for the images to {what}, matched on registry/namespace/name:tag",
    )


def _add_format(parser: argparse.ArgumentParser, choices: list[str], what: str) -> None:
    parser.add_argument("--format", choices=choices, default=choices[0], help=what)


def _add_scheme(parser: argparse.ArgumentParser) -> None:
    """``--scheme`` and ``--dry-run`` of the verbs that write changelog entries."""
    parser.add_argument(
        "--scheme",
        choices=UPDATE_SCHEMES,
        default=UPDATE_SCHEMES[0],
        help="automatic versions: counter (-s1, -s2, ...) or date (-YYYYMMDD, today)",
    )
    parser.add_argument("--dry-run", action="store_true", help="print the entries, write nothing")


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
        metavar="{build,prune,update,render,graph,status,lint,sbom,outdated,refresh,history,report}",
        required=True,
    )

    _build_parser(verbs)
    _graph_parser(verbs)
    _status_parser(verbs)
    _lint_parser(verbs)
    _sbom_parser(verbs)
    _outdated_parsers(verbs)
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
    _build_running_options(build.add_argument_group("running and reporting"))
    build.add_argument(
        "--dry-run", action="store_true", help="print the build order and why; build nothing"
    )
    _add_format(build, ["text", "json"], "output of --dry-run")
    _add_directory(build)


def _build_running_options(run: argparse._ArgumentGroup) -> None:
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


def _status_parser(verbs: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    status = verbs.add_parser("status", help="state of every image and why")
    status.add_argument(
        "--no-pull", dest="pull", action="store_false", help="ask the local engine first"
    )
    _add_format(status, ["text", "json"], "output format")
    _add_directory(status)


def _lint_parser(verbs: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    lint = verbs.add_parser("lint", help="find mistakes in the definitions")
    _add_format(lint, ["text", "json"], "output format")
    lint.add_argument("--offline", action="store_true", help="do not compare with built images")
    _add_directory(lint)


def _sbom_parser(verbs: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sbom = verbs.add_parser("sbom", help="the packages inside an image, as CycloneDX or SPDX")
    sbom.add_argument("name", metavar="NAME", help="the image's short name")
    _add_format(sbom, ["cyclonedx", "spdx"], "document format (CycloneDX 1.6 or SPDX 2.3 JSON)")
    _add_directory(sbom)


def _outdated_parsers(verbs: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    outdated = verbs.add_parser(
        "outdated", help="the images whose Debian packages have updates, and what to refresh"
    )
    refresh = verbs.add_parser(
        "refresh", help="add changelog entries to exactly the images whose packages have updates"
    )
    for parser in (outdated, refresh):
        _add_select(parser, "look at")
        parser.add_argument("--security", action="store_true", help="only security updates count")
    _add_format(outdated, ["text", "json"], "output format")
    _add_scheme(refresh)
    _add_directory(outdated)
    _add_directory(refresh)


def _history_parser(verbs: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    history = verbs.add_parser("history", help="list past builds of images")
    history.add_argument("pattern", metavar="GLOB", nargs="?", help="image name or label glob")
    history.add_argument("--limit", type=_positive, default=50, help="at most this many rows")
    history.add_argument("--failed", action="store_true", help="failed builds only")
    history.add_argument("--runs", action="store_true", help="list runs instead of images")
    _add_format(history, ["text", "json"], "output format")


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


def _update_parser(verbs: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    update = verbs.add_parser("update", help="add changelog entries to an image tree")
    update.add_argument("select", metavar="NAME", help="image name (a glob: 'php*', '*') to update")
    update.add_argument("--reason", default="Security update", help="reason for the update")
    update.add_argument("--version", "-v", default=None, help="version for the NAME image(s)")
    _add_scheme(update)
    _add_directory(update)


def _render_parser(verbs: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    render = verbs.add_parser("render", help="render Dockerfiles without building")
    _add_select(render, "render")
    render.add_argument(
        "--output", metavar="DIR", default=None, help="write DIR/<name>/Dockerfile per image"
    )
    _add_directory(render)


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
