"""``update`` on definition trees: entries, propagation, atomicity (no engine needed)."""

from __future__ import annotations

import errno
import shutil
import subprocess
import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from debian.changelog import Changelog

from docker_pkg.cli import main
from docker_pkg.config.settings import config_from_mapping
from docker_pkg.errors import DefinitionError, UsageError
from docker_pkg.tree.changelog import (
    Author,
    UpdateRequest,
    find_author,
    plan_updates,
    write_updates,
)
from docker_pkg.tree.versions import Scheme
from docker_pkg.tree.workspace import Workspace
from tests.helpers import write_image

NOW = datetime(2026, 8, 16, 9, 30, tzinfo=timezone(timedelta(hours=2)))
AUTHOR = Author("Jane Maintainer", "jane@example.org")


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """Four levels: base <- python <- web <- app, plus base <- node, and lone."""
    root = tmp_path / "defs"
    write_image(root, "base", version="1.0.0")
    write_image(root, "python", version="3.11-1-s2", depends=["base"])
    write_image(root, "web", version="1.94.1-3-20260809", depends=["python"])
    write_image(root, "app", version="0.1", build_depends=["web"])
    write_image(root, "node", version="18.0", depends=["base"])
    write_image(root, "lone", version="5")
    return root


def workspace(root: Path, **config: object) -> Workspace:
    return Workspace.load(root, config_from_mapping(config))


def snapshot(root: Path) -> dict[Path, bytes]:
    return {p: p.read_bytes() for p in sorted(root.rglob("changelog"))}


def head(path: Path) -> tuple[str, str, str]:
    block = Changelog(path.read_text())[0]
    return block.package, str(block.version), "\n".join(block.changes())


def test_update_propagates_to_every_descendant(tree: Path) -> None:
    updates = plan_updates(workspace(tree), UpdateRequest("python"), AUTHOR, NOW)
    assert [(u.definition.short_name, u.new_version) for u in updates] == [
        ("python", "3.11-1-s3"),
        ("web", "1.94.1-3-20260809-s1"),
        ("app", "0.1-s1"),
    ]
    write_updates(updates)
    assert head(tree / "python" / "changelog")[:2] == ("python", "3.11-1-s3")
    _, version, changes = head(tree / "app" / "changelog")
    assert version == "0.1-s1"
    assert "Refresh for update in parent image python:" in changes
    assert "   Security update" in changes
    # Untouched images.
    assert head(tree / "base" / "changelog")[1] == "1.0.0"
    assert head(tree / "node" / "changelog")[1] == "18.0"


def test_entry_format_matches_the_reference(tree: Path) -> None:
    request = UpdateRequest("lone", reason="First line\nSecond line", version="6")
    [update] = plan_updates(workspace(tree, distribution="bookworm"), request, AUTHOR, NOW)
    assert update.entry == (
        "lone (6) bookworm; urgency=high\n\n"
        "   First line\n   Second line\n\n"
        " -- Jane Maintainer <jane@example.org>  Sun, 16 Aug 2026 09:30:00 +0200\n\n"
    )
    original = (tree / "lone" / "changelog").read_text()
    write_updates([update])
    assert (tree / "lone" / "changelog").read_text() == update.entry + original


def test_glob_and_descendant_get_one_entry(tree: Path) -> None:
    updates = plan_updates(workspace(tree), UpdateRequest("*"), AUTHOR, NOW)
    names = [u.definition.short_name for u in updates]
    assert sorted(names) == ["app", "base", "lone", "node", "python", "web"]
    assert len(names) == len(set(names))
    # Matched directly: the plain reason, not a refresh note.
    web = next(u for u in updates if u.definition.short_name == "web")
    assert "Refresh" not in web.entry


def test_date_scheme_for_weekly_rebuilds(tree: Path) -> None:
    request = UpdateRequest("web", reason="Weekly rebuild", scheme=Scheme.DATE)
    updates = plan_updates(workspace(tree), request, AUTHOR, NOW)
    assert [(u.definition.short_name, u.new_version) for u in updates] == [
        ("web", "1.94.1-3-20260816"),
        ("app", "0.1-20260816"),
    ]


def test_an_invalid_version_changes_no_file(tree: Path) -> None:
    before = snapshot(tree)
    with pytest.raises(DefinitionError, match="not a valid Docker tag"):
        plan_updates(workspace(tree), UpdateRequest("base", version="2.0~rc1"), AUTHOR, NOW)
    with pytest.raises(DefinitionError, match="not greater"):
        plan_updates(workspace(tree), UpdateRequest("base", version="0.9"), AUTHOR, NOW)
    assert snapshot(tree) == before


def test_cli_update_failure_exits_2_and_leaves_every_file(
    tree: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "config.yaml").write_text("fallback_author: Fallback\n")
    before = snapshot(tree)
    code = main(["-c", str(tmp_path / "config.yaml"), "update", "python", "-v", "1:2", str(tree)])
    assert code == 2
    assert "python/changelog" in capsys.readouterr().err
    assert snapshot(tree) == before


def test_write_failure_part_way_leaves_every_file(
    tree: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    updates = plan_updates(workspace(tree), UpdateRequest("python"), AUTHOR, NOW)
    assert len(updates) == 3
    before = snapshot(tree)
    real_mkstemp = tempfile.mkstemp
    calls = []

    def disk_full_on_third(*args: object, **kwargs: object) -> tuple[int, str]:
        calls.append(1)
        if len(calls) == 3:
            raise OSError(errno.ENOSPC, "No space left on device", str(tree / "app"))
        return real_mkstemp(*args, **kwargs)  # type: ignore[call-overload,no-any-return]

    monkeypatch.setattr("docker_pkg.tree.changelog.tempfile.mkstemp", disk_full_on_third)
    with pytest.raises(DefinitionError, match="No space left"):
        write_updates(updates)
    assert snapshot(tree) == before
    assert not list(tree.rglob(".changelog.*"))


def test_write_keeps_permissions(tree: Path) -> None:
    path = tree / "lone" / "changelog"
    path.chmod(0o640)
    write_updates(plan_updates(workspace(tree), UpdateRequest("lone"), AUTHOR, NOW))
    assert path.stat().st_mode & 0o777 == 0o640


def test_unknown_name_is_an_error(tree: Path) -> None:
    with pytest.raises(UsageError, match="no image named"):
        plan_updates(workspace(tree), UpdateRequest("ghost"), AUTHOR, NOW)


def test_author_lookup_order() -> None:
    fallback = Author("Fallback", "fb@example.org")
    git = {"user.name": "Git Name", "user.email": "git@example.org"}
    assert find_author({}, git.get, fallback) == Author("Git Name", "git@example.org")
    env = {"DEBFULLNAME": "Deb Name", "DEBEMAIL": "deb@example.org"}
    assert find_author(env, git.get, fallback) == Author("Deb Name", "deb@example.org")
    assert find_author({"DEBEMAIL": "deb@example.org"}, {}.get, fallback) == Author(
        "Fallback", "deb@example.org"
    )
    assert find_author({}, {}.get, fallback) == fallback


def test_dry_run_writes_nothing(
    tree: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "config.yaml").write_text("")
    before = snapshot(tree)
    assert main(["-c", str(tmp_path / "config.yaml"), "update", "web", "--dry-run", str(tree)]) == 0
    out = capsys.readouterr().out
    assert "* web: 1.94.1-3-20260809 -> 1.94.1-3-20260809-s1" in out
    assert "app (0.1-s1) wikimedia; urgency=high" in out
    assert snapshot(tree) == before


def test_written_changelog_parses_with_dpkg(tree: Path, tmp_path: Path) -> None:
    assert shutil.which("dpkg-parsechangelog"), "dpkg-dev is installed by scripts/bootstrap"
    (tmp_path / "config.yaml").write_text("")
    assert main(["-c", str(tmp_path / "config.yaml"), "update", "base", str(tree)]) == 0
    for name, version in (("base", "1.0.0-s1"), ("app", "0.1-s1")):
        folder = next(p.parent for p in tree.rglob("changelog") if p.parent.name == name)
        out = subprocess.run(
            ["dpkg-parsechangelog", "-l", str(folder / "changelog")],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert f"Version: {version}" in out
        assert f"Source: {name}" in out
