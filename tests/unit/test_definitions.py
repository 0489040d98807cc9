from __future__ import annotations

import logging
from pathlib import Path

import pytest

from docker_pkg.errors import DefinitionError, ManyErrors
from docker_pkg.tree.definitions import Control, read_control, scan
from tests.helpers import write_image


def test_scan_is_recursive_and_reads_name_version_and_deps(tmp_path: Path) -> None:
    write_image(tmp_path, "base", version="1.0.0-1")
    write_image(tmp_path, "deep/nested/app", name="app", version="2.1", depends=["base"])
    found = {d.short_name: d for d in scan(tmp_path)}
    assert set(found) == {"base", "app"}
    assert found["app"].version == "2.1"
    assert found["app"].tag == "2.1"
    assert found["app"].depends == ("base",)
    assert found["app"].path == tmp_path / "deep/nested/app"
    assert found["app"].label("reg.example", "ns") == "reg.example/ns/app:2.1"
    assert found["app"].label("", "") == "app:2.1"
    assert found["app"].label("localhost:5000", "") == "localhost:5000/app:2.1"


def test_first_changelog_entry_wins(tmp_path: Path) -> None:
    path = write_image(tmp_path, "img", version="2.0")
    older = (path / "changelog").read_text().replace("2.0", "1.0")
    (path / "changelog").write_text((path / "changelog").read_text() + "\n" + older)
    assert scan(tmp_path)[0].version == "2.0"


def test_incomplete_folders_are_skipped_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    write_image(tmp_path, "ok")
    (tmp_path / "only-template").mkdir()
    (tmp_path / "only-template" / "Dockerfile.template").write_text("FROM scratch\n")
    (tmp_path / "only-changelog").mkdir()
    (tmp_path / "only-changelog" / "changelog").write_text("x")
    with caplog.at_level(logging.WARNING):
        assert [d.short_name for d in scan(tmp_path)] == ["ok"]
    text = caplog.text
    assert "only-template since it lacks a changelog" in text
    assert "only-changelog since it lacks a Dockerfile.template" in text


def test_tag_suffix_is_appended(tmp_path: Path) -> None:
    write_image(tmp_path, "img", version="1.0")
    assert scan(tmp_path, "-20261129")[0].tag == "1.0-20261129"


def test_control_depends_and_build_depends_over_lines_and_paragraphs(tmp_path: Path) -> None:
    control = tmp_path / "control"
    control.write_text("Source: x\nBuild-Depends: a,\n  b ,c\n\nPackage: x\nDepends: d, a\n")
    assert read_control(control) == Control(("a", "b", "c", "d"))
    assert read_control(tmp_path / "missing") == Control()
    control.write_text("Source: x\nDepends: a\nPlatforms: linux/amd64, linux/arm64/v8\n")
    assert read_control(control).platforms == ("linux/amd64", "linux/arm64/v8")
    control.write_text("Source: x\nPlatforms: arm64\n")
    with pytest.raises(DefinitionError, match="'arm64' is not a platform") as info:
        read_control(control)
    assert info.value.line == 2


def test_bad_dependency_name_names_control_file_and_line(tmp_path: Path) -> None:
    control = tmp_path / "control"
    control.write_text("Source: x\nDepends: good, Bad Name\n")
    with pytest.raises(DefinitionError) as info:
        read_control(control)
    assert info.value.path == control
    assert info.value.line == 2


@pytest.mark.parametrize("version", ["1.0~rc1", "1:2.0", "1.0+really"])
def test_version_that_is_not_a_docker_tag_names_the_changelog(tmp_path: Path, version: str) -> None:
    path = write_image(tmp_path, "img", version=version)
    with pytest.raises(DefinitionError, match="valid Docker tag") as info:
        scan(tmp_path)
    assert info.value.path == path / "changelog"
    assert info.value.exit_status == 2


def test_duplicate_names_name_both_folders(tmp_path: Path) -> None:
    write_image(tmp_path, "a", name="same")
    write_image(tmp_path, "b", name="same")
    with pytest.raises(DefinitionError, match="defined twice") as info:
        scan(tmp_path)
    assert str(tmp_path / "a") in str(info.value)
    assert str(tmp_path / "b") in str(info.value)


def test_unparsable_changelog_is_an_error_naming_it(tmp_path: Path) -> None:
    path = write_image(tmp_path, "img")
    (path / "changelog").write_text("\nthis is not a changelog\n")
    with pytest.raises(DefinitionError, match="changelog") as info:
        scan(tmp_path)
    assert info.value.path == path / "changelog"
    assert info.value.line == 2


def test_all_definition_errors_are_reported_together(tmp_path: Path) -> None:
    write_image(tmp_path, "a", version="1~x")
    write_image(tmp_path, "b", version="2~y")
    with pytest.raises(ManyErrors) as info:
        scan(tmp_path)
    assert len(info.value.errors) == 2


def test_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(DefinitionError, match="not a directory"):
        scan(tmp_path / "missing")
