"""A seeded mutation test of every kind of input a definitions tree holds.

A tree shaped like real ones (nested folders whose names differ from the images', versions
like ``0.1.9-u1-20260816``, a dependency on another tree's image, includes, a build stage) is
broken one way at a time: changelogs, control files, templates, the configuration and the
tree itself. ``render --output`` and ``lint --offline`` run on each mutant, in process, under
a watchdog. Whatever the input, the tool answers with exit status 2 and a message naming the
file (line where known), or with a correct result; it never raises, never hangs (a FIFO is
never opened for reading) and writes nothing when it refuses.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import random
import re
import signal
import textwrap
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from docker_pkg.cli import main

REGISTRY = "docker-registry.example.org"
WATCHDOG_SECONDS = 10

CHANGELOG = """\
{name} ({version}) wikimedia; urgency=medium

  * Refresh.

 -- Jane Doe <jane@example.org>  Mon, 16 Aug 2026 10:00:00 +0000

{name} ({older}) wikimedia; urgency=medium

  * Initial release.

 -- Jane Doe <jane@example.org>  Mon, 02 Feb 2026 10:00:00 +0000
"""

# folder: (image name, version, older version, control, template, extra files)
TREE: dict[str, tuple[str, str, str, str | None, str, dict[str, str]]] = {
    "bookworm": (
        "bookworm",
        "20261129",
        "20261101",
        None,
        'FROM {{ "bookworm-base" | image_tag }}\nRUN {{ "ca-certificates" | apt_install }}\n',
        {},
    ),
    "php/8.1/cli": (
        "php8.1-cli",
        "8.1.2-1",
        "8.1.1-1",
        "Source: php8.1-cli\nDepends: bookworm\n",
        'FROM {{ "bookworm" | image_tag }}\n{% include "packages.j2" %}\n'
        'USER {{ "www-data" | uid }}\n',
        {"packages.j2": 'RUN {{ "php8.1-cli php8.1-curl" | apt_install }}'},
    ),
    "php/8.1/fpm": (
        "php8.1-fpm",
        "8.1.2-1-s3",
        "8.1.2-1-s2",
        "Source: php8.1-fpm\nBuild-Depends: php8.1-cli,\n bookworm\n",
        'FROM {{ "php8.1-cli" | image_tag }}\nUSER 0\nRUN {{ "php8.1-fpm" | apt_install }}\n'
        "USER 33\n",
        {"test.sh": "#!/bin/sh\nexit 0\n", ".dockerignore": "*.md\n!README.md\n"},
    ),
    "cert-manager/build": (
        "cert-manager-build",
        "0.1.9-u1-20260816",
        "0.1.8-u1-20260701",
        "Source: cert-manager-build\nBuild-Depends: golang1.25, bookworm\n",
        'FROM {{ "bookworm" | image_tag }}\nCOPY build/cert-manager /usr/bin/\nUSER 65534\n',
        {"Dockerfile.build.template": "FROM docker-registry.example.org/golang1.25:1.25-1\n"},
    ),
}
CONFIG = textwrap.dedent(
    f"""\
    registry: {REGISTRY}
    base_images:
      - {REGISTRY}/bookworm-base:20261101
    apt_options: -o Acquire::Retries=3
    http_proxy: http://webproxy.example.org:8080
    force_numeric_user: true
    known_uid_mappings:
      www-data: 33
      nobody: 65534
    """
)


def write_tree(root: Path) -> Path:
    images = root / "images"
    for folder, (name, version, older, control, template, files) in TREE.items():
        path = images / folder
        path.mkdir(parents=True)
        (path / "changelog").write_text(CHANGELOG.format(name=name, version=version, older=older))
        (path / "Dockerfile.template").write_text(template)
        if control is not None:
            (path / "control").write_text(control)
        for rel, content in files.items():
            (path / rel).write_text(content)
    (root / "config.yaml").write_text(CONFIG)
    return images


def labels(changed: dict[str, str] | None = None) -> set[str]:
    versions = {name: version for name, version, *_ in TREE.values()}
    versions.update(changed or {})
    return {f"{REGISTRY}/{name}:{version}" for name, version in versions.items()}


# -- what a mutation promises -----------------------------------------------------------------

ERROR, OK, EITHER = "error", "ok", "either"


@dataclass(frozen=True)
class Expect:
    outcome: str  # ERROR: exit 2 naming ``path``; OK: renders; EITHER: one of the two
    path: Path | None = None  # the file an error must name
    labels: set[str] = field(default_factory=labels)  # what a successful render must print
    line: int | None = None  # the line an error must name, when known


Mutation = Callable[[Path, random.Random], Expect]


def _image(images: Path, rng: random.Random) -> tuple[Path, str, str]:
    folder = rng.choice(sorted(TREE))
    name, version, *_ = TREE[folder]
    return images / folder, name, version


def _fifo_in_place(path: Path) -> None:
    if path.is_dir():
        path.rmdir()
    elif path.exists() or path.is_symlink():
        path.unlink()
    os.mkfifo(path)


def _dir_in_place(path: Path) -> None:
    if path.exists():
        path.unlink()
    path.mkdir()
    (path / "inside").write_text("x")


def _dangling(path: Path) -> None:
    if path.exists():
        path.unlink()
    path.symlink_to(path.parent / "no-such-file")


# -- changelog --------------------------------------------------------------------------------


def changelog_truncated(images: Path, rng: random.Random) -> Expect:
    folder, _, _ = _image(images, rng)
    path = folder / "changelog"
    raw = path.read_bytes()
    path.write_bytes(raw[: rng.randrange(0, len(raw))])
    return Expect(EITHER, path)  # cut after the header, the version is still the same


def changelog_header(header: str) -> Mutation:
    def mutate(images: Path, rng: random.Random) -> Expect:
        folder, name, version = _image(images, rng)
        path = folder / "changelog"
        lines = path.read_text().split("\n")
        lines[0] = header.format(name=name, version=version)
        path.write_text("\n".join(lines))
        return Expect(ERROR, path, line=1)

    return mutate


def changelog_version(bad: str, outcome: str = ERROR) -> Mutation:
    def mutate(images: Path, rng: random.Random) -> Expect:
        folder, name, version = _image(images, rng)
        path = folder / "changelog"
        text = path.read_text()
        path.write_text(text.replace(f"({version})", f"({bad})", 1))
        return Expect(outcome, path, labels({name: bad}))

    return mutate


def changelog_bytes(what: bytes, where: str) -> Mutation:
    """Put ``what`` into the first entry's header or its body."""

    def mutate(images: Path, rng: random.Random) -> Expect:
        folder, _, version = _image(images, rng)
        path = folder / "changelog"
        raw = path.read_bytes()
        if where == "version":
            raw = raw.replace(version.encode(), version.encode() + what, 1)
            return_line = 1
        else:
            raw = raw.replace(b"  * Refresh.", b"  * Refr" + what + b"esh.", 1)
            return_line = 3
        path.write_bytes(raw)
        return Expect(ERROR, path, line=return_line)

    return mutate


def changelog_crlf(images: Path, rng: random.Random) -> Expect:
    folder, _, _ = _image(images, rng)
    path = folder / "changelog"
    path.write_bytes(path.read_bytes().replace(b"\n", b"\r\n"))
    return Expect(OK)


def changelog_bad_date(images: Path, rng: random.Random) -> Expect:
    folder, _, _ = _image(images, rng)
    path = folder / "changelog"
    date = rng.choice(["Mon, 32 Foo 2026 99:00:00 +0000", "yesterday", ""])
    path.write_text(path.read_text().replace("Mon, 16 Aug 2026 10:00:00 +0000", date, 1))
    return Expect(OK)  # the date is not used: the reference builds these too


def changelog_leading_blank_lines(images: Path, rng: random.Random) -> Expect:
    folder, _, _ = _image(images, rng)
    path = folder / "changelog"
    path.write_text("\n" * rng.randint(1, 3) + path.read_text())
    return Expect(OK)


def changelog_garbage_first(images: Path, rng: random.Random) -> Expect:
    folder, _, _ = _image(images, rng)
    path = folder / "changelog"
    path.write_text(
        rng.choice(["  * stray change\n", "garbage line\n", "-- x\n"]) + path.read_text()
    )
    return Expect(ERROR, path, line=1)


def replaced(file: str, how: Callable[[Path], None]) -> Mutation:
    """``file`` of an image made something else by ``how``: an error naming it."""

    def mutate(images: Path, rng: random.Random) -> Expect:
        folder, _, _ = _image(images, rng)
        how(folder / file)
        return Expect(ERROR, folder / file)

    return mutate


def changelog_huge(images: Path, rng: random.Random) -> Expect:
    folder, _, _ = _image(images, rng)
    path = folder / "changelog"
    with path.open("ab") as fh:
        fh.truncate(17 * 1024 * 1024)
    return Expect(ERROR, path)


# -- control ----------------------------------------------------------------------------------


def control_text(text: str, outcome: str, *, line: int | None = None) -> Mutation:
    def mutate(images: Path, rng: random.Random) -> Expect:
        folder = images / rng.choice(["php/8.1/fpm", "cert-manager/build"])
        path = folder / "control"
        path.write_text(text)
        return Expect(outcome, path, line=line)

    return mutate


def control_cycle(images: Path, rng: random.Random) -> Expect:
    """bookworm depends on one of its descendants: the error names a control file."""
    child = rng.choice(["php8.1-cli", "php8.1-fpm"])
    path = images / "bookworm" / "control"
    path.write_text(f"Source: bookworm\nDepends: {child}\n")
    return Expect(ERROR, path)


def control_self(images: Path, rng: random.Random) -> Expect:
    folder, name, _ = _image(images, rng)
    path = folder / "control"
    path.write_text(f"Source: {name}\nDepends: {name}\n")
    return Expect(ERROR, path)


def control_bytes(images: Path, rng: random.Random) -> Expect:
    path = images / "php/8.1/fpm/control"
    path.write_bytes(b"Source: php8.1-fpm\nDepends: php8.1-cli\nDescription: caf\xe9\n")
    return Expect(ERROR, path, line=3)


def control_replaced(how: Callable[[Path], None]) -> Mutation:
    def mutate(images: Path, rng: random.Random) -> Expect:
        path = images / "php/8.1/fpm/control"
        how(path)
        return Expect(ERROR, path)

    return mutate


# -- templates --------------------------------------------------------------------------------


def template_text(text: str, outcome: str = ERROR, *, line: int | None = None) -> Mutation:
    def mutate(images: Path, rng: random.Random) -> Expect:
        folder, _, _ = _image(images, rng)
        path = folder / "Dockerfile.template"
        path.write_text(text)
        return Expect(outcome, path, line=line)

    return mutate


def template_include(target: Callable[[Path], None]) -> Mutation:
    def mutate(images: Path, rng: random.Random) -> Expect:
        path = images / "php/8.1/cli/packages.j2"
        target(path)
        return Expect(ERROR, path)

    return mutate


def template_binary(images: Path, rng: random.Random) -> Expect:
    folder, _, _ = _image(images, rng)
    path = folder / "Dockerfile.template"
    path.write_bytes(bytes(rng.randrange(256) for _ in range(512)) + b"\0")
    return Expect(ERROR, path)


def build_template_fifo(images: Path, rng: random.Random) -> Expect:
    path = images / "cert-manager/build/Dockerfile.build.template"
    _fifo_in_place(path)
    return Expect(ERROR, path)


def template_huge(images: Path, rng: random.Random) -> Expect:
    folder, _, _ = _image(images, rng)
    path = folder / "Dockerfile.template"
    with path.open("ab") as fh:
        fh.truncate(17 * 1024 * 1024)
    return Expect(ERROR, path)


# -- configuration ----------------------------------------------------------------------------

WRONG_TYPES: dict[str, list[object]] = {
    "registry": [{"a": 1}, ["x"], "https://reg.example/path"],
    "namespace": [{"a": 1}, "Upper Case"],
    "username": [{"a": 1}, ["x"]],
    "password": [{"a": 1}],
    "base_images": ["one-string", {"a": 1}, [1, 2]],
    "apt_options": [["-q"], {"a": 1}],
    "http_proxy": [["x"], {"a": 1}],
    "apt_only_proxy": [["x"]],
    "scan_workers": ["eight", 0, -3, True, 2.5],
    "fallback_author": [["x"]],
    "distribution": [{"a": 1}],
    "update_id": [["s"]],
    "ca_bundle": [["x"]],
    "force_numeric_user": ["yes please", 3],
    "known_uid_mappings": [["www-data"], "www-data=33", {"www-data": "thirty-three"}],
    "verify_command": [["bash"]],
    "verify_args": ["-c true", [1, 2]],
    "container_limits": [{"memory": "1g"}, "bogus=1", "memory"],
    "network_mode": [["host"]],
    "builder": ["docker", ["buildkit"]],
    "insecure_registries": ["one", [1]],
    "image_labels": ["no"],
    "container_limits_strict": ["true"],
    "build_timeout": ["an hour", -5, True],
    "verify_timeout": [[60], "soon"],
    "history_db": [["x"]],
    "history_days": ["forever", -1, 2.5],
    "platforms": ["linux/amd64", ["amd64"], [1]],
    "engines": ["unix:///x.sock", [{"url": "http://x"}], [{"url": "unix:///a", "jobs": 0}]],
}


def config_wrong_type(key: str) -> Mutation:
    def mutate(images: Path, rng: random.Random) -> Expect:
        path = images.parent / "config.yaml"
        data = yaml.safe_load(path.read_text())
        data[key] = rng.choice(WRONG_TYPES[key])
        path.write_text(yaml.safe_dump(data))
        return Expect(ERROR, path)

    return mutate


def config_text(text: str, outcome: str = ERROR, *, line: int | None = None) -> Mutation:
    def mutate(images: Path, rng: random.Random) -> Expect:
        path = images.parent / "config.yaml"
        path.write_text(CONFIG + text)
        return Expect(outcome, path, line=line)

    return mutate


def config_replaced(how: Callable[[Path], None]) -> Mutation:
    def mutate(images: Path, rng: random.Random) -> Expect:
        path = images.parent / "config.yaml"
        how(path)
        return Expect(ERROR, path)

    return mutate


def config_empty(images: Path, rng: random.Random) -> Expect:
    """Valid, but the base image ``bookworm``'s template names is then unknown."""
    (images.parent / "config.yaml").write_text(rng.choice(["", "# nothing\n", "---\n"]))
    return Expect(ERROR, images / "bookworm" / "Dockerfile.template", line=1)


def config_bytes(images: Path, rng: random.Random) -> Expect:
    path = images.parent / "config.yaml"
    path.write_bytes(CONFIG.encode() + b"fallback_author: J\xf6rg\n")
    return Expect(ERROR, path, line=CONFIG.count("\n") + 1)


# -- the tree ---------------------------------------------------------------------------------


def tree_duplicate(images: Path, rng: random.Random) -> Expect:
    _, name, version = _image(images, rng)
    twin = images / "elsewhere" / "twin"
    twin.mkdir(parents=True)
    (twin / "changelog").write_text(CHANGELOG.format(name=name, version=version, older="0"))
    (twin / "Dockerfile.template").write_text("FROM scratch\nUSER 0\n")
    return Expect(ERROR, twin)  # named whichever of the two folders is found first


def tree_symlink_loop(images: Path, rng: random.Random) -> Expect:
    folder, _, _ = _image(images, rng)
    (folder / "loop").symlink_to(images, target_is_directory=True)
    return Expect(OK)


def tree_half_folders(images: Path, rng: random.Random) -> Expect:
    lonely = images / "lonely"
    lonely.mkdir()
    if rng.random() < 0.5:
        (lonely / "Dockerfile.template").write_text("FROM scratch\n")
    else:
        (lonely / "changelog").write_text(CHANGELOG.format(name="lonely", version="1", older="0"))
    return Expect(OK)


def tree_external_typo(images: Path, rng: random.Random) -> Expect:
    path = images / "php/8.1/fpm/control"
    path.write_text("Source: php8.1-fpm\nDepends: php8.1-cll\n")  # an external image, for now
    return Expect(OK)


MUTATIONS: dict[str, Mutation] = {
    "changelog-truncated": changelog_truncated,
    "changelog-no-parentheses": changelog_header("{name} {version} wikimedia; urgency=high"),
    "changelog-space-in-version": changelog_header("{name} (1.0 2) wikimedia; urgency=high"),
    "changelog-no-name": changelog_header("({version}) wikimedia; urgency=high"),
    "changelog-no-distribution": changelog_header("{name} ({version})"),
    "changelog-upper-case-name": changelog_header("X{name} ({version}) wikimedia; urgency=high"),
    "changelog-other-version": changelog_version("1.0", OK),
    "changelog-tilde": changelog_version("1.0~rc1"),
    "changelog-epoch": changelog_version("1:2.0"),
    "changelog-underscore": changelog_version("1.0_2"),
    "changelog-letters": changelog_version("abc", EITHER),
    "changelog-long-version": changelog_version("1." + "0" * 200),
    "changelog-nul-in-version": changelog_bytes(b"\0", "version"),
    "changelog-nul-in-body": changelog_bytes(b"\0", "body"),
    "changelog-bad-utf8": changelog_bytes(b"\xff\xfe", "body"),
    "changelog-bad-utf8-version": changelog_bytes(b"\xc3", "version"),
    "changelog-crlf": changelog_crlf,
    "changelog-bad-date": changelog_bad_date,
    "changelog-leading-blank-lines": changelog_leading_blank_lines,
    "changelog-garbage-first": changelog_garbage_first,
    "changelog-empty": replaced("changelog", lambda p: p.write_text("")),
    "changelog-directory": replaced("changelog", _dir_in_place),
    "changelog-fifo": replaced("changelog", _fifo_in_place),
    "changelog-dangling-symlink": replaced("changelog", _dangling),
    "changelog-huge": changelog_huge,
    "control-duplicate-field": control_text(
        "Source: x\nDepends: bookworm\nDepends: php8.1-cli\n", ERROR, line=3
    ),
    "control-constraint-met": control_text("Source: x\nDepends: bookworm (>= 20260101)\n", OK),
    "control-constraint-unmet": control_text(
        "Source: x\nDepends: bookworm (>> 30000101)\n", ERROR, line=2
    ),
    "control-alternatives": control_text("Source: x\nDepends: bookworm | trixie\n", ERROR, line=2),
    "control-arch-qualifier": control_text("Source: x\nDepends: bookworm [amd64]\n", ERROR, line=2),
    "control-malformed-line": control_text("Source: x\nDepends bookworm\n", ERROR, line=2),
    "control-orphan-continuation": control_text(" bookworm\nSource: x\n", ERROR, line=1),
    "control-bad-name": control_text("Source: x\nDepends: Book Worm\n", ERROR, line=2),
    "control-empty": control_text("", OK),
    "control-comments": control_text("# nothing\nSource: x\n# Depends: php8.1-cli\n", OK),
    "control-cycle": control_cycle,
    "control-self": control_self,
    "control-bad-utf8": control_bytes,
    "control-fifo": control_replaced(_fifo_in_place),
    "control-directory": control_replaced(_dir_in_place),
    "control-dangling-symlink": control_replaced(_dangling),
    "template-syntax": template_text("FROM scratch\n{% if %}\nUSER 0\n", line=2),
    "template-unclosed": template_text("FROM scratch\nUSER 0\n{{ registry\n"),
    "template-undefined": template_text("FROM scratch\nUSER 0\nLABEL x={{ nope }}\n", line=3),
    "template-unknown-filter": template_text("FROM scratch\nRUN {{ 'x' | bogus }}\n", line=2),
    "template-unknown-test": template_text("{% if 1 is bogus %}{% endif %}\nUSER 0\n", line=1),
    "template-unknown-image": template_text('FROM {{ "nosuch" | image_tag }}\nUSER 0\n', line=1),
    "template-unknown-user": template_text('RUN {{ "mallory" | add_user }}\nUSER 0\n', line=1),
    "template-division": template_text("FROM scratch\nUSER 0\nRUN echo {{ 1 / 0 }}\n", line=3),
    "template-missing-include": template_text('{% include "nope.j2" %}\nUSER 0\n'),
    "template-missing-extends": template_text('{% extends "base.j2" %}\n'),
    "template-self-include": template_text('{% include "Dockerfile.template" %}\n'),
    "template-raw-unclosed": template_text("{% raw %}\nFROM scratch\n"),
    "template-named-user": template_text("FROM scratch\nUSER www-data\n", line=2),
    "template-do": template_text("{% set x = [] %}{% do x.append(1) %}FROM scratch\nUSER 0\n", OK),
    "template-binary": template_binary,
    "template-huge": template_huge,
    "template-fifo": replaced("Dockerfile.template", _fifo_in_place),
    "template-directory": replaced("Dockerfile.template", _dir_in_place),
    "template-dangling-symlink": replaced("Dockerfile.template", _dangling),
    "include-fifo": template_include(_fifo_in_place),
    "include-directory": template_include(_dir_in_place),
    "include-bad-utf8": template_include(lambda p: p.write_bytes(b"RUN echo \xff\n")),
    "build-template-fifo": build_template_fifo,
    **{f"config-type-{key}": config_wrong_type(key) for key in WRONG_TYPES},
    "config-invalid-yaml": config_text("registry: [unclosed\n"),
    "config-duplicate-key": config_text("registry: other.example\n", line=CONFIG.count("\n") + 1),
    "config-duplicate-nested-key": config_text("x:\n  a: 1\n  a: 2\n"),
    "config-bad-date": config_text("when: 2026-13-45\n"),
    "config-tab-indent": config_text("x:\n\t- a\n"),
    "config-unknown-key": config_text("greeting: hello\n", OK),
    "config-top-level-list": config_replaced(lambda p: p.write_text("- registry\n")),
    "config-empty": config_empty,
    "config-fifo": config_replaced(_fifo_in_place),
    "config-directory": config_replaced(_dir_in_place),
    "config-bad-utf8": config_bytes,
    "tree-duplicate-name": tree_duplicate,
    "tree-symlink-loop": tree_symlink_loop,
    "tree-half-folders": tree_half_folders,
    "tree-external-dependency": tree_external_typo,
}
SEEDS = range(3)


# -- running ----------------------------------------------------------------------------------


class Hang(Exception):
    pass


@contextlib.contextmanager
def watchdog(seconds: int) -> Iterator[None]:
    def fire(signum: int, frame: object) -> None:
        raise Hang(f"no answer within {seconds}s")

    previous = signal.signal(signal.SIGALRM, fire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@dataclass
class Outcome:
    status: int
    out: str
    err: str


def run(*argv: str) -> Outcome:
    out, err = io.StringIO(), io.StringIO()
    with (
        watchdog(WATCHDOG_SECONDS),
        contextlib.redirect_stdout(out),
        contextlib.redirect_stderr(err),
    ):
        status = main(list(argv))
    return Outcome(status, out.getvalue(), err.getvalue())


def snapshot(root: Path, leave_out: Path) -> dict[str, str]:
    """What every regular file under ``root`` holds (FIFOs and links only by kind)."""
    state: dict[str, str] = {}
    for current, dirs, files in os.walk(root):
        if Path(current) == leave_out or leave_out in Path(current).parents:
            continue
        for name in sorted(files + dirs):
            path = Path(current) / name
            rel = str(path.relative_to(root))
            if path.is_symlink():
                state[rel] = "link:" + os.readlink(path)
            elif path.is_file():
                state[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
            elif not path.is_dir():
                state[rel] = "special"
    return state


CASES = [(kind, seed) for kind in MUTATIONS for seed in SEEDS]


@pytest.mark.parametrize(("kind", "seed"), CASES, ids=[f"{k}-{s}" for k, s in CASES])
def test_broken_input_gets_a_clear_answer(kind: str, seed: int, tmp_path: Path) -> None:
    images = write_tree(tmp_path)
    config = tmp_path / "config.yaml"
    expect = MUTATIONS[kind](images, random.Random(f"{kind}:{seed}"))
    output = tmp_path / "rendered"
    before = snapshot(tmp_path, output)

    rendered = run("-c", str(config), "render", "--output", str(output), str(images))
    linted = run("-c", str(config), "lint", "--offline", str(images))

    assert snapshot(tmp_path, output) == before, "the tree or configuration was changed"
    for result in (rendered, linted):
        assert "Traceback" not in result.err + result.out
    assert rendered.status in (0, 2), rendered.err
    assert linted.status in (0, 1, 2), linted.err
    if rendered.status == 2:
        assert expect.outcome in (ERROR, EITHER), f"refused a valid tree:\n{rendered.err}"
        assert not output.exists(), "render wrote files before failing"
        assert rendered.err.startswith("docker-pkg: error: ")
        assert expect.path is not None
        assert str(expect.path) in rendered.err, rendered.err
        if expect.line is not None:
            assert f"{expect.path}:{expect.line}:" in rendered.err, rendered.err
        # lint reports the same problem, as a finding (exit 1) or a refusal (exit 2)
        assert linted.status in (1, 2)
        assert str(expect.path) in linted.out + linted.err
    else:
        assert expect.outcome in (OK, EITHER), f"accepted a broken tree:\n{rendered.out}"
        printed = set(re.findall(r"^\* (\S+) -> ", rendered.out, re.MULTILINE))
        assert printed == expect.labels
        assert linted.status in (0, 1)
