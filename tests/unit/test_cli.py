from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from docker_pkg.cli import main, parse_args
from docker_pkg.logs import RedactSecrets
from tests.helpers import modules_loaded, write_image


def test_reference_invocation_parses() -> None:
    args = parse_args(["-c", "config.yaml", "--info", "build", "--select", "*python*", "DIR"])
    assert (args.configfile, args.info, args.mode, args.select, args.directory) == (
        "config.yaml",
        True,
        "build",
        "*python*",
        "DIR",
    )
    assert args.nocache is True
    assert args.pull is True
    args = parse_args(["build", "--use-cache", "--no-pull", "--snapshot", "DIR"])
    assert (args.nocache, args.pull, args.snapshot) == (False, False, True)


def test_nightly_and_snapshot_are_exclusive(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        parse_args(["build", "--nightly", "--snapshot", "DIR"])
    assert info.value.code == 2


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "defs"
    write_image(root, "base", template="FROM scratch\nLABEL v={{ greeting }}")
    write_image(
        root, "app", version="2.0", template='FROM {{ "base" | image_tag }}', depends=["base"]
    )
    (tmp_path / "config.yaml").write_text("registry: reg.example\ngreeting: hi\n")
    return tmp_path


def _render_to(tree: Path, out: Path) -> list[str]:
    return ["-c", str(tree / "config.yaml"), "render", "--output", str(out), str(tree / "defs")]


def test_render_one_image_to_stdout(tree: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        ["-c", str(tree / "config.yaml"), "render", "--select", "*app*", str(tree / "defs")]
    )
    assert code == 0
    assert capsys.readouterr().out == "FROM reg.example/base:1.0.0\n"


def test_render_many_images_to_a_folder(tree: Path) -> None:
    out = tree / "out"
    code = main(_render_to(tree, out))
    assert code == 0
    assert (out / "base" / "Dockerfile").read_text() == "FROM scratch\nLABEL v=hi"
    assert (out / "app" / "Dockerfile").read_text() == "FROM reg.example/base:1.0.0"


def test_render_needs_output_for_several_images(
    tree: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["-c", str(tree / "config.yaml"), "render", str(tree / "defs")]) == 2
    assert "--output" in capsys.readouterr().err


def test_render_error_exits_2_and_writes_nothing(
    tree: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_image(tree / "defs", "broken", template="FROM scratch\nRUN {{ missing }}\n")
    out = tree / "out"
    code = main(_render_to(tree, out))
    assert code == 2
    assert not out.exists()
    err = capsys.readouterr().err
    assert "broken" in err
    assert "Dockerfile.template:2" in err
    assert "'missing' is undefined" in err


def test_bad_config_exits_2_naming_the_file(tree: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tree / "config.yaml").write_text("container_limits: bogus=1\n")
    assert main(["-c", str(tree / "config.yaml"), "render", str(tree / "defs")]) == 2
    err = capsys.readouterr().err
    assert "config.yaml:1" in err
    assert "bogus" in err


def test_definition_error_exits_2(tree: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_image(tree / "defs", "tilde", version="1.0~rc1")
    assert main(["-c", str(tree / "config.yaml"), "render", str(tree / "defs")]) == 2
    assert "tilde/changelog" in capsys.readouterr().err


def test_redaction_filter_hides_secrets_in_log_records() -> None:
    redactor = RedactSecrets(["hunter2"])
    record = logging.LogRecord("x", logging.INFO, "f", 1, "login %s ok", ("user:hunter2",), None)
    assert redactor.filter(record)
    assert record.getMessage() == "login user:******** ok"
    assert redactor.redact("no secret here") == "no secret here"


@pytest.mark.parametrize("verb", ["help", "render"])
def test_help_and_render_never_import_the_docker_sdk_rich_or_protobuf(
    tree: Path, verb: str
) -> None:
    argv = ["--help"] if verb == "help" else _render_to(tree, tree / "o")
    assert modules_loaded(argv, ("docker", "rich", "google")) == []
    if verb == "render":
        assert (tree / "o" / "app" / "Dockerfile").exists()


@pytest.mark.parametrize("registry", [None, "127.0.0.1:1"])
def test_a_build_that_builds_nothing_loads_neither_build_machinery_nor_unneeded_clients(
    tree: Path, registry: str | None
) -> None:
    """The registry client only with a registry; reports only when asked; the engine's
    build side never."""
    config = tree / "plain.yaml"
    config.write_text(f"registry: {registry}\n" if registry else "namespace: plain\n")
    argv = ["-c", str(config), "build", "--dry-run", "--no-pull", str(tree / "defs")]
    modules = (
        "registry.client",
        "registry.credentials",
        "outputs.report",
        "outputs.pages",
        "engines.values",
        "engines.sdk",
    )
    watched = [f"docker_pkg.{m}" for m in modules]
    env = {"DOCKER_HOST": f"unix://{tree / 'no-engine.sock'}"}
    expected = ["docker_pkg.registry.client", "docker_pkg.registry.credentials"] if registry else []
    assert modules_loaded(argv, watched, env) == expected


def test_update_scheme_choices_are_the_schemes() -> None:
    from docker_pkg.arguments import UPDATE_SCHEMES
    from docker_pkg.tree.versions import Scheme

    assert tuple(s.value for s in Scheme) == UPDATE_SCHEMES
    assert parse_args(["update", "x", "--scheme", "date", "DIR"]).scheme == "date"


def test_history_needs_no_config_file_in_the_current_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["history", "--runs"]) == 0
    assert "No runs recorded" in capsys.readouterr().out
    assert main(["render", "defs"]) == 2  # a verb on a tree still needs its config.yaml
    assert "config.yaml: configuration file not found" in capsys.readouterr().err


def test_a_reader_that_leaves_early_gets_no_traceback(tree: Path) -> None:
    for index in range(300):  # more lines than a pipe buffer holds
        write_image(tree / "defs", f"extra{index}", template="FROM scratch\n")
    command = (
        f"{sys.executable} -m docker_pkg -c {tree / 'config.yaml'} render "
        f"--output {tree / 'o'} {tree / 'defs'} | head -1; echo status=${{PIPESTATUS[0]}} >&2"
    )
    proc = subprocess.run(
        ["bash", "-c", command], capture_output=True, text=True, check=False, timeout=60
    )
    assert proc.stdout.startswith("* reg.example/")
    assert "Traceback" not in proc.stderr
    assert "status=141" in proc.stderr


def test_render_output_rewrites_only_the_dockerfiles_that_changed(tree: Path) -> None:
    argv = _render_to(tree, tree / "o")
    assert main(argv) == 0
    base, app = tree / "o" / "base" / "Dockerfile", tree / "o" / "app" / "Dockerfile"
    for path in (base, app):
        os.utime(path, ns=(1_000_000_000, 1_000_000_000))
    write_image(tree / "defs", "base", template="FROM scratch\nLABEL v={{ greeting }}-2")
    assert main(argv) == 0
    assert base.read_text() == "FROM scratch\nLABEL v=hi-2"
    assert base.stat().st_mtime_ns != 1_000_000_000
    assert app.stat().st_mtime_ns == 1_000_000_000  # same bytes: left as it was
    assert app.read_text() == "FROM reg.example/base:1.0.0"
