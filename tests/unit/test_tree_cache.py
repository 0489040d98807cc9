"""The scan cache: a tree scanned once is taken from it while nothing it read changes, and
scanned again (with the new result) as soon as anything does."""

from __future__ import annotations

import logging
import os
from dataclasses import replace
from pathlib import Path

import pytest

from docker_pkg.config.settings import Config, config_from_mapping
from docker_pkg.tree.definitions import Rendered
from docker_pkg.tree.workspace import Workspace
from tests.helpers import modules_loaded, write_image

Scan = tuple[Workspace, dict[str, Rendered]]


@pytest.fixture
def root(tmp_path: Path) -> Path:
    defs = tmp_path / "defs"
    write_image(defs, "base", template="FROM scratch\nLABEL v={{ greeting }}\n")
    write_image(
        defs,
        "group/app",
        name="app",
        version="2.0",
        template='FROM {{ "base" | image_tag }}\n{% include ["extra.j2", "default.j2"] %}\n',
        files={"default.j2": "RUN echo default"},
    )
    return defs


def config_for(tmp_path: Path, **values: object) -> Config:
    merged = {"registry": "reg.example", "greeting": "hi", **values}
    return replace(config_from_mapping(merged), tree_cache=str(tmp_path / "cache"))


def scan(root: Path, config: Config, monkeypatch: pytest.MonkeyPatch) -> tuple[Scan, bool]:
    """``load_inferred``, and whether it read the tree (False: it came from the cache)."""
    scanned = []
    real = Workspace.load.__func__  # type: ignore[attr-defined]

    def load(cls: type[Workspace], *args: object) -> Workspace:
        scanned.append(args)
        return real(cls, *args)  # type: ignore[no-any-return]

    with monkeypatch.context() as patch:
        patch.setattr(Workspace, "load", classmethod(load))
        result = Workspace.load_inferred(root, config)
    return result, bool(scanned)


def same_as_a_fresh_scan(result: Scan, root: Path, config: Config) -> bool:
    workspace, rendered = result
    fresh_workspace, fresh = Workspace.load_inferred(root, replace(config, tree_cache=None))
    outputs = {n: (r.dockerfile, r.build_dockerfile, r.definition) for n, r in rendered.items()}
    expected = {n: (r.dockerfile, r.build_dockerfile, r.definition) for n, r in fresh.items()}
    return (
        outputs == expected
        and workspace.definitions == fresh_workspace.definitions
        and workspace.graph.parents == fresh_workspace.graph.parents
    )


def test_an_unchanged_tree_comes_from_the_cache_as_it_was_scanned(
    root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = config_for(tmp_path)
    _, scanned = scan(root, config, monkeypatch)
    assert scanned
    result, scanned = scan(root, config, monkeypatch)
    assert not scanned
    assert result[1]["app"].dockerfile == "FROM reg.example/base:1.0.0\nRUN echo default"
    assert result[0].graph.parents["app"] == ("base",)
    assert same_as_a_fresh_scan(result, root, config)


def _change(root: Path, change: str) -> None:
    app = root / "group" / "app"
    if change == "template byte":
        (root / "base" / "Dockerfile.template").write_text(
            "FROM scratch\nLABEL v={{ greeting }}.\n"
        )
    elif change == "changelog version":
        write_image(root, "base", version="1.0.1", template="FROM scratch\nLABEL v=1\n")
    elif change == "control added":
        write_image(root, "other", template="FROM scratch\n")
        (app / "control").write_text("Source: app\nDepends: base, other\n")
    elif change == "include found first":
        (app / "extra.j2").write_text("RUN echo extra")
    elif change == "included file":
        (app / "default.j2").write_text("RUN echo changed")
    elif change == "folder added":
        write_image(root, "late", template="FROM scratch\n")
    elif change == "folder removed":
        for path in sorted((root / "base").iterdir()):
            path.unlink()
        (root / "base").rmdir()
        (app / "Dockerfile.template").write_text("FROM scratch\n")
    elif change == "build template added":
        (app / "Dockerfile.build.template").write_text("FROM scratch AS build\n")
    else:
        raise AssertionError(change)


@pytest.mark.parametrize(
    "change",
    [
        "template byte",
        "changelog version",
        "control added",
        "include found first",
        "included file",
        "folder added",
        "folder removed",
        "build template added",
    ],
)
def test_any_change_to_what_the_scan_read_is_scanned_again(
    root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, change: str
) -> None:
    config = config_for(tmp_path)
    scan(root, config, monkeypatch)
    _change(root, change)
    result, scanned = scan(root, config, monkeypatch)
    assert scanned
    assert same_as_a_fresh_scan(result, root, config)
    again, scanned = scan(root, config, monkeypatch)
    assert not scanned
    assert same_as_a_fresh_scan(again, root, config)


@pytest.mark.parametrize(
    "case",
    [
        ({"greeting": "hello"}, ""),
        ({"namespace": "team"}, ""),
        ({"known_uid_mappings": {"root": 0, "app": 900}}, ""),
        ({}, "-nightly"),
    ],
)
def test_another_configuration_or_tag_suffix_is_another_scan(
    root: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    case: tuple[dict[str, object], str],
) -> None:
    values, suffix = case
    Workspace.load_inferred(root, config_for(tmp_path))
    config = config_for(tmp_path, **values)
    scanned = []
    real = Workspace.load.__func__  # type: ignore[attr-defined]
    monkeypatch.setattr(
        Workspace, "load", classmethod(lambda cls, *a: scanned.append(a) or real(cls, *a))
    )
    workspace, rendered = Workspace.load_inferred(root, config, suffix)
    assert scanned
    fresh_workspace, fresh = Workspace.load_inferred(root, replace(config, tree_cache=None), suffix)
    assert {n: r.dockerfile for n, r in rendered.items()} == {
        n: r.dockerfile for n, r in fresh.items()
    }
    assert workspace.definitions == fresh_workspace.definitions


def test_a_scan_that_failed_or_warned_is_not_kept(
    root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    config = config_for(tmp_path)
    broken = root / "base" / "Dockerfile.template"
    broken.write_text("FROM scratch\n{{ undefined_variable }}\n")
    _, rendered = Workspace.load_inferred(root, config)
    assert "base" not in rendered
    assert scan(root, config, monkeypatch)[1]  # still read: the failure was not kept
    broken.write_text('FROM scratch\nUSER {{ "nobody-known" | uid }}\n')
    with caplog.at_level(logging.WARNING):
        Workspace.load_inferred(root, config)
        caplog.clear()
        _, scanned = scan(root, config, monkeypatch)
    assert scanned
    assert "UID mapping for user nobody-known not found" in caplog.text  # warned again


def test_a_dockerfile_holding_the_password_is_never_kept(
    root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = config_for(tmp_path, password="s3cret-pass")
    (root / "base" / "Dockerfile.template").write_text("FROM scratch\nENV P={{ password }}\n")
    scan(root, config, monkeypatch)
    assert scan(root, config, monkeypatch)[1]
    cache = tmp_path / "cache"
    assert not any("s3cret-pass" in p.read_text() for p in cache.glob("*.json"))


def test_a_damaged_or_unwritable_cache_is_ignored(
    root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = config_for(tmp_path)
    scan(root, config, monkeypatch)
    (kept,) = (tmp_path / "cache").glob("*.json")
    for damage in (b"{not json", b'{"key": 1}', b"[]", kept.read_bytes()[:-40]):
        kept.write_bytes(damage)
        result, scanned = scan(root, config, monkeypatch)
        assert scanned
        assert same_as_a_fresh_scan(result, root, config)
    blocked = replace(config, tree_cache=str(tmp_path / "file-in-the-way" / "cache"))
    (tmp_path / "file-in-the-way").write_text("")
    result, scanned = scan(root, blocked, monkeypatch)
    assert scanned
    assert same_as_a_fresh_scan(result, root, config)


def test_a_fifo_where_a_read_file_was_is_a_miss_not_a_hang(
    root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = config_for(tmp_path)
    scan(root, config, monkeypatch)
    included = root / "group" / "app" / "default.j2"
    included.unlink()
    os.mkfifo(included)
    _, rendered = scan(root, config, monkeypatch)[0]
    assert "app" not in rendered  # the FIFO is reported by the render, never opened


def test_rendering_an_unchanged_tree_imports_neither_jinja_python_debian_nor_yaml(
    root: Path, tmp_path: Path
) -> None:
    (tmp_path / "config.yaml").write_text("registry: reg.example\ngreeting: hi\n")
    argv = [
        "-c",
        str(tmp_path / "config.yaml"),
        "render",
        "--output",
        str(tmp_path / "o"),
        str(root),
    ]
    env = {"XDG_CACHE_HOME": str(tmp_path / "xdg-cache")}

    def render() -> list[str]:
        loaded = modules_loaded(argv, ("jinja2", "debian", "yaml"), env)
        assert (
            (tmp_path / "o" / "app" / "Dockerfile").read_text().startswith("FROM reg.example/base")
        )
        return loaded

    assert render() == ["debian", "jinja2", "yaml"]
    assert render() == []
    (root / "group" / "app" / "default.j2").write_text("RUN echo changed")
    assert render() == ["debian", "jinja2"]
    assert (tmp_path / "o" / "app" / "Dockerfile").read_text().endswith("RUN echo changed")
