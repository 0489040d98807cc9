"""Inferred dependencies, the graph command and every lint finding (no engine)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from docker_pkg.cli import main
from docker_pkg.config.settings import config_from_mapping
from docker_pkg.tree.fingerprint import FINGERPRINT_LABEL, fingerprints
from docker_pkg.tree.inference import image_references
from docker_pkg.tree.lint import Finding, Severity, lint
from docker_pkg.tree.workspace import Workspace
from tests.helpers import write_image

CONFIG = config_from_mapping({"registry": "reg.example", "force_numeric_user": True})


def test_references_in_a_dockerfile() -> None:
    dockerfile = "\n".join(
        [
            "FROM --platform=linux/amd64 reg/builder:1 AS build",
            "RUN --mount=type=cache,from=reg/cache:2,target=/c make",
            "FROM reg/base:3",
            "COPY --from=build /out /out",
            "COPY --from=reg/tools:4 /bin/t /bin/t",
        ]
    )
    assert image_references(dockerfile) == [
        ("reg/builder:1", 1),
        ("reg/cache:2", 2),
        ("reg/base:3", 3),
        ("reg/tools:4", 5),
    ]


def clean_tree(root: Path) -> None:
    write_image(root, "base", template="FROM scratch\nUSER 0\n")
    write_image(root, "app", template='FROM {{ "base" | image_tag }}\nUSER 33\n', depends=["base"])


def codes(findings: list[Finding]) -> list[str]:
    return sorted(f.code for f in findings)


def test_clean_tree_has_no_findings(tmp_path: Path) -> None:
    clean_tree(tmp_path)
    assert lint(tmp_path, CONFIG, None) == []


def test_undeclared_dependency_is_inferred_and_reported(tmp_path: Path) -> None:
    clean_tree(tmp_path)
    write_image(tmp_path, "aaa-child", template='FROM {{ "zzz-parent" | image_tag }}\nUSER 1\n')
    write_image(tmp_path, "zzz-parent", template="FROM scratch\nUSER 1\n")
    [finding] = lint(tmp_path, CONFIG, None)
    assert finding.code == "undeclared-dependency"
    assert finding.severity is Severity.ERROR
    assert finding.path == tmp_path / "aaa-child" / "Dockerfile.template"
    assert "zzz-parent" in finding.hint
    # Build order uses the inferred edge: the parent first, though it sorts last.
    workspace = Workspace.load(tmp_path, CONFIG)
    assert workspace.graph.order().index("aaa-child") < workspace.graph.order().index("zzz-parent")
    inferred = workspace.with_inferred(workspace.inferred(workspace.render_what_renders()))
    order = inferred.graph.order()
    assert order.index("zzz-parent") < order.index("aaa-child")
    assert inferred.graph.is_inferred("aaa-child", "zzz-parent")
    assert not inferred.graph.is_inferred("app", "base")


def test_declared_but_unused_dependency(tmp_path: Path) -> None:
    clean_tree(tmp_path)
    write_image(tmp_path, "lonely", template="FROM scratch\nUSER 1\n", depends=["base"])
    [finding] = lint(tmp_path, CONFIG, None)
    assert (finding.code, finding.severity) == ("unused-dependency", Severity.WARNING)
    assert finding.path == tmp_path / "lonely" / "control"
    assert finding.line == 2


def test_definition_problems(tmp_path: Path) -> None:
    clean_tree(tmp_path)
    write_image(tmp_path, "ghostly", template="FROM scratch\n", depends=["ghost"])
    write_image(tmp_path, "tilde", version="1.0~rc1")
    write_image(tmp_path, "dup1", name="twin")
    write_image(tmp_path, "dup2", name="twin")
    found = lint(tmp_path, CONFIG, None)
    assert codes(found) == ["definition", "duplicate-name", "external-dependency"]
    by_code = {f.code: f for f in found}
    assert by_code["definition"].path == tmp_path / "tilde" / "changelog"
    external = by_code["external-dependency"]
    assert external.severity is Severity.WARNING
    assert (external.path, external.line) == (tmp_path / "ghostly" / "control", 2)
    assert "another tree" in external.hint


def test_external_dependency_hint_suggests_the_nearest_name(tmp_path: Path) -> None:
    clean_tree(tmp_path)
    write_image(tmp_path, "python3-build", template="FROM scratch\nUSER 0\n")
    write_image(tmp_path, "typo", template="FROM scratch\nUSER 0\n", depends=["pyhton3-build"])
    [finding] = lint(tmp_path, CONFIG, None)
    assert finding.code == "external-dependency"
    assert "did you mean 'python3-build'?" in finding.hint


def test_cycle_through_declared_and_inferred_edges(tmp_path: Path) -> None:
    write_image(tmp_path, "a", template='FROM {{ "b" | image_tag }}\nUSER 0\n', depends=["b"])
    write_image(tmp_path, "b", template='FROM {{ "a" | image_tag }}\nUSER 0\n')
    found = lint(tmp_path, CONFIG, None)
    cycle = next(f for f in found if f.code == "cycle")
    assert "a" in cycle.message
    assert "b" in cycle.message


def test_template_problems_are_all_reported(tmp_path: Path) -> None:
    clean_tree(tmp_path)
    write_image(tmp_path, "undef", template="FROM scratch\nRUN {{ nope }}\nUSER 0")
    write_image(tmp_path, "filter", template="FROM scratch\nRUN {{ 'x' | bogus }}\nUSER 0")
    write_image(tmp_path, "user", template="FROM scratch\nUSER www-data\n")
    found = lint(tmp_path, CONFIG, None)
    assert codes(found) == ["numeric-user", "template", "template"]
    lines = {f.path.parent.name: f.line for f in found if f.path}
    assert lines == {"undef": 2, "filter": 2, "user": 2}


def test_stale_reference_to_an_old_version(tmp_path: Path) -> None:
    clean_tree(tmp_path)
    write_image(tmp_path, "old", template="FROM reg.example/base:0.9\nUSER 0\n", depends=["base"])
    [finding] = lint(tmp_path, CONFIG, None)
    assert (finding.code, finding.severity) == ("stale-reference", Severity.WARNING)
    assert "reg.example/base:1.0.0" in finding.message


def test_fingerprint_comparison(tmp_path: Path) -> None:
    clean_tree(tmp_path)
    write_image(
        tmp_path, "leaf", template='FROM {{ "app" | image_tag }}\nUSER 1\n', depends=["app"]
    )
    workspace = Workspace.load(tmp_path, CONFIG)
    built = fingerprints(workspace.graph, workspace.render_what_renders())
    assert set(built) == {"base", "app", "leaf"}
    assert all(v.startswith("sha256:") for v in built.values())

    def lookup(full_name: str, tag: str) -> dict[str, str] | None:
        return {FINGERPRINT_LABEL: built[full_name.rsplit("/", 1)[1]]}

    assert lint(tmp_path, CONFIG, lookup) == []
    # A file of the context changes, the version does not.
    (tmp_path / "app" / "extra.txt").write_text("new")
    assert [f.path.parent.name for f in lint(tmp_path, CONFIG, lookup) if f.path] == ["app", "leaf"]
    (tmp_path / "app" / "extra.txt").unlink()
    # A parent changes: every descendant is reported.
    (tmp_path / "base" / "Dockerfile.template").write_text("FROM scratch\nUSER 0\nENV X=1\n")
    found = lint(tmp_path, CONFIG, lookup)
    assert {f.code for f in found} == {"unbumped-change"}
    assert sorted(f.path.parent.name for f in found if f.path) == ["app", "base", "leaf"]
    # Images never built (no label anywhere) are not compared.
    assert lint(tmp_path, CONFIG, lambda name, tag: None) == []


def test_fingerprint_ignores_dockerignored_files(tmp_path: Path) -> None:
    clean_tree(tmp_path)
    (tmp_path / "base" / ".dockerignore").write_text("*.md\n")
    workspace = Workspace.load(tmp_path, CONFIG)
    before = fingerprints(workspace.graph, workspace.render_what_renders())
    (tmp_path / "base" / "NOTES.md").write_text("notes")
    assert fingerprints(workspace.graph, workspace.render_what_renders()) == before
    (tmp_path / "base" / "data.txt").write_text("data")
    assert fingerprints(workspace.graph, workspace.render_what_renders())["base"] != before["base"]


def test_lint_cli_json_and_exit_status(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "defs"
    clean_tree(root)
    (tmp_path / "c.yaml").write_text("registry: reg.example\n")
    assert main(["-c", str(tmp_path / "c.yaml"), "lint", "--offline", str(root)]) == 0
    assert "no findings" in capsys.readouterr().out
    write_image(root, "lonely", template="FROM scratch\n", depends=["base"])
    assert main(["-c", str(tmp_path / "c.yaml"), "lint", "--offline", str(root)]) == 0
    write_image(root, "child", template='FROM {{ "lonely" | image_tag }}\n')
    capsys.readouterr()
    code = main(
        ["-c", str(tmp_path / "c.yaml"), "lint", "--offline", "--format", "json", str(root)]
    )
    assert code == 1
    findings = json.loads(capsys.readouterr().out)
    assert {f["code"] for f in findings} == {"undeclared-dependency", "unused-dependency"}
    assert all({"severity", "path", "line", "hint", "message"} <= f.keys() for f in findings)


def test_graph_cli_tells_declared_and_inferred_edges(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "defs"
    clean_tree(root)
    write_image(root, "extra", template='FROM {{ "app" | image_tag }}\n')
    write_image(root, "other", template="FROM scratch\n")
    (tmp_path / "c.yaml").write_text("registry: reg.example\n")
    args = ["-c", str(tmp_path / "c.yaml"), "graph", "--format", "json"]
    assert main([*args, "--select", "*app*", str(root)]) == 0
    graph = json.loads(capsys.readouterr().out)
    assert [n["name"] for n in graph["nodes"]] == ["base", "app", "extra"]
    assert {(e["parent"], e["child"], e["kind"]) for e in graph["edges"]} == {
        ("base", "app", "declared"),
        ("app", "extra", "inferred"),
    }
    assert main([*args, "--select", "*app*", "--ancestors", str(root)]) == 0
    assert [n["name"] for n in json.loads(capsys.readouterr().out)["nodes"]] == ["base", "app"]
    assert main(["-c", str(tmp_path / "c.yaml"), "graph", str(root)]) == 0
    dot = capsys.readouterr().out
    assert '"app" -> "extra" [style=dashed, label="inferred"];' in dot
    assert '"base" -> "app";' in dot
